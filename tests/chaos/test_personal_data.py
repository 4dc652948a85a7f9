"""Personal data: a resident's name, email, phone and free-text description travel through the
whole system (intake, router, notifier, mail server) and appear in none of the services' logs
nor in any service's /metrics page. The test waits until the clerk has the email and the
notifier has logged the delivery, so every step of the path has written its log lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from signpost.runtime.settings import DEMO_BUNDLE
from signpost.system import SERVICES, LocalSystem
from tests.chaos.test_crash import wait_for_mail

pytestmark = pytest.mark.integration
# Distinctive, ASCII only and free of JSON escapes, so a JSON log line holds them verbatim.
RESIDENT = {"name": "Zebedee Quillfeather", "email": "zq.pd-probe-4471@example.net",
            "phone": "07700 900461"}
DESCRIPTION = "Probe text: the blue gate by Hobbledown forge is hanging off its hinge"
# Fragments too: a leak need not be the whole value (a surname, a mailbox, the digits alone).
SECRETS = [*RESIDENT.values(), DESCRIPTION, "Quillfeather", "zq.pd-probe-4471",
           "07700900461", "Hobbledown"]


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.lower() in text.lower()]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSystem, Path]]:
    root = tmp_path_factory.mktemp("personal-data")
    # DEBUG: the most Signpost ever logs per report (the router's report_routed line, too).
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=root / "logs", data_dir=root / "data",
                        extra_env={"SIGNPOST_LOG_LEVEL": "DEBUG"})
    with local.running(outbox=root / "outbox"):
        local.wait_ready(timeout_s=90)
        yield local, root


def until_logged(path: Path, event: str, reference: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == event and record.get("reference") == reference:
                    return
        time.sleep(0.2)
    raise AssertionError(f"{path.name} never logged {event} for {reference}")


def test_the_scan_finds_a_leak() -> None:
    """The check below is only worth something if it would see a leak in a JSON log line."""
    line = json.dumps({"event": "report_accepted", "reporter_email": RESIDENT["email"]})
    assert leaks(line) == [RESIDENT["email"], "zq.pd-probe-4471"]
    assert leaks(json.dumps({"event": "x", "phone": "07700900461"})) == ["07700900461"]
    assert not leaks(json.dumps({"event": "report_accepted", "reference": "SP-AAAA-BBBB-CCCC"}))


def test_logs_and_metrics_carry_no_personal_data(system: tuple[LocalSystem, Path]) -> None:
    local, root = system
    response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
        "category": "bus_shelter", "description": DESCRIPTION, "reporter": RESIDENT,
        "location": {"lat": 51.05, "lon": -1.55}})
    assert response.status_code == 202, response.text
    reference = response.json()["reference"]

    # The whole path ran: the clerk has the email (with the resident's words in it, so the
    # data really went through), and the notifier logged the delivery.
    wait_for_mail(root / "outbox", {reference}, 60)
    (mail,) = (root / "outbox").glob(f"{reference}*.eml")
    body = message_from_bytes(mail.read_bytes(), policy=policy.default)
    text = body.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert DESCRIPTION in text, "the description never reached the clerk"
    until_logged(root / "logs" / "notifier.log", "notification_sent", reference)

    for name in SERVICES:
        lines = (root / "logs" / f"{name}.log").read_text(errors="replace").splitlines()
        assert lines, f"{name} wrote no log lines"
        for line in lines:
            if line.startswith("{"):
                json.loads(line)  # every structured line is JSON
        found = {secret for line in lines for secret in leaks(line)}
        assert not found, f"{name}'s log holds personal data: {sorted(found)}"

        page = httpx.get(f"{local.health_url(name)}/metrics", timeout=10)
        assert page.status_code == 200 and "signpost_" in page.text, f"{name} /metrics"
        assert not leaks(page.text), f"{name}'s /metrics holds personal data: {leaks(page.text)}"
    mentioned = {name for name in SERVICES
                 if reference in (root / "logs" / f"{name}.log").read_text(errors="replace")}
    assert mentioned == set(SERVICES), f"only {mentioned} logged the report: not the whole path"
