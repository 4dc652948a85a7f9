"""Entry point: `signpost intake`. Refuses to start on an invalid bundle or keys file, and
without a keys file unless SIGNPOST_INTAKE_OPEN=true."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from services.intake.addresses import Network, trusted_networks
from services.intake.api import create_app
from services.intake.auth import AddressLimits, ApiKeysError, Authenticator, load_api_keys
from services.intake.idempotency import IdempotencyStore
from services.intake.publisher import KafkaReportPublisher
from services.intake.redriver import Redriver
from services.intake.status import StatusProjection
from services.intake.status_feed import StatusFeed
from signpost.acklinks import ack_links_from
from signpost.bundle.model import Category
from signpost.runtime.heap import tune_garbage_collector
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.settings import Settings

# The API's own deadline is a backstop for a publisher that hangs; it must not fire first, or
# it cancels the publisher before the publisher can record the failure (and turn not ready).
BACKSTOP_GRACE_S = 1.0


class KeysRequired(Exception):
    """No SIGNPOST_API_KEYS_FILE and no explicit SIGNPOST_INTAKE_OPEN=true."""


class ProxiesInvalid(Exception):
    """SIGNPOST_INTAKE_TRUSTED_PROXIES holds something that is not an address or network."""


def authenticator(settings: Settings) -> Authenticator:
    """From SIGNPOST_API_KEYS_FILE. Without one, intake runs open only if told to explicitly
    (SIGNPOST_INTAKE_OPEN=true), said once at start: a forgotten setting must not open it.
    A keys file always wins, so intake_open cannot switch keys off."""
    if settings.api_keys_file is None:
        if not settings.intake_open:
            raise KeysRequired(
                "SIGNPOST_API_KEYS_FILE is not set: intake needs API keys. Name the keys file, "
                "or set SIGNPOST_INTAKE_OPEN=true to accept calls without a key "
                "(development only).")
        get_logger(__name__).warning(
            "intake_open", detail="SIGNPOST_INTAKE_OPEN is true and no SIGNPOST_API_KEYS_FILE "
                                  "is set: intake accepts calls without an API key "
                                  "(development mode)")
        return Authenticator(None)
    return Authenticator(load_api_keys(settings.api_keys_file),
                         default_rate_per_minute=settings.intake_rate_per_minute,
                         limits=AddressLimits(settings.intake_anonymous_reads_per_minute,
                                              settings.intake_failed_auth_per_minute))


def trusted_proxies(settings: Settings, keyed: bool) -> tuple[Network, ...]:
    """SIGNPOST_INTAKE_TRUSTED_PROXIES, or ProxiesInvalid. With keys but no proxies, said once
    at start: behind an ingress every client would share the ingress's per-address limits, and
    one client's failed keys would lock the others out."""
    try:
        proxies = trusted_networks(settings.intake_trusted_proxies)
    except ValueError as exc:
        raise ProxiesInvalid(f"SIGNPOST_INTAKE_TRUSTED_PROXIES: {exc}") from None
    if keyed and not proxies:
        get_logger(__name__).warning(
            "trusted_proxies_unset", detail="per-address limits count the socket peer; behind "
            "an ingress or load balancer set SIGNPOST_INTAKE_TRUSTED_PROXIES to its addresses")
    return proxies


def build_app(settings: Settings, categories: Sequence[Category],
              publish_timeout_s: float | None = None) -> FastAPI:
    """The real wiring: a Kafka publisher and the status feed, started and stopped by the
    app's lifespan. Raises ApiKeysError on a bad keys file, KeysRequired on none,
    ProxiesInvalid on a bad SIGNPOST_INTAKE_TRUSTED_PROXIES."""
    auth = authenticator(settings)  # first: refuse before building anything else
    proxies = trusted_proxies(settings, keyed=not auth.open)
    timeout_s = publish_timeout_s or settings.intake_publish_timeout_s
    publisher = KafkaReportPublisher(settings, timeout_s=timeout_s)
    projection = StatusProjection(settings.intake_status_max_reports)
    feed = StatusFeed(settings, projection)
    redriver = Redriver(settings, projection, feed)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        await feed.start()
        await redriver.start()
        try:
            yield
        finally:
            await redriver.stop()
            await feed.stop()
            await publisher.stop()

    return create_app(
        publisher, categories, projection=projection, authenticator=auth,
        idempotency=IdempotencyStore(settings.intake_idempotency_ttl_s,
                                     settings.intake_idempotency_max_keys),
        lifespan=lifespan, publish_timeout_s=timeout_s + BACKSTOP_GRACE_S,
        ack_links=ack_links_from(settings), trusted_proxies=proxies,
        retry_after_s=settings.intake_retry_after_s)


def run(settings: Settings) -> None:
    configure_logging("intake", settings.log_level)
    log = get_logger(__name__)
    from signpost.bundle import load_bundle_or_exit

    bundle = load_bundle_or_exit(settings.bundle_dir, log)
    try:
        app = build_app(settings, list(bundle.categories.values()))
    except ApiKeysError as exc:
        log.error("api_keys_invalid", problem=str(exc))
        sys.exit(2)
    except KeysRequired as exc:
        log.error("api_keys_required", problem=str(exc))
        sys.exit(2)
    except ProxiesInvalid as exc:
        log.error("trusted_proxies_invalid", problem=str(exc))
        sys.exit(2)
    tune_garbage_collector()
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any local peer as
    # the client; SIGNPOST_INTAKE_TRUSTED_PROXIES alone decides whose header is believed.
    uvicorn.run(app, host=settings.intake_host, port=settings.intake_port, log_config=None,
                access_log=False, proxy_headers=False)
