"""The clerk's acknowledgement link, served: a GET shows a confirm button (mail scanners that
follow links must not acknowledge anything), the POST verifies the signed link and records
ReportAcknowledged. Links are signed by the notifier with the shared key (signpost.acklinks).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from schemas import ReportAcknowledged
from services.intake.auth import Refused
from signpost.acklinks import AckLinks, InvalidAck

PREFIX = "/ack"
Reference = Annotated[str, Path(max_length=40)]
Owner = Annotated[str, Path(max_length=100)]
Expires = Annotated[str, Query(max_length=20)]
Sig = Annotated[str, Query(max_length=100)]
Publish = Callable[[ReportAcknowledged], Awaitable[None]]
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title></head><body style="font-family: Arial, sans-serif">
<h1>{title}</h1><p>{body}</p>{form}</body></html>"""


def _problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"content": {"application/problem+json": {}}} for s in statuses}


def router(links: AckLinks | None, publish: Publish) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["acknowledgement"])

    def verified(reference: str, owner: str, expires: str, sig: str) -> None:
        if links is None:
            raise Refused(404, "Acknowledgement links are not enabled here.", "not-found",
                          "Not found")
        try:
            links.verify(reference, owner, expires, sig)
        except InvalidAck as exc:
            raise Refused(403, f"This acknowledgement link cannot be used: {exc}. Reply to "
                               "the email instead, quoting the reference.", "invalid-link",
                          "Link not valid") from None

    @api.get("/{reference}/{owner}", response_class=HTMLResponse,
             responses=_problem_docs(403, 404, 422))
    async def confirm_page(reference: Reference, owner: Owner, expires: Expires,
                           sig: Sig) -> HTMLResponse:
        verified(reference, owner, expires, sig)
        form = ('<form method="post"><button type="submit">Yes, we have it</button></form>')
        return HTMLResponse(PAGE.format(
            title="Acknowledge report " + html.escape(reference),
            body="Confirm that your organisation has received this report and will deal "
                 "with it.", form=form))

    @api.post("/{reference}/{owner}", response_class=HTMLResponse,
              responses=_problem_docs(403, 404, 422, 503))
    async def acknowledge(reference: Reference, owner: Owner, expires: Expires,
                          sig: Sig) -> HTMLResponse:
        verified(reference, owner, expires, sig)
        await publish(ReportAcknowledged(report_reference=reference, owner_id=owner))
        return HTMLResponse(PAGE.format(
            title="Thank you", form="",
            body=f"Report {html.escape(reference)} is recorded as acknowledged."))

    return api
