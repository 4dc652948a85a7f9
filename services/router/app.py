"""Router service wiring: consume submitted reports, decide, publish routed or unroutable."""

from __future__ import annotations

import time
from typing import Any

import faust
import structlog

from schemas import ReportRouted, ReportSubmitted
from services.router.router import Router
from signpost.runtime import metrics
from signpost.runtime.kafka import PoisonRecord, decode
from signpost.runtime.logging import get_logger
from signpost.runtime.pipeline import Output, dead_letter, deliver
from signpost.runtime.settings import Settings
from signpost.runtime.worker import make_app, progressed, raw_topic

SERVICE = "router"
log = get_logger(__name__)


def create_app(settings: Settings, router: Router) -> faust.App:
    app = make_app(SERVICE, settings, settings.router_port)
    submitted = raw_topic(app, settings.topics.submitted)
    routed = raw_topic(app, settings.topics.routed)
    triage = raw_topic(app, settings.topics.triage)
    dead = raw_topic(app, settings.topics.dead_letter)

    def handle(message: Any) -> Output:
        try:
            event = decode(message.value, ReportSubmitted)
        except PoisonRecord as exc:
            return dead_letter(dead, SERVICE, message, str(exc))
        with structlog.contextvars.bound_contextvars(reference=event.reference):
            started = time.perf_counter()
            outcome = router.route(event.report)
            metrics.routing_seconds.observe(time.perf_counter() - started)
            if isinstance(outcome, ReportRouted):
                metrics.routing_decisions.labels(
                    outcome.report.category, outcome.owner.tier.value, outcome.rule_id).inc()
                log.info("report_routed", owner=outcome.owner.id, tier=outcome.owner.tier.value,
                         rule=outcome.rule_id)
                return Output(routed, message.key, outcome)
            metrics.reports_unroutable.labels(outcome.reason_code).inc()
            log.info("report_unroutable", reason_code=outcome.reason_code)
            return Output(triage, message.key, outcome)

    @app.agent(submitted)
    async def route(stream: faust.StreamT[Any]) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]  # missing from StreamT
            settings.batch_size, within=settings.batch_window_s)
        async for batch in batches:
            await deliver([handle(e.message) for e in batch], f"signpost/{SERVICE}")
            progressed(SERVICE)

    return app
