"""Poison: records no service could read, published straight onto every input topic (on every
partition), go to the dead-letter topic with their reason, and each consumer keeps going: a real
record that arrives after them on the same topic is still delivered to the clerk.

Input topics: the router's submitted topic, and both of the notifier's, the routed topic and
its retry topic (where deliveries that outlast the quick retries wait)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import DeadLetter, Location, Owner, Report, ReportRouted, RoutingTrace, Tier
from services.intake.models import new_reference
from signpost.bundle import load_bundle
from signpost.runtime.kafka import cloudevent_headers, encode
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
INPUTS = [(TOPICS.submitted, "router"), (TOPICS.routed, "notifier"),
          (TOPICS.notification_retry, "notifier")]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSystem, Path]]:
    root = tmp_path_factory.mktemp("poison")
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=root / "logs", data_dir=root / "data")
    with local.running(outbox=root / "outbox"):
        local.wait_ready(timeout_s=90)
        yield local, root


async def publish(bootstrap: str, topic: str, prefix: str) -> set[str]:
    """Every kind of poison on every partition of the topic, so whichever partition the real
    record lands on, it comes after poison. Returns the poison records' keys."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=4_000_000)
    await producer.start()
    keys = set()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        for partition in partitions:
            for name, (value, _) in POISON.items():
                key = f"{prefix}-{name}-p{partition}"
                await producer.send_and_wait(topic, value, key=key.encode(), partition=partition)
                keys.add(key)
    finally:
        await producer.stop()
    return keys


async def publish_routed(bootstrap: str, topic: str, event: ReportRouted) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(event), key=event.reference.encode(),
                                     headers=cloudevent_headers(event, "tests/chaos"))
    finally:
        await producer.stop()


def routed_to_ashcombe() -> ReportRouted:
    """A routed report as the router would publish it, for a report nobody has seen yet."""
    org = load_bundle(DEMO_BUNDLE).organisations["ashcombe-pc"]
    report = Report(reference=new_reference(), category="bus_shelter",
                    description="after poison on the retry topic",
                    location=Location(lat=51.05, lon=-1.55), submitted_at=datetime.now(UTC))
    return ReportRouted(report=report, owner=Owner(id=org.id, name=org.name, tier=Tier(org.tier)),
                        rule_id="poison-test",
                        trace=RoutingTrace(bundle_version="t", rules_evaluated=["poison-test"],
                                           matched_rule="poison-test", boundaries=[]))


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


@pytest.mark.parametrize(("topic", "service"), INPUTS)
def test_poison_is_dead_lettered_and_the_consumer_keeps_going(
        system: tuple[LocalSystem, Path], topic: str, service: str) -> None:
    local, root = system
    prefix = f"{service}-{topic.split('.')[1]}"
    keys = asyncio.run(publish(local.bootstrap, topic, prefix))
    if topic == TOPICS.notification_retry:
        # Nothing reaches the retry topic through intake unless a channel fails, so put a real
        # delivery there, as the notifier itself would after a failure.
        event = routed_to_ashcombe()
        asyncio.run(publish_routed(local.bootstrap, topic, event))
        reference = event.reference
    else:
        response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
            "category": "pothole", "description": "after poison",
            "location": {"lat": 51.1, "lon": -1.3}})
        assert response.status_code == 202
        reference = response.json()["reference"]
    mail = wait_for_mail(root / "outbox", {reference}, 60)
    assert mail[reference] == 1, f"the record after the poison on {topic} was not delivered"

    letters = asyncio.run(dead_letters(local.bootstrap, keys, 30))
    assert letters.keys() == keys, f"not dead-lettered: {sorted(keys - letters.keys())}"
    for key, letter in letters.items():
        name = key.removeprefix(f"{prefix}-").rsplit("-p", 1)[0]
        assert letter.service == service and letter.source_topic == topic
        assert letter.partition == int(key.rsplit("-p", 1)[1])
        assert POISON[name][1] in letter.reason, (name, letter.reason)
