"""Channel outage: the mail relay is down for longer than the quick retries last. Every report
is delivered after it comes back, through the retry topic; none is dead-lettered."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from signpost.runtime.settings import DEMO_BUNDLE
from signpost.system import LocalSystem
from tests.chaos.test_crash import wait_for_mail

pytestmark = pytest.mark.integration
OUTAGE_S = 15.0


def test_mail_relay_outage_loses_nothing(tmp_path: Path) -> None:
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data",
                        extra_env={"SIGNPOST_NOTIFIER_RETRY_BASE_S": "2",
                                   "SIGNPOST_NOTIFIER_RETRY_CAP_S": "4"})
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        local.stop_process("mailcatcher")
        down_at = time.monotonic()
        references = set()
        for i in range(10):
            response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
                "category": "fly_tipping", "description": f"outage {i}",
                "location": {"lat": 51.05 + (i // 5) * 0.1, "lon": -1.55 + (i % 5) * 0.1}})
            assert response.status_code == 202
            references.add(response.json()["reference"])
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        assert not list(outbox.glob("*.eml")) if outbox.exists() else True
        local.start_mailcatcher(outbox)
        mail = wait_for_mail(outbox, references, 60)
        log = (tmp_path / "logs" / "notifier.log").read_text()

    assert references <= mail.keys(), f"{len(references - mail.keys())} never delivered"
    assert all(mail[r] == 1 for r in references)
    assert "delivery_deferred" in log, "the outage should have used the retry topic"
    assert "dead_lettered" not in log
