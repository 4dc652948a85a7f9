"""Which reports count as lost: a stage's group has committed past the record, no outcome has
appeared, and that has lasted the grace period. A report merely late (its stage has not
reached it, or passed it moments ago) or waiting for a delivery retry is never sent again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import NotificationFailed, NotificationSent, ReportRouted, ReportSubmitted
from services.intake.redrive import Lost, Suspects, lost
from services.intake.status import Position, StatusProjection
from tests.unit.test_status_escalation import DISTRICT, PARISH

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=2)
LATER = T0 + timedelta(minutes=5)
REPORT = {"reference": "SP-AAAA-BBBB-CCCC", "category": "pothole", "submitted_at": T0,
          "location": {"lat": 51.05, "lon": -1.55}}
REF = str(REPORT["reference"])
TRACE = {"bundle_version": "v", "rules_evaluated": ["r"], "matched_rule": "r", "boundaries": []}


def submitted(projection: StatusProjection, offset: int = 7) -> None:
    projection.apply(ReportSubmitted.model_validate({"report": REPORT, "occurred_at": T0}),
                     position=Position(1, offset))


def routed(projection: StatusProjection, owner: object = PARISH, offset: int = 3) -> None:
    projection.apply(ReportRouted.model_validate(
        {"report": REPORT, "owner": owner, "rule_id": "r", "trace": TRACE, "occurred_at": T0}),
        position=Position(2, offset))


def find(projection: StatusProjection, router: dict[int, int],
         notifier: dict[int, int]) -> list[Lost]:
    return lost(projection.statuses(), router, notifier)


def test_a_submitted_report_the_router_committed_past_without_a_decision_is_lost() -> None:
    projection = StatusProjection()
    submitted(projection, offset=7)
    assert find(projection, {1: 8}, {}) == [
        Lost(REF, "routing", Position(1, 7))]


def test_a_report_the_router_has_not_reached_or_reached_just_now_is_not_lost() -> None:
    projection = StatusProjection()
    submitted(projection, offset=7)
    assert find(projection, {1: 7}, {}) == []  # the next record it reads is this one
    assert find(projection, {}, {}) == []  # the group has committed nothing yet


def test_a_decided_report_is_not_lost_at_routing() -> None:
    projection = StatusProjection()
    submitted(projection)
    routed(projection)
    projection.apply(NotificationSent(report_reference=REF, owner_id=PARISH.id,
                                      channel="email", submitted_at=T0))
    assert find(projection, {1: 100}, {2: 100}) == []


def routed_to_parish_and_district() -> StatusProjection:
    projection = StatusProjection()
    submitted(projection)
    routed(projection, PARISH, offset=3)
    routed(projection, DISTRICT, offset=4)
    return projection


def test_an_owner_the_notifier_committed_past_without_an_outcome_is_lost() -> None:
    projection = routed_to_parish_and_district()
    projection.apply(NotificationSent(report_reference=REF, owner_id=PARISH.id,
                                      channel="email", submitted_at=T0))
    assert find(projection, {1: 100}, {2: 5}) == [
        Lost(REF, "notification", Position(2, 4), DISTRICT.id)]


def test_a_failed_or_deferred_delivery_is_not_lost() -> None:
    projection = routed_to_parish_and_district()
    projection.apply(NotificationFailed(report_reference=REF, owner_id=PARISH.id,
                                        channel="email", reason="refused", permanent=True))
    projection.deferred(ReportRouted.model_validate(
        {"report": REPORT, "owner": DISTRICT, "rule_id": "r", "trace": TRACE}))
    assert find(projection, {1: 100}, {2: 100}) == []


def test_a_suspect_is_sent_again_only_after_the_grace_period_and_a_few_times_at_most() -> None:
    suspects = Suspects(GRACE, limit=2)
    item = Lost(REF, "routing", Position(1, 7))
    assert suspects.due([item], T0) == []  # first seen passed: its outcome may be on its way
    assert suspects.due([item], T0 + GRACE / 2) == []
    assert suspects.due([item], T0 + GRACE) == [item]
    copy = Lost(REF, "routing", Position(1, 9))
    suspects.sent(copy, T0 + GRACE)
    assert suspects.due([copy], T0 + GRACE * 3 / 2) == []  # the copy gets its own grace
    assert suspects.due([copy], T0 + GRACE * 2) == [copy]
    suspects.sent(copy, T0 + GRACE * 2)
    assert suspects.due([copy], T0 + GRACE * 10) == [] and suspects.given_up == [copy]
    assert suspects.due([copy], T0 + GRACE * 11) == [] and suspects.given_up == []  # said once


def test_an_outcome_clears_a_suspect() -> None:
    suspects = Suspects(GRACE, limit=2)
    item = Lost(REF, "routing", Position(1, 7))
    suspects.due([item], T0)
    suspects.due([], T0 + GRACE / 2)  # decided meanwhile
    assert suspects.due([item], T0 + GRACE) == []  # seen passed again: a fresh wait
