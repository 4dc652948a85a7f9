"""The walking skeleton, end to end: the real embedded broker and the three real services as
processes. Reports posted over HTTP reach the right clerk's inbox at a real SMTP server; an
unroutable report lands on the triage topic; a poison record lands on the dead-letter topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import DeadLetter, ReportUnroutable
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
TOPICS = Topics()
RESIDENT = {"name": "Rita Resident", "email": "rita.resident@example.com", "phone": "07700 900123"}
SECRET_TEXT = "my neighbour at 14 Acacia Avenue"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSystem, Path]]:
    root = tmp_path_factory.mktemp("e2e")
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=root / "logs", data_dir=root / "data")
    with local.running(outbox=root / "outbox"):
        local.wait_ready(timeout_s=90)
        yield local, root


def post(local: LocalSystem, body: dict[str, Any]) -> str:
    response = httpx.post(f"{local.health_url('intake')}/v1/reports", json=body, timeout=10)
    assert response.status_code == 202, response.text
    reference: str = response.json()["reference"]
    return reference


def report(category: str, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"category": category, "description": "Please fix", "location": {"lat": lat, "lon": lon},
            **extra}


def wait_for_mail(outbox: Path, references: set[str],
                  timeout_s: float = 30) -> dict[str, list[Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found: dict[str, list[Any]] = {}
        for path in outbox.glob("*.eml"):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            found.setdefault(str(msg["X-Signpost-Reference"]), []).append(msg)
        if references <= found.keys():
            return found
        time.sleep(0.2)
    raise AssertionError(f"no mail for {references - found.keys()} after {timeout_s} s")


async def read_topic(bootstrap: str, topic: str, wanted: int, timeout_s: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < wanted and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            records += [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    return records


def test_reports_reach_the_right_clerk(system: tuple[LocalSystem, Path]) -> None:
    local, root = system
    expected = {
        # A bus shelter inside Ashcombe parish is the parish's; outside any parish, the district's.
        post(local, report("bus_shelter", 51.05, -1.55, reporter=RESIDENT,
                           description=SECRET_TEXT)): "clerk@ashcombe-pc.example.org",
        post(local, report("bus_shelter", 51.15, -1.45)): "reports@westbury-dc.example.org",
        post(local, report("speeding", 51.25, -1.05, answers={
            "speed_limit": "30", "road_type": "village street", "pattern": "at certain times",
        })): "clerk@juniper-hill-pc.example.org",
        post(local, report("pothole", 51.25, -1.05)): "highways@vale-county.example.org",
        post(local, report("fly_tipping", 51.05, -1.25)): "reports@midford-dc.example.org",
    }
    mail = wait_for_mail(root / "outbox", set(expected))
    for reference, address in expected.items():
        assert len(mail[reference]) == 1, f"{reference} was sent {len(mail[reference])} times"
        assert address in str(mail[reference][0]["To"])


def test_unroutable_report_goes_to_triage_with_its_reason(system: tuple[LocalSystem, Path]) -> None:
    local, _ = system
    reference = post(local, report("pothole", 53.48, -2.24))  # Manchester: outside the county
    records = asyncio.run(read_topic(f"127.0.0.1:{local.ports.broker}", TOPICS.triage, 1))
    triaged = [ReportUnroutable.model_validate_json(r.value) for r in records]
    match = [t for t in triaged if t.reference == reference]
    assert match and match[0].reason_code == "outside_area"


def test_poison_record_is_dead_lettered_and_the_router_keeps_going(
        system: tuple[LocalSystem, Path]) -> None:
    local, root = system
    bootstrap = f"127.0.0.1:{local.ports.broker}"

    async def publish_poison() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        await producer.send_and_wait(TOPICS.submitted, b'{"schema_version": 99}', key=b"poison-1")
        await producer.stop()

    asyncio.run(publish_poison())
    after = post(local, report("missed_bin", 51.05, -1.05))
    wait_for_mail(root / "outbox", {after})
    records = asyncio.run(read_topic(bootstrap, TOPICS.dead_letter, 1))
    letters = [DeadLetter.model_validate_json(r.value) for r in records]
    poison = [d for d in letters if d.key == "poison-1"]
    assert poison and poison[0].service == "router" and "schema_version" in poison[0].reason
    assert poison[0].source_topic == TOPICS.submitted
