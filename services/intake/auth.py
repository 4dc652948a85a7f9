"""Who is calling: API keys per source (a council's web form, an Open311 client), stored only as
SHA-256 hashes and compared in constant time, with a token-bucket rate limit per key."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Source = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class ApiKeysError(Exception):
    """The keys file is missing or wrong; intake refuses to start rather than run open."""


class ApiKey(BaseModel):
    """One entry of SIGNPOST_API_KEYS_FILE. The key itself is never stored, only its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source
    key_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True)]
    rate_per_minute: int | None = Field(None, ge=1, description="Default: the intake setting")
    cors_origins: tuple[str, ...] = ()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def load_api_keys(path: Path) -> list[ApiKey]:
    """A YAML or JSON list of entries (YAML is a superset of JSON, so one parser reads both)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ApiKeysError(f"cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(data, list) or not data:
        raise ApiKeysError(f"{path}: expected a non-empty list of keys")
    try:
        keys = [ApiKey.model_validate(entry) for entry in data]
    except ValidationError as exc:
        where = [".".join(str(p) for p in e["loc"]) + ": " + e["msg"]
                 for e in exc.errors(include_input=False)]
        raise ApiKeysError(f"{path}: " + "; ".join(where)) from None
    if len({k.key_sha256 for k in keys}) != len(keys):
        raise ApiKeysError(f"{path}: the same key hash is listed twice")
    return keys


@dataclass(frozen=True)
class Caller:
    source: str  # the key's source, or the channel's name when intake runs open
    key: ApiKey | None


class RateLimiter:
    """A token bucket per source: a burst of up to a minute's allowance, refilled steadily."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, last time)

    def take(self, source: str, per_minute: int) -> float:
        """0 when allowed; otherwise the seconds until a token is available."""
        now = self._clock()
        tokens, last = self._buckets.get(source, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60)
        if tokens >= 1:
            self._buckets[source] = (tokens - 1, now)
            return 0.0
        self._buckets[source] = (tokens, now)
        return (1 - tokens) * 60 / per_minute


class Refused(Exception):
    """Why a caller may not go on: the API turns it into problem+json, Open311 into its errors."""

    def __init__(self, status: int, detail: str, kind: str, title: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind, self.title = status, detail, kind, title
        self.headers = headers or {}


class Authenticator:
    """keys None: open (development). Otherwise every call must present a listed key."""

    def __init__(self, keys: Sequence[ApiKey] | None, default_rate_per_minute: int = 60,
                 limiter: RateLimiter | None = None) -> None:
        self.keys = list(keys) if keys is not None else None
        self._default_rate = default_rate_per_minute
        self._limiter = limiter or RateLimiter()

    @property
    def open(self) -> bool:
        return self.keys is None

    def origins(self) -> list[str]:
        """Every browser origin any source may call from (CORS is per app, not per key)."""
        return sorted({o for k in self.keys or () for o in k.cors_origins})

    def identify(self, presented: str | None) -> ApiKey | None:
        """The entry whose hash matches; every entry is compared, so timing reveals nothing."""
        if not presented or self.keys is None:
            return None
        digest = hash_key(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.key_sha256):
                found = key
        return found

    def authorize_optional(self, presented: str | None, origin: str | None,
                           channel: str) -> Caller | None:
        """For reads the spec leaves open: no key is None (anonymous); a wrong key is 401."""
        if self.keys is not None and not presented:
            return None
        return self.authorize(presented, origin, channel)

    def authorize(self, presented: str | None, origin: str | None, channel: str) -> Caller:
        """The caller, or Refused (401 no or wrong key, 403 wrong origin, 429 over the limit)."""
        if self.keys is None:
            return Caller(source=channel, key=None)
        key = self.identify(presented)
        if key is None:
            what = "is missing" if not presented else "is not recognised"
            raise Refused(401, f"The API key {what}. Ask the service's operator for one.",
                          "unauthorized", "Unauthorized",
                          headers={"WWW-Authenticate": 'Bearer realm="signpost"'})
        if origin and key.cors_origins and origin not in key.cors_origins:
            raise Refused(403, "This API key is not for use from this web site.",
                          "wrong-origin", "Forbidden")
        wait = self._limiter.take(key.source, key.rate_per_minute or self._default_rate)
        if wait:
            raise Refused(429, "Too many requests with this API key; try again shortly.",
                          "rate-limited", "Too many requests",
                          headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return Caller(source=key.source, key=key)

