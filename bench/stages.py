"""Each stage of Signpost, measured on its own topics on the shared embedded broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.kafka_io import consume_until, produce
from bench.workload import submitted_records
from signpost.runtime.kafka import ensure_topics
from signpost.runtime.settings import Settings, Topics
from signpost.system import LocalSystem

Say = Callable[[str], None]


def stage_topics(stage: str) -> Topics:
    base = f"bench.{stage}"
    return Topics(submitted=f"{base}.submitted", routed=f"{base}.routed",
                  triage=f"{base}.unroutable", notifications=f"{base}.notification",
                  dead_letter=f"{base}.dead-letter")


def topic_env(topics: Topics) -> dict[str, str]:
    return {"SIGNPOST_TOPIC_SUBMITTED": topics.submitted, "SIGNPOST_TOPIC_ROUTED": topics.routed,
            "SIGNPOST_TOPIC_TRIAGE": topics.triage,
            "SIGNPOST_TOPIC_NOTIFICATIONS": topics.notifications,
            "SIGNPOST_TOPIC_DEAD_LETTER": topics.dead_letter}


def create_topics(system: LocalSystem, topics: Topics) -> None:
    settings = Settings(kafka_bootstrap=bootstrap(system), kafka_idempotent_producer=False,
                        topics=topics)
    asyncio.run(ensure_topics(settings))


def bootstrap(system: LocalSystem) -> str:
    return f"127.0.0.1:{system.ports.broker}"


@dataclass
class RouterResult:
    records: int
    outputs: int
    rate: float  # outputs/s from the first output to the last
    elapsed_s: float  # from the router's start to the last output, join included


def run_router(system: LocalSystem, records: int, say: Say, start_router: Callable[[], None],
               timeout_s: float = 300) -> RouterResult:
    """Preload `records` submitted reports, start the router, and consume routed + triage
    until every output has arrived (counted by consuming them, not from end offsets)."""
    topics = stage_topics("router")
    create_topics(system, topics)
    say(f"router: preloading {records} submitted reports")
    asyncio.run(produce(bootstrap(system), topics.submitted, submitted_records(records)))
    system.extra_env.update(topic_env(topics))
    started: list[float] = []

    def start() -> None:
        say("router: starting the router process")
        started.append(time.time())
        start_router()

    arrivals = asyncio.run(consume_until(bootstrap(system), [topics.routed, topics.triage],
                                         records, timeout_s, started=start))
    n = len(arrivals.records)
    if not n:
        return RouterResult(records, 0, 0.0, 0.0)
    elapsed = arrivals.last - started[0]
    span = arrivals.last - arrivals.first
    # From the first output to the last: the join is not throughput. A small load can
    # arrive in one fetch (no span); then count from the router's start instead.
    rate = n / span if span >= 0.5 else n / elapsed
    return RouterResult(records, n, rate, elapsed)
