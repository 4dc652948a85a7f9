"""Idempotency-Key: a repeated submission answers with the first one's reference instead of
making a second report. This replica remembers keys in a bounded map with a time to live;
the status projection (fed by the topic, where each key's hash travels as a record header)
lets every replica recognise a key once it has caught up."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


def scoped_key(source: str, key: str) -> str:
    """Keys are per source: two councils' forms may both send "1". Hashed, so the header and
    the projection never hold what a client chose as its key."""
    return hashlib.sha256(f"{source}\0{key}".encode("utf-8", "replace")).hexdigest()


class Seen(Enum):
    NEW = "new"  # go ahead; call complete() or abandon() afterwards
    DONE = "done"  # already accepted: answer with the reference
    BUSY = "busy"  # the first request with this key is still being published
    MISMATCH = "mismatch"  # the key was used for a different report


@dataclass(slots=True)  # one per key remembered: no per-instance __dict__
class _Entry:
    fingerprint: str
    expires: float
    reference: str | None  # None while in flight


class IdempotencyStore:
    """Bounded per source (`max_keys` each): one source sending key after key forgets only
    its own oldest entries, never another source's."""

    def __init__(self, ttl_s: float = 86_400, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s, self._max_keys, self._clock = ttl_s, max_keys, clock
        self._sources: dict[str, OrderedDict[str, _Entry]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._sources.values())

    def begin(self, source: str, key: str, fingerprint: str, ttl_s: float | None = None
              ) -> tuple[Seen, str | None]:
        now = self._clock()
        entries = self._sources.setdefault(source, OrderedDict())
        _sweep(entries, now)
        entry = entries.get(key)
        if entry is not None and entry.expires <= now:
            del entries[key]
            entry = None
        if entry is None:
            entries[key] = _Entry(fingerprint, now + (ttl_s or self._ttl_s), None)
            while len(entries) > self._max_keys:
                entries.popitem(last=False)
            return Seen.NEW, None
        if entry.fingerprint != fingerprint:
            return Seen.MISMATCH, None
        if entry.reference is None:
            return Seen.BUSY, None
        return Seen.DONE, entry.reference

    def complete(self, source: str, key: str, reference: str) -> None:
        entry = self._sources.get(source, _NONE).get(key)
        if entry is not None:
            entry.reference = reference

    def abandon(self, source: str, key: str) -> None:
        entries = self._sources.get(source, _NONE)
        entry = entries.get(key)
        if entry is not None and entry.reference is None:
            del entries[key]


_NONE: OrderedDict[str, _Entry] = OrderedDict()  # never written: abandon deletes only found


def _sweep(entries: OrderedDict[str, _Entry], now: float) -> None:
    """Drop expired entries from the oldest end (insertion order is close to expiry order)."""
    while entries:
        oldest = next(iter(entries.values()))
        if oldest.expires > now:
            return
        entries.popitem(last=False)
