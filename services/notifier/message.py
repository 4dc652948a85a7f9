"""The email a clerk receives: plain text first, a simple HTML part, the resident's text escaped.

Pure: takes a Delivery (the routed report and its organisation), returns the Email as bytes.
Built with the compat32 MIME classes and rendered once: the `EmailMessage` API parsed every
header through its registry and the SMTP client flattened it again, 3x the CPU per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.charset import QP, Charset
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import parseaddr

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifier.delivery import Delivery

_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
REFERENCE_HEADER = "X-Signpost-Reference"
MESSAGE_ID_DOMAIN = "signpost.example.org"
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP  # readable in a raw .eml, unlike base64


@dataclass(frozen=True)
class Email:
    """A rendered message and its envelope."""

    sender: str  # envelope address
    recipient: str
    raw: bytes

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


def render_email(delivery: Delivery, *, sender: str) -> Email:
    report, organisation = delivery.report, delivery.organisation
    context = {
        "report": report,
        "owner": organisation,
        "category_name": delivery.category_name,
        "answers": delivery.answers(),
        "map_url": delivery.map_url,
        "reporter": delivery.reporter,
        "rule_id": delivery.routed.rule_id,
        "ack_url": delivery.ack_url,
    }
    msg = MIMEMultipart("alternative")
    msg["Subject"] = f"[{report.reference}] {context['category_name']} reported in your area"
    msg["From"] = sender
    msg["To"] = f"{organisation.clerk.name} <{organisation.clerk.email}>"
    msg[REFERENCE_HEADER] = report.reference
    # Stable per report and owner, so a mail system can recognise a resend as the same message.
    msg["Message-ID"] = f"<{report.reference}.{organisation.id}@{MESSAGE_ID_DOMAIN}>"
    for template, subtype in (("email.txt", "plain"), ("email.html", "html")):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(_env.get_template(template).render(context), UTF8_QP)
        msg.attach(part)
    return Email(parseaddr(sender)[1], str(organisation.clerk.email), msg.as_bytes())
