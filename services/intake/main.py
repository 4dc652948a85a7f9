"""Entry point: `signpost intake`. Refuses to start on an invalid bundle."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from services.intake.api import create_app
from services.intake.publisher import KafkaReportPublisher
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.settings import Settings

PUBLISH_TIMEOUT_S = 5.0
# The API's own deadline is a backstop for a publisher that hangs; it must not fire first, or
# it cancels the publisher before the publisher can record the failure (and turn not ready).
BACKSTOP_GRACE_S = 1.0


def build_app(settings: Settings, categories: Mapping[str, Mapping[str, Collection[str]]],
              publish_timeout_s: float = PUBLISH_TIMEOUT_S) -> FastAPI:
    """The real wiring: the app with a Kafka publisher started and stopped by its lifespan."""
    publisher = KafkaReportPublisher(settings, timeout_s=publish_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()

    return create_app(publisher, categories, lifespan=lifespan,
                      publish_timeout_s=publish_timeout_s + BACKSTOP_GRACE_S)


def run(settings: Settings) -> None:
    configure_logging("intake", settings.log_level)
    log = get_logger(__name__)
    from signpost.bundle import BundleError, load_bundle

    try:
        bundle = load_bundle(settings.bundle_dir)
    except BundleError as exc:
        log.error("bundle_invalid", bundle=str(settings.bundle_dir), problems=exc.problems)
        sys.exit(2)
    # Answers kept as the bundle lists them, so error messages offer them in that order.
    categories = {c.id: {q.id: tuple(q.answers) for q in c.questions}
                  for c in bundle.categories.values()}
    log.info("bundle_loaded", bundle=bundle.name, version=bundle.version,
             categories=len(categories))
    uvicorn.run(build_app(settings, categories), host=settings.intake_host,
                port=settings.intake_port, log_config=None, access_log=False)
