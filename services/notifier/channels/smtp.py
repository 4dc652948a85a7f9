"""SMTP email through the council's mail relay (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from services.notifier.delivery import Delivery, DeliveryFailed
from services.notifier.message import render_email


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int, timeout_s: float, *, sender: str) -> None:
        self.host, self.port, self.timeout_s, self.sender = host, port, timeout_s, sender

    async def send(self, delivery: Delivery) -> str | None:
        message = render_email(delivery, sender=self.sender)
        await self.send_message(message)
        return None

    async def send_message(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(message, hostname=self.host, port=self.port,
                                  timeout=self.timeout_s, start_tls=False)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryFailed(f"recipient refused ({codes})",
                                 permanent=all(c >= 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"SMTP {exc.code}", permanent=exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"mail relay unreachable ({type(exc).__name__})",
                                 permanent=False) from None
