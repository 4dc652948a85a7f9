"""Plain aiokafka helpers: fill a topic, and count records by consuming them.

On the embedded broker ListOffsets (`end_offsets`) lags what has been written, so arrival is
always counted by consuming the records, never from end offsets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]],
                  linger_ms: int = 5) -> int:
    """Send everything without waiting per record, then wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)


@dataclass
class Arrivals:
    """Records seen per topic, in order of arrival, with the wall-clock time of each batch."""

    records: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def first(self) -> float:
        return self.times[0]

    @property
    def last(self) -> float:
        return self.times[-1]


async def consume_until(bootstrap: str, topics: list[str], wanted: int, timeout_s: float,
                        started: Callable[[], None] | None = None,
                        stop: Callable[[Arrivals], bool] | None = None) -> Arrivals:
    """Read `topics` from the start until `wanted` records arrived (or the timeout). `started`
    runs once the consumer has its partitions, so nothing produced after it is missed."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=50, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    arrivals = Arrivals()
    try:
        deadline = time.monotonic() + timeout_s
        while len(arrivals.records) < wanted and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for batch in batches.values():
                arrivals.records += batch
                arrivals.times += [now] * len(batch)
            if started:  # partitions are assigned after the first fetch
                started()
                started = None
            if stop and stop(arrivals):
                break
    finally:
        await consumer.stop()
    return arrivals
