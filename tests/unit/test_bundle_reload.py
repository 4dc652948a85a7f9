"""BundleWatcher: a changed valid bundle swaps in a new Router; an invalid one is refused and
the old one stays; an unchanged one does nothing. No broker."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from services.router.reload import BundleWatcher
from services.router.router import Router
from services.router.rules import Facts
from signpost.bundle import load_bundle
from signpost.runtime.settings import DEMO_BUNDLE

VALE = (-1.05, 51.25)  # inside Vale county and Juniper Hill parish


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))


def pothole_owner(router: Router) -> str | None:
    decision = router.decide(Facts("pothole", {}, None), *VALE)
    return decision.owner.id if decision.owner else None


def set_pothole_owner(bundle_dir: Path, layer: str) -> None:
    rules = bundle_dir / "rules.yaml"
    text = rules.read_text()
    old = "- id: pothole-county\n  category: pothole\n  owner: {layer: county}"
    assert old in text
    rules.write_text(text.replace(old, f"- id: pothole-{layer}\n  category: pothole\n"
                                       f"  owner: {{layer: {layer}}}"))


def watcher_for(bundle_dir: Path) -> tuple[BundleWatcher, list[Router]]:
    swapped: list[Router] = []
    return BundleWatcher(bundle_dir, Router(load_bundle(bundle_dir)), swapped.append), swapped


def test_unchanged_bundle_is_not_reloaded(bundle_dir: Path) -> None:
    watcher, swapped = watcher_for(bundle_dir)
    assert watcher.check() is None
    assert asyncio.run(watcher.reload()) is False and swapped == []


def test_changed_valid_bundle_is_swapped_in(bundle_dir: Path) -> None:
    watcher, swapped = watcher_for(bundle_dir)
    old = watcher.router
    assert pothole_owner(old) == "vale-county"
    set_pothole_owner(bundle_dir, "district")
    assert asyncio.run(watcher.reload()) is True
    assert swapped == [watcher.router] and watcher.router is not old
    assert watcher.router.bundle.version != old.bundle.version
    assert pothole_owner(watcher.router) != "vale-county"
    assert pothole_owner(old) == "vale-county"  # the old Router is untouched
    assert asyncio.run(watcher.reload()) is False  # nothing new since


def test_invalid_bundle_is_rejected_and_the_old_one_stays(
        bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watcher, swapped = watcher_for(bundle_dir)
    old = watcher.router
    set_pothole_owner(bundle_dir, "nowhere")
    assert asyncio.run(watcher.reload()) is False
    assert swapped == [] and watcher.router is old
    assert "bundle_reload_rejected" in capsys.readouterr().out
    assert asyncio.run(watcher.reload()) is False  # reported once, not at every poll
    fixed = (bundle_dir / "rules.yaml").read_text().replace(
        "pothole-nowhere", "pothole-district").replace("{layer: nowhere}", "{layer: district}")
    (bundle_dir / "rules.yaml").write_text(fixed)
    assert asyncio.run(watcher.reload()) is True and swapped == [watcher.router]


def test_forced_reload_of_the_same_bundle_swaps_nothing(bundle_dir: Path) -> None:
    watcher, swapped = watcher_for(bundle_dir)
    assert asyncio.run(watcher.reload(force=True)) is False and swapped == []


def test_loader_failure_is_logged_and_retried(bundle_dir: Path) -> None:
    calls: list[Path] = []

    def flaky(directory: Path) -> object:
        calls.append(directory)
        raise OSError("mid-copy")

    watcher = BundleWatcher(bundle_dir, Router(load_bundle(bundle_dir)), lambda r: None,
                            load=flaky,  # type: ignore[arg-type]
                            digest=lambda d: f"changed-{len(calls)}")
    assert asyncio.run(watcher.reload()) is False and calls == [bundle_dir]


def test_poll_loop_uses_the_injected_clock(bundle_dir: Path) -> None:
    watcher, swapped = watcher_for(bundle_dir)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            set_pothole_owner(bundle_dir, "district")
        if len(sleeps) == 3:
            raise asyncio.CancelledError

    watcher.sleep = sleep
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(watcher.run(7.5))
    assert sleeps == [7.5, 7.5, 7.5] and len(swapped) == 1
