"""Routing a report end to end, without I/O: the one code path for the service and `explain`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from schemas import Report, ReportRouted, ReportUnroutable
from services.router.geography import BoundaryIndex
from services.router.rules import Decision, Facts, decide
from signpost.bundle import Bundle


class Router:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.index = BoundaryIndex(bundle.boundaries)

    def decide(self, facts: Facts, lon: float, lat: float) -> Decision:
        return decide(self.bundle, facts, self.index.containing(lon, lat))

    def route(self, report: Report) -> ReportRouted | ReportUnroutable:
        facts = Facts(report.category, dict(report.answers), report.uprn)
        decision = self.decide(facts, report.location.lon, report.location.lat)
        return to_event(report, decision)


def to_event(report: Report, decision: Decision, *, event_id: str | None = None,
             occurred_at: datetime | None = None,
             likely_duplicate_of: str | None = None) -> ReportRouted | ReportUnroutable:
    """The decision as an event. `event_id` (derived from the submitted event's) makes a
    redelivered report's outcome the same event, recognisable as such downstream; a batch
    passes one `occurred_at` for all its events rather than reading the clock for each."""
    ids: dict[str, Any] = {"event_id": event_id} if event_id else {}
    if occurred_at:
        ids["occurred_at"] = occurred_at
    if likely_duplicate_of:
        ids["likely_duplicate_of"] = likely_duplicate_of
    if decision.owner_named is None or decision.rule_id is None:
        return ReportUnroutable(report=report, reason_code=decision.reason_code or "unknown",
                                reason=decision.reason or "", trace=decision.trace, **ids)
    return ReportRouted(report=report, owner=decision.owner_named, rule_id=decision.rule_id,
                        trace=decision.trace, **ids)


def outcome_id(submitted_event_id: str) -> str:
    """The id of the routing outcome of a submitted event: the same on every redelivery."""
    return str(uuid.uuid5(_OUTCOME_IDS, submitted_event_id))


_OUTCOME_IDS = uuid.UUID("5b1c0c1e-9d6a-4f57-9a52-3f0d3c1f0a71")  # namespace, fixed forever
