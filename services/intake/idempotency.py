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
    def __init__(self, ttl_s: float = 86_400, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s, self._max_keys, self._clock = ttl_s, max_keys, clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self, key: str, fingerprint: str, ttl_s: float | None = None
              ) -> tuple[Seen, str | None]:
        now = self._clock()
        self._sweep(now)
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= now:
            del self._entries[key]
            entry = None
        if entry is None:
            self._entries[key] = _Entry(fingerprint, now + (ttl_s or self._ttl_s), None)
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)
            return Seen.NEW, None
        if entry.fingerprint != fingerprint:
            return Seen.MISMATCH, None
        if entry.reference is None:
            return Seen.BUSY, None
        return Seen.DONE, entry.reference

    def complete(self, key: str, reference: str) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.reference = reference

    def abandon(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry.reference is None:
            del self._entries[key]

    def _sweep(self, now: float) -> None:
        """Drop expired entries from the oldest end (insertion order is close to expiry order)."""
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.expires > now:
                return
            self._entries.popitem(last=False)
