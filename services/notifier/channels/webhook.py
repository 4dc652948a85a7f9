"""Signed webhook: the routed report as JSON, POSTed to the organisation's own system.

Headers: `X-Signpost-Timestamp` (Unix seconds), `X-Signpost-Signature: sha256=<hex>` where hex
is HMAC-SHA256, keyed with the shared secret, of `"{timestamp}.{body}"` over the exact body
bytes; `X-Signpost-Delivery` is the same for every resend of one notification, so a receiver
can drop duplicates. Receivers check with `verify_signature` (see its docstring).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from services.notifier.channels import Secrets, config_of, secret
from services.notifier.channels.http import post
from services.notifier.delivery import Delivery
from signpost.bundle import WebhookConfig

TIMESTAMP_HEADER = "X-Signpost-Timestamp"
SIGNATURE_HEADER = "X-Signpost-Signature"
DELIVERY_HEADER = "X-Signpost-Delivery"


class WebhookChannel:
    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, secrets: Secrets = os.environ.get,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.secrets, self.clock = client, secrets, clock

    async def send(self, delivery: Delivery) -> str | None:
        config = config_of(delivery, WebhookConfig)
        key = secret(self.secrets, config.secret_env)
        body = json.dumps(payload(delivery), separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(key, timestamp, body),
            DELIVERY_HEADER: f"{delivery.report.reference}/{delivery.organisation.id}"
                             + ("/reminder" if delivery.routed.reminder else ""),
        }
        await post(self.client, config.url, "webhook", _webhook_error, content=body,
                   headers=headers)
        return None


def payload(delivery: Delivery) -> dict[str, Any]:
    routed, report, reporter = delivery.routed, delivery.report, delivery.reporter
    return {
        "reference": report.reference,
        "category": report.category,
        "category_name": delivery.category_name,
        "owner": routed.owner.model_dump(mode="json"),
        "location": report.location.model_dump(mode="json"),
        "grid_reference": delivery.grid_reference,
        "answers": report.answers,
        "description": report.description,
        "uprn": report.uprn,
        "submitted_at": report.submitted_at.isoformat(),
        "rule_id": routed.rule_id,
        "trace": routed.trace.model_dump(mode="json"),
        "map_url": delivery.map_url,
        "ack_url": delivery.ack_url,
        "reporter": reporter.model_dump(mode="json") if reporter else None,
        "reminder": routed.reminder,  # SLA passed without an acknowledgement
        "escalated_from": (routed.escalated_from.model_dump(mode="json")
                           if routed.escalated_from else None),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str,
                     tolerance_s: float = 300, now: float | None = None) -> bool:
    """For receivers: True only if `signature` (the X-Signpost-Signature header) is ours over
    these exact body bytes and `timestamp` is within `tolerance_s` of now, which bounds replays.

        ok = verify_signature(os.environ["HOOK_SECRET"], request.headers["X-Signpost-Timestamp"],
                              await request.body(), request.headers["X-Signpost-Signature"])
    """
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _webhook_error(response: httpx.Response) -> str:
    # The receiver's body is not ours to log: it may echo the report back.
    return response.reason_phrase
