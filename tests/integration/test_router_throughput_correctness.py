"""The router at full speed keeps its promises: 4,920 preloaded records (several per report
key, in order, and some poison) through the real router process on the embedded broker.
Every valid input comes out at least once (duplicates are counted and reported, not failed),
each key's outputs keep their input order, and every poison record is dead-lettered.
No timing assertions."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from bench.kafka_io import consume_until, produce
from bench.workload import poison_values, reference, routable_bodies
from schemas import DeadLetter, Location, Report, ReportSubmitted
from signpost.runtime.kafka import encode
from signpost.runtime.settings import DEMO_BUNDLE, Settings, Topics
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
TOPICS = Topics()
KEYS, PER_KEY, POISON = 800, 6, 40  # 4,800 valid + 120 poison (40 after every other round)


def records() -> list[tuple[bytes, bytes]]:
    bodies = routable_bodies(50)
    out: list[tuple[bytes, bytes]] = []
    for seq in range(PER_KEY):  # interleave keys, each key's records in order
        for k in range(KEYS):
            body = bodies[k % len(bodies)]
            report = Report(reference=reference(k + 1), category=body["category"],
                            description=f"seq {seq}", location=Location(**body["location"]),
                            answers=body.get("answers", {}), submitted_at=datetime.now(UTC))
            out.append((report.reference.encode(), encode(ReportSubmitted(report=report))))
        if seq % 2 == 0:
            out += [(f"poison-{seq}-{i}".encode(), poison_values()[i % len(poison_values())])
                    for i in range(POISON)]
    return out


def test_router_at_speed_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data")
    bootstrap = f"127.0.0.1:{local.ports.broker}"
    sent = records()
    poison = {k for k, _ in sent if k.startswith(b"poison-")}
    valid = len(sent) - len(poison)
    try:
        local.start_broker()
        asyncio.run(produce(bootstrap, TOPICS.submitted, sent))
        arrivals = asyncio.run(consume_until(
            bootstrap, [TOPICS.routed, TOPICS.triage, TOPICS.dead_letter], len(sent), 180,
            started=lambda: local.start_service("router")))
        local.check_alive("router")
    finally:
        local.stop()

    seqs: dict[str, list[int]] = defaultdict(list)
    dead: set[bytes] = set()
    partitions = list(range(Settings().partitions))
    for record in arrivals.records:
        # Where a producer's partitioner puts the key: all of a report's records, on every
        # topic, in the one partition a downstream consumer keyed by reference reads.
        assert record.partition == DefaultPartitioner()(record.key, partitions, partitions)
        if record.topic == TOPICS.dead_letter:
            letter = DeadLetter.model_validate_json(record.value)
            assert letter.service == "router" and letter.reason
            dead.add(record.key)
        else:
            body = json.loads(record.value)  # a ReportRouted or ReportUnroutable
            seqs[body["report"]["reference"]].append(int(body["report"]["description"][4:]))

    copies = Counter((ref, s) for ref, ss in seqs.items() for s in ss)
    duplicates = sum(n - 1 for n in copies.values())
    print(f"{len(arrivals.records)} outputs for {len(sent)} inputs; {duplicates} duplicates")
    assert dead == poison, f"{len(poison - dead)} poison records not dead-lettered"
    assert len(copies) == valid, f"{valid - len(copies)} valid records lost"
    for ref, ss in seqs.items():
        first_seen = list(dict.fromkeys(ss))
        assert first_seen == sorted(first_seen), f"{ref} out of order: {ss}"
