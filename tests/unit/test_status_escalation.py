"""The status projection follows an escalation: `escalated` with the owner it went to, and
`acknowledged` once anyone along the chain acknowledges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from schemas import (
    NotificationSent,
    Owner,
    ReportAcknowledged,
    ReportEscalated,
    ReportRouted,
    Tier,
)
from services.intake.api import create_app
from services.intake.status import NOTIFICATION, StatusProjection
from signpost.runtime.kafka import encode
from tests.unit.test_intake_acknowledge import REF, AckPublisher
from tests.unit.test_intake_api import CATEGORIES

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PARISH = Owner(id="ashcombe-pc", name="Ashcombe Parish Council", tier=Tier.PARISH)
DISTRICT = Owner(id="westbury-dc", name="Westbury District Council", tier=Tier.DISTRICT)


def notified_then_escalated() -> StatusProjection:
    projection = StatusProjection()
    projection.apply(ReportRouted.model_validate({
        "report": {"reference": REF, "category": "pothole", "submitted_at": T0,
                   "location": {"lat": 51.05, "lon": -1.55}},
        "owner": PARISH, "rule_id": "r", "trace": {
            "bundle_version": "v", "rules_evaluated": ["r"], "matched_rule": "r",
            "boundaries": []}}))
    projection.apply(NotificationSent(report_reference=REF, owner_id=PARISH.id, channel="email",
                                      submitted_at=T0))
    # As the feed reads it from the notification topic.
    escalated = ReportEscalated(report_reference=REF, from_owner=PARISH, to_owner=DISTRICT,
                               reason="not acknowledged", sla_hours=48,
                               occurred_at=T0 + timedelta(hours=96))
    projection.apply(NOTIFICATION.validate_json(encode(escalated)))
    return projection


def test_an_escalated_report_says_so_and_to_whom() -> None:
    status = notified_then_escalated().get(REF)
    assert status is not None
    assert status.state == "escalated"
    assert status.escalated_to == DISTRICT
    assert list(status.owners) == [PARISH.id, DISTRICT.id]


def test_a_repeated_escalation_changes_nothing() -> None:
    projection = notified_then_escalated()
    projection.apply(ReportEscalated(report_reference=REF, from_owner=PARISH, to_owner=DISTRICT,
                                     reason="again", sla_hours=48))
    status = projection.get(REF)
    assert status is not None and len(status.escalations) == 1


def test_acknowledged_by_the_next_tier_or_the_first_owner() -> None:
    for owner in (DISTRICT, PARISH):
        projection = notified_then_escalated()
        projection.apply(ReportAcknowledged(report_reference=REF, owner_id=owner.id))
        status = projection.get(REF)
        assert status is not None and status.state == "acknowledged", owner


async def test_status_endpoint_shows_the_escalation() -> None:
    app = create_app(AckPublisher(), CATEGORIES,
                     projection=notified_then_escalated())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        status = (await http.get(f"/v1/reports/{REF}")).json()
        open311 = (await http.get(f"/open311/v2/requests/{REF}.json")).json()
    assert status["status"] == "escalated"
    assert status["escalated_to"] == DISTRICT.id
    assert [(o["id"], o["notification"]) for o in status["owners"]] == [
        (PARISH.id, "sent"), (DISTRICT.id, "pending")]
    assert "next tier" in open311[0]["status_notes"]
