"""Channel adapters: how an organisation's notification leaves Signpost. The bundle picks the
channel per organisation (`channel: {type: ...}`); `Channels` maps each type to its adapter."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol, TypeVar

from pydantic import BaseModel

from services.notifier.delivery import Delivery, DeliveryFailed
from signpost.bundle import Bundle, NotifyConfig, Open311Config, Organisation, WebhookConfig

Secrets = Callable[[str], str | None]
"""Looks a secret up by its environment variable's name; `os.environ.get` in production."""
C = TypeVar("C", bound=BaseModel)


class Channel(Protocol):
    name: str

    async def send(self, delivery: Delivery) -> str | None:
        """Deliver or raise DeliveryFailed; returns the receiving system's id, if it gives one."""
        ...


class Channels:
    def __init__(self, *adapters: Channel) -> None:
        self._by_name = {adapter.name: adapter for adapter in adapters}

    def for_organisation(self, organisation: Organisation) -> Channel:
        kind = organisation.channel.type
        try:
            return self._by_name[kind]
        except KeyError:
            raise DeliveryFailed(f"no {kind} channel is configured", permanent=True) from None


def config_of(delivery: Delivery, kind: type[C]) -> C:
    config = delivery.organisation.channel
    if not isinstance(config, kind):
        raise DeliveryFailed(f"channel is {config.type}, not {kind.__name__}", permanent=True)
    return config


def secret(secrets: Secrets, env_name: str) -> str:
    """A missing secret is a deployment mistake: permanent, so the record is dead-lettered
    (and can be replayed once the variable is set) rather than retried in a loop."""
    value = secrets(env_name)
    if not value:
        raise DeliveryFailed(f"environment variable {env_name} is not set", permanent=True)
    return value


def required_secrets(organisation: Organisation) -> list[str]:
    config = organisation.channel
    if isinstance(config, NotifyConfig | Open311Config):
        return [config.api_key_env]
    if isinstance(config, WebhookConfig):
        return [config.secret_env]
    return []


def missing_secrets(bundle: Bundle, secrets: Secrets = os.environ.get) -> list[str]:
    """Environment variable names the bundle's channels need but that are not set."""
    needed = {name for org in bundle.organisations.values() for name in required_secrets(org)}
    return sorted(name for name in needed if not secrets(name))
