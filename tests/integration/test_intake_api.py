"""Intake against the real embedded broker (Tansu): a 202 means the record is on the topic,
keyed by reference, with CloudEvents headers; with the broker gone it is 503, never 202."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from schemas import ReportSubmitted
from services.intake.main import build_app
from signpost.bundle.model import Category, Question
from signpost.runtime.kafka import ensure_topics
from signpost.runtime.settings import Settings
from signpost.system import broker_command, free_port, wait_for_port

pytestmark = pytest.mark.integration
CATEGORIES = [
    Category(id="speeding", name="Speeding traffic", questions=[Question(
        id="speed_limit", text="What is the speed limit?", answers=["20", "30", "40 or more"])]),
    Category(id="pothole", name="Pothole"),
]
REPORT = {"category": "speeding", "description": "Too fast", "answers": {"speed_limit": "30"},
          "location": {"lat": 51.05, "lon": -1.55}, "reporter": {"email": "ada@example.org"}}


def start_broker(port: int) -> subprocess.Popen[bytes]:
    """Tansu with in-memory storage on the port, once it accepts connections."""
    process = subprocess.Popen(broker_command(port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 15)
    except OSError:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=15)


def crash(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: a broker that vanishes (SIGTERM waits ~5 s for connected clients)."""
    process.kill()
    process.wait(timeout=10)


@pytest.fixture
def broker() -> Iterator[tuple[subprocess.Popen[bytes], Settings]]:
    """A fresh broker with Signpost's topics, stopped afterwards."""
    process = start_broker(port := free_port())
    try:
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{port}", kafka_idempotent_producer=False,
                            kafka_request_timeout_s=3, partitions=2, intake_open=True)
        asyncio.run(ensure_topics(settings))
        yield process, settings
    finally:
        stop(process)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (publisher start/stop), reached in-process over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


async def records(settings: Settings, want: int, timeout_s: float = 15) -> list[Any]:
    """What is on the submitted topic, read by a real consumer (no group: every partition)."""
    consumer = AIOKafkaConsumer(settings.topics.submitted, group_id=None,
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest",
                                client_id=f"test-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(found) < want and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    return found


async def test_accepted_report_is_on_the_topic(
        broker: tuple[subprocess.Popen[bytes], Settings]) -> None:
    _, settings = broker
    async with running(build_app(settings, CATEGORIES)) as client:
        assert (await client.get("/readyz")).status_code == 200
        response = await client.post("/v1/reports", json=REPORT)
        rejected = await client.post("/v1/reports", json={**REPORT, "category": "unicorns"})
    assert response.status_code == 202, response.text
    assert rejected.status_code == 422
    reference = response.json()["reference"]

    [record] = await records(settings, want=1, timeout_s=10)
    assert record.key == reference.encode()
    event = ReportSubmitted.model_validate_json(record.value)
    assert event.reference == reference
    assert event.report.answers == {"speed_limit": "30"}
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"uk.signpost.ReportSubmitted.v1"
    assert headers["ce_source"] == b"signpost/intake"
    assert headers["ce_id"] == event.event_id.encode()
    assert headers["ce_subject"] == reference.encode()


async def test_broker_gone_means_503_with_retry_after(
        broker: tuple[subprocess.Popen[bytes], Settings]) -> None:
    process, settings = broker
    async with running(build_app(settings, CATEGORIES, publish_timeout_s=2)) as client:
        assert (await client.post("/v1/reports", json=REPORT)).status_code == 202
        crash(process)

        started = time.monotonic()
        response = await client.post("/v1/reports", json=REPORT)
        elapsed = time.monotonic() - started
        ready = await client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert "reference" not in response.json()
    assert elapsed < 5, "the resident waits at most about the publish timeout"
    assert ready.status_code == 503


async def test_ready_again_once_the_broker_is_back(
        broker: tuple[subprocess.Popen[bytes], Settings]) -> None:
    process, settings = broker
    port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    async with running(build_app(settings, CATEGORIES, publish_timeout_s=1)) as client:
        crash(process)
        assert (await client.post("/v1/reports", json=REPORT)).status_code == 503
        assert (await client.get("/readyz")).status_code == 503
        replacement = start_broker(port)
        try:
            await ensure_topics(settings)
            deadline = time.monotonic() + 20
            while (await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "still not ready with the broker back"
                await asyncio.sleep(0.2)
            # The producer may still be reconnecting when the metadata probe succeeds: a
            # client honouring Retry-After gets its 202 on a later attempt.
            response = await client.post("/v1/reports", json=REPORT)
            while response.status_code == 503 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                response = await client.post("/v1/reports", json=REPORT)
            assert response.status_code == 202, response.text
            # The refused report may or may not follow it (see PublishFailed): only this counts.
            found = await records(settings, want=2, timeout_s=3)
            keys = [r.key for r in found]
            assert response.json()["reference"].encode() in keys
        finally:
            stop(replacement)
