"""A report a stage lost is found and sent again, and still reaches its clerk once.

The loss is made on purpose, the way the chaos tests saw it happen: a stage's consumer group
commits past a record it never handled (here while that service is stopped). Intake's status
projection sees no outcome once the grace period is over, reads the record back, publishes it
again, and says so in a log line and a metric."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import NotificationSent
from services.intake.status import NOTIFICATION
from signpost.runtime.kafka import group_id
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem
from tests.chaos.test_crash import emails_by_owner, redriven_counts
from tests.integration.test_end_to_end import post, report, wait_for_mail

pytestmark = pytest.mark.integration
TOPICS = Topics()
FAST = {"SIGNPOST_INTAKE_REDRIVE_GRACE_S": "3", "SIGNPOST_INTAKE_REDRIVE_INTERVAL_S": "1"}


async def read_all(bootstrap: str, topic: str) -> dict[str, tuple[int, int]]:
    """Reference -> (partition, offset) of every record on the topic now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # metadata first
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: dict[str, tuple[int, int]] = {}
        while batches := await consumer.getmany(timeout_ms=1000):
            for records in batches.values():
                found.update({r.key.decode(): (r.partition, r.offset) for r in records})
        return found
    finally:
        await consumer.stop()


async def commit_past_everything(bootstrap: str, service: str, topic: str,
                                 joined: bool) -> None:
    """As if the service's group had handled every record on the topic."""
    ends: dict[int, int] = {}
    for partition, offset in (await read_all(bootstrap, topic)).values():
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    offsets = {TopicPartition(topic, p): end for p, end in ends.items()}
    # The embedded broker takes commits from outside a group only while it has had no members,
    # and lets a group's first members fix its protocol: a group the service has run in is
    # joined (the router's assignor is aiokafka's default, as here); one it has not, is not.
    consumer = AIOKafkaConsumer(*([topic] if joined else []), bootstrap_servers=bootstrap,
                                group_id=group_id(service), enable_auto_commit=False,
                                session_timeout_ms=6000)
    await consumer.start()
    try:
        if not joined:
            consumer.assign(list(offsets))
        while joined and not consumer.assignment():
            await consumer.getmany(timeout_ms=200, max_records=1)
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


def wait_routed(local: LocalSystem, reference: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while reference not in asyncio.run(read_all(local.bootstrap, TOPICS.routed)):
        assert time.monotonic() < deadline, f"{reference} not routed after {timeout_s} s"


def test_reports_a_stage_moved_past_are_sent_again_and_reach_their_clerk_once(
        tmp_path: Path) -> None:
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs",
                        data_dir=tmp_path / "data", extra_env=FAST)
    outbox = tmp_path / "outbox"
    try:
        local.start_broker()
        local.start_mailcatcher(outbox)
        for name in ("intake", "router"):
            local.start_service(name)
        local.wait_ready(("intake", "router"), timeout_s=90)
        # Lost at notification: routed, then the notifier's group passes it unread.
        lost_notifying = post(local, report("pothole", 51.05, -1.55))
        wait_routed(local, lost_notifying)
        asyncio.run(commit_past_everything(local.bootstrap, "notifier", TOPICS.routed,
                                            joined=False))
        # Lost at routing: submitted while the router is down, then its group passes it.
        local.stop_process("router")
        lost_routing = post(local, report("missed_bin", 51.10, -1.40))
        asyncio.run(commit_past_everything(local.bootstrap, "router", TOPICS.submitted,
                                            joined=True))
        for name in ("router", "notifier"):
            local.start_service(name)
        local.wait_ready(timeout_s=90)
        on_time = post(local, report("fly_tipping", 51.20, -1.30))

        wanted = {lost_notifying, lost_routing, on_time}
        wait_for_mail(outbox, wanted, timeout_s=90)
        time.sleep(3)  # a second copy, if any, would arrive by now
        assert redriven_counts(local) == {"routing": 1, "notification": 1}
    finally:
        local.stop()
    emails = emails_by_owner(outbox)
    per_report = Counter(reference for reference, _ in emails for _ in emails[(reference, _)])
    assert {ref: per_report[ref] for ref in wanted} == dict.fromkeys(wanted, 1)
    log = (tmp_path / "logs" / "intake.log").read_text()
    assert log.count('"report_redriven"') == 2


async def notification_outcomes(bootstrap: str, reference: str) -> list[NotificationSent]:
    consumer = AIOKafkaConsumer(TOPICS.notifications, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        found = []
        while batches := await consumer.getmany(timeout_ms=1000):
            events = [NOTIFICATION.validate_json(r.value) for records in batches.values()
                      for r in records if r.key == reference.encode()]
            found += [e for e in events if isinstance(e, NotificationSent)]
        return found
    finally:
        await consumer.stop()


async def publish_again(bootstrap: str, topic: str, reference: str) -> None:
    """A copy of the report's record, as a crashed router would produce it again."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        record = None
        while record is None and (batches := await consumer.getmany(timeout_ms=1000)):
            record = next((r for rs in batches.values() for r in rs
                           if r.key == reference.encode()), None)
    finally:
        await consumer.stop()
    assert record is not None, f"{reference} not on {topic}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, record.value, key=record.key,
                                     headers=list(record.headers))
    finally:
        await producer.stop()


def test_a_delivery_made_before_is_not_repeated_but_its_outcome_is_published_again(
        tmp_path: Path) -> None:
    """The notifier can die after recording a delivery and before publishing its outcome;
    the routed record then comes again. It must not email again, and must publish the
    outcome it recorded, or the report's status stays "routed" and intake counts it lost."""
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs",
                        data_dir=tmp_path / "data")
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        reference = post(local, report("pothole", 51.05, -1.55))
        wait_for_mail(outbox, {reference})
        first = asyncio.run(notification_outcomes(local.bootstrap, reference))
        asyncio.run(publish_again(local.bootstrap, TOPICS.routed, reference))
        deadline = time.monotonic() + 30
        while len(outcomes := asyncio.run(notification_outcomes(local.bootstrap, reference))) < 2:
            assert time.monotonic() < deadline, "the recorded outcome was not published again"
        time.sleep(2)
    assert len(first) == 1
    assert [o.event_id for o in outcomes] == [first[0].event_id] * 2  # the same event
    assert len(list(outbox.glob(f"{reference}*.eml"))) == 1
