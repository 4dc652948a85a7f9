"""The Kafka edge: a report counts as submitted only once the broker has acknowledged it
(acks=all). Anything else is PublishFailed, and the API answers 503."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

import structlog
from aiokafka.errors import KafkaError

from schemas import Event, ReportAcknowledged, ReportSubmitted
from signpost.runtime.kafka import cloudevent_headers, encode, make_producer
from signpost.runtime.logging import get_logger
from signpost.runtime.settings import Settings

SOURCE = "signpost/intake"
log = get_logger(__name__)
Headers = Sequence[tuple[str, bytes]]


class PublishFailed(Exception):
    """The broker did not acknowledge the report in time. It may still be written later:
    a 503 means 'not confirmed', so consumers must dedupe (they do, by event id)."""


class ReportPublisher(Protocol):
    async def publish(self, event: ReportSubmitted, extra_headers: Headers = ()) -> None: ...

    async def acknowledge(self, event: ReportAcknowledged) -> None: ...

    def ready(self) -> bool: ...


class KafkaReportPublisher:
    """aiokafka producer for the submitted topic. After a failure it reports not ready and
    probes the cluster in the background until the broker answers again."""

    def __init__(self, settings: Settings, timeout_s: float = 5.0,
                 probe_interval_s: float = 2.0) -> None:
        self._settings, self._timeout_s, self._probe_interval_s = (
            settings, timeout_s, probe_interval_s)
        self._producer: Any = None
        self._broken = False
        self._probe: asyncio.Task[None] | None = None

    async def start(self) -> None:
        producer = make_producer(self._settings, "signpost-intake")
        await producer.start()
        self._producer = producer
        log.info("publisher_started", topic=self._settings.topics.submitted)

    async def stop(self) -> None:
        if self._probe:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    def ready(self) -> bool:
        return self._producer is not None and not self._broken

    async def publish(self, event: ReportSubmitted, extra_headers: Headers = ()) -> None:
        await self._send(self._settings.topics.submitted, event, extra_headers)

    async def acknowledge(self, event: ReportAcknowledged) -> None:
        """An owner's acknowledgement, beside the notifier's outcomes for the report."""
        await self._send(self._settings.topics.notifications, event, ())

    async def _send(self, topic: str, event: Event, extra_headers: Headers) -> None:
        if self._producer is None:
            raise PublishFailed("publisher not started")
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._producer.send_and_wait(
                    topic, encode(event), key=event.reference.encode(),
                    headers=[*cloudevent_headers(event, SOURCE), *extra_headers])
        except (KafkaError, TimeoutError) as exc:
            self._mark_broken()
            raise PublishFailed(type(exc).__name__) from exc
        self._broken = False

    def _mark_broken(self) -> None:
        self._broken = True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_healthy())

    async def _probe_until_healthy(self) -> None:
        structlog.contextvars.unbind_contextvars("reference")  # copied from the failed request
        while self._broken and self._producer is not None:
            await asyncio.sleep(self._probe_interval_s)
            try:
                await asyncio.wait_for(self._producer.client.fetch_all_metadata(),
                                       self._timeout_s)
            except (KafkaError, TimeoutError):
                continue
            self._broken = False
            log.info("broker_reachable_again")
