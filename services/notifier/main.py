"""Entry point: `signpost notifier`."""

from __future__ import annotations

import sys

from services.notifier.app import create_app
from services.notifier.delivery import RetryPolicy
from services.notifier.email_channel import SmtpChannel
from services.notifier.notify import Notifier
from signpost.bundle import BundleError, load_bundle
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.settings import Settings
from signpost.runtime.worker import run_worker


def run(settings: Settings) -> None:
    configure_logging("notifier", settings.log_level)
    log = get_logger(__name__)
    try:
        bundle = load_bundle(settings.bundle_dir)
    except BundleError as exc:
        log.error("bundle_invalid", bundle=str(settings.bundle_dir), problems=exc.problems)
        sys.exit(2)
    channel = SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s)
    notifier = Notifier(bundle, channel, RetryPolicy(), sender=settings.mail_from,
                        map_link=settings.map_link)
    run_worker(create_app(settings, notifier), "notifier", settings)
