"""Router service wiring: consume submitted reports, decide, publish routed or unroutable.

The Faust app is the service's shell (health, readiness and metrics pages, producer,
lifecycle); the submitted topic is consumed by a `BatchConsumer` rather than a Faust agent,
because Faust's per-message stream machinery capped the router at ~950 reports/s on the
embedded broker (bench/README.md). Each batch is decoded, located with one vectorised
spatial look-up, decided, delivered, and only then committed.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import faust
import numpy as np

from schemas import Report, ReportRouted, ReportSubmitted
from services.router.duplicates import OpenReports
from services.router.recent import rebuild
from services.router.reload import BundleWatcher
from services.router.router import Router, outcome_id, to_event
from services.router.rules import Decision, Facts, decide
from signpost.bundle import Boundary
from signpost.runtime import metrics
from signpost.runtime.batches import BatchProducer
from signpost.runtime.kafka import PoisonRecord, decode, make_producer
from signpost.runtime.logging import get_logger
from signpost.runtime.pipeline import BatchConsumer, Output, dead_letter
from signpost.runtime.settings import Settings
from signpost.runtime.worker import make_app

SERVICE = "router"
DECISION_CACHE_SIZE = 10_000
log = get_logger(__name__)


class BatchRouter:
    """Turns a batch of submitted records into outputs, one per record, in input order.
    Never raises for a record: a bad one becomes a dead letter with its reason."""

    def __init__(self, router: Router, topics: Any, duplicates: OpenReports | None = None) -> None:
        self.router, self.topics, self.duplicates = router, topics, duplicates
        self._decisions: dict[tuple[Any, ...], Decision] = {}

    def use(self, router: Router) -> None:
        """Swap in a reloaded bundle between batches; its decisions start afresh."""
        self.router, self._decisions = router, {}

    def _decide(self, report: Report, found: dict[str, Boundary]) -> Decision:
        """`decide` is pure in the report's facts and the boundaries found, and most reports
        share both with an earlier one: remember the decision (bounded)."""
        # Tuples, not frozensets: cheaper to build, and `found` lists its layers in one order.
        key = (report.category, tuple(report.answers.items()), report.uprn,
               tuple([(layer, b.feature_id) for layer, b in found.items()]))
        decision = self._decisions.get(key)
        if decision is None:
            facts = Facts(report.category, dict(report.answers), report.uprn)
            decision = decide(self.router.bundle, facts, found)
            if len(self._decisions) >= DECISION_CACHE_SIZE:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def __call__(self, records: list[Any]) -> list[Output | None]:
        outputs: list[Output | None] = [None] * len(records)
        events: list[tuple[int, ReportSubmitted]] = []
        for i, record in enumerate(records):
            try:
                events.append((i, decode(record.value, ReportSubmitted)))
            except PoisonRecord as exc:
                outputs[i] = self._dead(record, str(exc))
        started, now = time.perf_counter(), datetime.now(UTC)  # one moment for the batch
        areas = self._locate([e for _, e in events])
        routed: Counter[tuple[str, str, str]] = Counter()
        unroutable: Counter[str] = Counter()
        duplicates: Counter[str] = Counter()
        for (i, event), found in zip(events, areas, strict=True):
            record, report = records[i], event.report
            try:
                if found is None:
                    found = self.router.index.containing(report.location.lon,
                                                         report.location.lat)
                decision = self._decide(report, found)
                original = self._original_of(report, decision)
                outcome = to_event(report, decision, event_id=outcome_id(event.event_id),
                                   occurred_at=now, likely_duplicate_of=original)
            except Exception as exc:  # a bug must not skip a report: keep it, with the reason
                log.exception("routing_failed", reference=report.reference)
                outputs[i] = self._dead(record, f"routing failed: {type(exc).__name__}: {exc}")
                continue
            if outcome.likely_duplicate_of:
                duplicates[report.category] += 1
            if isinstance(outcome, ReportRouted):
                routed[(report.category, outcome.owner.tier.value, outcome.rule_id)] += 1
                log.debug("report_routed", reference=report.reference, owner=outcome.owner.id,
                          tier=outcome.owner.tier.value, rule=outcome.rule_id)
                outputs[i] = Output(self.topics.routed, record.key, outcome,
                                    partition=record.partition)
            else:
                unroutable[outcome.reason_code] += 1
                log.debug("report_unroutable", reference=report.reference,
                          reason_code=outcome.reason_code)
                outputs[i] = Output(self.topics.triage, record.key, outcome,
                                    partition=record.partition)
        self._count(events, started, routed, unroutable, duplicates)
        return outputs

    def _original_of(self, report: Report, decision: Decision) -> str | None:
        """The open report this one likely repeats. Routing is unchanged by it: a likely
        duplicate still goes to its owner, with the link; routed ones are remembered."""
        if self.duplicates is None:
            return None
        owner = decision.owner.id if decision.owner else None
        original = self.duplicates.observe(report, owner)
        if original is not None:
            log.debug("likely_duplicate", reference=report.reference,
                      likely_duplicate_of=original)
        return original

    def _locate(self, events: list[ReportSubmitted]) -> list[Any]:
        """One vectorised look-up for the batch; None (look up one by one) if it fails."""
        if not events:
            return []
        try:
            lons = np.fromiter((e.report.location.lon for e in events), float, len(events))
            lats = np.fromiter((e.report.location.lat for e in events), float, len(events))
            return list(self.router.index.containing_many(lons, lats))
        except Exception:
            log.exception("batch_lookup_failed", records=len(events))
            return [None] * len(events)

    def _dead(self, record: Any, reason: str) -> Output:
        return dead_letter(self.topics.dead_letter, SERVICE, record, reason)

    @staticmethod
    def _count(events: list[Any], started: float, routed: Counter[tuple[str, str, str]],
               unroutable: Counter[str], duplicates: Counter[str]) -> None:
        """The batch's metrics, each label set touched once per batch, not once per report."""
        if not events:
            return
        each = (time.perf_counter() - started) / len(events)
        for _ in events:
            metrics.routing_seconds.observe(each)
        for (category, tier, rule), n in routed.items():
            metrics.routing_decisions.labels(category, tier, rule).inc(n)
        for reason, n in unroutable.items():
            metrics.reports_unroutable.labels(reason).inc(n)
        for category, n in duplicates.items():
            metrics.likely_duplicates.labels(category).inc(n)
        log.info("batch_routed", reports=len(events), routed=sum(routed.values()),
                 unroutable=sum(unroutable.values()))


def create_app(settings: Settings, router: Router) -> faust.App:
    app = make_app(SERVICE, settings, settings.router_port)
    # No Faust agent or table: the app runs the web server and the lifecycle; the batch
    # consumer below is the only member of the router's consumer group.
    app.producer_only = True
    duplicates = OpenReports(settings.duplicate_window_h * 3600, settings.duplicate_distance_m,
                             settings.duplicate_max_reports)
    process = BatchRouter(router, settings.topics, duplicates)

    def route(records: list[Any]) -> list[Output]:
        return [o for o in process(records) if o is not None]

    async def consume() -> None:
        # Before joining the group (and so before readiness): the index's state from the topic.
        await rebuild(duplicates, settings, settings.topics.routed)
        # Its own aiokafka producer: Faust's wrapper around one cost ~6 % of the router's time.
        # No linger (a batch's outputs fill produce batches while the previous request is in
        # flight) and batches far above the 16 kB default.
        producer = make_producer(settings, f"signpost-{SERVICE}", linger_ms=0,
                                 max_batch_size=512 * 1024)

        await producer.start()
        try:
            consumer = BatchConsumer(
                service=SERVICE, settings=settings, group_id=app.conf.id,
                topic=settings.topics.submitted, process=route, producer=BatchProducer(producer),
                source=f"signpost/{SERVICE}", max_records=settings.batch_size,
                on_assigned=app.signpost_readiness.set)  # type: ignore[attr-defined]
            await consumer.run()
        finally:
            await producer.stop()

    async def watch_bundle() -> None:
        watcher = BundleWatcher(settings.bundle_dir, router, process.use)
        await watcher.run(settings.bundle_reload_s)

    app.task(consume)
    app.task(watch_bundle)
    return app
