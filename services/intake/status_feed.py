"""Feeds the status projection from Kafka: a plain aiokafka consumer with no group, assigned
every partition of the submitted, routed, triage, notification, dead-letter and notification
retry topics and read from the beginning at start. Each replica keeps its own copy; nothing is
committed. Where each submitted and routed record is goes into the projection too, so a report
the pipeline lost can be read back and sent again (redriver.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas import DeadLetter, Event, ReportRouted, ReportSubmitted, ReportUnroutable
from services.intake.status import (
    IDEMPOTENCY_HEADER,
    NOTIFICATION,
    Position,
    StatusProjection,
)
from signpost.runtime.background import Background
from signpost.runtime.kafka import PoisonRecord, decode, make_consumer
from signpost.runtime.logging import get_logger
from signpost.runtime.settings import Settings

log = get_logger(__name__)
RETRY_S = 2.0
# Records applied between yields to the event loop: a catch-up batch of 5,000 applied in one
# go held every HTTP request behind it for tens of milliseconds (intake's p99).
YIELD_EVERY = 100


class StatusFeed:
    def __init__(self, settings: Settings, projection: StatusProjection) -> None:
        self._settings, self.projection = settings, projection
        topics = settings.topics
        self._models: dict[str, type[Event] | None] = {
            topics.submitted: ReportSubmitted, topics.routed: ReportRouted,
            topics.triage: ReportUnroutable, topics.notifications: None,
            topics.dead_letter: DeadLetter,
            # Only to see deliveries waiting for a retry: redrive must not count them lost.
            topics.notification_retry: ReportRouted}
        self._background = Background()
        self.caught_up = False
        self.skipped = 0

    async def start(self) -> None:
        """Returns at once; the consumer connects (and reconnects) in the background."""
        self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()

    async def _run(self) -> None:
        while True:
            consumer = make_consumer(self._settings, "signpost-intake-status")
            try:
                await consumer.start()
                await self._consume(consumer)
            except (KafkaError, OSError) as exc:
                log.warning("status_feed_retrying", error=type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(RETRY_S)

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer.topics()  # refreshes metadata
            found = {t: consumer.partitions_for_topic(t) for t in self._models}
            if all(found.values()):
                return [TopicPartition(t, p) for t, ps in found.items() for p in sorted(ps or ())]
            log.info("status_feed_waiting_for_topics",
                     missing=[t for t, ps in found.items() if not ps])
            await asyncio.sleep(RETRY_S)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._assign(consumer)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        started, applied = time.monotonic(), 0
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                for record in records:
                    self.apply_record(record)
                    applied += 1
                    if applied % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            if not self.caught_up and await _reached(consumer, ends):
                self.caught_up = True
                log.info("status_projection_caught_up", records=applied,
                         reports=len(self.projection), skipped=self.skipped,
                         seconds=round(time.monotonic() - started, 2))

    def apply_record(self, record: Any) -> None:
        """A record the projection cannot read is skipped and counted, never fatal."""
        try:
            model = self._models.get(record.topic)
            event: Event = (decode(record.value, model) if model is not None
                            else NOTIFICATION.validate_json(record.value or b""))
        except (PoisonRecord, ValueError):
            self.skipped += 1
            return
        if record.topic == self._settings.topics.notification_retry:
            if isinstance(event, ReportRouted):
                self.projection.deferred(event)
            return
        headers = dict(record.headers or ())
        raw = headers.get(IDEMPOTENCY_HEADER)
        idempotency = raw.decode("ascii", "replace") if isinstance(raw, bytes) else None
        self.projection.apply(event, idempotency, Position(record.partition, record.offset))


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
