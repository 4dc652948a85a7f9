"""Notifying one routed report: look up the clerk, pick the organisation's channel, send with
retries, say what happened.

No Kafka here: takes a routed event and returns the outcome event; the app publishes it.
The adapters (channels, directory) are passed in, so tests use fakes or local servers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from schemas import NotificationFailed, NotificationSent, ReportRouted
from services.notifier.channels import Channel, Channels
from services.notifier.delivery import Delivery, DeliveryFailed, RetryPolicy
from services.notifier.directory import Directory, StaticDirectory, UnknownOwner
from signpost.acklinks import AckLinks
from signpost.bundle import Bundle
from signpost.runtime import metrics
from signpost.runtime.logging import get_logger

log = get_logger(__name__)
Outcome = NotificationSent | NotificationFailed
ACKNOWLEDGEABLE_CHANNELS = frozenset({"email", "notify", "webhook"})  # they carry the ack link


class Notifier:
    def __init__(self, bundle: Bundle, channels: Channels, policy: RetryPolicy, *,
                 map_link: str, directory: Directory | None = None,
                 ack_links: AckLinks | None = None) -> None:
        self.bundle, self.channels, self.policy = bundle, channels, policy
        self.directory = directory or StaticDirectory(bundle)
        self.map_link, self.ack_links = map_link, ack_links

    def channel_name(self, routed: ReportRouted) -> str:
        organisation = self.bundle.organisations.get(routed.owner.id)
        return organisation.channel.type if organisation else "none"

    def delivery_key(self, routed: ReportRouted) -> str:
        """One notification per (report, owner, channel), however often the event arrives;
        and one SLA reminder besides."""
        key = f"{routed.report.reference}/{routed.owner.id}/{self.channel_name(routed)}"
        return f"{key}/reminder" if routed.reminder else key

    def can_be_acknowledged(self, routed: ReportRouted) -> bool:
        """Whether the owner can acknowledge what was sent: only then does an SLA clock run.
        Without signed links nobody can, and Open311 requests carry no link (the receiving
        system runs its own SLA)."""
        return self.ack_links is not None and \
            self.channel_name(routed) in ACKNOWLEDGEABLE_CHANNELS

    async def notify(self, routed: ReportRouted) -> Outcome:
        channel_name = self.channel_name(routed)
        try:
            delivery = await self._delivery(routed)
            channel = self.channels.for_organisation(delivery.organisation)
            external_id = await self._send_with_retries(channel, delivery)
        except UnknownOwner as exc:
            return self._failed(routed, channel_name, str(exc), permanent=True)
        except DeliveryFailed as exc:
            return self._failed(routed, channel_name, exc.reason, permanent=exc.permanent,
                                retry_after_s=exc.retry_after_s)
        return self._sent(routed, channel_name, external_id)

    async def _delivery(self, routed: ReportRouted) -> Delivery:
        organisation = self.directory.organisation(routed.owner.id)
        clerk = await self.directory.clerk_for(organisation)
        if clerk != organisation.clerk:
            organisation = organisation.model_copy(update={"clerk": clerk})
        location = routed.report.location
        return Delivery(
            routed=routed, organisation=organisation,
            category=self.bundle.categories.get(routed.report.category),
            map_url=self.map_link.format(lat=f"{location.lat:.6f}", lon=f"{location.lon:.6f}"),
            ack_url=(self.ack_links.link(routed.report.reference, organisation.id)
                     if self.ack_links else None),
            email_templates=self.bundle.templates.get(routed.report.category),
        )

    async def _send_with_retries(self, channel: Channel, delivery: Delivery) -> str | None:
        for attempt in range(self.policy.attempts):
            try:
                return await channel.send(delivery)
            except DeliveryFailed as exc:
                self._give_up_unless_retryable(exc, attempt)
                delay = self.policy.delay(attempt, exc.retry_after_s)
                metrics.notification_retries.labels(channel.name).inc()
                log.warning("delivery_retry", channel=channel.name, attempt=attempt + 1,
                            reason=exc.reason, retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt re-raises")

    def _give_up_unless_retryable(self, exc: DeliveryFailed, attempt: int) -> None:
        if exc.permanent:
            raise exc
        if attempt + 1 == self.policy.attempts:
            exc.reason = f"gave up after {self.policy.attempts} attempts: {exc.reason}"
            raise exc
        if exc.retry_after_s is not None and exc.retry_after_s > self.policy.max_wait_s:
            # Sleeping that long would stall the batch: the app defers it to the retry topic.
            exc.reason = f"asked to wait {exc.retry_after_s:.0f} s: {exc.reason}"
            raise exc

    def _sent(self, routed: ReportRouted, channel: str,
              external_id: str | None) -> NotificationSent:
        metrics.notifications_sent.labels(channel, routed.owner.tier.value).inc()
        if routed.reminder or routed.escalated_from:  # an SLA later: not a latency
            log.info("notification_sent", owner=routed.owner.id, channel=channel,
                     reminder=routed.reminder,
                     escalated_from=routed.escalated_from.id if routed.escalated_from else None)
        else:
            latency = (datetime.now(UTC) - routed.report.submitted_at).total_seconds()
            metrics.end_to_end_seconds.labels(channel).observe(max(latency, 0.0))
            log.info("notification_sent", owner=routed.owner.id, channel=channel)
        return NotificationSent(report_reference=routed.report.reference, owner_id=routed.owner.id,
                                channel=channel, submitted_at=routed.report.submitted_at,
                                external_id=external_id)

    def _failed(self, routed: ReportRouted, channel: str, reason: str, *,
                permanent: bool, retry_after_s: float | None = None) -> NotificationFailed:
        metrics.notifications_failed.labels(channel, str(permanent).lower()).inc()
        log.error("notification_failed", owner=routed.owner.id, channel=channel, reason=reason,
                  permanent=permanent)
        return NotificationFailed(report_reference=routed.report.reference,
                                  owner_id=routed.owner.id, channel=channel, reason=reason,
                                  permanent=permanent, retry_after_s=retry_after_s)
