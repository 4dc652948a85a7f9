"""Replay without a broker: the latest decision per reference counts, only owner or outcome
changes are corrections, and each correction is a ReportRerouted plus the new decision."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import Location, Report, ReportRouted, ReportUnroutable
from schemas.events import ReportRerouted
from services.router.replay import Latest, Summary, outputs, redecide
from services.router.router import Router
from signpost.bundle import load_bundle
from signpost.cli import main
from signpost.runtime.settings import DEMO_BUNDLE, Settings

NOW = datetime(2026, 11, 1, 9, tzinfo=UTC)


def report(reference: str, category: str, lat: float, lon: float) -> Report:
    return Report(reference=reference, category=category, location=Location(lat=lat, lon=lon),
                  submitted_at=NOW)


@pytest.fixture
def routers(tmp_path: Path) -> tuple[Router, Router]:
    bundle = Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))
    old = Router(load_bundle(bundle))
    rules = bundle / "rules.yaml"
    rules.write_text(rules.read_text().replace(
        "- id: pothole-county\n  category: pothole\n  owner: {layer: county}",
        "- id: pothole-district\n  category: pothole\n  owner: {layer: district}"))
    return old, Router(load_bundle(bundle))


def test_only_owner_changes_are_corrections(routers: tuple[Router, Router]) -> None:
    old, new = routers
    pothole = old.route(report("SP-AAAA-AAAA-AAAA", "pothole", 51.25, -1.05))
    bins = old.route(report("SP-BBBB-BBBB-BBBB", "missed_bin", 51.25, -1.05))
    outside = old.route(report("SP-CCCC-CCCC-CCCC", "pothole", 53.48, -2.24))
    assert isinstance(pothole, ReportRouted) and isinstance(outside, ReportUnroutable)
    summary = Summary()
    changes = redecide([pothole, bins, outside], new, summary)
    assert [c.after.reference for c in changes] == ["SP-AAAA-AAAA-AAAA"]
    assert (summary.reports, summary.unchanged, summary.changed, summary.errors) == (3, 2, 1, 0)
    assert "vale-county (pothole-county) -> eastcombe-dc (pothole-district)" in \
        changes[0].describe()

    out = outputs(changes, Settings())
    topics = Settings().topics
    assert [o.topic for o in out] == [topics.rerouted, topics.routed]
    event = out[0].event
    assert isinstance(event, ReportRerouted)
    assert event.previous_owner and event.previous_owner.id == "vale-county"
    assert event.previous_rule_id == "pothole-county" and event.rule_id == "pothole-district"
    assert event.owner and event.owner.id == "eastcombe-dc" and event.reason_code is None
    assert event.previous_bundle_version != event.trace.bundle_version
    fresh = out[1].event
    assert isinstance(fresh, ReportRouted) and fresh.owner.id == "eastcombe-dc"
    assert out[0].key == out[1].key == b"SP-AAAA-AAAA-AAAA"


def test_latest_decision_per_reference_counts(routers: tuple[Router, Router]) -> None:
    old, new = routers
    first = old.route(report("SP-AAAA-AAAA-AAAA", "pothole", 51.25, -1.05))
    again = new.route(first.report).model_copy(
        update={"occurred_at": first.occurred_at + timedelta(seconds=1)})
    latest = Latest()
    for event in (again, first):  # read out of order: the later decision still wins
        latest.add(event)
    assert list(latest.decisions.values()) == [again]
    summary = Summary()
    assert redecide(latest.decisions.values(), new, summary) == []
    assert summary.unchanged == 1


def test_cli_refuses_a_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "replay", "--since", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
