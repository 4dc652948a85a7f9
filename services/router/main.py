"""Entry point: `signpost router`. Refuses to start on an invalid bundle."""

from __future__ import annotations

import sys

from services.router.app import create_app
from services.router.router import Router
from signpost.bundle import BundleError, load_bundle
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.settings import Settings
from signpost.runtime.worker import run_worker


def run(settings: Settings) -> None:
    configure_logging("router", settings.log_level)
    log = get_logger(__name__)
    try:
        bundle = load_bundle(settings.bundle_dir)
    except BundleError as exc:
        log.error("bundle_invalid", bundle=str(settings.bundle_dir), problems=exc.problems)
        sys.exit(2)
    log.info("bundle_loaded", bundle=bundle.name, version=bundle.version)
    run_worker(create_app(settings, Router(bundle)), "router", settings)
