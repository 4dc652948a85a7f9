"""Clerk look-up in a council's Modern.Gov web service, with the bundle's entry as fallback.

`GET {base_url}/mgWebService.asmx/{method}?{params}`; the answer is external XML, so it is
parsed with defusedxml. Each organisation's `modern_gov` block says which entry is its
contact (see signpost.bundle.model.ModernGovLookup). Answers are cached for a TTL, failures
for a shorter one, so a slow or down service costs one timeout per period, not per report.
Every fallback counts in signpost_directory_fallbacks_total{reason}.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Types only: external XML is parsed by defusedxml (bandit B405 reviewed).
from xml.etree.ElementTree import Element, ParseError  # nosec B405

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from services.notifier.directory import StaticDirectory
from signpost.bundle import Clerk, ModernGovLookup, Organisation
from signpost.runtime import metrics
from signpost.runtime.logging import get_logger

log = get_logger(__name__)
CacheKey = tuple[str, str, tuple[tuple[str, str], ...]]


class LookupFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a metric label: timeout, unavailable, malformed, no_match, ...


@dataclass(frozen=True)
class Cached:
    expires: float
    document: Element | None = None
    failure: str | None = None


class ModernGovDirectory:
    def __init__(self, static: StaticDirectory, client: httpx.AsyncClient, *, timeout_s: float,
                 ttl_s: float, failure_ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.static, self.client, self.clock = static, client, clock
        self.timeout_s, self.ttl_s, self.failure_ttl_s = timeout_s, ttl_s, failure_ttl_s
        self._cache: dict[CacheKey, Cached] = {}

    def organisation(self, owner_id: str) -> Organisation:
        return self.static.organisation(owner_id)

    async def clerk_for(self, organisation: Organisation) -> Clerk:
        lookup = organisation.modern_gov
        if lookup is None:
            return organisation.clerk
        try:
            return find_clerk(await self._document(lookup), lookup, organisation.clerk.role)
        except LookupFailed as exc:
            metrics.directory_fallbacks.labels(exc.reason).inc()
            log.warning("directory_fallback", owner=organisation.id, reason=exc.reason)
            return organisation.clerk

    async def _document(self, lookup: ModernGovLookup) -> Element:
        key = (lookup.base_url, lookup.method, tuple(sorted(lookup.params.items())))
        now = self.clock()
        cached = self._cache.get(key)
        if cached is None or cached.expires <= now:
            cached = await self._fetch(lookup, now)
            self._cache[key] = cached
        if cached.document is None:
            raise LookupFailed(cached.failure or "unavailable")
        return cached.document

    async def _fetch(self, lookup: ModernGovLookup, now: float) -> Cached:
        try:
            return Cached(now + self.ttl_s, document=parse(await self._get(lookup)))
        except LookupFailed as exc:
            return Cached(now + self.failure_ttl_s, failure=exc.reason)

    async def _get(self, lookup: ModernGovLookup) -> bytes:
        url = f"{lookup.base_url.rstrip('/')}/mgWebService.asmx/{lookup.method}"
        try:
            response = await self.client.get(url, params=lookup.params, timeout=self.timeout_s)
        except httpx.TimeoutException:
            raise LookupFailed("timeout") from None
        except httpx.HTTPError:
            raise LookupFailed("unavailable") from None
        if response.status_code != 200:
            raise LookupFailed("unavailable")
        return response.content


def parse(content: bytes) -> Element:
    """The document, namespaces dropped so configured paths stay plain; an ASMX `<string>`
    wrapper holding the XML as text is unwrapped."""
    try:
        root = fromstring(content)
        if _local(root.tag) == "string" and (root.text or "").lstrip().startswith("<"):
            root = fromstring((root.text or "").encode())
    except (ParseError, DefusedXmlException, ValueError):
        raise LookupFailed("malformed") from None
    for element in root.iter():
        element.tag = _local(element.tag)
    return root


def find_clerk(root: Element, lookup: ModernGovLookup, role: str) -> Clerk:
    wanted = lookup.match_value.strip().casefold()
    for entry in root.findall(lookup.entry_path):
        if _text(entry, lookup.match_path).casefold() == wanted:
            try:
                return Clerk(name=_text(entry, lookup.name_path),
                             email=_text(entry, lookup.email_path), role=role)
            except ValidationError:
                raise LookupFailed("incomplete") from None  # matched, but no usable name/email
    raise LookupFailed("no_match")


def _text(element: Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
