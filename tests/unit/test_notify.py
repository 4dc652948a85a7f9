"""Delivery policy: transient failures retry with backoff, permanent ones stop at once."""

from __future__ import annotations

import pytest

from schemas import NotificationFailed, NotificationSent, Owner
from services.notifier.channels import Channels
from services.notifier.delivery import Delivery, DeliveryFailed, RetryPolicy
from services.notifier.notify import Notifier
from signpost.bundle import Bundle
from tests.unit.test_email_message import routed

FAST = RetryPolicy(attempts=3, base_s=0.001, cap_s=0.001)


class ScriptedChannel:
    """Fails with the scripted errors in turn, then accepts every message."""

    name = "email"

    def __init__(self, *failures: DeliveryFailed) -> None:
        self.failures = list(failures)
        self.delivered: list[Delivery] = []
        self.attempts = 0

    async def send(self, delivery: Delivery) -> str | None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(delivery)
        return None


def notifier(bundle: Bundle, channel: ScriptedChannel) -> Notifier:
    return Notifier(bundle, Channels(channel), FAST, map_link="{lat},{lon}")


async def test_transient_failures_are_retried_until_delivered(demo_bundle: Bundle) -> None:
    channel = ScriptedChannel(DeliveryFailed("SMTP 451", permanent=False),
                              DeliveryFailed("timeout", permanent=False))
    outcome = await notifier(demo_bundle, channel).notify(routed(demo_bundle, "ashcombe-pc"))
    assert isinstance(outcome, NotificationSent)
    assert channel.attempts == 3 and len(channel.delivered) == 1


async def test_permanent_failure_is_not_retried(demo_bundle: Bundle) -> None:
    channel = ScriptedChannel(DeliveryFailed("SMTP 550", permanent=True))
    outcome = await notifier(demo_bundle, channel).notify(routed(demo_bundle, "ashcombe-pc"))
    assert isinstance(outcome, NotificationFailed)
    assert outcome.permanent and outcome.reason == "SMTP 550" and channel.attempts == 1


async def test_gives_up_after_the_last_attempt_with_the_reason(demo_bundle: Bundle) -> None:
    channel = ScriptedChannel(*[DeliveryFailed("SMTP 421", permanent=False)] * 5)
    outcome = await notifier(demo_bundle, channel).notify(routed(demo_bundle, "ashcombe-pc"))
    assert isinstance(outcome, NotificationFailed)
    assert not outcome.permanent and outcome.reason == "gave up after 3 attempts: SMTP 421"
    assert channel.attempts == 3


async def test_unknown_owner_fails_permanently(demo_bundle: Bundle) -> None:
    event = routed(demo_bundle, "ashcombe-pc")
    stranger = event.model_copy(update={"owner": Owner(id="nobody", name="Nobody",
                                                       tier=event.owner.tier)})
    outcome = await notifier(demo_bundle, ScriptedChannel()).notify(stranger)
    assert isinstance(outcome, NotificationFailed) and outcome.permanent


@pytest.mark.parametrize("attempt", [0, 3, 10])
def test_backoff_is_capped_and_honours_retry_after(attempt: int) -> None:
    policy = RetryPolicy(attempts=5, base_s=0.5, cap_s=4)
    assert 0 <= policy.delay(attempt) <= 4
    assert policy.delay(attempt, retry_after_s=7) >= 7
