"""The broker's own limit, measured with plain aiokafka in the same run as Signpost."""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.kafka_io import produce
from bench.workload import submitted_records


async def produce_rate(bootstrap: str, topic: str, count: int) -> float:
    """Records/s: acks=all, linger 5 ms, send all then await every acknowledgement."""
    records = list(submitted_records(count, seed=1))
    started = time.perf_counter()
    await produce(bootstrap, topic, records, linger_ms=5)
    return count / (time.perf_counter() - started)


async def loop_rate(bootstrap: str, source: str, sink: str, count: int,
                    timeout_s: float = 120) -> float:
    """Records/s of a group consumer that transforms each record (JSON in, JSON out),
    produces the batch, awaits its acknowledgements, then commits: the shape of a router
    with no routing. Timed from the first record received to the last commit."""
    await produce(bootstrap, source, submitted_records(count, seed=2))
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id="bench-raw-loop",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=50, max_partition_fetch_bytes=4 * 1024 * 1024,
                                session_timeout_ms=6000, heartbeat_interval_ms=1200)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=512 * 1024)
    await consumer.start()
    await producer.start()
    done, started = 0, 0.0
    try:
        deadline = time.monotonic() + timeout_s
        while done < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            if not batches:
                continue
            started = started or time.perf_counter()
            futures = []
            for records in batches.values():
                for record in records:
                    value = json.loads(record.value)
                    value["event_type"] = "ReportRouted"
                    futures.append(await producer.send(sink, json.dumps(value).encode(),
                                                       key=record.key))
            await asyncio.gather(*futures)
            await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
            done += sum(len(r) for r in batches.values())
    finally:
        await producer.stop()
        await consumer.stop()
    return done / (time.perf_counter() - started) if started else 0.0
