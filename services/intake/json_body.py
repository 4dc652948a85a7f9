"""A JSON body read with every object's keys checked: `{"lat": 1, "lat": 2}` is refused
rather than silently keeping the last (a proxy or a log reader may have taken the first)."""

from __future__ import annotations

import json
from typing import Any


class _Repeated(dict[str, Any]):
    """An object in which `key` appeared more than once."""

    key: str


def repeated_key(body: bytes) -> list[str | int] | None:
    """Where the first repeated key is (its object's path, then the key), or None. A body
    that is not JSON is None here: the JSON parser that reads the body reports that."""
    marked: list[_Repeated] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(items)
        if len(found) == len(items):
            return found
        repeated = _Repeated(found)
        repeated.key = _first_repeated(items)
        marked.append(repeated)
        return repeated

    try:
        value = json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    if not marked:
        return None  # the common case: no walk
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:  # no recursion: nesting is as deep as the body limit allows
        path, item = stack.pop()
        if isinstance(item, _Repeated):
            return [*path, item.key]
        if isinstance(item, dict):
            stack.extend(([*path, k], v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(([*path, n], v) for n, v in enumerate(item))
    return None


def _first_repeated(items: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in items:
        if key in seen:
            return key
        seen.add(key)
    return ""  # unreachable: called only when a key repeats
