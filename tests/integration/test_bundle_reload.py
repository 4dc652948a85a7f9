"""A running router picks up a changed bundle on SIGHUP: a pothole routed to the county before
the change goes to the district after it, and the trace names the new bundle version."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from pathlib import Path

import pytest

from schemas import ReportRouted
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem
from tests.integration.test_end_to_end import post, read_topic, report, wait_for_mail

pytestmark = pytest.mark.integration
TOPICS = Topics()
VALE = (51.25, -1.05)  # Vale county, Eastcombe district, Juniper Hill parish
COUNTY_CLERK = "highways@vale-county.example.org"
DISTRICT_CLERK = "reports@eastcombe-dc.example.org"


def pothole_to_district(bundle: Path) -> None:
    rules = bundle / "rules.yaml"
    old = "- id: pothole-county\n  category: pothole\n  owner: {layer: county}"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(
        old, "- id: pothole-district\n  category: pothole\n  owner: {layer: district}"))


def wait_for_log(path: Path, needle: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{needle} not in {path} after {timeout_s} s")


def test_sighup_reloads_a_changed_bundle(tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))
    local = LocalSystem(bundle=bundle, log_dir=tmp_path / "logs", data_dir=tmp_path / "data",
                        extra_env={"SIGNPOST_BUNDLE_RELOAD_S": "0"})  # only SIGHUP
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        before = post(local, report("pothole", *VALE))
        mail = wait_for_mail(outbox, {before})
        assert COUNTY_CLERK in str(mail[before][0]["To"])

        pothole_to_district(bundle)
        local.processes["router"].send_signal(signal.SIGHUP)
        wait_for_log(tmp_path / "logs" / "router.log", "bundle_reloaded")
        local.check_alive("router")

        after = post(local, report("pothole", *VALE))
        mail = wait_for_mail(outbox, {before, after})
        assert DISTRICT_CLERK in str(mail[after][0]["To"])
        assert len(mail[before]) == 1

        records = asyncio.run(read_topic(local.bootstrap, TOPICS.routed, 2))
        routed = {e.reference: e for e in (ReportRouted.model_validate_json(r.value)
                                           for r in records)}
        assert routed[before].rule_id == "pothole-county"
        assert routed[after].rule_id == "pothole-district"
        assert routed[before].trace.bundle_version != routed[after].trace.bundle_version
