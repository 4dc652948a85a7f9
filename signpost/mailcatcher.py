"""A local SMTP server standing in for the council's mail relay (aiosmtpd).

Keeps every message it receives and, with an outbox, writes each to DIR/<reference>.eml
(a second message for the same reference gets a suffix: <reference>-2.eml).
"""

from __future__ import annotations

import asyncio
import re
import signal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

REFERENCE_HEADER = "X-Signpost-Reference"
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class Outbox:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    def keep(self, raw: bytes) -> EmailMessage:
        message = message_from_bytes(raw, policy=policy.default)
        self.messages.append(message)
        if self.directory:
            reference = str(message.get(REFERENCE_HEADER) or "no-reference")
            _free_path(self.directory, reference).write_bytes(raw)
        return message


def _free_path(directory: Path, reference: str) -> Path:
    """DIR/<reference>.eml, or the first free DIR/<reference>-N.eml."""
    stem = _SAFE.sub("_", reference)
    path, n = directory / f"{stem}.eml", 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.eml"
    return path


class _Handler:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.outbox.keep(content if isinstance(content, bytes) else content.encode())
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, outbox: Outbox) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    handler = _Handler(outbox)
    return await loop.create_server(lambda: SMTP(handler, hostname="signpost-mailcatcher"),
                                    host=host, port=port)


def run_mailcatcher(port: int, outbox_dir: Path | None, host: str = "127.0.0.1") -> None:
    async def main() -> None:
        server = await serve(host, port, Outbox(outbox_dir))
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print(f"mailcatcher listening on {host}:{port}", flush=True)
        await stop.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(main())

