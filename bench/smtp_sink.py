"""An SMTP server inside the benchmark (aiosmtpd, its own thread) that notes when each
report's message arrived, by its X-Signpost-Reference header."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller

REFERENCE = re.compile(rb"^X-Signpost-Reference:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


class Sink:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.times: list[float] = []
        self.duplicates = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        content = envelope.original_content or b""
        found = REFERENCE.search(content if isinstance(content, bytes) else content.encode())
        with self._lock:
            self.times.append(now)
            if found:
                reference = found.group(1).decode()
                if reference in self.arrived:
                    self.duplicates += 1
                else:
                    self.arrived[reference] = now
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self._lock:
            return len(self.times)


class SmtpSink:
    def __init__(self, port: int) -> None:
        self.sink = Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=port)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self.sink

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
