"""Signed, expiring acknowledgement links: the clerk clicks to say "we have it".

The link names the report, the owner and an expiry, and carries an HMAC-SHA256 over the three,
keyed with a secret only Signpost holds (SIGNPOST_ACK_SECRET or SIGNPOST_ACK_SECRET_FILE), so
nobody can forge one for another owner or extend its life. The notifier signs links; intake
serves them (a GET shows a confirm button, so a mail scanner following links acknowledges
nothing; the POST verifies and publishes ReportAcknowledged).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from signpost.runtime.settings import Settings


class InvalidAck(ValueError):
    """The link was altered, signed with another key, or has expired."""


@dataclass(frozen=True)
class Ack:
    reference: str
    owner_id: str
    expires_at: int


class AckLinks:
    def __init__(self, key: bytes, base_url: str, ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ValueError("the acknowledgement key needs at least 32 bytes")
        self._key, self.base_url, self.ttl_s, self.clock = key, base_url.rstrip("/"), ttl_s, clock

    def link(self, reference: str, owner_id: str) -> str:
        expires = int(self.clock() + self.ttl_s)
        query = urlencode({"expires": expires, "sig": self._sign(reference, owner_id, expires)})
        return f"{self.base_url}/ack/{quote(reference)}/{quote(owner_id)}?{query}"

    def verify(self, reference: str, owner_id: str, expires: str, sig: str) -> Ack:
        try:
            expires_at = int(expires)
        except ValueError:
            raise InvalidAck("expiry is not a number") from None
        if not hmac.compare_digest(self._sign(reference, owner_id, expires_at), sig):
            raise InvalidAck("signature does not match")
        if expires_at < self.clock():
            raise InvalidAck("link has expired")
        return Ack(reference, owner_id, expires_at)

    def _sign(self, reference: str, owner_id: str, expires_at: int) -> str:
        # Newline-separated: neither a reference nor an owner id can contain one.
        message = f"{reference}\n{owner_id}\n{expires_at}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_key(secret: str | None, secret_file: Path | None) -> bytes | None:
    """The key from the environment, else from a file (a mounted Kubernetes secret)."""
    if secret:
        return secret.encode()
    if secret_file:
        return secret_file.read_bytes().strip()
    return None


def ack_links_from(settings: Settings) -> AckLinks | None:
    """The links as configured; None (no links) where no key is set, as in development."""
    secret = settings.ack_secret.get_secret_value() if settings.ack_secret else None
    key = load_key(secret, settings.ack_secret_file)
    return AckLinks(key, settings.ack_base_url, settings.ack_ttl_s) if key else None
