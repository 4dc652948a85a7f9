"""Sends lost reports again (what "lost" means: redrive.py). Runs inside intake, beside the
status projection it reads; every replica runs one, which is safe: a report sent again twice
is still decided the same way and delivered once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.intake.redrive import Committed, Lost, Suspects, lost
from services.intake.status import Position, StatusProjection
from services.intake.status_feed import StatusFeed
from signpost.runtime import metrics
from signpost.runtime.background import Background
from signpost.runtime.kafka import group_id, make_consumer, make_producer
from signpost.runtime.logging import get_logger
from signpost.runtime.settings import Settings

log = get_logger(__name__)
REDRIVEN_HEADER = "signpost_redriven"
READ_TIMEOUT_S = 5.0


class Redriver:
    def __init__(self, settings: Settings, projection: StatusProjection,
                 feed: StatusFeed) -> None:
        self.settings, self.projection, self.feed = settings, projection, feed
        self.suspects = Suspects(timedelta(seconds=settings.intake_redrive_grace_s),
                                 settings.intake_redrive_attempts)
        self._background = Background()

    async def start(self) -> None:
        if self.settings.intake_redrive:
            self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.intake_redrive_interval_s)
            if not self.feed.caught_up:
                continue  # an incomplete projection would make late reports look lost
            try:
                await self.sweep()
            except (KafkaError, OSError) as exc:
                log.warning("redrive_sweep_failed", error=type(exc).__name__)

    async def sweep(self) -> int:
        """Find lost reports and send each again; how many were sent."""
        topics = self.settings.topics
        router = await self._committed("router", topics.submitted)
        notifier = await self._committed("notifier", topics.routed)
        now = datetime.now(UTC)
        found = lost(self.projection.statuses(), router, notifier)
        due = self.suspects.due(found, now)
        for item in self.suspects.given_up:
            log.error("report_still_lost", reference=item.reference, stage=item.stage,
                      owner=item.owner_id, attempts=self.suspects.limit)
        if due:
            await self._send_again(due, now)
        return len(due)

    async def _committed(self, service: str, topic: str) -> Committed:
        """The group's committed offsets, asked as a consumer that never joins the group (the
        embedded broker answers the admin client's OffsetFetch in a form aiokafka rejects)."""
        consumer = make_consumer(self.settings, "signpost-intake-redrive",
                                 group_id=group_id(service))
        try:
            await consumer.start()
            await consumer.topics()  # metadata, for the partitions
            committed: Committed = {}
            for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                offset = await consumer.committed(TopicPartition(topic, partition))
                if offset is not None and offset >= 0:
                    committed[partition] = offset
            return committed
        finally:
            await consumer.stop()

    async def _send_again(self, items: list[Lost], now: datetime) -> None:
        topics = self.settings.topics
        consumer = make_consumer(self.settings, "signpost-intake-redrive")
        producer = make_producer(self.settings, "signpost-intake-redrive")
        try:  # stopped even when starting failed (the broker away)
            await consumer.start()
            await producer.start()
            for item in items:
                source, target = ((topics.submitted, topics.submitted) if item.stage == "routing"
                                  else (topics.routed, topics.notification_retry))
                record = await _read(consumer, TopicPartition(source, item.position.partition),
                                     item.position.offset)
                if record is None or record.key != item.reference.encode():
                    log.error("redrive_record_not_found", reference=item.reference,
                              stage=item.stage, partition=item.position.partition,
                              offset=item.position.offset)
                    continue
                headers = [*(record.headers or ()), (REDRIVEN_HEADER, item.stage.encode())]
                sent = await producer.send_and_wait(target, record.value, key=record.key,
                                                    headers=headers)
                copy = Position(sent.partition, sent.offset)
                if item.stage == "routing":  # a notification's copy is seen as deferred
                    self.projection.resubmitted(item.reference, copy)
                attempt = self.suspects.sent(replace(item, position=copy), now)
                metrics.reports_redriven.labels(item.stage).inc()
                log.warning("report_redriven", reference=item.reference, stage=item.stage,
                            owner=item.owner_id, partition=item.position.partition,
                            offset=item.position.offset, attempt=attempt)
        finally:
            await producer.stop()
            await consumer.stop()


async def _read(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> Any:
    """The record at `offset`, or None if it cannot be read within a few seconds."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:
        for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
            if record.offset == offset:
                return record
            if record.offset > offset:
                return None
    return None
