"""Rebuild the likely-duplicate index at start from the routed topic.

The index lives in memory. Rather than a Faust table (a changelog topic and its recovery), the
router reads its own output back: the router no longer runs Faust agents or tables since its
throughput rework (app.py), every ReportRouted already carries the report, its owner and the
link it was given, and the routed topic holds exactly what the index needs. So on start, before
the batch consumer joins its group, a consumer with no group reads each partition of the routed
topic from the window's start (`offsets_for_times`; from the beginning if the broker cannot
answer that) up to the end it had at start, and records each report with the answer it got,
so a report redelivered after a restart still gets the same answer.

Limit: each router process has its own index. With several router processes, a report is
compared with those its own process routed since start (and everything routed before start),
not with those routed meanwhile by the others.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas import ReportRouted
from services.router.duplicates import OpenReports
from signpost.runtime.kafka import PoisonRecord, decode, make_consumer
from signpost.runtime.logging import get_logger
from signpost.runtime.settings import Settings

log = get_logger(__name__)


async def rebuild(index: OpenReports, settings: Settings, topic: str, *,
                  limit_s: float = 120.0) -> int:
    """Record the routed reports of the last window; returns how many were read. Never
    raises: if the topic cannot be read, the router starts with what it has and says so."""
    started = time.monotonic()
    since_ms = int((time.time() - index.window_s) * 1000)
    consumer = make_consumer(settings, "signpost-router-recent")
    read = 0
    try:
        await consumer.start()
        await consumer.topics()  # fetch metadata
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return 0
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await _seek_to_window(consumer, partitions, since_ms)
        waiting = {tp for tp in partitions if ends[tp] > 0}
        deadline = started + limit_s
        while waiting and time.monotonic() < deadline:
            batches = await consumer.getmany(*waiting, timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp] and record.timestamp >= since_ms:
                        read += _record(index, record)
            for tp in list(waiting):
                if await consumer.position(tp) >= ends[tp]:
                    waiting.discard(tp)
        if waiting:
            log.warning("duplicate_index_incomplete", topic=topic, read=read,
                        partitions=sorted(tp.partition for tp in waiting))
    except KafkaError as exc:
        log.warning("duplicate_index_not_rebuilt", topic=topic, read=read,
                    error=type(exc).__name__)
    finally:
        await consumer.stop()
    log.info("duplicate_index_rebuilt", topic=topic, read=read, remembered=len(index),
             seconds=round(time.monotonic() - started, 3))
    return read


async def _seek_to_window(consumer: AIOKafkaConsumer, partitions: list[TopicPartition],
                          since_ms: int) -> None:
    try:
        found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
    except (KafkaError, NotImplementedError, ValueError):
        found = {}
    for tp in partitions:
        at = found.get(tp)
        if at is None:
            # None from the broker means no record at or after the time: the end. No answer
            # at all (the broker cannot do it) means scan from the beginning.
            if tp in found:
                await consumer.seek_to_end(tp)
            else:
                await consumer.seek_to_beginning(tp)
        else:
            # The embedded broker answers with offset 0 (timestamp -1 for an empty partition)
            # rather than the first record at the time: that is a scan, and the timestamp
            # filter in `rebuild` and the index's own window keep only the window.
            consumer.seek(tp, at.offset)


def _record(index: OpenReports, record: Any) -> int:
    try:
        event = decode(record.value, ReportRouted)
    except PoisonRecord:
        return 0
    index.record(event.report, event.owner.id, event.likely_duplicate_of)
    return 1
