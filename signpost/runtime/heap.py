"""The Python heap of a long-running service."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Put everything made at start-up (modules, schemas, the bundle, the app) beyond the
    garbage collector's reach. It lives as long as the process, yet every full collection
    walked it again: ~95,000 objects, ~19 ms of stalled requests in intake each time.
    Call once, when the service is built and before it takes traffic."""
    gc.collect()  # what is garbage now must not be kept for ever
    gc.freeze()
