"""Every rule feature, on tiny bundles written to tmp_path and on the demo bundle.

The tiny county (lon/lat, degrees) is two districts side by side:
  D1 (0..2 x 0..2) a two-tier district; D2 (2..4 x 0..2) a unitary; county C1 covers both.
  Parishes P1 (0..1 x 0..1) and P2 (1..2 x 0..1) in D1, P3 (2..3 x 0..1) in D2 with no council;
  everything above y=1 is unparished. Estate EST1 (0.2..0.4) inside P1, owned by hp-estate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import Location, Report, ReportUnroutable
from services.router.router import Router
from services.router.rules import Decision, Facts
from signpost.bundle import Bundle, load_bundle

IN_P1, IN_P2, IN_P3 = (0.5, 0.5), (1.5, 0.5), (2.5, 0.5)
IN_ESTATE, UNPARISHED_D1, UNPARISHED_D2, OUTSIDE = (0.3, 0.3), (0.5, 1.5), (2.5, 1.5), (9.0, 9.0)


def _box(code: str, west: float, south: float, east: float, north: float,
         **props: str) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Feature", "properties": {"code": code, "name": code, **props},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


LAYERS = {
    "county": [_box("C1", 0, 0, 4, 2)],
    "district": [_box("D1", 0, 0, 2, 2), _box("D2", 2, 0, 4, 2)],
    "parish": [_box("P1", 0, 0, 1, 1), _box("P2", 1, 0, 2, 1), _box("P3", 2, 0, 3, 1)],
    "estate": [_box("EST1", 0.2, 0.2, 0.4, 0.4, provider="hp-estate")],
}
ORGS = [("county", "county", "C1"), ("d1", "district", "D1"), ("d2", "unitary", "D2"),
        ("p1", "parish", "P1"), ("p2", "parish", "P2"),
        ("hp-estate", "housing_provider", None), ("hp-register", "housing_provider", None)]
CATEGORIES = [
    {"id": "speeding", "name": "Speeding", "questions": [
        {"id": "limit", "text": "Limit?", "answers": ["20", "30", "40"]},
        {"id": "road", "text": "Road?", "answers": ["village", "main"]}]},
    *({"id": c, "name": c} for c in ("pothole", "repair", "bench", "misc", "orphan")),
]


def write_bundle(root: Path, rules: list[dict[str, Any]], register: str = "") -> Path:
    """A tiny bundle directory with the given rules; returns its path."""
    for layer, features in LAYERS.items():
        (root / f"{layer}.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": features}))
    manifest = {"name": "tiny", "version": "1", "boundaries": [
        {"layer": layer, "file": f"{layer}.geojson",
         **({"provider_property": "provider"} if layer == "estate" else {})} for layer in LAYERS]}
    orgs = [{"id": oid, "name": oid.upper(), "tier": tier,
             "clerk": {"name": "Clerk", "email": f"clerk@{oid}.example.org"},
             **({"area": area} if area else {})} for oid, tier, area in ORGS]
    for name, data in [("bundle", manifest), ("organisations", orgs),
                       ("categories", CATEGORIES), ("rules", rules)]:
        (root / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    if register:
        (root / "housing_register.csv").write_text("uprn,provider\n" + register)
    return root


def rule(rule_id: str, category: str, owner: dict[str, Any], **when: Any) -> dict[str, Any]:
    return {"id": rule_id, "category": category, "when": when, "owner": owner}


def route(bundle: Bundle, category: str, at: tuple[float, float],
          answers: dict[str, str] | None = None, uprn: str | None = None) -> Decision:
    return Router(bundle).decide(Facts(category, answers or {}, uprn), lon=at[0], lat=at[1])


def owner_id(decision: Decision) -> str | None:
    return decision.owner.id if decision.owner else None


@pytest.fixture
def tiny(tmp_path: Path) -> Any:
    """Build a tiny bundle from rules (and an optional register) and load it."""
    def build(*rules: dict[str, Any], register: str = "") -> Bundle:
        return load_bundle(write_bundle(tmp_path, list(rules), register))
    return build


def test_answers_single_value(tiny: Any) -> None:
    bundle = tiny(rule("village", "speeding", {"layer": "parish"}, answers={"road": "village"}),
                  rule("other", "speeding", {"layer": "district"}))
    assert route(bundle, "speeding", IN_P1, {"road": "village"}).rule_id == "village"
    assert route(bundle, "speeding", IN_P1, {"road": "main"}).rule_id == "other"


def test_answers_list_and_missing_answer(tiny: Any) -> None:
    bundle = tiny(rule("slow", "speeding", {"layer": "parish"}, answers={"limit": ["20", "30"]}),
                  rule("other", "speeding", {"layer": "district"}))
    assert owner_id(route(bundle, "speeding", IN_P1, {"limit": "20"})) == "p1"
    assert owner_id(route(bundle, "speeding", IN_P1, {"limit": "30"})) == "p1"
    assert owner_id(route(bundle, "speeding", IN_P1, {"limit": "40"})) == "d1"
    assert owner_id(route(bundle, "speeding", IN_P1, {})) == "d1"  # unanswered never matches


def test_every_answer_condition_must_hold(tiny: Any) -> None:
    bundle = tiny(rule("both", "speeding", {"layer": "parish"},
                       answers={"limit": "20", "road": "village"}),
                  rule("other", "speeding", {"layer": "county"}))
    assert route(bundle, "speeding", IN_P1, {"limit": "20", "road": "village"}).rule_id == "both"
    assert route(bundle, "speeding", IN_P1, {"limit": "20", "road": "main"}).rule_id == "other"


def test_inside_and_outside(tiny: Any) -> None:
    bundle = tiny(rule("parished", "bench", {"layer": "parish"}, inside=["parish"]),
                  rule("unparished", "bench", {"layer": "district"}, outside=["parish"]))
    assert owner_id(route(bundle, "bench", IN_P2)) == "p2"
    assert route(bundle, "bench", UNPARISHED_D1).rule_id == "unparished"
    assert owner_id(route(bundle, "bench", UNPARISHED_D1)) == "d1"
    assert owner_id(route(bundle, "bench", UNPARISHED_D2)) == "d2"


def test_inside_several_layers_needs_all(tiny: Any) -> None:
    bundle = tiny(rule("estate-parish", "misc", {"layer": "parish"}, inside=["parish", "estate"]),
                  rule("rest", "misc", {"layer": "county"}))
    assert route(bundle, "misc", IN_ESTATE).rule_id == "estate-parish"
    assert route(bundle, "misc", IN_P1).rule_id == "rest"


def test_uprn_registered_true_and_false(tiny: Any) -> None:
    bundle = tiny(rule("registered", "repair", {"housing_provider": True}, uprn_registered=True),
                  rule("not-registered", "repair", {"layer": "district"}, uprn_registered=False),
                  register="1001,hp-register\n")
    assert owner_id(route(bundle, "repair", IN_P1, uprn="1001")) == "hp-register"
    assert route(bundle, "repair", IN_P1, uprn="2002").rule_id == "not-registered"
    assert route(bundle, "repair", IN_P1, uprn=None).rule_id == "not-registered"


def test_fixed_organisation_owner(tiny: Any) -> None:
    bundle = tiny(rule("fixed", "misc", {"organisation": "county"}))
    decision = route(bundle, "misc", UNPARISHED_D2)
    assert owner_id(decision) == "county" and decision.rule_id == "fixed"


def test_housing_provider_register_beats_estate(tiny: Any) -> None:
    bundle = tiny(rule("provider", "repair", {"housing_provider": True}),
                  register="1001,hp-register\n")
    assert owner_id(route(bundle, "repair", IN_ESTATE, uprn="1001")) == "hp-register"
    assert owner_id(route(bundle, "repair", IN_ESTATE)) == "hp-estate"
    assert owner_id(route(bundle, "repair", IN_ESTATE, uprn="9999")) == "hp-estate"


def test_housing_provider_nowhere_is_unroutable(tiny: Any) -> None:
    bundle = tiny(rule("provider", "repair", {"housing_provider": True}))
    decision = route(bundle, "repair", IN_P2)
    assert not decision.routed and decision.reason_code == "no_housing_provider"


def test_category_wildcard_catches_the_rest(tiny: Any) -> None:
    bundle = tiny(rule("pothole", "pothole", {"layer": "county"}),
                  rule("anything", "*", {"layer": "district"}))
    assert route(bundle, "pothole", IN_P1).rule_id == "pothole"
    for category in ("bench", "misc", "speeding"):
        assert route(bundle, category, IN_P1).rule_id == "anything"


def test_first_match_wins_and_trace_says_so(tiny: Any) -> None:
    bundle = tiny(rule("other-category", "pothole", {"layer": "county"}),
                  rule("first", "bench", {"layer": "parish"}),
                  rule("second", "bench", {"layer": "district"}))
    decision = route(bundle, "bench", IN_P1)
    assert decision.rule_id == "first" and owner_id(decision) == "p1"
    assert decision.trace.rules_evaluated == ["other-category", "first"]
    assert decision.trace.matched_rule == "first"
    assert decision.trace.bundle_version == bundle.version
    hits = [(h.layer, h.feature_id) for h in decision.trace.boundaries]
    assert hits == [("county", "C1"), ("district", "D1"), ("parish", "P1")]


def test_unknown_category(tiny: Any) -> None:
    bundle = tiny(rule("anything", "*", {"layer": "county"}))
    decision = route(bundle, "no-such-category", IN_P1)
    assert decision.reason_code == "unknown_category" and decision.owner is None
    assert decision.trace.rules_evaluated == [] and decision.trace.matched_rule is None


def test_outside_area(tiny: Any) -> None:
    bundle = tiny(rule("anything", "*", {"organisation": "county"}))
    decision = route(bundle, "misc", OUTSIDE)
    assert decision.reason_code == "outside_area"
    assert decision.trace.boundaries == [] and decision.trace.rules_evaluated == []


def test_no_rule(tiny: Any) -> None:
    bundle = tiny(rule("pothole", "pothole", {"layer": "county"}))
    decision = route(bundle, "orphan", IN_P1)
    assert decision.reason_code == "no_rule" and decision.rule_id is None
    assert decision.trace.rules_evaluated == ["pothole"]


def test_not_in_layer(tiny: Any) -> None:
    """A rule that names the parish as owner, at a point in no parish: say so, not guess."""
    bundle = tiny(rule("parish", "bench", {"layer": "parish"}))
    decision = route(bundle, "bench", UNPARISHED_D1)
    assert decision.reason_code == "not_in_layer" and "parish" in (decision.reason or "")


def test_no_owner_for_area(tiny: Any) -> None:
    bundle = tiny(rule("parish", "bench", {"layer": "parish"}))
    decision = route(bundle, "bench", IN_P3)
    assert decision.reason_code == "no_owner_for_area" and "P3" in (decision.reason or "")


def test_area_tier_sends_county_matters_to_a_unitary(tiny: Any) -> None:
    bundle = tiny(rule("unitary", "pothole", {"layer": "district"},
                       area_tier={"district": ["unitary"]}),
                  rule("county", "pothole", {"layer": "county"}, inside=["county"]))
    assert owner_id(route(bundle, "pothole", UNPARISHED_D2)) == "d2"
    assert owner_id(route(bundle, "pothole", IN_P3)) == "d2"
    assert owner_id(route(bundle, "pothole", IN_P1)) == "county"


def test_area_tier_on_a_feature_without_owner_does_not_match(tiny: Any) -> None:
    bundle = tiny(rule("parish-tier", "bench", {"layer": "district"},
                       area_tier={"parish": ["parish"]}),
                  rule("rest", "bench", {"layer": "county"}))
    assert route(bundle, "bench", IN_P1).rule_id == "parish-tier"
    assert route(bundle, "bench", IN_P3).rule_id == "rest"  # P3 has no council
    assert route(bundle, "bench", UNPARISHED_D1).rule_id == "rest"


def test_overlapping_parishes_go_to_triage_naming_both(tiny: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad data: P1X overlaps P1 (0.5..1 x 0..1). No nearest-owner guess: triage, with why."""
    monkeypatch.setitem(LAYERS, "parish", [*LAYERS["parish"], _box("P1X", 0.5, 0, 1.5, 1)])
    bundle = tiny(rule("parish", "bench", {"layer": "parish"}))
    decision = route(bundle, "bench", (0.75, 0.5))
    assert not decision.routed and decision.reason_code == "ambiguous_area"
    assert "parish" in (decision.reason or "") and "P1 (P1), P1X (P1X)" in (decision.reason or "")
    assert decision.trace.rules_evaluated == ["parish"]
    assert [(b.layer, b.feature_id) for b in decision.trace.boundaries] == [
        ("county", "C1"), ("district", "D1"), ("parish", "P1"), ("parish", "P1X")]
    report = Report(reference="SP-AAAA-BBBB-CCCC", category="bench",
                    submitted_at=datetime(2026, 11, 22, tzinfo=UTC),
                    location=Location(lat=0.5, lon=0.75))
    event = Router(bundle).route(report)
    assert isinstance(event, ReportUnroutable) and event.reason_code == "ambiguous_area"
    assert owner_id(route(bundle, "bench", (0.25, 0.5))) == "p1"  # P1 alone
    assert owner_id(route(bundle, "bench", IN_P2)) == "p2"  # on P1X's edge, inside P2
    # P2 and P3 only touch: a point on their shared edge still goes to the lower id.
    assert owner_id(route(bundle, "bench", (2.0, 0.5))) == "p2"


def test_an_overlap_only_matters_to_a_rule_that_needs_which_feature(
        tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The county owns potholes wherever the parishes overlap; a rule asking only whether the
    point is in a parish at all has its answer (yes) too. Which parish is what is ambiguous."""
    monkeypatch.setitem(LAYERS, "parish", [*LAYERS["parish"], _box("P1X", 0.5, 0, 1.5, 1)])
    bundle = tiny(rule("county", "pothole", {"layer": "county"}),
                  rule("parished", "bench", {"layer": "district"}, inside=["parish"]),
                  rule("tier", "misc", {"layer": "district"}, area_tier={"parish": ["parish"]}))
    assert owner_id(route(bundle, "pothole", (0.75, 0.5))) == "county"
    assert owner_id(route(bundle, "bench", (0.75, 0.5))) == "d1"
    assert route(bundle, "misc", (0.75, 0.5)).reason_code == "ambiguous_area"


# The demo bundle: Vale county, with its real rule set ----------------------------------------

ASHCOMBE, UNPARISHED_MIDFORD, MILLBROOK = (-1.55, 51.05), (-1.35, 51.15), (-1.32, 51.14)
SPEEDWATCH = {"speed_limit": "30", "road_type": "village street", "pattern": "at certain times"}


@pytest.mark.parametrize(("category", "at", "answers", "uprn", "owner", "rule_id"), [
    ("speeding", ASHCOMBE, SPEEDWATCH, None, "ashcombe-pc", "speeding-community-speedwatch"),
    ("speeding", UNPARISHED_MIDFORD, SPEEDWATCH, None, "midford-dc", "speeding-community-safety"),
    ("speeding", ASHCOMBE, {**SPEEDWATCH, "road_type": "A road or dual carriageway"}, None,
     "vale-county", "speeding-major-road"),
    ("speeding", ASHCOMBE, {"speed_limit": "40 or more"}, None, "vale-county",
     "speeding-fast-limit"),
    ("pothole", ASHCOMBE, {}, None, "vale-county", "pothole-county"),
    ("fly_tipping", ASHCOMBE, {}, None, "westbury-dc", "fly-tipping-district"),
    ("bus_shelter", UNPARISHED_MIDFORD, {}, None, "midford-dc", "bus-shelter-unparished"),
    ("housing_repair", ASHCOMBE, {}, "100062000001", "vale-homes", "housing-registered-home"),
    ("housing_repair", MILLBROOK, {}, None, "vale-homes", "housing-estate"),
    ("housing_repair", ASHCOMBE, {}, "999", "westbury-dc", "housing-district"),
])
def test_demo_bundle_rules(demo_bundle: Bundle, category: str, at: tuple[float, float],
                           answers: dict[str, str], uprn: str | None, owner: str,
                           rule_id: str) -> None:
    decision = route(demo_bundle, category, at, answers, uprn)
    assert (owner_id(decision), decision.rule_id) == (owner, rule_id)
