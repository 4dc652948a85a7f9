"""A bundle whose parish takes reports by signed webhook, wired as `signpost notifier` wires
it, delivering to a real local receiver that checks the signature."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import Location, NotificationSent, Owner, Report, ReportRouted, RoutingTrace, Tier
from services.notifier.channels import missing_secrets
from services.notifier.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from services.notifier.main import build_notifier
from signpost.bundle import WebhookConfig, load_bundle
from signpost.runtime.settings import Settings
from tests.integration.local_http import LocalHttpServer, Reply

pytestmark = pytest.mark.integration
BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "webhook"
SECRET = "hookley-test-secret"


def bench_report() -> ReportRouted:
    report = Report(reference="SP-HOOK-0000-0001", category="bench", description="Broken slats",
                    location=Location(lat=51.05, lon=-1.55),
                    submitted_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    return ReportRouted(report=report, owner=Owner(id="hookley-pc", name="Hookley Parish Council",
                                                   tier=Tier.PARISH),
                        rule_id="bench-parish",
                        trace=RoutingTrace(bundle_version="t", rules_evaluated=["bench-parish"],
                                           matched_rule="bench-parish", boundaries=[]))


def test_the_bundle_loads_with_its_webhook_channel() -> None:
    bundle = load_bundle(BUNDLE)
    assert isinstance(bundle.organisations["hookley-pc"].channel, WebhookConfig)
    assert missing_secrets(bundle, lambda name: None) == ["HOOKLEY_WEBHOOK_SECRET"]


async def test_the_notifier_delivers_by_webhook(
        http_server: Callable[..., LocalHttpServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = http_server(Reply(202))
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle_dir)
    orgs = bundle_dir / "organisations.yaml"
    orgs.write_text(orgs.read_text().replace("http://127.0.0.1:9", receiver.url))
    monkeypatch.setenv("HOOKLEY_WEBHOOK_SECRET", SECRET)
    settings = Settings(bundle_dir=bundle_dir)
    notifier = build_notifier(settings, load_bundle(bundle_dir))
    event = bench_report()
    outcome = await notifier.notify(event)
    assert isinstance(outcome, NotificationSent) and outcome.channel == "webhook"
    assert notifier.delivery_key(event) == "SP-HOOK-0000-0001/hookley-pc/webhook"
    [request] = receiver.requests
    assert request.path == "/signpost"
    assert verify_signature(SECRET, request.headers[TIMESTAMP_HEADER], request.body,
                            request.headers[SIGNATURE_HEADER])
    assert json.loads(request.body)["description"] == "Broken slats"
