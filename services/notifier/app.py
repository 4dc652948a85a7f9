"""Notifier service wiring: consume routed reports, notify each owner once, publish outcomes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from schemas import NotificationFailed, ReportRouted
from services.notifier.notify import Notifier
from signpost.runtime import metrics
from signpost.runtime.kafka import PoisonRecord, decode
from signpost.runtime.logging import get_logger
from signpost.runtime.pipeline import Output, dead_letter, deliver
from signpost.runtime.settings import Settings
from signpost.runtime.worker import make_app, progressed, raw_topic

SERVICE = "notifier"
log = get_logger(__name__)


def create_app(settings: Settings, notifier: Notifier) -> faust.App:
    app = make_app(SERVICE, settings, settings.notifier_port)
    routed_topic = raw_topic(app, settings.topics.routed)
    outcomes = raw_topic(app, settings.topics.notifications)
    dead = raw_topic(app, settings.topics.dead_letter)
    # The idempotency record, kept in a compacted changelog so it survives restarts.
    deliveries = app.Table("deliveries", default=None, partitions=settings.partitions,
                           key_type=bytes, value_type=bytes)

    async def handle(message: Any) -> list[Output]:
        try:
            routed = decode(message.value, ReportRouted)
        except PoisonRecord as exc:
            return [dead_letter(dead, SERVICE, message, str(exc))]
        with structlog.contextvars.bound_contextvars(reference=routed.reference):
            key = notifier.delivery_key(routed).encode()
            if deliveries.get(key) is not None:
                metrics.notifications_duplicate_skipped.labels(notifier.channel_name(routed)).inc()
                log.info("notification_already_sent", owner=routed.owner.id)
                return []
            outcome = await notifier.notify(routed)
            outputs = [Output(outcomes, message.key, outcome)]
            if isinstance(outcome, NotificationFailed):
                outputs.append(dead_letter(dead, SERVICE, message, outcome.reason))
            else:
                deliveries[key] = datetime.now(UTC).isoformat().encode()
            return outputs

    @app.agent(routed_topic)
    async def notify(stream: faust.StreamT[Any]) -> None:
        # One at a time: the idempotency table is written in each record's own partition.
        async for event in stream.events():
            await deliver(await handle(event.message), f"signpost/{SERVICE}")
            progressed(SERVICE)

    return app
