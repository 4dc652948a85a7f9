"""SLA escalation through the real broker and processes, with a bus shelter SLA of ~11 s: a
report nobody acknowledges gets a reminder to the same clerk, then (across a kill -9 and
restart of the notifier between the two) an escalation to the district's clerk, once; a
report acknowledged in time gets neither."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from email import message_from_bytes, policy
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem, Ports

pytestmark = pytest.mark.integration
SLA_HOURS = 0.003  # 10.8 s: long enough to acknowledge in, short enough to wait for twice
PARISH_CLERK, DISTRICT_CLERK = "clerk@ashcombe-pc.example.org", "reports@westbury-dc.example.org"


def bundle_with_short_sla(root: Path) -> Path:
    bundle = root / "bundle"
    shutil.copytree(DEMO_BUNDLE, bundle)
    path = bundle / "categories.yaml"
    categories = yaml.safe_load(path.read_text())
    for category in categories:
        if category["id"] == "bus_shelter":
            category["sla_hours"] = SLA_HOURS
    path.write_text(yaml.safe_dump(categories, sort_keys=False))
    return bundle


def mails(outbox: Path, reference: str) -> list[dict[str, str]]:
    """Every message for the report, oldest first: recipient, subject, Message-ID, text."""
    found = []
    for path in sorted(outbox.glob(f"{reference}*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append({"to": parseaddr(str(message["To"]))[1], "subject": str(message["Subject"]),
                      "id": str(message["Message-ID"]),
                      "text": message.get_body(("plain",)).get_content()})  # type: ignore[union-attr]
    return found


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def submit(intake: str, description: str) -> str:
    response = httpx.post(f"{intake}/v1/reports", timeout=10, json={
        "category": "bus_shelter", "description": description,
        "location": {"lat": 51.05, "lon": -1.55}})
    assert response.status_code == 202, response.text
    reference: str = response.json()["reference"]
    return reference


def acknowledge(intake: str, text: str) -> None:
    link = re.search(rf"{re.escape(intake)}/ack/\S+", text)
    assert link, "the email carries no acknowledgement link"
    target = urlsplit(link.group(0))
    assert httpx.post(f"{intake}{target.path}?{target.query}", timeout=10).status_code == 200


async def escalations_of(bootstrap: str, reference: str) -> list[dict[str, Any]]:
    """ReportEscalated records for the report on the notification topic, read to its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        topic = Topics().notifications
        await consumer.topics()  # metadata
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key == reference.encode() and b'"ReportEscalated"' in record.value:
                        found.append(json.loads(record.value))
    finally:
        await consumer.stop()
    return found


def test_unacknowledged_report_is_reminded_then_escalated_across_a_restart(
        tmp_path: Path) -> None:
    ports = Ports()
    intake = f"http://127.0.0.1:{ports.intake}"
    local = LocalSystem(bundle=bundle_with_short_sla(tmp_path), ports=ports,
                        log_dir=tmp_path / "logs", data_dir=tmp_path / "data",
                        extra_env={"SIGNPOST_ACK_SECRET": "s" * 40,
                                   "SIGNPOST_ACK_BASE_URL": intake,
                                   "SIGNPOST_SLA_CHECK_S": "0.5"})
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        started = time.monotonic()
        ignored, answered = submit(intake, "glass smashed"), submit(intake, "panel cracked")
        first = wait_for(lambda: mails(outbox, answered), 20, "the first email")[0]
        acknowledge(intake, first["text"])

        # The first SLA passes: the same clerk is reminded, in a message of its own.
        reminder = wait_for(lambda: mails(outbox, ignored)[1:], 30, "the reminder")[0]
        assert reminder["to"] == PARISH_CLERK
        assert "Reminder, not yet acknowledged" in reminder["subject"]
        assert reminder["id"] != mails(outbox, ignored)[0]["id"]

        # The notifier dies between the reminder and the escalation; its clocks come back.
        local.kill("notifier")
        local.start_service("notifier")
        local.wait_ready(("notifier",), timeout_s=40)

        escalated = wait_for(lambda: [m for m in mails(outbox, ignored)
                                      if m["to"] == DISTRICT_CLERK], 40, "the escalation")
        assert "Escalated from Ashcombe Parish Council" in escalated[0]["subject"]
        status = wait_for(lambda: (s := httpx.get(f"{intake}/v1/reports/{ignored}",
                                                  timeout=10).json())["status"] == "escalated"
                          and s, 10, "the escalated status")
        answered_status = httpx.get(f"{intake}/v1/reports/{answered}", timeout=10).json()
        escalations = asyncio.run(escalations_of(local.bootstrap, ignored))
        scraped = httpx.get(f"{local.health_url('notifier')}/metrics", timeout=10).text
        # Snapshot before the district's own SLA could pass.
        ignored_mails, answered_mails = mails(outbox, ignored), mails(outbox, answered)
        elapsed = time.monotonic() - started

    assert [m["to"] for m in ignored_mails] == [PARISH_CLERK, PARISH_CLERK, DISTRICT_CLERK], \
        f"after {elapsed:.0f} s"
    assert status["escalated_to"] == "westbury-dc"
    assert [o["id"] for o in status["owners"]] == ["ashcombe-pc", "westbury-dc"]
    assert len(escalations) == 1
    # Counted by the notifier that escalated (the one restarted after the reminder).
    assert 'signpost_escalations_total{from_tier="parish",to_tier="district"} 1.0' in scraped
    assert (escalations[0]["from_owner"]["id"], escalations[0]["to_owner"]["id"]) == (
        "ashcombe-pc", "westbury-dc")
    # Acknowledged in time: never reminded, though two SLA periods have passed.
    assert [m["to"] for m in answered_mails] == [PARISH_CLERK]
    assert answered_status["status"] == "acknowledged"
