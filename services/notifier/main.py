"""Entry point: `signpost notifier`."""

from __future__ import annotations

import sys

import httpx

from services.notifier.app import create_app
from services.notifier.channels import Channels, missing_secrets
from services.notifier.channels.govuk_notify import NotifyApiChannel
from services.notifier.channels.open311 import Open311Channel
from services.notifier.channels.smtp import SmtpChannel
from services.notifier.channels.webhook import WebhookChannel
from services.notifier.delivery import RetryPolicy
from services.notifier.directory import StaticDirectory
from services.notifier.modern_gov import ModernGovDirectory
from services.notifier.notify import Notifier
from signpost.acklinks import ack_links_from
from signpost.bundle import Bundle, load_bundle_or_exit
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.settings import Settings
from signpost.runtime.worker import run_worker


def build_channels(settings: Settings, client: httpx.AsyncClient) -> Channels:
    return Channels(
        SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s,
                    sender=settings.mail_from, connections=settings.smtp_connections),
        NotifyApiChannel(client),
        WebhookChannel(client),
        Open311Channel(client),
    )


def build_notifier(settings: Settings, bundle: Bundle) -> Notifier:
    # One pooled client for every HTTP call; redirects are not followed (see channels.http).
    client = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout_s))
    directory = ModernGovDirectory(
        StaticDirectory(bundle), client, timeout_s=settings.modern_gov_timeout_s,
        ttl_s=settings.modern_gov_ttl_s, failure_ttl_s=settings.modern_gov_failure_ttl_s)
    return Notifier(bundle, build_channels(settings, client), RetryPolicy(),
                    map_link=settings.map_link, directory=directory,
                    ack_links=ack_links_from(settings))


def run(settings: Settings) -> None:
    configure_logging("notifier", settings.log_level)
    log = get_logger(__name__)
    bundle = load_bundle_or_exit(settings.bundle_dir, log)
    if missing := missing_secrets(bundle):
        # Names only, never values. Failing at start beats dead-lettering every report.
        log.error("channel_secrets_missing", env_vars=missing)
        sys.exit(2)
    run_worker(create_app(settings, build_notifier(settings, bundle)), "notifier", settings)
