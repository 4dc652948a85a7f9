"""The public contract on the running system (embedded broker, intake, router, notifier as
processes) with API keys configured: a report posted the Open311 way is followed to its owner
by the georeport Open311 client, the JSON status says who was notified, and an idempotent
re-post after intake restarts answers the first reference (the projection rebuilt it).

No Open311 client on PyPI can post on Python 3.11: `open311` (2011) and `three` (2013) are
Python 2 only, and `georeport` reads but does not post. So the post is httpx, per the spec."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.auth import hash_key
from signpost.runtime.settings import DEMO_BUNDLE
from signpost.system import LocalSystem

pytestmark = pytest.mark.integration
KEY = "integration-key"
OTHER = "other-council-key"  # another source's key, allowed to read its own reports only
# Ashcombe village, where the parish owns bus shelters (see `signpost route explain`).
FORM = {"api_key": KEY, "service_code": "bus_shelter", "lat": "51.05", "long": "-1.55",
        "description": "Glass panel smashed", "email": "rita@example.com"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    root = tmp_path_factory.mktemp("open311")
    keys = root / "keys.json"
    keys.write_text(json.dumps([
        {"source": "fms", "key_sha256": hash_key(KEY), "scopes": ["submit", "read"]},
        {"source": "vale-forms", "key_sha256": hash_key(OTHER), "scopes": ["submit", "read"]}]))
    # The anonymous polling below may outlast the default burst on a loaded machine.
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=root / "logs", data_dir=root / "data",
                        extra_env={"SIGNPOST_API_KEYS_FILE": str(keys),
                                   "SIGNPOST_INTAKE_ANONYMOUS_READS_PER_MINUTE": "600"})
    with local.running(outbox=root / "outbox"):
        local.wait_ready(timeout_s=90)
        yield local


def until(check: Any, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_open311_client_follows_a_posted_request(system: LocalSystem) -> None:
    from georeport import GeoReport

    base = system.health_url("intake") + "/open311/v2"
    client = GeoReport(base)
    codes = [s["service_code"] for s in client.get_service_list()]
    assert "speeding" in codes and "bus_shelter" in codes
    definition = client.get_service_definition("speeding")
    assert [a["code"] for a in definition["attributes"]][:1] == ["speed_limit"]

    refused = httpx.post(base + "/requests.json", data={**FORM, "api_key": "wrong"})
    assert refused.status_code == 401 and refused.json()[0]["code"] == 401
    posted = httpx.post(base + "/requests.json", data=FORM, timeout=10)
    assert posted.status_code == 200, posted.text
    reference = posted.json()[0]["service_request_id"]

    def routed() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get_service_request(reference)
        return found if found.get("agency_responsible") else None

    request = until(routed)
    assert request, "the Open311 request never showed its owner"
    assert request["agency_responsible"] == "Ashcombe Parish Council"
    assert request["status"] == "open" and request["service_code"] == "bus_shelter"
    assert request["description"] is None, "no key, no resident's words"

    status_url = system.health_url("intake") + f"/v1/reports/{reference}"
    assert httpx.get(status_url).status_code == 401

    def notified() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(status_url, headers={"X-API-Key": KEY}).json()
        return body if body["status"] == "notified" else None

    state = until(notified)
    assert state, "never notified"
    assert state["owners"][0]["name"] == "Ashcombe Parish Council"
    assert state["owners"][0]["notification"] == "sent"

    # Another council's key: the report is as unknown as any, and its words never shown.
    assert httpx.get(status_url, headers={"X-API-Key": OTHER}).status_code == 404
    as_other = httpx.get(base + "/requests.json", params={"api_key": OTHER})
    seen = [r for r in as_other.json() if r["service_request_id"] == reference]
    assert seen and seen[0]["description"] is None and (seen[0]["lat"], seen[0]["long"]) == (
        51.05, -1.55)
    assert "Glass panel smashed" not in as_other.text
    own = httpx.get(base + f"/requests/{reference}.json", params={"api_key": KEY}).json()
    assert own[0]["description"] == "Glass panel smashed"


def test_idempotency_survives_an_intake_restart(system: LocalSystem) -> None:
    url = system.health_url("intake") + "/v1/reports"
    body = {"category": "pothole", "description": "Deep hole",
            "location": {"easting": 440_000, "northing": 120_000}}
    headers = {"X-API-Key": KEY, "Idempotency-Key": "restart-test"}
    first = httpx.post(url, json=body, headers=headers, timeout=10)
    assert first.status_code == 202, first.text
    reference = first.json()["reference"]

    system.kill("intake")
    system.start_service("intake")
    system.wait_ready(("intake",), timeout_s=60)
    known = until(lambda: httpx.get(f"{url}/{reference}", headers={"X-API-Key": KEY}
                                     ).status_code == 200)
    assert known, "the rebuilt projection does not know the report"
    again = httpx.post(url, json=body, headers=headers, timeout=10)
    assert again.status_code == 202 and again.json()["reference"] == reference


def test_logs_hold_no_key_or_contact(system: LocalSystem) -> None:
    assert system.log_dir is not None
    text = Path(system.log_dir / "intake.log").read_text(errors="replace")
    assert KEY not in text and "rita@example.com" not in text


def test_a_forged_x_forwarded_for_does_not_reset_the_failed_key_limit(
        system: LocalSystem) -> None:
    """Guessing keys from one address while claiming a new client address each time: the
    claim comes from no trusted proxy, so every guess counts against the same address
    (default: 10 failures a minute), and the guesses meet a 429."""
    url = system.health_url("intake") + "/v1/reports/SP-0000-0000-0000"
    statuses = [httpx.get(url, headers={"X-API-Key": f"guess-{n}",
                                        "X-Forwarded-For": f"203.0.113.{n}"}).status_code
                for n in range(12)]
    assert set(statuses) <= {401, 429} and statuses[-1] == 429, statuses
    limited = httpx.get(url, headers={"X-API-Key": KEY})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
