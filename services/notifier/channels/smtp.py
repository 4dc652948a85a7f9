"""SMTP email through the council's mail relay (aiosmtplib), over a few kept-open connections:
a new connection per message (connect, EHLO, QUIT) cost more than the message itself, and
several connections let a batch's messages overlap their round trips."""

from __future__ import annotations

import asyncio
import contextlib

import aiosmtplib

from services.notifier.delivery import Delivery, DeliveryFailed
from services.notifier.message import Email, render_email


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int, timeout_s: float, *, sender: str,
                 connections: int = 4) -> None:
        self.host, self.port, self.timeout_s, self.sender = host, port, timeout_s, sender
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, delivery: Delivery) -> str | None:
        await self.send_message(render_email(delivery, sender=self.sender))
        return None

    async def send_message(self, message: Email) -> None:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            # On failure the connection is dropped (not returned): its session is in doubt.
            self._idle.append(await self._classified(client, message))

    async def _transact(self, client: aiosmtplib.SMTP | None, message: Email) -> aiosmtplib.SMTP:
        try:
            if client is not None and client.is_connected:
                try:
                    await self._sendmail(client, message)
                    return client
                except aiosmtplib.SMTPServerDisconnected:
                    pass  # the relay closed an idle connection before MAIL FROM: resend below
            client = None
            client = await self._connect()
            await self._sendmail(client, message)
            return client
        except BaseException:
            if client is not None:
                client.close()
            raise

    async def _classified(self, client: aiosmtplib.SMTP | None,
                          message: Email) -> aiosmtplib.SMTP:
        try:
            return await self._transact(client, message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryFailed(f"recipient refused ({codes})",
                                 permanent=all(c >= 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"SMTP {exc.code}", permanent=exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"mail relay unreachable ({type(exc).__name__})",
                                 permanent=False) from None

    @staticmethod
    async def _sendmail(client: aiosmtplib.SMTP, message: Email) -> None:
        await client.sendmail(message.sender, [message.recipient], message.raw)

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout_s,
                                 start_tls=False)
        await client.connect()
        return client

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
