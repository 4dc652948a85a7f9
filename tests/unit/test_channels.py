"""Channel choice per organisation: the bundle format, the registry, secrets by name only."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas import NotificationSent
from services.notifier.channels import Channels, missing_secrets
from services.notifier.delivery import Delivery, DeliveryFailed, RetryPolicy
from services.notifier.notify import Notifier
from signpost.bundle import Bundle, NotifyConfig, Organisation, WebhookConfig
from tests.unit.test_email_message import routed
from tests.unit.test_notify import ScriptedChannel

TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


def organisation(channel: Any = None) -> Organisation:
    entry: dict[str, Any] = {"id": "x-pc", "name": "X Parish Council", "tier": "parish",
                             "clerk": {"name": "Clerk", "email": "clerk@x.example.org"}}
    if channel is not None:
        entry["channel"] = channel
    return Organisation.model_validate(entry)


def test_email_is_the_default_and_the_original_form_still_loads() -> None:
    assert organisation().channel.type == "email"
    assert organisation("email").channel.type == "email"


def test_each_channel_type_has_its_own_fields() -> None:
    notify = organisation({"type": "notify", "template_id": TEMPLATE, "api_key_env": "NOTIFY_KEY"})
    assert isinstance(notify.channel, NotifyConfig)
    assert notify.channel.base_url == "https://api.notifications.service.gov.uk"
    hook = organisation({"type": "webhook", "url": "https://x.example.org/hook",
                         "secret_env": "X_HOOK_SECRET"})
    assert isinstance(hook.channel, WebhookConfig)
    open311 = organisation({"type": "open311", "endpoint": "https://crm.example.org/open311/v2",
                            "api_key_env": "X_311_KEY", "service_code": "SPD"})
    assert open311.channel.type == "open311"


@pytest.mark.parametrize("channel", [
    {"type": "fax"},
    {"type": "webhook", "url": "https://x.example.org/hook"},  # no secret named
    {"type": "webhook", "url": "ftp://x.example.org", "secret_env": "S"},
    {"type": "notify", "template_id": TEMPLATE, "api_key_env": "key-in-the-bundle-abc123"},
])
def test_bad_channel_config_is_refused(channel: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        organisation(channel)


def test_missing_secrets_are_named(demo_bundle: Bundle) -> None:
    orgs = dict(demo_bundle.organisations)
    orgs["x-pc"] = organisation({"type": "webhook", "url": "https://x.example.org/h",
                                 "secret_env": "X_HOOK_SECRET"})
    bundle = Bundle("b", "1", orgs, {}, [], [])
    env = {"X_HOOK_SECRET": "s"}
    assert missing_secrets(bundle, lambda name: None) == ["X_HOOK_SECRET"]
    assert missing_secrets(bundle, env.get) == []


def test_registry_refuses_an_unconfigured_type_permanently() -> None:
    with pytest.raises(DeliveryFailed) as failed:
        Channels(ScriptedChannel()).for_organisation(organisation({
            "type": "webhook", "url": "https://x.example.org/h", "secret_env": "S"}))
    assert failed.value.permanent


class Named(ScriptedChannel):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    async def send(self, delivery: Delivery) -> str | None:
        await super().send(delivery)
        return f"{self.name}-1"


async def test_each_organisation_gets_its_own_channel(demo_bundle: Bundle) -> None:
    orgs = dict(demo_bundle.organisations)
    orgs["ashcombe-pc"] = orgs["ashcombe-pc"].model_copy(update={"channel": WebhookConfig(
        type="webhook", url="https://ashcombe.example.org/h", secret_env="S")})
    bundle = Bundle("b", "1", orgs, demo_bundle.categories, [], [])
    email, hook = Named("email"), Named("webhook")
    notifier = Notifier(bundle, Channels(email, hook), RetryPolicy(), map_link="{lat},{lon}")
    event = routed(bundle, "ashcombe-pc")
    outcome = await notifier.notify(event)
    assert isinstance(outcome, NotificationSent)
    assert (outcome.channel, outcome.external_id) == ("webhook", "webhook-1")
    assert notifier.delivery_key(event) == "SP-TEST-0000-0001/ashcombe-pc/webhook"
    assert len(hook.delivered) == 1 and not email.delivered
