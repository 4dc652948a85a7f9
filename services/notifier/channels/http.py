"""What every HTTP channel shares: timeouts, connection errors, 5xx and 429 are transient
(429 and 503 honour Retry-After); any other 4xx is permanent, with the service's own reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.notifier.delivery import DeliveryFailed

ErrorReader = Callable[[httpx.Response], str]
MAX_REASON = 300


async def post(client: httpx.AsyncClient, url: str, service: str, read_error: ErrorReader,
               **request: Any) -> httpx.Response:
    try:
        response = await client.post(url, **request)
    except httpx.TimeoutException:
        raise DeliveryFailed(f"{service} timed out", permanent=False) from None
    except httpx.HTTPError as exc:  # refused, reset, DNS, protocol errors
        raise DeliveryFailed(f"{service} unreachable ({type(exc).__name__})",
                             permanent=False) from None
    if response.is_success:
        return response
    raise failure(response, service, read_error)


def failure(response: httpx.Response, service: str, read_error: ErrorReader) -> DeliveryFailed:
    status = response.status_code
    reason = f"{service} HTTP {status}: {_safe(read_error, response)}"[:MAX_REASON]
    if status == 429 or status >= 500:
        return DeliveryFailed(reason, permanent=False,
                              retry_after_s=retry_after(response.headers.get("Retry-After")))
    # Other 4xx, and redirects (never followed: a signed POST must not wander): fix and replay.
    return DeliveryFailed(reason, permanent=True)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _safe(read_error: ErrorReader, response: httpx.Response) -> str:
    """The service's reason if its body says one, else the status phrase (bodies may be HTML)."""
    try:
        return read_error(response) or response.reason_phrase
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return response.reason_phrase
