"""`signpost route replay`: re-decide reports already routed (or sent to triage) since a time
with the current bundle, through the service's Router, and publish corrections where the owner
(or the routed/unroutable outcome) changed: a `ReportRerouted` with the old and new decision on
the rerouted topic, and the new decision itself on the routed (or triage) topic, so the new
owner is notified (the notifier's idempotency key includes the owner: the old one is not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from schemas import ReportRouted, ReportUnroutable
from schemas.events import ReportRerouted
from services.router.router import Router
from signpost.runtime.kafka import PoisonRecord, decode, make_consumer, make_producer
from signpost.runtime.pipeline import Output, deliver
from signpost.runtime.settings import Settings

Decided = ReportRouted | ReportUnroutable
SOURCE = "signpost/replay"
IDLE_TIMEOUT_S = 30.0  # no progress towards the end offsets for this long: give up


@dataclass
class Summary:
    scanned: int = 0  # records read since the time
    reports: int = 0  # distinct references among them
    unchanged: int = 0
    changed: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Change:
    before: Decided
    after: Decided

    def describe(self) -> str:
        return f"{self.after.reference} {self.after.report.category}: " \
               f"{outcome(self.before)} -> {outcome(self.after)}"


@dataclass
class Latest:
    """The latest decision per reference (by when it was decided)."""

    decisions: dict[str, Decided] = field(default_factory=dict)

    def add(self, event: Decided) -> None:
        known = self.decisions.get(event.reference)
        if known is None or event.occurred_at >= known.occurred_at:
            self.decisions[event.reference] = event


def outcome(event: Decided) -> str:
    if isinstance(event, ReportRouted):
        return f"{event.owner.id} ({event.rule_id})"
    return f"unroutable ({event.reason_code})"


def owner_id(event: Decided) -> str | None:
    return event.owner.id if isinstance(event, ReportRouted) else None


def redecide(decisions: Iterable[Decided], router: Router,
             summary: Summary) -> list[Change]:
    """Re-route each report; the changes of owner or outcome. Counts into `summary`."""
    changes: list[Change] = []
    for before in decisions:
        summary.reports += 1
        try:
            after = router.route(before.report)
        except Exception:  # one report's failure must not stop the replay
            summary.errors += 1
            continue
        if owner_id(after) == owner_id(before):
            summary.unchanged += 1
            continue
        duplicate = getattr(before, "likely_duplicate_of", None)
        if duplicate is not None:  # the new decision keeps what the router said at the time
            after = after.model_copy(update={"likely_duplicate_of": duplicate})
        summary.changed += 1
        changes.append(Change(before, after))
    return changes


def rerouted(change: Change) -> ReportRerouted:
    before, after = change.before, change.after
    return ReportRerouted(
        report=after.report,
        previous_owner=before.owner if isinstance(before, ReportRouted) else None,
        previous_rule_id=before.rule_id if isinstance(before, ReportRouted) else None,
        previous_reason_code=before.reason_code if isinstance(before, ReportUnroutable) else None,
        previous_bundle_version=before.trace.bundle_version,
        owner=after.owner if isinstance(after, ReportRouted) else None,
        rule_id=after.rule_id if isinstance(after, ReportRouted) else None,
        reason_code=after.reason_code if isinstance(after, ReportUnroutable) else None,
        trace=after.trace,
    )


def outputs(changes: list[Change], settings: Settings) -> list[Output]:
    topics, out = settings.topics, []
    for change in changes:
        key = change.after.reference.encode()
        out.append(Output(topics.rerouted, key, rerouted(change)))
        fresh = topics.routed if isinstance(change.after, ReportRouted) else topics.triage
        out.append(Output(fresh, key, change.after))
    return out


async def read_decisions(settings: Settings, since: datetime, summary: Summary,
                         progress: Callable[[str], None]) -> Latest:
    """Every routed and triage record at or after `since`, up to the end offsets at start."""
    consumer = make_consumer(settings, "signpost-replay")
    await consumer.start()
    latest = Latest()
    try:
        await consumer.topics()  # fetch metadata
        models: dict[str, type[Decided]] = {settings.topics.routed: ReportRouted,
                                            settings.topics.triage: ReportUnroutable}
        tps = [TopicPartition(t, p) for t in models
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        since_ms = int(since.timestamp() * 1000)
        end = await consumer.end_offsets(tps)
        # Start where the broker says records from `since` begin (ListOffsets by time). The
        # embedded broker (Tansu) answers offset 0 whatever the time, so there this scans from
        # the beginning; either way each record's own timestamp is filtered below.
        starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else end[tp])
        last_progress = time.monotonic()
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < end[tp]]
            if not behind:
                break
            if time.monotonic() - last_progress > IDLE_TIMEOUT_S:
                raise TimeoutError(f"no progress reading {len(behind)} partitions")
            batches = await consumer.getmany(*behind, timeout_ms=500)
            for tp, records in batches.items():
                last_progress = time.monotonic()
                for record in records:
                    if record.offset >= end[tp] or record.timestamp < since_ms:
                        continue
                    summary.scanned += 1
                    _add(latest, record, models[tp.topic], summary)
                    if summary.scanned % 1000 == 0:
                        progress(f"scanned {summary.scanned} records")
    finally:
        await consumer.stop()
    return latest


def _add(latest: Latest, record: Any, model: type[Decided], summary: Summary) -> None:
    try:
        latest.add(decode(record.value, model))
    except PoisonRecord:
        summary.errors += 1


async def replay(settings: Settings, router: Router, since: datetime, *, dry_run: bool,
                 progress: Callable[[str], None] = print) -> Summary:
    summary = Summary()
    latest = await read_decisions(settings, since, summary, progress)
    progress(f"re-deciding {len(latest.decisions)} reports with bundle "
             f"{router.bundle.version}")
    changes = redecide(latest.decisions.values(), router, summary)
    for change in changes:
        progress(("would change " if dry_run else "changed ") + change.describe())
    if changes and not dry_run:
        producer = make_producer(settings, "signpost-replay")
        await producer.start()
        try:
            async def send(topic: str, key: bytes | None, value: bytes, headers: Any) -> Any:
                return await producer.send(topic, value, key=key, headers=headers)

            await deliver(outputs(changes, settings), SOURCE, send)
        finally:
            await producer.stop()
    return summary
