"""The event loop every Signpost process runs on: libuv's (uvloop) where it is installed, as
uvicorn already chooses for intake. The same asyncio, with less of each callback's and each
socket's time spent in the loop itself (the router routed ~20 % more reports a second)."""

from __future__ import annotations

import asyncio


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # e.g. on Windows, where it is not installed
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def use_fast_event_loop() -> None:
    """Make `asyncio.run` in this process use the same loop as the services (the bench's
    baselines and load generators: measured on the loop they are compared with)."""
    asyncio.set_event_loop_policy(_Policy())


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return new_event_loop()
