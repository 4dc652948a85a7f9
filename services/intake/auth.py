"""Who is calling: API keys per source (a council's web form, an Open311 client), stored only as
SHA-256 hashes and compared in constant time, with a token-bucket rate limit per key. Each key
has scopes: `submit` (send reports), `read` (the reports its own source sent), `staff` (every
report, triage). Per client address, anonymous reads and failed authentication are limited."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

Source = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
Scope = Literal["submit", "read", "staff"]


class ApiKeysError(Exception):
    """The keys file is missing or wrong; intake refuses to start rather than run open."""


class ApiKey(BaseModel):
    """One entry of SIGNPOST_API_KEYS_FILE. The key itself is never stored, only its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source
    key_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$", to_lower=True)]
    rate_per_minute: int | None = Field(None, ge=1, description="Default: the intake setting")
    cors_origins: tuple[str, ...] = ()
    scopes: tuple[Scope, ...] = ("submit",)

    @model_validator(mode="after")
    def _browser_keys_only_submit(self) -> ApiKey:
        if not self.scopes:
            raise ValueError("scopes: give at least one of submit, read, staff")
        # A browser key sits in the form's JavaScript: anyone can copy it, so it must not read.
        if self.cors_origins and set(self.scopes) != {"submit"}:
            raise ValueError("a key with cors_origins (a browser key) may only have the "
                             "submit scope")
        return self


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
    keys = []
    for n, entry in enumerate(data, start=1):
        try:
            keys.append(ApiKey.model_validate(entry))
        except ValidationError as exc:
            where = [".".join(str(p) for p in e["loc"]) or "entry" for e in exc.errors()]
            words = [e["msg"].removeprefix("Value error, ") for e in exc.errors()]
            raise ApiKeysError(f"{path}: key {n}: " + "; ".join(
                f"{w}: {m}" for w, m in zip(where, words, strict=True))) from None
    if len({k.key_sha256 for k in keys}) != len(keys):
        raise ApiKeysError(f"{path}: the same key hash is listed twice")
    return keys


@dataclass(frozen=True)
class Caller:
    source: str  # the key's source, or the channel's name when intake runs open
    key: ApiKey | None  # None only when intake runs open (development): every scope

    def may(self, scope: Scope) -> bool:
        return self.key is None or scope in self.key.scopes

    def may_read(self, source: str | None) -> bool:
        """A report sent by `source`: staff read all, read keys their own source's."""
        return self.may("staff") or (self.may("read") and source == self.source)


class RateLimiter:
    """A token bucket per name (a source, a client address): a burst of up to a minute's
    allowance, refilled steadily. At most `max_names` buckets: the least recently used goes,
    and a forgotten name starts again full (forgetting only ever lets a name in sooner)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_names: int = 100_000) -> None:
        self._clock, self._max_names = clock, max_names
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, time)

    def wait(self, name: str, per_minute: int) -> float:
        """0 when a token is there (none is taken); otherwise the seconds until one is."""
        tokens = self._refilled(name, per_minute)
        return 0.0 if tokens >= 1 else (1 - tokens) * 60 / per_minute

    def take(self, name: str, per_minute: int) -> float:
        """0 when allowed; otherwise the seconds until a token is available."""
        wait = self.wait(name, per_minute)
        if not wait:
            tokens, now = self._buckets[name]
            self._buckets[name] = (tokens - 1, now)
        return wait

    def _refilled(self, name: str, per_minute: int) -> float:
        now = self._clock()
        tokens, last = self._buckets.get(name, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60)
        self._buckets[name] = (tokens, now)
        self._buckets.move_to_end(name)
        while len(self._buckets) > self._max_names:
            self._buckets.popitem(last=False)
        return tokens


@dataclass(frozen=True)
class AddressLimits:
    """Per client address, per minute: reads without a key, and failed authentications
    (missing or wrong key). An address that used up its failures is refused even with a
    right key until the bucket refills, so guessing keys gains nothing."""

    anonymous_reads_per_minute: int = 60
    failures_per_minute: int = 10


def require_submit(caller: Caller) -> None:
    if not caller.may("submit"):
        raise Refused(403, "This API key may not send reports; it is for reading them.",
                      "wrong-scope", "Forbidden")


def too_many(wait: float, detail: str) -> Refused:
    return Refused(429, detail, "rate-limited", "Too many requests",
                   headers={"Retry-After": str(max(1, math.ceil(wait)))})


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
                 limiter: RateLimiter | None = None, limits: AddressLimits | None = None,
                 address_limiter: RateLimiter | None = None) -> None:
        self.keys = list(keys) if keys is not None else None
        self._default_rate = default_rate_per_minute
        self._limiter = limiter or RateLimiter()
        self._limits = limits or AddressLimits()
        self._by_address = address_limiter or RateLimiter()

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
                           channel: str, address: str = "") -> Caller | None:
        """For reads the spec leaves open: no key is None (anonymous, limited per client
        address); a wrong key is 401."""
        if self.keys is not None and not presented:
            wait = self._by_address.take("anonymous " + address,
                                         self._limits.anonymous_reads_per_minute)
            if wait:
                raise too_many(wait, "Too many requests without an API key from this "
                                     "address; try again shortly.")
            return None
        return self.authorize(presented, origin, channel, address)

    def authorize(self, presented: str | None, origin: str | None, channel: str,
                  address: str = "") -> Caller:
        """The caller, or Refused (401 no or wrong key, 403 wrong origin, 429 over the limit
        of the key, or of failed attempts from the client's address)."""
        if self.keys is None:
            return Caller(source=channel, key=None)
        failures = "failed " + address
        wait = self._by_address.wait(failures, self._limits.failures_per_minute)
        if wait:
            raise too_many(wait, "Too many attempts without a valid API key from this "
                                 "address; try again later.")
        key = self.identify(presented)
        if key is None:
            self._by_address.take(failures, self._limits.failures_per_minute)
            what = "is missing" if not presented else "is not recognised"
            raise Refused(401, f"The API key {what}. Ask the service's operator for one.",
                          "unauthorized", "Unauthorized",
                          headers={"WWW-Authenticate": 'Bearer realm="signpost"'})
        if origin and key.cors_origins and origin not in key.cors_origins:
            raise Refused(403, "This API key is not for use from this web site.",
                          "wrong-origin", "Forbidden")
        wait = self._limiter.take(key.source, key.rate_per_minute or self._default_rate)
        if wait:
            raise too_many(wait, "Too many requests with this API key; try again shortly.")
        return Caller(source=key.source, key=key)

