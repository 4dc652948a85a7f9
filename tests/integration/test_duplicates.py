"""Likely duplicates through the real broker and processes: a second pothole 50 m from the
first is routed with a link to it, one 2 km away is not, and after a router restart the
index is rebuilt from the routed topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import ReportRouted
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
TOPICS = Topics()
LAT, LON = 51.25, -1.05
METRE_LAT = 1 / 111_200


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    root = tmp_path_factory.mktemp("duplicates")
    system = LocalSystem(bundle=DEMO_BUNDLE, log_dir=root / "logs", data_dir=root / "data",
                         extra_env={"SIGNPOST_LOG_LEVEL": "DEBUG"})
    with system.running(outbox=root / "outbox"):
        system.wait_ready(timeout_s=90)
        yield system


def post_pothole(local: LocalSystem, lat: float, lon: float) -> str:
    body = {"category": "pothole", "description": "Deep hole", "location": {"lat": lat, "lon": lon}}
    response = httpx.post(f"{local.health_url('intake')}/v1/reports", json=body, timeout=10)
    assert response.status_code == 202, response.text
    reference: str = response.json()["reference"]
    return reference


async def routed_events(bootstrap: str, references: set[str],
                        timeout_s: float = 30) -> dict[str, ReportRouted]:
    consumer = AIOKafkaConsumer(TOPICS.routed, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    found: dict[str, ReportRouted] = {}
    try:
        deadline = time.monotonic() + timeout_s
        while not references <= found.keys() and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for batch in batches.values() for r in batch):
                event = ReportRouted.model_validate_json(record.value)
                found.setdefault(event.reference, event)
    finally:
        await consumer.stop()
    assert references <= found.keys(), f"not routed: {references - found.keys()}"
    return found


def wait_routed(local: LocalSystem, *references: str) -> dict[str, ReportRouted]:
    return asyncio.run(routed_events(local.bootstrap, set(references)))


def test_a_nearby_report_of_the_same_category_links_to_the_first(local: LocalSystem) -> None:
    first = post_pothole(local, LAT, LON)
    wait_routed(local, first)  # the second must come after the first has been routed
    second = post_pothole(local, LAT + 50 * METRE_LAT, LON)
    far = post_pothole(local, LAT + 2000 * METRE_LAT, LON)
    events = wait_routed(local, first, second, far)
    assert events[first].likely_duplicate_of is None
    assert events[second].likely_duplicate_of == first
    assert events[second].owner.id == events[first].owner.id  # still routed as usual
    assert events[far].likely_duplicate_of is None
    log = (local.log_dir / "router.log").read_text() if local.log_dir else ""
    assert '"likely_duplicate"' in log and "Deep hole" not in log


def test_after_a_restart_the_router_still_knows_the_open_reports(local: LocalSystem) -> None:
    first = post_pothole(local, LAT - 0.1, LON)
    wait_routed(local, first)
    local.stop_process("router")
    local.start_service("router")
    local.wait_ready(("router",), timeout_s=60)
    again = post_pothole(local, LAT - 0.1 + 30 * METRE_LAT, LON)
    assert wait_routed(local, again)[again].likely_duplicate_of == first
