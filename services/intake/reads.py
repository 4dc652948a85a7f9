"""What a caller may read of a report, by the scopes of its key:

- `staff` (or intake running open, in development): every report, in full;
- `read`: in full, the reports its own source sent;
- anyone else, including a call without a key: the public view of a report (no description,
  no personal data, the location rounded to 3 decimal places of a degree: a cell of about
  110 m by 70 m in England), and nothing at all of a category the bundle marks sensitive.

The JSON API shows only full views; Open311 (whose reads the spec leaves open) shows both."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from services.intake.auth import Caller

View = Literal["full", "public"]
PUBLIC_DECIMALS = 3  # 0.001 degree: ~111 m north-south, ~70 m east-west at 51 degrees north
T = TypeVar("T")


@dataclass(frozen=True)
class Reader:
    everything: bool = False
    source: str | None = None  # a `read` key: its own source's reports in full

    def view(self, source: str | None, category: str | None,
             sensitive: Collection[str]) -> View | None:
        if self.everything or (self.source is not None and source == self.source):
            return "full"
        if category is not None and category not in sensitive:
            return "public"
        return None


PUBLIC = Reader()


def reader_of(caller: Caller | None) -> Reader:
    if caller is None:
        return PUBLIC
    if caller.may("staff"):
        return Reader(everything=True)
    if caller.may("read"):
        return Reader(source=caller.source)
    return PUBLIC  # a submit-only key reads what anyone may


def public_degrees(value: float) -> float:
    return round(value, PUBLIC_DECIMALS)


class ShortCache(Generic[T]):
    """Answers kept for `ttl_s` by key, at most `max_entries` (the oldest goes first), so many
    identical listings a second cost one build."""

    def __init__(self, ttl_s: float = 2.0, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s, self._max, self._clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        now = self._clock()
        kept = self._entries.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        value = build()
        self._entries[key] = (now + self._ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value
