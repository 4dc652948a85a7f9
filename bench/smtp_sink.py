"""An SMTP server for the benchmark that notes when each report's message arrived, by its
X-Signpost-Reference header.

It runs in its own process (`python -m bench.smtp_sink PORT LOG`): inside the bench process
it shared one GIL with the load generator, so a message's arrival was stamped whenever the
load generator let go, which added its stalls to the latency being measured. The child
appends "<arrival time> <reference>" per message to LOG; the parent reads the new lines on
each look."""

from __future__ import annotations

import asyncio
import re
import subprocess  # nosec B404
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller

from signpost.system import wait_for_port

REFERENCE = re.compile(rb"^X-Signpost-Reference:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
NO_REFERENCE = "-"


class ArrivalLog:
    """The child's aiosmtpd handler: one line per message, written at once."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        content = envelope.original_content or b""
        found = REFERENCE.search(content if isinstance(content, bytes) else content.encode())
        reference = found.group(1).decode() if found else NO_REFERENCE
        self.out.write(f"{now:.6f} {reference}\n")
        self.out.flush()
        return "250 Message accepted for delivery"


class Sink:
    """What the parent sees: arrivals so far, read from the child's log."""

    def __init__(self, log: Path) -> None:
        self._log, self._read = log, 0
        self._arrived: dict[str, float] = {}
        self._times: list[float] = []
        self._duplicates = 0

    def _refresh(self) -> None:
        with self._log.open("rb") as handle:
            handle.seek(self._read)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._read += len(complete)
        for line in complete.decode().splitlines():
            stamp, reference = line.split(" ", 1)
            self._times.append(float(stamp))
            if reference == NO_REFERENCE:
                continue
            if reference in self._arrived:
                self._duplicates += 1
            else:
                self._arrived[reference] = float(stamp)

    @property
    def arrived(self) -> dict[str, float]:
        self._refresh()
        return self._arrived

    @property
    def times(self) -> list[float]:
        self._refresh()
        return self._times

    @property
    def duplicates(self) -> int:
        self._refresh()
        return self._duplicates

    def count(self) -> int:
        return len(self.times)


class SmtpSink:
    def __init__(self, port: int) -> None:
        self.port = port
        self._dir = tempfile.TemporaryDirectory(prefix="signpost-bench-smtp-")
        self.log = Path(self._dir.name) / "arrivals.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sink:
        self.log.touch()
        self._process = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "bench.smtp_sink", str(self.port), str(self.log)])
        wait_for_port(self.port, 15)
        return Sink(self.log)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._dir.cleanup()


def serve(port: int, log: Path) -> None:
    with log.open("a") as out:
        controller = Controller(ArrivalLog(out), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            asyncio.run(_forever())
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()


async def _forever() -> None:
    await asyncio.Event().wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
