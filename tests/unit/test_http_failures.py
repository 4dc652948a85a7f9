"""Retry classification for HTTP channels: which answers retry, which stop, how long to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from schemas import NotificationFailed
from services.notifier.channels import Channels
from services.notifier.channels.http import failure, retry_after
from services.notifier.delivery import DeliveryFailed, RetryPolicy
from services.notifier.notify import Notifier
from signpost.bundle import Bundle
from tests.unit.test_email_message import routed
from tests.unit.test_notify import ScriptedChannel


def reason_phrase(response: httpx.Response) -> str:
    return response.reason_phrase


def classify(status: int, headers: dict[str, str] | None = None) -> DeliveryFailed:
    return failure(httpx.Response(status, headers=headers), "svc", reason_phrase)


@pytest.mark.parametrize(("status", "permanent"), [
    (500, False), (502, False), (503, False), (504, False), (429, False),
    (400, True), (401, True), (403, True), (404, True), (409, True), (422, True), (302, True),
])
def test_status_classification(status: int, permanent: bool) -> None:
    failed = classify(status)
    assert failed.permanent is permanent and f"HTTP {status}" in failed.reason


def test_429_and_503_carry_retry_after() -> None:
    assert classify(429, {"Retry-After": "12"}).retry_after_s == 12
    assert classify(503, {"Retry-After": "3"}).retry_after_s == 3
    assert classify(400, {"Retry-After": "3"}).retry_after_s is None


def test_retry_after_in_both_forms() -> None:
    now = datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120
    assert retry_after("Sun, 22 Nov 2026 09:00:30 GMT", now) == 30
    assert retry_after("Sun, 22 Nov 2026 08:00:00 GMT", now) == 0  # already past
    assert retry_after("soon", now) is None and retry_after(None) is None


def test_an_unreadable_error_body_falls_back_to_the_status_phrase() -> None:
    def json_errors(response: httpx.Response) -> str:
        return str(response.json()["errors"])

    failed = failure(httpx.Response(400, text="<html>oops</html>"), "svc", json_errors)
    assert failed.reason == "svc HTTP 400: Bad Request"


async def test_a_retry_after_beyond_max_wait_gives_up_now(demo_bundle: Bundle) -> None:
    channel = ScriptedChannel(DeliveryFailed("HTTP 429", permanent=False, retry_after_s=3600))
    policy = RetryPolicy(attempts=5, base_s=0.001, cap_s=0.001, max_wait_s=60)
    outcome = await Notifier(demo_bundle, Channels(channel), policy,
                             map_link="{lat},{lon}").notify(routed(demo_bundle, "ashcombe-pc"))
    assert isinstance(outcome, NotificationFailed) and not outcome.permanent
    assert outcome.reason == "asked to wait 3600 s: HTTP 429" and channel.attempts == 1
