"""Channel outages, on the running system (embedded broker, the three services as processes):

- the mail relay is down for 60 s, longer than the quick retries last: every report is
  emailed exactly once after it comes back, through the retry topic; none is dead-lettered;
- a council's webhook and its GOV.UK Notify endpoint (real local HTTP servers) answer 500, then
  429 with Retry-After, for a while, then accept: every report is delivered to its endpoint
  exactly once after recovery;
- an endpoint that refuses (400) is a permanent failure: a NotificationFailed on the
  notification topic, a DeadLetter with the reason on the dead-letter topic, and the notifier's
  failure and dead-letter counters move.

The retry topic's backoff is shortened through its settings (SIGNPOST_NOTIFIER_RETRY_*) so the
recovery is seen within seconds; the outage lengths are real."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import TypeAdapter

from schemas import DeadLetter, NotificationFailed, NotificationSent
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import LocalSystem
from tests.chaos.test_crash import metric, wait_for_mail
from tests.integration.local_http import LocalHttpServer, Reply, Request

pytestmark = pytest.mark.integration
TOPICS = Topics()
SMTP_OUTAGE_S = 60.0
FAST_RETRIES = {"SIGNPOST_NOTIFIER_RETRY_BASE_S": "2", "SIGNPOST_NOTIFIER_RETRY_CAP_S": "4"}
WEBHOOK_BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "webhook"
NOTIFY_KEY = ("signpost_test-26785a09-ab16-4eb0-8407-a37497a57506-"
              "3d844edf-8d35-48ac-975b-e847b4f122b0")
TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


# The mail relay down for 60 s


def test_mail_relay_down_for_a_minute_loses_nothing(tmp_path: Path) -> None:
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data",
                        extra_env={"SIGNPOST_NOTIFIER_RETRY_BASE_S": "5",
                                   "SIGNPOST_NOTIFIER_RETRY_CAP_S": "10"})
    outbox = tmp_path / "outbox"
    with local.running(outbox=outbox):
        local.wait_ready(timeout_s=90)
        local.stop_process("mailcatcher")
        down_at = time.monotonic()
        references = set()
        for i in range(5):
            response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
                "category": "fly_tipping", "description": f"relay outage {i}",
                "location": {"lat": 51.05 + (i // 3) * 0.1, "lon": -1.55 + (i % 3) * 0.2}})
            assert response.status_code == 202
            references.add(response.json()["reference"])
        time.sleep(max(0.0, SMTP_OUTAGE_S - (time.monotonic() - down_at)))
        log = (tmp_path / "logs" / "notifier.log").read_text()
        deferred_during_outage = log.count('"delivery_deferred"')
        local.start_mailcatcher(outbox)
        wait_for_mail(outbox, references, 60)
        time.sleep(3)  # a duplicate would arrive right behind the first copy
        log = (tmp_path / "logs" / "notifier.log").read_text()

    copies: Counter[str] = Counter()
    message_ids: dict[str, set[str]] = {}
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        reference = str(message["X-Signpost-Reference"])
        copies[reference] += 1
        message_ids.setdefault(reference, set()).add(str(message["Message-ID"]))
    print(f"\nrelay down {SMTP_OUTAGE_S:.0f} s; deferrals to the retry topic meanwhile: "
          f"{deferred_during_outage}; emails after recovery: {dict(copies)}")
    assert set(copies) == references, f"{len(references - set(copies))} never delivered"
    assert all(n == 1 for n in copies.values()), f"not exactly once: {dict(copies)}"
    assert all(len(ids) == 1 for ids in message_ids.values())
    # The outage outlasted the quick retries: each report went round the retry topic, more
    # than once, and none was given up on.
    assert deferred_during_outage >= 2 * len(references)
    assert '"dead_lettered"' not in log and '"notification_failed"' in log


# HTTP channels: 500, then 429 with Retry-After, then recovery; and a permanent refusal


class PhasedEndpoint(LocalHttpServer):
    """Answers by elapsed time since `begin()`: each phase's reply until its end, then 2xx
    (Notify's 201 with an id, or a webhook's 202). Records every request with its answer."""

    def __init__(self, phases: list[tuple[float, Reply]]) -> None:
        super().__init__()
        self.phases = phases
        self.answered: list[tuple[float, Request, int]] = []
        self.started = time.monotonic()
        self._mutex = threading.Lock()

    def begin(self) -> None:
        self.started = time.monotonic()

    def _next(self, request: Request) -> Reply:
        with self._mutex:
            elapsed = time.monotonic() - self.started
            reply = next((r for until, r in self.phases if elapsed < until), None)
            if reply is None:
                notify = request.path.endswith("/notifications/email")
                reply = Reply(201, json.dumps({"id": f"n-{len(self.answered)}"})) if notify \
                    else Reply(202)
            self.requests.append(request)
            self.answered.append((time.monotonic(), request, reply.status))
            return reply

    def delivered(self) -> Counter[str]:
        """References accepted (2xx) by this endpoint, with how often."""
        return Counter(reference_of(r) for _, r, status in self.answered if status < 300)


def reference_of(request: Request) -> str:
    body = json.loads(request.body)
    return str(body["reference"])  # both Notify's body and the webhook's payload carry it


def write_bundle(directory: Path, hook_url: str, notify_url: str, refusing_url: str,
                 patient_url: str) -> Path:
    """The webhook test bundle plus three organisations: one on GOV.UK Notify, one whose
    webhook refuses everything, one that asks for a long wait. One parish; a category each."""
    shutil.copytree(WEBHOOK_BUNDLE, directory)
    orgs = directory / "organisations.yaml"
    orgs.write_text(orgs.read_text().replace("http://127.0.0.1:9/signpost", f"{hook_url}/hook")
                    + f"""- id: notify-dc
  name: Notify District Council
  tier: district
  channel: {{type: notify, template_id: {TEMPLATE}, api_key_env: NOTIFY_TEST_KEY,
            base_url: "{notify_url}"}}
  clerk: {{name: Nia Notify, email: clerk@notify-dc.example.org}}
- id: refusing-pc
  name: Refusing Parish Council
  tier: parish
  channel: {{type: webhook, url: "{refusing_url}/hook", secret_env: HOOKLEY_WEBHOOK_SECRET}}
  clerk: {{name: Rex Refuse, email: clerk@refusing-pc.example.org}}
- id: patient-pc
  name: Patient Parish Council
  tier: parish
  channel: {{type: webhook, url: "{patient_url}/hook", secret_env: HOOKLEY_WEBHOOK_SECRET}}
  clerk: {{name: Pat Wait, email: clerk@patient-pc.example.org}}
""")
    (directory / "categories.yaml").write_text(
        "- id: bench\n  name: Broken bench\n- id: lamp\n  name: Lamp out\n"
        "- id: sign\n  name: Sign down\n- id: bin\n  name: Bin not emptied\n")
    (directory / "rules.yaml").write_text(
        "- id: bench-parish\n  category: bench\n  owner: {layer: parish}\n"
        "- id: lamp-district\n  category: lamp\n  owner: {organisation: notify-dc}\n"
        "- id: sign-refusing\n  category: sign\n  owner: {organisation: refusing-pc}\n"
        "- id: bin-patient\n  category: bin\n  owner: {organisation: patient-pc}\n")
    return directory


HttpSystem = tuple[LocalSystem, dict[str, PhasedEndpoint]]
# Longer than the notifier's quick retries will sleep (RetryPolicy.max_wait_s, 10 s): the
# delivery is deferred to the retry topic, which must still wait this long.
LONG_RETRY_AFTER_S = 20


@pytest.fixture(scope="module")
def http_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpSystem]:
    root = tmp_path_factory.mktemp("http-outage")
    outage = [(12.0, Reply(500, "upstream broken")),
              (24.0, Reply(429, "slow down", headers={"Retry-After": "2"}))]
    endpoints = {"webhook": PhasedEndpoint(outage), "notify": PhasedEndpoint(outage),
                 "refusing": PhasedEndpoint([(1e9, Reply(400, "no such parish"))]),
                 "patient": PhasedEndpoint([(3.0, Reply(429, "busy", headers={
                     "Retry-After": str(LONG_RETRY_AFTER_S)}))])}
    with endpoints["webhook"].running(), endpoints["notify"].running(), \
            endpoints["refusing"].running(), endpoints["patient"].running():
        bundle = write_bundle(root / "bundle", *(endpoints[name].url for name in (
            "webhook", "notify", "refusing", "patient")))
        local = LocalSystem(bundle=bundle, log_dir=root / "logs", data_dir=root / "data",
                            extra_env={**FAST_RETRIES, "HOOKLEY_WEBHOOK_SECRET": "hook-secret",
                                       "NOTIFY_TEST_KEY": NOTIFY_KEY})
        with local.running():
            local.wait_ready(timeout_s=90)
            yield local, endpoints


def post(local: LocalSystem, category: str, i: int) -> str:
    response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
        "category": category, "description": f"endpoint outage {i}",
        # inside the parish, each more than the likely-duplicate distance from the others
        "location": {"lat": 51.01 + 0.011 * i, "lon": -1.59 + 0.011 * i}})
    assert response.status_code == 202, response.text
    return str(response.json()["reference"])


def until(check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_http_endpoints_failing_then_recovering_deliver_each_report_once(
        http_system: HttpSystem) -> None:
    local, endpoints = http_system
    hook, notify = endpoints["webhook"], endpoints["notify"]
    hook.begin()
    notify.begin()
    by_channel = {"webhook": {post(local, "bench", i) for i in range(3)},
                  "notify": {post(local, "lamp", 3 + i) for i in range(3)}}
    wanted = by_channel["webhook"] | by_channel["notify"]

    def all_delivered() -> bool:
        return by_channel["webhook"] <= hook.delivered().keys() and \
            by_channel["notify"] <= notify.delivered().keys()

    assert until(all_delivered, 90), "not every report was delivered after recovery"
    time.sleep(5)  # a second delivery would follow soon after the first

    def notified(reference: str) -> bool:
        status = httpx.get(f"{local.health_url('intake')}/v1/reports/{reference}").json()
        return bool(status["status"] == "notified")

    assert until(lambda: all(notified(r) for r in wanted), 30), "status never said notified"
    for name, endpoint in (("webhook", hook), ("notify", notify)):
        statuses = Counter(status for _, _, status in endpoint.answered)
        print(f"\n{name}: answers given {dict(statuses)}; deliveries {dict(endpoint.delivered())}")
        assert statuses[500] and statuses[429], f"{name}: the outage was never met"
        delivered = endpoint.delivered()
        assert set(delivered) == by_channel[name], f"{name}: delivered {delivered}"
        assert all(n == 1 for n in delivered.values()), f"{name}: not exactly once: {delivered}"
        first_success = min(t for t, _, status in endpoint.answered if status < 300)
        assert first_success - endpoint.started >= 24.0, "accepted during the outage"
    deliveries = {r.headers["X-Signpost-Delivery"] for _, r, s in hook.answered if s < 300}
    assert len(deliveries) == 3


async def find_on(bootstrap: str, topic: str, reference: str, model: Any,
                  timeout_s: float = 30) -> list[Any]:
    """The events about `reference` on the topic (read from the real broker)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key == reference.encode():
                        event = adapter.validate_json(record.value)
                        found.append(event)
    finally:
        await consumer.stop()
    return found


def test_a_refusing_endpoint_is_a_permanent_failure_dead_lettered_with_its_reason(
        http_system: HttpSystem) -> None:
    local, endpoints = http_system
    metrics_url = f"{local.health_url('notifier')}/metrics"
    failed_labels = {"channel": "webhook", "permanent": "true"}
    dead_labels = {"service": "notifier", "source_topic": TOPICS.routed}
    before = httpx.get(metrics_url).text
    reference = post(local, "sign", 7)

    letters = asyncio.run(find_on(local.bootstrap, TOPICS.dead_letter, reference, DeadLetter))
    assert len(letters) == 1, f"dead letters for {reference}: {letters}"
    (letter,) = letters
    assert letter.service == "notifier" and letter.source_topic == TOPICS.routed
    assert "webhook HTTP 400" in letter.reason, letter.reason
    outcomes = asyncio.run(find_on(local.bootstrap, TOPICS.notifications, reference,
                                   NotificationFailed | NotificationSent))
    assert [type(o) for o in outcomes] == [NotificationFailed], outcomes
    assert outcomes[0].permanent and "HTTP 400" in outcomes[0].reason
    assert outcomes[0].owner_id == "refusing-pc"
    # Refused at once: a permanent failure is not retried.
    assert [s for _, r, s in endpoints["refusing"].answered if reference_of(r) == reference] \
        == [400]

    after = httpx.get(metrics_url).text
    for name, labels in (("signpost_notifications_failed_total", failed_labels),
                         ("signpost_dead_letters_total", dead_labels)):
        assert metric(after, name, **labels) == metric(before, name, **labels) + 1, name
    print(f"\ndead letter: {letter.reason!r}; "
          f"signpost_notifications_failed_total{failed_labels} "
          f"{metric(before, 'signpost_notifications_failed_total', **failed_labels)} -> "
          f"{metric(after, 'signpost_notifications_failed_total', **failed_labels)}")


def test_a_long_retry_after_is_honoured_through_the_retry_topic(http_system: HttpSystem) -> None:
    local, endpoints = http_system
    patient = endpoints["patient"]
    patient.begin()
    reference = post(local, "bin", 8)
    if not until(lambda: reference in patient.delivered(), 60):
        pytest.fail("never delivered")
    times = [at for at, request, _ in patient.answered if reference_of(request) == reference]
    statuses = [status for at, request, status in patient.answered
                if reference_of(request) == reference]
    print(f"\npatient endpoint: answers {statuses}, "
          f"seconds after the first: {[round(at - times[0], 1) for at in times]}")
    if statuses[0] != 429:
        pytest.fail(f"the first answer was {statuses[0]}, not 429")
    assert times[1] - times[0] >= LONG_RETRY_AFTER_S - 1, \
        f"asked again {times[1] - times[0]:.1f} s after Retry-After: {LONG_RETRY_AFTER_S}"
