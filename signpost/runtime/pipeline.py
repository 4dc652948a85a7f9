"""Batch hand-off for stream services: produce every output of a batch, wait until the broker
has acknowledged all of them, and only then let Faust ack (and later commit) the inputs.

`BatchConsumer` does the same without Faust's per-message stream machinery, for a service
whose throughput that machinery caps (the router): it consumes a topic in batches inside the
Faust app, and commits a batch's input offsets only after the broker acknowledged its outputs.

An exception inside a Faust agent acks and skips the message, so nothing here raises: a record
that can never be processed becomes a dead letter, and a broker that will not take the outputs
is retried with backoff until it does, holding the partition rather than losing a report.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from schemas import DeadLetter, Event
from signpost.runtime import metrics
from signpost.runtime.batches import BatchProducer, OutgoingRecord
from signpost.runtime.kafka import Headers, cloudevent_headers, encode, make_consumer
from signpost.runtime.logging import get_logger
from signpost.runtime.settings import Settings

log = get_logger(__name__)
MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class Output:
    topic: Any  # faust.TopicT
    key: bytes | None
    event: Event
    headers: tuple[tuple[str, bytes], ...] = ()  # besides the CloudEvents ones
    # The input record's partition, for a `BatchConsumer`: where the producer's partitioner
    # would put the same key anyway, if the output topic has as many partitions as the input.
    partition: int | None = None


def dead_letter(topic: Any, service: str, message: Any, reason: str) -> Output:
    raw: bytes = message.value or b""
    key = message.key.decode("utf-8", "replace") if message.key else None
    record = DeadLetter(service=service, source_topic=message.topic, partition=message.partition,
                        offset=message.offset, key=key,
                        value=raw[:100_000].decode("utf-8", "replace"), reason=reason)
    metrics.dead_letters.labels(service, message.topic).inc()
    log.warning("dead_lettered", reference=key, source_topic=message.topic,
                partition=message.partition, offset=message.offset, reason=reason)
    return Output(topic, message.key, record, partition=message.partition)


# Enqueue one record (topic, key, value, headers) and return the future of its acknowledgement.
Send = Callable[[Any, bytes | None, bytes, Headers], Awaitable[Any]]


async def deliver(outputs: list[Output], source: str, send: Send | None = None) -> None:
    """Send all outputs and wait for the broker's acknowledgement of every one.

    Without `send`, each output goes through its Faust topic; with it (route replay),
    straight to the producer, where `Output.topic` is the topic's name."""

    async def resend(failed: list[Output]) -> list[Any]:
        return await enqueue(failed, source, send)

    await settle(outputs, await resend(outputs), resend)


async def enqueue(outputs: list[Output], source: str, send: Send | None) -> list[Any]:
    """Hand every output to the producer, in order; the futures of their acknowledgements."""
    return [await _send(o, source, send) for o in outputs]


Resend = Callable[[list[Output]], Awaitable[list[Any]]]


async def settle(outputs: list[Output], acks: list[Any], resend: Resend) -> None:
    """Wait for the acknowledgement of every output; send again, with backoff, any that the
    broker refused, until it takes them. Never gives up: the partition holds instead."""
    attempt = 0
    while True:
        failed, error = [], ""
        for output, ack in zip(outputs, acks, strict=True):
            try:  # in order, not gather: most are done by the time the first is
                await ack
            except asyncio.CancelledError:
                if not (isinstance(ack, asyncio.Future) and ack.cancelled()):
                    raise  # this task is being cancelled, not the send
                failed.append(output)
                error = error or "CancelledError"
            except Exception as exc:
                failed.append(output)
                error = error or type(exc).__name__
        if not failed:
            return
        attempt += 1
        delay = min(MAX_BACKOFF_S, 0.2 * 2**attempt) * (0.5 + random.random() / 2)
        log.error("broker_unavailable", unsent=len(failed), retry_in_s=round(delay, 2),
                  error=error)
        await asyncio.sleep(delay)
        outputs, acks = failed, await resend(failed)


async def _send(output: Output, source: str, send: Send | None) -> Any:
    try:
        value = encode(output.event)
        headers = [*cloudevent_headers(output.event, source), *output.headers]
        if send is not None:
            return await send(output.topic, output.key, value, headers)
        return await output.topic.send(key=output.key, value=value, headers=headers)
    except Exception as exc:  # a send that fails to enqueue is retried like a failed delivery
        return _failed(exc)


def _failed(exc: Exception) -> asyncio.Future[Any]:
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(exc)
    return failed


Process = Callable[[list[Any]], list[Output]]


class BatchConsumer(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Consume `topic` in batches of up to `max_records` as the group `group_id`: process a
    batch into outputs (in input order), deliver them all, then commit the batch's offsets.

    Pipelined one batch deep: while the broker acknowledges one batch's outputs and its
    offsets are committed, the next batch is processed and handed to the producer. That wait
    is as long as the processing itself on the embedded broker, so overlapping them is most
    of the router's speed. Offsets are still committed in order and only after every output
    of their batch is acknowledged. The one cost: if the broker refuses a batch's outputs
    after the next batch's were sent, the resent ones land after them, so a key in both
    batches (a reference submitted twice within milliseconds) can be out of order.

    A rebalance waits for the batch in flight to be delivered and committed before giving
    up partitions, so a new owner starts after it. A commit that still fails (the group moved
    on) only means redelivery: at-least-once, which the consumers downstream dedupe.
    `process` must not raise for a bad record; it turns such records into dead letters."""

    def __init__(self, *, service: str, settings: Settings, group_id: str, topic: str,
                 process: Process, producer: BatchProducer, source: str, max_records: int,
                 on_assigned: Callable[[bool], None] | None = None) -> None:
        self.service, self.topic, self.process, self.producer, self.source = (
            service, topic, process, producer, source)
        self.max_records = max_records
        self.on_assigned = on_assigned
        self._lock = asyncio.Lock()
        self._in_flight: asyncio.Future[None] | None = None
        session_timeout_s = settings.kafka_session_timeout_s
        self.consumer = make_consumer(
            settings, f"signpost-{service}", group_id=group_id,
            session_timeout_ms=int(session_timeout_s * 1000),
            heartbeat_interval_ms=int(session_timeout_s * 1000 / 5),
            rebalance_timeout_ms=int(session_timeout_s * 2000),
            request_timeout_ms=int(max(settings.kafka_request_timeout_s, 30.0) * 1000),
            fetch_max_wait_ms=50,  # see worker.FETCH_MAX_WAIT_MS
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:  # let the batch in hand finish and commit first
            await self._finish_in_flight()
            if self.on_assigned:
                self.on_assigned(False)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.on_assigned:
            self.on_assigned(True)

    async def run(self) -> None:
        self.consumer.subscribe([self.topic], listener=self)
        await self.consumer.start()
        log.info("batch_consumer_started", topic=self.topic, max_records=self.max_records)
        try:
            while True:
                batches = await self.consumer.getmany(timeout_ms=1000,
                                                      max_records=self.max_records)
                async with self._lock:
                    if batches:
                        await self._start(batches)
                    else:  # quiet: commit what is in flight now rather than later
                        await self._finish_in_flight()
        finally:
            await self.consumer.stop()

    async def _start(self, batches: dict[TopicPartition, list[Any]]) -> None:
        """Process a batch and hand its outputs to the producer; then wait for the batch
        before it (acknowledged and committed, in order) and leave this one in flight."""
        records = [r for tp in sorted(batches) for r in batches[tp]]
        outputs = self.process(records)
        acks = await self._enqueue(outputs)
        await self._finish_in_flight()
        self._in_flight = asyncio.ensure_future(self._finish(batches, outputs, acks))

    async def _enqueue(self, outputs: list[Output]) -> list[Any]:
        """Hand the outputs to the producer a batch per partition; one ack future each."""
        acks: list[Any] = [None] * len(outputs)
        records, sent = [], []
        same = await self._copartitioned({o.topic for o in outputs})
        for i, output in enumerate(outputs):
            try:
                value = encode(output.event)
                headers = [*cloudevent_headers(output.event, self.source), *output.headers]
            except Exception as exc:  # retried like a failed delivery, holding the partition
                acks[i] = _failed(exc)
                continue
            partition = output.partition if output.topic in same else None
            records.append(OutgoingRecord(output.topic, output.key, value, headers, partition))
            sent.append(i)
        for i, ack in zip(sent, await self.producer.send_all(records), strict=True):
            acks[i] = ack
        return acks

    async def _copartitioned(self, topics: set[str]) -> set[str]:
        """The output topics with as many partitions as the input: there a key's partition is
        its input record's, which the producer that wrote it chose by the same hash."""
        inputs = len(self.consumer.partitions_for_topic(self.topic) or ())
        return {t for t in topics if len(await self.producer.partitions(t)) == inputs}

    async def _finish_in_flight(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def _finish(self, batches: dict[TopicPartition, list[Any]], outputs: list[Output],
                      acks: list[Any]) -> None:
        await settle(outputs, acks, self._enqueue)
        assigned = self.consumer.assignment()
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items() if tp in assigned}
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # outputs are acked; the inputs will come again
            log.warning("commit_failed", error=type(exc).__name__,
                        records=sum(len(r) for r in batches.values()))
        metrics.last_progress.labels(self.service).set(time.time())
        for tp in batches:
            highwater = self.consumer.highwater(tp)
            if highwater is not None and tp in offsets:
                metrics.consumer_lag.labels(self.service, tp.topic, str(tp.partition)).set(
                    max(0, highwater - offsets[tp]))
