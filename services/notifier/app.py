"""Notifier service wiring: consume routed reports, notify each owner once, publish outcomes.

Records are taken in batches and notified concurrently (SMTP and HTTP round trips overlap);
the batch's outcomes are acknowledged by the broker before Faust may commit its offsets.
A delivery that still fails transiently after the quick retries goes to the retry topic and is
tried again later by a second agent, until the retry horizon; only then is it dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from schemas import NotificationFailed, ReportRouted
from services.notifier.delivery import LaterRetries
from services.notifier.notify import Notifier
from signpost.runtime import metrics
from signpost.runtime.kafka import PoisonRecord, decode
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
    slots = asyncio.Semaphore(settings.notifier_concurrency)

    async def handle(message: Any, key: bytes, routed: ReportRouted) -> list[Output]:
        _source_partition.set(message.partition)
        with structlog.contextvars.bound_contextvars(reference=routed.reference):
            async with slots:
                outcome = await notifier.notify(routed)
            if isinstance(outcome, NotificationFailed):
                return failed(message, routed, outcome)
            deliveries[key] = datetime.now(UTC).isoformat().encode()
            return [Output(outcomes, message.key, outcome)]

    def failed(message: Any, routed: ReportRouted, outcome: NotificationFailed) -> list[Output]:
        state, now = retry_state(message.headers), time.time()
        attempt, first = int(state.get(ATTEMPT, 0)), state.get(FIRST_FAILED, now)
        at = None if outcome.permanent else later.next_try(attempt, first, now)
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
            if key in todo or deliveries.get(key) is not None:
                metrics.notifications_duplicate_skipped.labels(notifier.channel_name(routed)).inc()
                log.info("notification_already_sent", reference=routed.reference,
                         owner=routed.owner.id)
                continue
            todo[key] = handle(message, key, routed)
        return outputs, list(todo.values())

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
        await deliver(outputs, f"signpost/{SERVICE}")
        await app.producer.flush()  # idempotency records acknowledged before moving on
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

    return app
