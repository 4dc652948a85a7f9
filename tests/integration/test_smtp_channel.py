"""The SMTP channel against a real local SMTP server (aiosmtpd): accepted, refused, unreachable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifier.channels.smtp import SmtpChannel
from services.notifier.delivery import DeliveryFailed
from services.notifier.message import Email
from signpost.mailcatcher import Outbox, serve
from signpost.system import free_port

pytestmark = pytest.mark.integration


def message(to: str) -> Email:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "s@example.org", to, "test"
    msg.set_content("body")
    return Email("s@example.org", to, msg.as_bytes())


def smtp(port: int, timeout_s: float) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", port, timeout_s, sender="s@example.org")


class Refusing:
    """Answers RCPT TO with a fixed SMTP status."""

    def __init__(self, status: str) -> None:
        self.status = status

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        return self.status


@pytest.fixture
async def outbox() -> AsyncIterator[tuple[Outbox, int]]:
    box, port = Outbox(None), free_port()
    server = await serve("127.0.0.1", port, box)
    yield box, port
    server.close()


async def test_accepted_message_arrives(outbox: tuple[Outbox, int]) -> None:
    box, port = outbox
    await smtp(port, 5).send_message(message("clerk@example.org"))
    assert [m["To"] for m in box.messages] == ["clerk@example.org"]


@pytest.mark.parametrize(("status", "permanent"),
                         [("550 5.1.1 no such user", True), ("451 4.3.0 try later", False)])
async def test_refused_recipient_is_classified(status: str, permanent: bool) -> None:
    import asyncio

    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(Refusing(status)), host="127.0.0.1", port=port)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await smtp(port, 5).send_message(message("clerk@example.org"))
        assert failed.value.permanent is permanent
    finally:
        server.close()


async def test_unreachable_relay_is_transient() -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await smtp(free_port(), 2).send_message(message("clerk@example.org"))
    assert failed.value.permanent is False
