"""Routing a report end to end, without I/O: the one code path for the service and `explain`."""

from __future__ import annotations

from schemas import Owner, Report, ReportRouted, ReportUnroutable
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


def to_event(report: Report, decision: Decision) -> ReportRouted | ReportUnroutable:
    if decision.owner is None or decision.rule_id is None:
        return ReportUnroutable(report=report, reason_code=decision.reason_code or "unknown",
                                reason=decision.reason or "", trace=decision.trace)
    owner = Owner(id=decision.owner.id, name=decision.owner.name, tier=decision.owner.tier)
    return ReportRouted(report=report, owner=owner, rule_id=decision.rule_id, trace=decision.trace)
