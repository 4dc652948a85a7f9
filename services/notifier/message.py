"""The email a clerk receives: plain text first, a simple HTML part, the resident's text escaped.

Pure: takes a Delivery (the routed report and its organisation), returns the Email as bytes.
The body comes from the category's own templates in the bundle where it has them, else from
the defaults here (templates/email.*.j2); both get the same variables (MessageContext).
Headers are set here, never by a template, so neither a template nor the resident's text can
add one.

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
from services.notifier.escalation import notice
from signpost.bundle.templates import Answer, Contact, MessageContext, Place
from signpost.runtime.logging import get_logger

log = get_logger(__name__)
_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
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


def message_context(delivery: Delivery) -> MessageContext:
    report, organisation, reporter = delivery.report, delivery.organisation, delivery.reporter
    return MessageContext(
        reference=report.reference,
        category=delivery.category_name,
        reported_at=delivery.reported_at,
        answers=[Answer(question, answer) for question, answer in delivery.answers()],
        location=Place(report.location.lat, report.location.lon, delivery.grid_reference,
                       delivery.map_url),
        description=report.description,
        ack_url=delivery.ack_url,
        organisation=organisation.name,
        clerk_name=organisation.clerk.name,
        rule=delivery.routed.rule_id,
        # Delivery.reporter is None unless the organisation may have the resident's details.
        reporter=Contact(reporter.name, reporter.email, reporter.phone) if reporter else None,
    )


def render_body(delivery: Delivery) -> tuple[str, str]:
    """The plain-text and HTML parts: the category's own templates, else the defaults."""
    context = message_context(delivery)
    if delivery.email_templates is not None:
        try:
            return delivery.email_templates.render(context)
        except Exception as exc:  # tried on a sample report at load, so rare: send the default
            # The exception's text may quote the report: its type only.
            log.warning("bundle_template_failed", category=delivery.report.category,
                        owner=delivery.organisation.id, error=type(exc).__name__)
    variables = context.variables()
    return (_env.get_template("email.txt.j2").render(variables),
            _env.get_template("email.html.j2").render(variables))


def render_email(delivery: Delivery, *, sender: str) -> Email:
    report, organisation = delivery.report, delivery.organisation
    msg = MIMEMultipart("alternative")
    msg["Subject"] = (f"[{report.reference}] {notice(delivery.routed)}"
                      f"{delivery.category_name} reported in your area")
    msg["From"] = sender
    msg["To"] = f"{organisation.clerk.name} <{organisation.clerk.email}>"
    msg[REFERENCE_HEADER] = report.reference
    # Stable per report and owner, so a mail system can recognise a resend as the same message;
    # an SLA reminder is another message.
    reminder = ".reminder" if delivery.routed.reminder else ""
    msg["Message-ID"] = f"<{report.reference}.{organisation.id}{reminder}@{MESSAGE_ID_DOMAIN}>"
    for body, subtype in zip(render_body(delivery), ("plain", "html"), strict=True):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(body, UTF8_QP)
        msg.attach(part)
    return Email(parseaddr(sender)[1], str(organisation.clerk.email), msg.as_bytes())
