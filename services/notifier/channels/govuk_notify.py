"""GOV.UK Notify: `POST /v2/notifications/email` with a template and its personalisation.

Auth is Notify's own scheme: an API key `{key_name}-{service_id}-{secret}` (both ids 36
characters) signs a short-lived HS256 JWT with `iss` = service id and `iat` = now.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt

from services.notifier.channels import Secrets, config_of, secret
from services.notifier.channels.http import post
from services.notifier.delivery import Delivery, DeliveryFailed
from services.notifier.escalation import notice
from signpost.bundle import NotifyConfig

Personalisation = dict[str, str | list[str]]


@dataclass(frozen=True)
class ApiKey:
    service_id: str
    secret: str

    @classmethod
    def parse(cls, key: str) -> ApiKey:
        key = key.strip()
        if len(key) < 75 or key[-37] != "-" or key[-74] != "-":
            # Never echo the key itself.
            raise DeliveryFailed("Notify API key is not {key_name}-{service_id}-{secret}",
                                 permanent=True)
        return cls(service_id=key[-73:-37], secret=key[-36:])

    def token(self, now: float) -> str:
        return jwt.encode({"iss": self.service_id, "iat": int(now)}, self.secret,
                          algorithm="HS256")


class NotifyApiChannel:
    name = "notify"

    def __init__(self, client: httpx.AsyncClient, secrets: Secrets = os.environ.get,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.secrets, self.clock = client, secrets, clock

    async def send(self, delivery: Delivery) -> str | None:
        config = config_of(delivery, NotifyConfig)
        key = ApiKey.parse(secret(self.secrets, config.api_key_env))
        body = {
            "email_address": delivery.organisation.clerk.email,
            "template_id": config.template_id,
            "personalisation": personalisation(delivery),
            "reference": delivery.report.reference,
        }
        response = await post(
            self.client, f"{config.base_url.rstrip('/')}/v2/notifications/email", "Notify",
            notify_error, json=body, headers={"Authorization": f"Bearer {key.token(self.clock())}"})
        return _json_field(response, "id")


def personalisation(delivery: Delivery) -> Personalisation:
    """Every placeholder always present: Notify refuses a message missing one."""
    report, reporter = delivery.report, delivery.reporter
    answers = [f"{question} {answer}" for question, answer in delivery.answers()]
    return {
        "reference": report.reference,
        "category": delivery.category_name,
        "organisation": delivery.organisation.name,
        "clerk_name": delivery.organisation.clerk.name,
        "reported_at": delivery.reported_at,
        "location": f"{report.location.lat:.6f}, {report.location.lon:.6f}",
        "grid_reference": delivery.grid_reference or "",
        "map_link": delivery.map_url,
        "answers": answers or "None",
        "description": report.description or "(nothing)",
        "ack_link": delivery.ack_url or "",
        "reporter_name": (reporter and reporter.name) or "",
        "reporter_email": (reporter and reporter.email) or "",
        "reporter_phone": (reporter and reporter.phone) or "",
        # "Reminder, not yet acknowledged" or "Escalated from …" after an SLA passed, else "".
        "notice": notice(delivery.routed).removesuffix(": "),
    }


def notify_error(response: httpx.Response) -> str:
    """Notify answers `{status_code, errors: [{error, message}]}`."""
    errors = response.json()["errors"]
    return "; ".join(f"{e['error']}: {e['message']}" for e in errors)


def _json_field(response: httpx.Response, name: str) -> str | None:
    try:
        value = response.json()[name]
    except (ValueError, KeyError, TypeError):
        return None
    return str(value) if value is not None else None
