"""Crash: while reports flow, kill -9 the router and the notifier at random moments of the load
and restart them. Afterwards every report intake acknowledged has one routing decision (a
router crash may put the same decision on the topic twice: both copies must name the same owner
by the same rule) and its owner's clerk has it; none lost. Emails are counted per (report,
owner), the owner read from the recipient: each got at least one, and all copies carry one
Message-ID, so a mail client shows one notification. Raw duplicates at the mail server are
bounded too (docs/reliability.md): only a delivery caught between the mail server accepting
it and its idempotency record being acknowledged is sent again, so at most the notifier's
concurrency (16 deliveries in flight) per notifier crash; runs see 0 to 6 in all.

A report a stage loses is found and sent again by intake (docs/reliability.md): the test
waits long enough for that (grace 120 s) and prints how many were. Short form in CI (600
reports, one kill each); `pytest tests/chaos --chaos-full` runs the
issue's size: 10,000 reports, 3 kills each of router and notifier."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from email import message_from_bytes, policy
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from schemas import ReportRouted, ReportUnroutable
from signpost.bundle import load_bundle
from signpost.runtime.settings import DEMO_BUNDLE, Settings, Topics
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
TOPICS = Topics()
CATEGORIES = ["bus_shelter", "pothole", "fly_tipping", "missed_bin", "village_green"]


async def post_reports(base_url: str, count: int, concurrency: int = 20,
                       accepted: list[str] | None = None, rate: float | None = None) -> list[str]:
    """Post `count` routable reports (at most `rate` a second, if given); keep only the
    references intake acknowledged (202), appended to `accepted` as they come (so another
    thread can watch the progress)."""
    accepted = [] if accepted is None else accepted
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    start = time.monotonic()

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
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


def chaos_monkey(local: LocalSystem, kills: int, progress: Callable[[], int], total: int,
                 loading: Callable[[], bool]) -> list[tuple[str, int]]:
    """Kill -9 each stream service `kills` times at random moments of the load, restarting it
    at once: its i-th kill comes when a random share of the reports within the i-th of `kills`
    equal slices of 5-95 % has been acknowledged. A service is back up before it is killed
    again. Returns (service, reports acknowledged when it was killed)."""
    width = 0.9 / kills
    plan = sorted((0.05 + width * (i + random.random()), name)
                  for name in ("router", "notifier") for i in range(kills))
    done: list[tuple[str, int]] = []
    for share, name in plan:
        while progress() < share * total and loading():
            time.sleep(0.05)
        local.wait_ready((name,), timeout_s=90)
        done.append((name, progress()))
        local.kill(name)
        local.start_service(name)
    return done


Decision = tuple[str, str, str]  # ("routed", owner, rule) or ("unroutable", reason code, "")


async def routing_outcomes(bootstrap: str, wanted: set[str],
                           timeout_s: float) -> dict[str, list[Decision]]:
    """Every routing decision on the routed and triage topics, per reference: read until each
    wanted reference has one, then on to the end of each partition, so copies a crashed router
    produced again are counted too."""
    consumer = AIOKafkaConsumer(TOPICS.routed, TOPICS.triage, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[str, list[Decision]] = defaultdict(list)

    def take(records: list[Any]) -> None:
        for record in records:
            if record.topic == TOPICS.routed:
                routed = ReportRouted.model_validate_json(record.value)
                seen[routed.reference].append(("routed", routed.owner.id, routed.rule_id))
            else:
                triaged = ReportUnroutable.model_validate_json(record.value)
                seen[triaged.reference].append(("unroutable", triaged.reason_code, ""))

    deadline = time.monotonic() + timeout_s
    try:
        while not wanted <= seen.keys() and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                take(records)
        ends = await consumer.end_offsets(list(consumer.assignment()))

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        while await behind() and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                take(records)
    finally:
        await consumer.stop()
    return dict(seen)


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


def metric(text: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


def redriven_counts(local: LocalSystem) -> Counter[str]:
    """signpost_reports_redriven_total by stage (those above 0), from intake's metrics."""
    text = httpx.get(f"{local.health_url('intake')}/metrics", timeout=5).text
    counts = Counter({stage: int(metric(text, "signpost_reports_redriven_total", stage=stage))
                      for stage in ("routing", "notification")})
    return +counts


def emails_by_owner(outbox: Path) -> dict[tuple[str, str], list[str]]:
    """(reference, owner) -> the Message-ID of every copy the mail server received; the owner
    is the organisation whose clerk the message was addressed to."""
    owner_of = {str(org.clerk.email): org.id
                for org in load_bundle(DEMO_BUNDLE).organisations.values()}
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        recipient = parseaddr(str(message["To"]))[1]
        owner = owner_of.get(recipient, f"unknown recipient {recipient}")
        found[(str(message["X-Signpost-Reference"]), owner)].append(str(message["Message-ID"]))
    return dict(found)


def test_no_report_is_lost_when_services_are_killed(tmp_path: Path, chaos_full: bool) -> None:
    reports, kills = (10_000, 3) if chaos_full else (600, 1)
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data")
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        # Restarts come from the main thread: a child dies with the thread that started it.
        accepted: list[str] = []
        # A steady flow (100 a second: the full form lasts 100 s), so that every kill, and a
        # restart between two kills of one service, falls while reports are still arriving.
        poster = threading.Thread(target=lambda: asyncio.run(
            post_reports(local.health_url("intake"), reports, accepted=accepted, rate=100)))
        poster.start()
        killed = chaos_monkey(local, kills, lambda: len(accepted), reports, poster.is_alive)
        poster.join()
        local.wait_ready(timeout_s=90)
        wanted = set(accepted)
        outcomes = asyncio.run(routing_outcomes(local.bootstrap, wanted, 300))
        wait_for_mail(outbox, wanted, 300)
        emails = emails_by_owner(outbox)
        redriven = redriven_counts(local)

    assert len(accepted) >= reports * 0.99, "intake refused reports while healthy"
    assert sorted(name for name, _ in killed) == sorted(["router", "notifier"] * kills)
    assert all(0 < at < len(accepted) for _, at in killed), f"a kill missed the load: {killed}"
    never = wanted - outcomes.keys()
    assert not never, f"{len(never)} reports never routed"
    conflicting = {ref: set(outcomes[ref]) for ref in wanted if len(set(outcomes[ref])) > 1}
    assert not conflicting, f"reports with two different decisions: {list(conflicting.items())[:5]}"
    owners = {(ref, outcomes[ref][0][1]) for ref in wanted if outcomes[ref][0][0] == "routed"}
    assert len(owners) == len(wanted), "every report in this load is routable"
    mailed = {pair for pair in emails if pair[0] in wanted}
    assert not owners - mailed, f"{len(owners - mailed)} (report, owner) never reached a clerk"
    assert not mailed - owners, f"mail to an owner the report was not routed to: {mailed - owners}"
    message_ids = {pair: set(emails[pair]) for pair in owners}
    assert all(ids == {f"<{ref}.{owner}@signpost.example.org>"}
               for (ref, owner), ids in message_ids.items()), \
        "a (report, owner) has more than one Message-ID: a mail client would show two"

    routing_copies = sum(len(outcomes[ref]) - 1 for ref in wanted)
    duplicates = sum(len(emails[pair]) - 1 for pair in owners)
    print(f"\n{len(wanted)} reports, killed (service, reports acknowledged then): {killed}; "
          f"routing decisions on the topics: {sum(len(outcomes[r]) for r in wanted)} "
          f"({routing_copies} repeated copies of the same decision); emails: "
          f"{sum(len(emails[p]) for p in owners)} for {len(owners)} (report, owner), "
          f"{duplicates} raw duplicates, distinct Message-IDs per (report, owner): 1; "
          f"reports a stage lost and intake sent again: {dict(redriven) or 'none'}")
    bound = kills * Settings().notifier_concurrency
    assert duplicates <= bound, f"{duplicates} duplicate emails after {kills} notifier crashes"
