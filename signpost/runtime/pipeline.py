"""Batch hand-off for stream services: produce every output of a batch, wait until the broker
has acknowledged all of them, and only then let Faust ack (and later commit) the inputs.

An exception inside a Faust agent acks and skips the message, so nothing here raises: a record
that can never be processed becomes a dead letter, and a broker that will not take the outputs
is retried with backoff until it does, holding the partition rather than losing a report.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from schemas import DeadLetter, Event
from signpost.runtime import metrics
from signpost.runtime.kafka import cloudevent_headers, encode
from signpost.runtime.logging import get_logger

log = get_logger(__name__)
MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class Output:
    topic: Any  # faust.TopicT
    key: bytes | None
    event: Event


def dead_letter(topic: Any, service: str, message: Any, reason: str) -> Output:
    raw: bytes = message.value or b""
    key = message.key.decode("utf-8", "replace") if message.key else None
    record = DeadLetter(service=service, source_topic=message.topic, partition=message.partition,
                        offset=message.offset, key=key,
                        value=raw[:100_000].decode("utf-8", "replace"), reason=reason)
    metrics.dead_letters.labels(service, message.topic).inc()
    log.warning("dead_lettered", reference=key, source_topic=message.topic,
                partition=message.partition, offset=message.offset, reason=reason)
    return Output(topic, message.key, record)


async def deliver(outputs: list[Output], source: str) -> None:
    """Send all outputs and wait for the broker's acknowledgement of every one."""
    pending = outputs
    attempt = 0
    while pending:
        futures = [await _send(o, source) for o in pending]
        results = await asyncio.gather(*futures, return_exceptions=True)
        pending = [o for o, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
        if pending:
            attempt += 1
            delay = min(MAX_BACKOFF_S, 0.2 * 2**attempt) * (0.5 + random.random() / 2)
            log.error("broker_unavailable", unsent=len(pending), retry_in_s=round(delay, 2),
                      error=type(next(r for r in results if isinstance(r, BaseException))).__name__)
            await asyncio.sleep(delay)


async def _send(output: Output, source: str) -> Any:
    try:
        return await output.topic.send(key=output.key, value=encode(output.event),
                                       headers=cloudevent_headers(output.event, source))
    except Exception as exc:  # a send that fails to enqueue is retried like a failed delivery
        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed
