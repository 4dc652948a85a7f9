"""Poison: records no service could read, published straight onto every input topic, go to the
dead-letter topic with their reason, and each consumer keeps going."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import DeadLetter
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem
from tests.chaos.test_crash import wait_for_mail

pytestmark = pytest.mark.integration
TOPICS = Topics()
POISON = {
    "malformed-json": (b'{"report": ', "not a valid"),
    "wrong-version": (b'{"schema_version": 7, "event_type": "ReportSubmitted"}', "schema_version"),
    "not-utf8": (b"\xc3\x28\xa0\xa1", "not UTF-8"),
    "oversized": (b'{"pad": "' + b"x" * 1_100_000 + b'"}', "exceeds"),
    "empty": (b"", "not a valid"),
}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSystem, Path]]:
    root = tmp_path_factory.mktemp("poison")
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=root / "logs", data_dir=root / "data")
    with local.running(outbox=root / "outbox"):
        local.wait_ready(timeout_s=90)
        yield local, root


async def publish(bootstrap: str, topic: str, prefix: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=4_000_000)
    await producer.start()
    try:
        for name, (value, _) in POISON.items():
            await producer.send_and_wait(topic, value, key=f"{prefix}-{name}".encode())
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, keys: set[str], timeout_s: float) -> dict[str, DeadLetter]:
    consumer = AIOKafkaConsumer(TOPICS.dead_letter, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", fetch_max_bytes=8_000_000,
                                max_partition_fetch_bytes=8_000_000)
    await consumer.start()
    found: dict[str, DeadLetter] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while not keys <= found.keys() and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    letter = DeadLetter.model_validate_json(record.value)
                    if letter.key in keys:
                        found[letter.key] = letter
    finally:
        await consumer.stop()
    return found


@pytest.mark.parametrize(("topic", "service"), [(TOPICS.submitted, "router"),
                                                (TOPICS.routed, "notifier")])
def test_poison_is_dead_lettered_and_the_consumer_keeps_going(
        system: tuple[LocalSystem, Path], topic: str, service: str) -> None:
    local, root = system
    asyncio.run(publish(local.bootstrap, topic, service))
    response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
        "category": "pothole", "description": "after poison",
        "location": {"lat": 51.1, "lon": -1.3}})
    assert response.status_code == 202
    wait_for_mail(root / "outbox", {response.json()["reference"]}, 30)  # still flowing

    keys = {f"{service}-{name}" for name in POISON}
    letters = asyncio.run(dead_letters(local.bootstrap, keys, 30))
    assert letters.keys() == keys
    for name, (_, reason) in POISON.items():
        letter = letters[f"{service}-{name}"]
        assert letter.service == service and letter.source_topic == topic
        assert reason in letter.reason, (name, letter.reason)
