"""Entry point: `signpost router`. Refuses to start on an invalid bundle."""

from __future__ import annotations

from services.router.app import create_app
from services.router.router import Router
from signpost.bundle import load_bundle_or_exit
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.settings import Settings
from signpost.runtime.worker import run_worker


def run(settings: Settings) -> None:
    configure_logging("router", settings.log_level)
    bundle = load_bundle_or_exit(settings.bundle_dir, get_logger(__name__))
    run_worker(create_app(settings, Router(bundle)), "router", settings)
