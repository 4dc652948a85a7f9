"""Crash: while reports flow, kill -9 the router and the notifier at random moments and restart
them. Afterwards every report intake acknowledged has exactly one routing outcome and reached
its owner's clerk; none lost. Duplicates at the mail server are counted and bounded (see
docs/reliability.md: at most one per notifier crash, and only when the crash falls between the
mail server accepting a message and the idempotency record being acknowledged).

Short form in CI; `pytest tests/chaos --chaos-full` runs 10,000 reports with 3 kills each."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
TOPICS = Topics()
CATEGORIES = ["bus_shelter", "pothole", "fly_tipping", "missed_bin", "village_green"]


async def post_reports(base_url: str, count: int, concurrency: int = 20) -> list[str]:
    """Post `count` routable reports; keep only the references intake acknowledged (202)."""
    accepted: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {"category": CATEGORIES[i % len(CATEGORIES)], "description": f"chaos {i}",
                    "location": {"lat": 51.005 + random.random() * 0.29,
                                 "lon": -1.595 + random.random() * 0.59}}
            try:
                response = await client.post(f"{base_url}/v1/reports", json=body)
            except httpx.HTTPError:
                continue
            if response.status_code == 202:
                accepted.append(response.json()["reference"])

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return accepted


def chaos_monkey(local: LocalSystem, kills: int) -> list[str]:
    """Kill -9 each stream service `kills` times at random moments, restarting each at once."""
    done: list[str] = []
    plan = ["router", "notifier"] * kills
    random.shuffle(plan)
    for name in plan:
        time.sleep(random.uniform(1.0, 3.0))
        local.kill(name)
        local.start_service(name)
        done.append(name)
    return done


async def routing_outcomes(bootstrap: str, wanted: set[str], timeout_s: float) -> Counter[str]:
    consumer = AIOKafkaConsumer(TOPICS.routed, TOPICS.triage, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    try:
        while not wanted <= seen.keys() and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.update(r.key.decode() for r in records if r.key)
    finally:
        await consumer.stop()
    return seen


def mail_counts(outbox: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in outbox.glob("*.eml"):  # SP-XXXX-XXXX-XXXX.eml, then SP-XXXX-XXXX-XXXX-2.eml
        stem = path.stem
        counts[stem.rsplit("-", 1)[0] if stem.count("-") > 3 else stem] += 1
    return counts


def wait_for_mail(outbox: Path, wanted: set[str], timeout_s: float) -> Counter[str]:
    deadline = time.monotonic() + timeout_s
    counts = mail_counts(outbox)
    while not wanted <= counts.keys() and time.monotonic() < deadline:
        time.sleep(1)
        counts = mail_counts(outbox)
    return counts


def test_no_report_is_lost_when_services_are_killed(tmp_path: Path, chaos_full: bool) -> None:
    reports, kills = (10_000, 3) if chaos_full else (600, 1)
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data")
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        # Restarts come from the main thread: a child dies with the thread that started it.
        accepted: list[str] = []
        poster = threading.Thread(target=lambda: accepted.extend(
            asyncio.run(post_reports(local.health_url("intake"), reports))))
        poster.start()
        killed = chaos_monkey(local, kills)
        poster.join()
        local.wait_ready(timeout_s=90)
        wanted = set(accepted)
        outcomes = asyncio.run(routing_outcomes(f"127.0.0.1:{local.ports.broker}", wanted, 180))
        mail = wait_for_mail(outbox, wanted, 180)

    assert len(accepted) >= reports * 0.99, "intake refused reports while healthy"
    assert sorted(killed) == sorted(["router", "notifier"] * kills)
    assert not wanted - outcomes.keys(), f"{len(wanted - outcomes.keys())} reports never routed"
    assert not wanted - mail.keys(), f"{len(wanted - mail.keys())} reports never reached a clerk"
    duplicates = sum(n - 1 for ref, n in mail.items() if ref in wanted and n > 1)
    print(f"\n{len(wanted)} reports, killed {killed}; routing outcomes duplicated: "
          f"{sum(n - 1 for n in outcomes.values() if n > 1)}; emails duplicated: {duplicates}")
    assert duplicates <= kills, f"{duplicates} duplicate emails after {kills} notifier crashes"
