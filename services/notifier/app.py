"""Notifier service wiring: consume routed reports, notify each owner once, publish outcomes.

Records are taken in batches and notified concurrently (SMTP and HTTP round trips overlap);
the batch's outcomes are acknowledged by the broker before Faust may commit its offsets.
A delivery that still fails transiently after the quick retries goes to the retry topic and is
tried again later by a second agent, until the retry horizon; only then is it dead-lettered.

SLA clocks (escalation.py): a delivery the owner can acknowledge starts the report's clock in
a table; `ReportAcknowledged` on the notification topic stops it; a timer acts on due clocks.
A reminder or an escalation is a `ReportRouted` the notifier sends itself through the retry
topic (its own delivery path: retries, dedupe), not the routed topic, which holds only the
router's decisions (replay and the duplicate index read it as such). `ReportEscalated` goes to
the notification topic, where intake's status projection reads it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import faust
import structlog
from pydantic import ValidationError

from schemas import NotificationFailed, NotificationSent, ReportAcknowledged, ReportRouted
from services.notifier import escalation
from services.notifier.delivery import LaterRetries
from services.notifier.escalation import Escalate, Forget, NoNextTier, Remind, SlaClock
from services.notifier.notify import Notifier
from signpost.runtime import metrics
from signpost.runtime.kafka import PoisonRecord, decode, encode
from signpost.runtime.logging import get_logger
from signpost.runtime.pipeline import Output, dead_letter, deliver
from signpost.runtime.settings import Settings
from signpost.runtime.worker import make_app, progressed, raw_topic

SERVICE = "notifier"
log = get_logger(__name__)
# The input partition of the record being handled. Faust finds a table write's changelog
# partition from the "current event", which is wrong when a batch is handled concurrently.
_source_partition: ContextVar[int] = ContextVar("source_partition")
ATTEMPT, FIRST_FAILED, NOT_BEFORE = ("signpost_retry_attempt", "signpost_first_failed",
                                     "signpost_not_before")
ACKNOWLEDGED_TYPE = f"uk.signpost.{ReportAcknowledged.__name__}.v1".encode()


def retry_state(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, float]:
    """The retry headers of a record (none on a first delivery)."""
    found: dict[str, float] = {}
    for name, value in headers or ():
        if name in (ATTEMPT, FIRST_FAILED, NOT_BEFORE):
            try:
                found[name] = float(value.decode())
            except ValueError:
                continue  # a garbled header only makes the retry come sooner
    return found


class DeliveryTable(faust.Table[bytes, bytes]):
    """The idempotency record: (report, owner, channel) -> when it was notified, kept in a
    compacted changelog (co-partitioned with the input) so it survives restarts."""

    def partition_for_key(self, key: Any) -> int | None:
        return _source_partition.get()


class ClockTable(DeliveryTable):
    """The SLA clocks: reference -> escalation.SlaClock as JSON, in a compacted changelog
    (co-partitioned with the inputs, all keyed by reference) so a clock survives restarts.
    Written by the agents and by the SLA timer, which has no current event at all: each
    writer sets the partition first."""


def _is_acknowledgement(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Most of the notification topic is the notifier's own outcomes: skip them unparsed."""
    return any(name == "ce_type" and value == ACKNOWLEDGED_TYPE for name, value in headers or ())


def create_app(settings: Settings, notifier: Notifier) -> faust.App:
    app = make_app(SERVICE, settings, settings.notifier_port)
    routed_topic = raw_topic(app, settings.topics.routed)
    outcomes = raw_topic(app, settings.topics.notifications)
    dead = raw_topic(app, settings.topics.dead_letter)
    retries = raw_topic(app, settings.topics.notification_retry)
    later = LaterRetries(settings.notifier_retry_base_s, settings.notifier_retry_cap_s,
                         settings.notifier_retry_horizon_s)
    deliveries = DeliveryTable(app, name="deliveries", default=None,
                               partitions=settings.partitions, beacon=app.tables.beacon,
                               key_type=bytes, value_type=bytes)
    app.tables.add(deliveries)
    clocks = ClockTable(app, name="sla-clocks", default=None, partitions=settings.partitions,
                        beacon=app.tables.beacon, key_type=bytes, value_type=bytes)
    app.tables.add(clocks)
    slots = asyncio.Semaphore(settings.notifier_concurrency)
    source = f"signpost/{SERVICE}"

    async def handle(message: Any, key: bytes, routed: ReportRouted) -> list[Output]:
        _source_partition.set(message.partition)
        with structlog.contextvars.bound_contextvars(reference=routed.reference):
            async with slots:
                outcome = await notifier.notify(routed)
            if isinstance(outcome, NotificationFailed):
                return failed(message, routed, outcome)
            deliveries[key] = encode(outcome)  # kept whole, to be published again if need be
            if notifier.can_be_acknowledged(routed):
                start_clock(routed, message.partition)
            # The idempotency record acknowledged now, not with the batch: a crash after the
            # channel took the message and before this ack is the one way to notify twice.
            await app.producer.flush()
            return [Output(outcomes, message.key, outcome)]

    # The timer's view of each clock, made once per value: when it next needs looking at and
    # by which partition's worker. Not the parsed clock (its whole report: ~6.7 KB a clock
    # against ~1.2 KB of JSON), which thousands of open clocks would make the notifier's
    # largest use of memory; a clock is parsed again only when it is due.
    schedule: dict[bytes, tuple[bytes, float, int]] = {}  # key -> (raw, POSIX s, partition)

    def read_clock(key: bytes) -> SlaClock | None:
        raw = clocks.get(key)
        if raw is None:
            return None
        try:
            return SlaClock.model_validate_json(raw)
        except ValidationError:  # written by an incompatible version: that clock is lost
            log.error("sla_clock_unreadable", reference=key.decode("utf-8", "replace"))
            return None

    def scheduled(key: bytes, raw: bytes, now: datetime) -> tuple[bytes, float, int]:
        known = schedule.get(key)
        if known is not None and (known[0] is raw or known[0] == raw):
            return known
        clock = read_clock(key)
        if clock is None:  # said once per value; never due
            known = schedule[key] = (raw, math.inf, -1)
            return known
        at = escalation.next_check_at(clock, now, keep_finished_s=settings.sla_keep_finished_s)
        known = schedule[key] = (raw, at.timestamp() if at else math.inf, clock.partition)
        return known

    def write_clock(key: bytes, clock: SlaClock) -> None:
        _source_partition.set(clock.partition)
        clocks[key] = clock.model_dump_json().encode()

    def start_clock(routed: ReportRouted, partition: int) -> None:
        key = routed.reference.encode()
        clock = escalation.start(
            read_clock(key), routed, partition=partition, now=datetime.now(UTC),
            sla_hours=escalation.sla_hours(notifier.bundle, routed.report.category))
        if clock is not None:
            write_clock(key, clock)
            log.info("sla_clock_started", owner=routed.owner.id, sla_hours=clock.sla_hours)

    def failed(message: Any, routed: ReportRouted, outcome: NotificationFailed) -> list[Output]:
        state, now = retry_state(message.headers), time.time()
        attempt, first = int(state.get(ATTEMPT, 0)), state.get(FIRST_FAILED, now)
        at = None if outcome.permanent else later.next_try(attempt, first, now,
                                                           outcome.retry_after_s)
        if at is None:
            if not outcome.permanent and attempt:
                hours = (now - first) / 3600
                outcome = outcome.model_copy(update={
                    "reason": f"still failing after {hours:.1f} h: {outcome.reason}"})
            return [Output(outcomes, message.key, outcome),
                    dead_letter(dead, SERVICE, message, outcome.reason)]
        metrics.notification_retries.labels(outcome.channel).inc()
        log.warning("delivery_deferred", owner=routed.owner.id, channel=outcome.channel,
                    attempt=attempt + 1, retry_in_s=round(at - now, 1), reason=outcome.reason)
        headers = ((ATTEMPT, str(attempt + 1).encode()), (FIRST_FAILED, str(first).encode()),
                   (NOT_BEFORE, str(at).encode()))
        return [Output(retries, message.key, routed, headers)]

    def plan(batch: list[Any]) -> tuple[list[Output], list[Any]]:
        """Dead letters for unreadable records, and the deliveries still to make (each
        delivery key once, even when a batch holds a redelivered copy)."""
        outputs: list[Output] = []
        todo: dict[bytes, Any] = {}
        for event in batch:
            message = event.message
            try:
                routed = decode(message.value, ReportRouted)
            except PoisonRecord as exc:
                outputs.append(dead_letter(dead, SERVICE, message, str(exc)))
                continue
            key = notifier.delivery_key(routed).encode()
            recorded = deliveries.get(key)
            if key in todo or recorded is not None:
                metrics.notifications_duplicate_skipped.labels(notifier.channel_name(routed)).inc()
                log.info("notification_already_sent", reference=routed.reference,
                         owner=routed.owner.id)
                if recorded is not None:  # a crash may have come before its outcome was out
                    outputs.append(Output(outcomes, message.key, sent_before(recorded, routed)))
                continue
            todo[key] = handle(message, key, routed)
        return outputs, list(todo.values())

    def sent_before(recorded: bytes, routed: ReportRouted) -> NotificationSent:
        """The outcome of a delivery already made, published again: the notifier may have
        died after recording the delivery and before publishing its outcome, and without one
        the report's status would stay "routed" (and intake would count it lost). Records
        from before outcomes were kept hold only a time: the outcome is rebuilt."""
        try:
            return NotificationSent.model_validate_json(recorded)
        except ValidationError:
            return NotificationSent(
                report_reference=routed.reference, owner_id=routed.owner.id,
                channel=notifier.channel_name(routed), submitted_at=routed.report.submitted_at)

    def record_lag(batch: list[Any]) -> None:
        """Records behind the partition's end, from the consumer's last fetch: alerts need
        lag, not liveness, to see a consumer that has quietly stopped."""
        done = {e.message.tp: e.message.offset + 1 for e in batch}
        for tp, next_offset in done.items():
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                metrics.consumer_lag.labels(SERVICE, tp.topic, str(tp.partition)).set(
                    max(0, highwater - next_offset))

    async def process(batch: list[Any]) -> None:
        outputs, deliveries_to_make = plan(batch)
        for produced in await asyncio.gather(*deliveries_to_make):
            outputs.extend(produced)
        await deliver(outputs, source)
        record_lag(batch)
        progressed(SERVICE)

    @app.agent(routed_topic)
    async def notify(stream: faust.StreamT[Any]) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]  # missing from StreamT
            settings.batch_size, within=settings.batch_window_s)
        async for batch in batches:
            await process(batch)

    @app.agent(retries)
    async def retry(stream: faust.StreamT[Any]) -> None:
        # Records arrive here roughly in due order per partition: waiting for the head can
        # delay a record behind it that was due sooner, by at most the retry cap.
        async for event in stream.events():
            due = retry_state(event.message.headers).get(NOT_BEFORE, 0.0)
            await asyncio.sleep(max(0.0, due - time.time()))
            await process([event])

    @app.agent(outcomes)
    async def acknowledgements(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            message = event.message
            if not _is_acknowledgement(message.headers):
                continue
            try:
                acknowledged = decode(message.value, ReportAcknowledged)
            except PoisonRecord as exc:  # intake's record: its projection skips it too
                log.warning("acknowledgement_unreadable", partition=message.partition,
                            offset=message.offset, reason=str(exc))
                continue
            stop_clock(acknowledged)

    def stop_clock(acknowledged: ReportAcknowledged) -> None:
        key = acknowledged.reference.encode()
        clock = read_clock(key)
        after = clock and escalation.acknowledge(clock, acknowledged.owner_id,
                                                 datetime.now(UTC))
        if after:
            write_clock(key, after)
            log.info("sla_clock_stopped", reference=acknowledged.reference,
                     owner=acknowledged.owner_id)

    @app.timer(settings.sla_check_s)  # type: ignore[untyped-decorator]  # faust: no_type_check
    async def check_sla_clocks() -> None:
        """Timers run on every worker: each acts only on clocks of partitions it owns now
        (a standby copy, or one left from before a rebalance, is someone else's)."""
        if not app.signpost_readiness.assigned:  # type: ignore[attr-defined]
            return
        mine = {tp.partition for tp in app.assignor.assigned_actives()
                if tp.topic == settings.topics.routed}
        now = datetime.now(UTC)
        acted = False
        current = list(clocks.items())
        for key in schedule.keys() - {key for key, _ in current}:
            del schedule[key]
        for key, raw in current:
            _, due, partition = scheduled(key, raw, now)
            if partition not in mine or now.timestamp() < due:
                continue
            clock = read_clock(key)
            if clock is None:
                continue
            action = escalation.decide(clock, now, notifier.bundle,
                                       keep_finished_s=settings.sla_keep_finished_s)
            if action is None:
                continue
            with structlog.contextvars.bound_contextvars(reference=clock.reference):
                try:
                    await act(key, clock, action, now)
                    acted = True
                except Exception as exc:  # a timer that raises stops for good: try next time
                    # Its type only: an exception's text may quote the report.
                    log.error("sla_check_failed", owner=clock.owner.id, error=type(exc).__name__)
        if acted:
            await app.producer.flush()  # clock changes acknowledged before the next check

    async def act(key: bytes, clock: SlaClock, action: escalation.Action, now: datetime) -> None:
        """Publish first, then move the clock on: a crash in between repeats the publication
        (deduped downstream: the reminder's own delivery key, the escalation's fixed event
        ids) rather than losing it. The clock is only moved on if nothing changed it while
        publishing (an acknowledgement, or the next owner's clock already started)."""
        owner = clock.owner
        if isinstance(action, Forget):
            _source_partition.set(clock.partition)
            del clocks[key]
        elif isinstance(action, Remind):
            await deliver([Output(retries, key, escalation.reminder(clock, now))], source)
            metrics.sla_breaches.labels(owner.tier.value).inc()
            log.warning("sla_breached", owner=owner.id, tier=owner.tier.value,
                        sla_hours=clock.sla_hours, then="reminded")
            if read_clock(key) == clock:
                write_clock(key, escalation.reminded(clock, now))
        elif isinstance(action, Escalate):
            escalated, routed = escalation.escalation(clock, action.to, now)
            await deliver([Output(outcomes, key, escalated), Output(retries, key, routed)],
                          source)
            metrics.escalations.labels(owner.tier.value, action.to.tier.value).inc()
            log.warning("report_escalated", owner=owner.id, to_owner=action.to.id,
                        from_tier=owner.tier.value, to_tier=action.to.tier.value)
            if read_clock(key) == clock:
                write_clock(key, escalation.ended(clock, "escalated", now))
        elif isinstance(action, NoNextTier):
            log.warning("sla_breached_no_next_tier", owner=owner.id, tier=owner.tier.value,
                        sla_hours=clock.sla_hours)
            write_clock(key, escalation.ended(clock, "no_next_tier", now))

    return app
