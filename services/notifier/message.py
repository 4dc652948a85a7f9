"""The email a clerk receives: plain text first, a simple HTML part, the resident's text escaped.

Pure: takes a Delivery (the routed report and its organisation), returns an EmailMessage.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifier.delivery import Delivery

_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
REFERENCE_HEADER = "X-Signpost-Reference"


def render_email(delivery: Delivery, *, sender: str) -> EmailMessage:
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
    msg = EmailMessage()
    msg["Subject"] = f"[{report.reference}] {context['category_name']} reported in your area"
    msg["From"] = sender
    msg["To"] = f"{organisation.clerk.name} <{organisation.clerk.email}>"
    msg[REFERENCE_HEADER] = report.reference
    # Stable per report and owner, so a mail system can recognise a resend as the same message.
    msg["Message-ID"] = make_msgid(idstring=f"{report.reference}.{organisation.id}",
                                   domain="signpost.example.org")
    msg.set_content(_env.get_template("email.txt").render(context))
    msg.add_alternative(_env.get_template("email.html").render(context), subtype="html")
    return msg
