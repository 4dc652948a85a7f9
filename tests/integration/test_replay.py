"""`signpost route replay` against a running system: after a rule change, only the report whose
owner changed gets a ReportRerouted, and the new owner's clerk is emailed; a second replay finds
nothing more to change."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from schemas.events import ReportRerouted
from signpost.cli import main
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem
from tests.integration.test_bundle_reload import (
    COUNTY_CLERK,
    DISTRICT_CLERK,
    VALE,
    pothole_to_district,
)
from tests.integration.test_end_to_end import post, read_topic, report, wait_for_mail

pytestmark = pytest.mark.integration
TOPICS = Topics()


def recipients(outbox: Path, reference: str, wanted: int, timeout_s: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout_s
    found: list[str] = []
    while time.monotonic() < deadline:
        found = [str(m["To"]) for m in (message_from_bytes(p.read_bytes(), policy=policy.default)
                                        for p in outbox.glob("*.eml"))
                 if m["X-Signpost-Reference"] == reference]
        if len(found) >= wanted:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{reference}: {len(found)} mails after {timeout_s} s, not {wanted}")


def test_replay_publishes_only_changed_owners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bundle = Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))
    local = LocalSystem(bundle=bundle, log_dir=tmp_path / "logs", data_dir=tmp_path / "data",
                        extra_env={"SIGNPOST_BUNDLE_RELOAD_S": "0"})
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        pothole = post(local, report("pothole", *VALE))
        bins = post(local, report("missed_bin", *VALE))
        wait_for_mail(outbox, {pothole, bins})
        assert COUNTY_CLERK in recipients(outbox, pothole, 1)[0]

        pothole_to_district(bundle)
        monkeypatch.setenv("SIGNPOST_KAFKA_BOOTSTRAP", local.bootstrap)
        monkeypatch.setenv("SIGNPOST_KAFKA_IDEMPOTENT_PRODUCER", "false")
        replay = ["route", "replay", "--since", since, "--bundle", str(bundle)]

        assert main([*replay, "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"would change {pothole} pothole" in out and bins not in out
        assert "2 reports: 1 unchanged, 1 changed, 0 errors" in out

        assert main(replay) == 0
        assert "1 changed" in capsys.readouterr().out
        records = asyncio.run(read_topic(local.bootstrap, TOPICS.rerouted, 1))
        events = [ReportRerouted.model_validate_json(r.value) for r in records]
        assert [e.reference for e in events] == [pothole]  # the dry run published nothing
        event = events[0]
        assert event.previous_owner and event.previous_owner.id == "vale-county"
        assert event.owner and event.owner.id == "eastcombe-dc"

        mails = recipients(outbox, pothole, 2)
        assert sum(COUNTY_CLERK in m for m in mails) == 1  # the old owner is not told again
        assert any(DISTRICT_CLERK in m for m in mails)
        assert len(recipients(outbox, bins, 1)) == 1

        assert main(replay) == 0  # the new decision is now the latest: nothing to change
        assert "2 reports: 2 unchanged, 0 changed" in capsys.readouterr().out
