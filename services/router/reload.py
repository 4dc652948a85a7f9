"""Bundle reload without a restart: poll the bundle directory's digest, and reload on SIGHUP.

A changed bundle is loaded and indexed off the event loop; only a valid one is swapped in, by
replacing one reference between batches (the batch consumer's `process` is synchronous, so no
batch sees half a bundle). An invalid one is logged with its problems and the old one stays.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from services.router.router import Router
from signpost.bundle import Bundle, BundleError, bundle_digest, load_bundle
from signpost.runtime.logging import get_logger

log = get_logger(__name__)


def digest_of(bundle: Bundle) -> str:
    return bundle.version.rsplit("+", 1)[-1]


class BundleWatcher:
    """Holds the current Router; `check` (blocking) prepares a new one if the bundle changed,
    `reload` (async) runs it in a thread and hands a valid result to `on_swap`."""

    def __init__(self, directory: Path, router: Router, on_swap: Callable[[Router], None], *,
                 load: Callable[[Path], Bundle] = load_bundle,
                 digest: Callable[[Path], str] = bundle_digest,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.directory, self.router, self.on_swap = directory, router, on_swap
        self.load, self.digest, self.sleep = load, digest, sleep
        self.seen = digest_of(router.bundle)  # the last digest tried, valid or not
        self._lock = asyncio.Lock()

    def check(self, force: bool = False) -> Router | None:
        """A new Router if the bundle changed (or `force`) and is valid, else None."""
        current = self.digest(self.directory)
        if current == self.seen and not force:
            return None
        self.seen = current  # an invalid bundle is reported once, not at every poll
        try:
            bundle = self.load(self.directory)
        except BundleError as exc:
            log.error("bundle_reload_rejected", bundle=str(self.directory),
                      problems=exc.problems, version=self.router.bundle.version)
            return None
        self.seen = digest_of(bundle)
        if bundle.version == self.router.bundle.version:
            log.info("bundle_unchanged", version=bundle.version)
            return None
        return Router(bundle)

    def swap(self, router: Router) -> None:
        old, self.router = self.router, router
        self.on_swap(router)
        log.info("bundle_reloaded", old_version=old.bundle.version,
                 new_version=router.bundle.version, rules=len(router.bundle.rules))

    async def reload(self, force: bool = False) -> bool:
        async with self._lock:
            try:
                router = await asyncio.to_thread(self.check, force)
            except Exception:  # e.g. the directory is mid-copy: try again at the next poll
                log.exception("bundle_reload_failed", bundle=str(self.directory))
                return False
            if router is None:
                return False
            self.swap(router)
            return True

    async def run(self, interval_s: float) -> None:
        """Reload on SIGHUP, and poll every `interval_s` seconds (0: only on SIGHUP)."""
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[bool]] = set()

        def on_hup() -> None:
            task = loop.create_task(self.reload(force=True))
            pending.add(task)
            task.add_done_callback(pending.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
        log.info("bundle_watch_started", bundle=str(self.directory), interval_s=interval_s)
        if interval_s <= 0:
            return
        while True:
            await self.sleep(interval_s)
            await self.reload()
