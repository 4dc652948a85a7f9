"""The router's batch producer on the embedded broker: every record lands once, in the partition
the producer's own partitioner gives its key (or the one it was told), in order within each
partition, across batches that fill and spill into the next."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from bench.kafka_io import consume_until
from signpost.runtime.batches import BatchProducer, OutgoingRecord
from signpost.runtime.kafka import ensure_topics
from signpost.runtime.settings import DEMO_BUNDLE, Settings
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
TOPIC = "batch.producer.test"


async def send(bootstrap: str, records: list[OutgoingRecord]) -> None:
    await ensure_topics(Settings(kafka_bootstrap=bootstrap), [TOPIC])
    # Small produce batches, so 600 records of ~200 bytes fill several per partition.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=16_384)
    await producer.start()
    try:
        acks = await BatchProducer(producer).send_all(records)
        assert len(acks) == len(records)
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


def test_batches_keep_partitions_and_order(tmp_path: Path) -> None:
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data")
    bootstrap = f"127.0.0.1:{local.ports.broker}"
    keys = [f"SP-0000-0000-{k:04d}".encode() for k in range(50)]
    records = [OutgoingRecord(TOPIC, keys[i % 50], f"{i:06d}".encode() + b"x" * 200,
                              [("n", str(i).encode())],
                              partition=2 if i % 50 == 7 else None)  # told: not its hash (1)
               for i in range(600)]
    try:
        local.start_broker()
        asyncio.run(send(bootstrap, records))
        arrivals = asyncio.run(consume_until(bootstrap, [TOPIC], len(records), 60))
    finally:
        local.stop()

    partitions = list(range(Settings().partitions))
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in arrivals.records:
        expected = 2 if record.key == keys[7] else \
            DefaultPartitioner()(record.key, partitions, partitions)
        assert record.partition == expected, record.key
        assert int(dict(record.headers)["n"]) == int(record.value[:6])
        by_key[record.key].append(int(record.value[:6]))
    assert sum(map(len, by_key.values())) == len(records)  # each once
    for key, numbers in by_key.items():
        assert numbers == sorted(numbers), key
        assert len(numbers) == 12


async def refused(bootstrap: str) -> list[BaseException | None]:
    await ensure_topics(Settings(kafka_bootstrap=bootstrap), [TOPIC])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:  # partition 99 does not exist: the producer will not take that batch
        acks = await BatchProducer(producer).send_all(
            [OutgoingRecord(TOPIC, b"k", b"v", [], partition=p) for p in (99, 0, 99, 0, 99)])
        await asyncio.wait(acks)
    finally:
        await producer.stop()
    return [ack.exception() for ack in acks]


def test_a_batch_the_producer_refuses_fails_its_records_and_only_them(tmp_path: Path) -> None:
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data")
    try:
        local.start_broker()
        errors = asyncio.run(refused(f"127.0.0.1:{local.ports.broker}"))
    finally:
        local.stop()
    assert [e is not None for e in errors] == [True, False, True, False, True], errors
