"""The clerk's acknowledgement link: a GET only asks, the POST records ReportAcknowledged once
verified; altered, foreign-key or expired links are refused; the status shows it."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from schemas import ReportAcknowledged, ReportRouted
from services.intake.api import create_app
from services.intake.publisher import Headers
from services.intake.status import StatusProjection
from signpost.acklinks import AckLinks
from tests.unit.test_intake_api import CATEGORIES

KEY = b"k" * 32
REF, OWNER = "SP-AAAA-BBBB-CCCC", "ashcombe-pc"


class AckPublisher:
    def __init__(self) -> None:
        self.acks: list[ReportAcknowledged] = []

    async def publish(self, event: object, extra_headers: Headers = ()) -> None:
        raise AssertionError("no report is submitted here")

    async def acknowledge(self, event: ReportAcknowledged) -> None:
        self.acks.append(event)

    def ready(self) -> bool:
        return True


def client(publisher: AckPublisher, links: AckLinks | None,
           projection: StatusProjection | None = None) -> httpx.AsyncClient:
    app = create_app(publisher, CATEGORIES, ack_links=links,  # type: ignore[arg-type]
                     projection=projection)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def test_get_asks_and_post_records_the_acknowledgement() -> None:
    publisher, links = AckPublisher(), AckLinks(KEY, "http://t", 3600)
    link = path_of(links.link(REF, OWNER))
    async with client(publisher, links) as http:
        page = await http.get(link)
        assert page.status_code == 200 and "<form method=\"post\">" in page.text
        assert publisher.acks == []  # a mail scanner following the link acknowledges nothing
        done = await http.post(link)
    assert done.status_code == 200 and REF in done.text
    assert [(a.report_reference, a.owner_id) for a in publisher.acks] == [(REF, OWNER)]


async def test_altered_foreign_or_expired_links_are_refused() -> None:
    publisher = AckPublisher()
    links = AckLinks(KEY, "http://t", 3600)
    other_key = AckLinks(b"o" * 32, "http://t", 3600)
    expired = AckLinks(KEY, "http://t", 60, clock=lambda: time.time() - 3600)
    bad = [path_of(links.link(REF, OWNER)).replace(OWNER, "vale-county"),
           path_of(other_key.link(REF, OWNER)), path_of(expired.link(REF, OWNER))]
    async with client(publisher, links) as http:
        for link in bad:
            response = await http.post(link)
            assert response.status_code == 403, link
            assert response.headers["content-type"] == "application/problem+json"
    assert publisher.acks == []


async def test_without_a_key_there_are_no_links() -> None:
    async with client(AckPublisher(), None) as http:
        response = await http.get(f"/ack/{REF}/{OWNER}?expires=1&sig=x")
    assert response.status_code == 404


async def test_status_shows_the_owner_acknowledged() -> None:
    projection, links = StatusProjection(), AckLinks(KEY, "http://t", 3600)
    routed = ReportRouted.model_validate({
        "report": {"reference": REF, "category": "pothole", "submitted_at": "2026-11-22T09:00:00Z",
                   "location": {"lat": 51.05, "lon": -1.55}},
        "owner": {"id": OWNER, "name": "Ashcombe Parish Council", "tier": "parish"},
        "rule_id": "r", "trace": {"bundle_version": "v", "rules_evaluated": ["r"],
                                  "matched_rule": "r", "boundaries": []}})
    projection.apply(routed)
    async with client(AckPublisher(), links, projection) as http:
        await http.post(path_of(links.link(REF, OWNER)))
        status = (await http.get(f"/v1/reports/{REF}")).json()
    assert status["status"] == "acknowledged"
    assert status["owners"][0]["acknowledged_at"] is not None
