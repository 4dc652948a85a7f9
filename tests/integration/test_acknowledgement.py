"""The loop a clerk closes: the email carries a signed link; following it and confirming
records ReportAcknowledged, and the report's status says so."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from signpost.runtime.settings import DEMO_BUNDLE
from signpost.system import LocalSystem, Ports
from tests.chaos.test_crash import wait_for_mail

pytestmark = pytest.mark.integration


def test_clerk_acknowledges_through_the_emailed_link(tmp_path: Path) -> None:
    ports = Ports()
    intake = f"http://127.0.0.1:{ports.intake}"
    local = LocalSystem(bundle=DEMO_BUNDLE, ports=ports, log_dir=tmp_path / "logs",
                        data_dir=tmp_path / "data",
                        extra_env={"SIGNPOST_ACK_SECRET": "s" * 40,
                                   "SIGNPOST_ACK_BASE_URL": intake})
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        reference = httpx.post(f"{intake}/v1/reports", timeout=10, json={
            "category": "bus_shelter", "description": "glass smashed",
            "location": {"lat": 51.05, "lon": -1.55}}).json()["reference"]
        wait_for_mail(outbox, {reference}, 30)
        mail = message_from_bytes((outbox / f"{reference}.eml").read_bytes(),
                                  policy=policy.default)
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        link = re.search(rf"{re.escape(intake)}/ack/\S+", text)
        assert link, "the email carries no acknowledgement link"
        target = urlsplit(link.group(0))
        path = f"{target.path}?{target.query}"
        with httpx.Client(base_url=intake, timeout=10) as http:
            assert http.get(path).status_code == 200
            assert http.post(path).status_code == 200
            deadline, status = time.monotonic() + 20, {}
            while status.get("status") != "acknowledged" and time.monotonic() < deadline:
                time.sleep(0.3)
                status = http.get(f"/v1/reports/{reference}").json()
    assert status["status"] == "acknowledged"
    assert status["owners"][0]["id"] == "ashcombe-pc"
    assert status["owners"][0]["acknowledged_at"]
