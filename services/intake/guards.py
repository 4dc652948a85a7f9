"""ASGI wrappers around the whole app: a body-size limit that holds even when the client
sends no Content-Length, and a last-resort 500 that reveals no internals."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.stdlib import BoundLogger

from services.intake.problems import problem


class LimitBody:
    """Reads the body up to max_bytes (Content-Length first, then what actually arrives),
    answers 413 past it, and otherwise replays the body to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int, on_refused: Callable[[Scope], None]) -> None:
        self.app, self.max_bytes, self.on_refused = app, max_bytes, on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # client went away; the app will see the disconnect
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.on_refused(scope)
        response = problem(413, f"The request body must be at most {self.max_bytes} bytes.",
                           kind="too-large", title="Request too large")  # no path: it is
        # the caller's to choose, and this runs before any route is matched
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class CatchAll:
    """Any exception the app did not handle becomes a plain 500 problem. The log gets the
    exception type and where it was raised, never its message (it may hold a resident's data)."""

    def __init__(self, app: ASGIApp, log: BoundLogger) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)[-5:]
            route = getattr(scope.get("route"), "path", None)  # the template, not what was typed
            self.log.error("unhandled_error", error=type(exc).__name__, route=route,
                           at=[f"{f.filename}:{f.lineno} in {f.name}" for f in frames])
            if not started:
                response = problem(500, "Something went wrong on our side. Please try again.",
                                   instance=route if isinstance(route, str) else None)
                await response(scope, receive, send)
