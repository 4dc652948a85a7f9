"""Notifying one routed report: look up the clerk, render, send with retries, say what happened.

No Kafka here: takes a routed event and returns the outcome event; the app publishes it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

from schemas import NotificationFailed, NotificationSent, ReportRouted
from services.notifier.delivery import DeliveryFailed, RetryPolicy
from services.notifier.directory import StaticDirectory, UnknownOwner
from services.notifier.message import render_email
from signpost.bundle import Bundle
from signpost.runtime import metrics
from signpost.runtime.logging import get_logger

log = get_logger(__name__)
Outcome = NotificationSent | NotificationFailed


class EmailChannel(Protocol):
    name: str

    async def send(self, message: EmailMessage) -> None: ...


class Notifier:
    def __init__(self, bundle: Bundle, channel: EmailChannel, policy: RetryPolicy, *,
                 sender: str, map_link: str) -> None:
        self.bundle, self.channel, self.policy = bundle, channel, policy
        self.directory = StaticDirectory(bundle)
        self.sender, self.map_link = sender, map_link

    def delivery_key(self, routed: ReportRouted) -> str:
        """One notification per (report, owner, channel), however often the event arrives."""
        return f"{routed.report.reference}/{routed.owner.id}/{self.channel.name}"

    async def notify(self, routed: ReportRouted) -> Outcome:
        try:
            organisation = self.directory.organisation(routed.owner.id)
            category = self.bundle.categories.get(routed.report.category)
            message = render_email(routed, organisation, category, sender=self.sender,
                                   map_link=self.map_link)
            await self._send_with_retries(message)
        except UnknownOwner as exc:
            return self._failed(routed, str(exc), permanent=True)
        except DeliveryFailed as exc:
            return self._failed(routed, exc.reason, permanent=exc.permanent)
        return self._sent(routed)

    async def _send_with_retries(self, message: EmailMessage) -> None:
        for attempt in range(self.policy.attempts):
            try:
                await self.channel.send(message)
                return
            except DeliveryFailed as exc:
                if exc.permanent or attempt + 1 == self.policy.attempts:
                    if not exc.permanent:
                        exc.reason = f"gave up after {self.policy.attempts} attempts: {exc.reason}"
                    raise
                delay = self.policy.delay(attempt, exc.retry_after_s)
                metrics.notification_retries.labels(self.channel.name).inc()
                log.warning("delivery_retry", channel=self.channel.name, attempt=attempt + 1,
                            reason=exc.reason, retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)

    def _sent(self, routed: ReportRouted) -> NotificationSent:
        channel = self.channel.name
        metrics.notifications_sent.labels(channel, routed.owner.tier.value).inc()
        latency = (datetime.now(UTC) - routed.report.submitted_at).total_seconds()
        metrics.end_to_end_seconds.labels(channel).observe(max(latency, 0.0))
        log.info("notification_sent", owner=routed.owner.id, channel=channel)
        return NotificationSent(report_reference=routed.report.reference, owner_id=routed.owner.id,
                                channel=channel, submitted_at=routed.report.submitted_at)

    def _failed(self, routed: ReportRouted, reason: str, *, permanent: bool) -> NotificationFailed:
        channel = self.channel.name
        metrics.notifications_failed.labels(channel, str(permanent).lower()).inc()
        log.error("notification_failed", owner=routed.owner.id, channel=channel, reason=reason,
                  permanent=permanent)
        return NotificationFailed(report_reference=routed.report.reference,
                                  owner_id=routed.owner.id, channel=channel, reason=reason,
                                  permanent=permanent)
