"""Notifier service wiring: consume routed reports, notify each owner once, publish outcomes.

Records are taken in batches and notified concurrently (SMTP and HTTP round trips overlap);
the batch's outcomes are acknowledged by the broker before Faust may commit its offsets.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from schemas import NotificationFailed, ReportRouted
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
            outputs = [Output(outcomes, message.key, outcome)]
            if isinstance(outcome, NotificationFailed):
                outputs.append(dead_letter(dead, SERVICE, message, outcome.reason))
            else:
                deliveries[key] = datetime.now(UTC).isoformat().encode()
            return outputs

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

    @app.agent(routed_topic)
    async def notify(stream: faust.StreamT[Any]) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]  # missing from StreamT
            settings.batch_size, within=settings.batch_window_s)
        async for batch in batches:
            outputs, deliveries_to_make = plan(batch)
            for produced in await asyncio.gather(*deliveries_to_make):
                outputs.extend(produced)
            await deliver(outputs, f"signpost/{SERVICE}")
            await app.producer.flush()  # idempotency records acknowledged before moving on
            record_lag(batch)
            progressed(SERVICE)

    return app
