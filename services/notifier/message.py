"""The email a clerk receives: plain text first, a simple HTML part, the resident's text escaped.

Pure: takes the routed report and the organisation, returns an EmailMessage.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from schemas import ReportRouted
from signpost.bundle import Category, Organisation

_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
REFERENCE_HEADER = "X-Signpost-Reference"


def render_email(routed: ReportRouted, organisation: Organisation, category: Category | None,
                 *, sender: str, map_link: str) -> EmailMessage:
    report = routed.report
    context = {
        "report": report,
        "owner": organisation,
        "category_name": category.name if category else report.category,
        "answers": _answers(routed, category),
        "map_url": map_link.format(lat=f"{report.location.lat:.6f}",
                                   lon=f"{report.location.lon:.6f}"),
        "reporter": report.reporter if organisation.share_reporter_details else None,
        "rule_id": routed.rule_id,
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


def _answers(routed: ReportRouted, category: Category | None) -> list[tuple[str, str]]:
    """Each answer with its question's wording where the bundle has it."""
    pairs = []
    for qid, answer in routed.report.answers.items():
        question = category.question(qid) if category else None
        pairs.append((question.text if question else qid, answer))
    return pairs
