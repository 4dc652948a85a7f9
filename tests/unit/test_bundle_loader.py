"""Malformed bundles: each problem is a BundleError naming the file, the line or feature, and
the problem. Each test copies the demo bundle to tmp_path and breaks one thing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer

from services.router.router import Router
from services.router.rules import Facts
from signpost.bundle import BundleError, load_bundle
from signpost.runtime.settings import DEMO_BUNDLE


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(BundleError) as caught:
        load_bundle(directory)
    assert str(caught.value).startswith("invalid bundle:")
    return caught.value.problems


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first line containing needle."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def features(path: Path) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(path.read_text())["features"]
    return result


def write_features(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))


def test_demo_bundle_loads_with_content_digest(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    assert bundle.version.startswith("2026.11.1+") and len(bundle.organisations) == 15
    edit(bundle_dir / "organisations.yaml", "Ann Archer", "Ann Other")
    assert load_bundle(bundle_dir).version != bundle.version  # any change, a new version


@pytest.mark.parametrize("name", ["bundle.yaml", "organisations.yaml", "categories.yaml",
                                  "rules.yaml", "boundaries/parishes.geojson"])
def test_missing_file(bundle_dir: Path, name: str) -> None:
    (bundle_dir / name).unlink()
    assert f"{name}: file is missing" in problems_of(bundle_dir)


def test_yaml_syntax_error_names_line(bundle_dir: Path) -> None:
    path = bundle_dir / "rules.yaml"
    edit(path, "- id: pothole-county\n", "- id: pothole-county\n  category: [pothole\n")
    [problem] = problems_of(bundle_dir)
    assert problem.startswith("rules.yaml:") and "not valid YAML" in problem
    line = int(problem.split(":")[1])
    assert abs(line - line_of(path, "category: [pothole")) <= 2  # where the parser gave up


def test_empty_file(bundle_dir: Path) -> None:
    (bundle_dir / "rules.yaml").write_text("# nothing yet\n")
    assert "rules.yaml: file is empty" in problems_of(bundle_dir)


def test_unknown_tier(bundle_dir: Path) -> None:
    path = bundle_dir / "organisations.yaml"
    edit(path, "tier: county", "tier: kingdom")
    [problem] = problems_of(bundle_dir)
    assert problem.startswith(f"organisations.yaml:{line_of(path, 'kingdom')}: tier:")
    assert "'parish'" in problem  # names what is allowed


def test_more_than_three_questions(bundle_dir: Path) -> None:
    path = bundle_dir / "categories.yaml"
    extra = "    - id: fourth\n      text: And?\n      answers: [a, b]\n- id: pothole\n"
    edit(path, "- id: pothole\n", extra)
    [problem] = problems_of(bundle_dir)
    first_question = line_of(path, "questions:") + 1  # the list's line
    assert problem.startswith(f"categories.yaml:{first_question}: questions:")
    assert "at most 3" in problem


def test_rule_with_two_owners(bundle_dir: Path) -> None:
    path = bundle_dir / "rules.yaml"
    edit(path, "  category: pothole\n  owner: {layer: county}",
         "  category: pothole\n  owner: {layer: county, organisation: vale-county}")
    [problem] = problems_of(bundle_dir)
    line = line_of(path, "organisation: vale-county}")
    assert problem.startswith(f"rules.yaml:{line}: owner:") and "exactly one" in problem


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    ("  category: pothole\n  owner: {layer: county}",
     "  category: pothole\n  owner: {organisation: nobody}", "id: pothole-county",
     "rule pothole-county: unknown organisation 'nobody'"),
    ("category: pothole", "category: potholes", "id: pothole-county",
     "rule pothole-county: unknown category 'potholes'"),
    ("pattern: at certain times}", "colour: red}", "id: speeding-community-speedwatch",
     "rule speeding-community-speedwatch: question 'colour' is not asked for 'speeding'"),
    ('speed_limit: ["20", "30"]', 'speed_limit: ["20", "70"]',
     "id: speeding-community-speedwatch",
     "rule speeding-community-speedwatch: '70' is not an answer to 'speed_limit'"),
])
def test_rule_naming_unknown_things(bundle_dir: Path, old: str, new: str, needle: str,
                                    message: str) -> None:
    path = bundle_dir / "rules.yaml"
    edit(path, old, new)
    assert problems_of(bundle_dir) == [f"rules.yaml:{line_of(path, needle)}: {message}"]


@pytest.mark.parametrize(("name", "old", "new"), [
    ("organisations.yaml", "id: midford-dc", "id: westbury-dc"),
    ("categories.yaml", "id: streetlight", "id: pothole"),
    ("rules.yaml", "id: streetlight-county", "id: pothole-county"),
])
def test_duplicate_ids(bundle_dir: Path, name: str, old: str, new: str) -> None:
    path = bundle_dir / name
    first = line_of(path, new)
    edit(path, old, new)
    duplicate = [n for n, line in enumerate(path.read_text().splitlines(), 1) if new in line][1]
    problem = next(p for p in problems_of(bundle_dir) if "duplicate" in p)
    ident = new.split(": ")[1]
    assert problem == f"{name}:{duplicate}: duplicate id {ident!r} (first at {name}:{first})"


def test_duplicate_after_an_invalid_entry_names_its_own_line(bundle_dir: Path) -> None:
    """Lines count every entry in the file, not only the valid ones."""
    path = bundle_dir / "organisations.yaml"
    edit(path, "tier: county", "tier: kingdom")
    edit(path, "id: midford-dc", "id: westbury-dc")
    duplicate = [n for n, line in enumerate(path.read_text().splitlines(), 1)
                 if "id: westbury-dc" in line][1]
    assert any(p.startswith(f"organisations.yaml:{duplicate}: duplicate id")
               for p in problems_of(bundle_dir))


def test_feature_without_code(bundle_dir: Path) -> None:
    path = bundle_dir / "boundaries/parishes.geojson"
    items = features(path)
    del items[3]["properties"]["code"]
    write_features(path, items)
    assert problems_of(bundle_dir) == [
        "boundaries/parishes.geojson: feature 3: needs properties 'code' and 'name'"]


def test_non_polygon_geometry(bundle_dir: Path) -> None:
    path = bundle_dir / "boundaries/parishes.geojson"
    items = features(path)
    items[2]["geometry"] = {"type": "Point", "coordinates": [-1.5, 51.0]}
    write_features(path, items)
    [problem] = problems_of(bundle_dir)
    code = items[2]["properties"]["code"]
    assert problem == (f"boundaries/parishes.geojson: feature 2 ({code}): geometry is Point, "
                       "expected a polygon")


def test_duplicate_feature_id(bundle_dir: Path) -> None:
    path = bundle_dir / "boundaries/parishes.geojson"
    items = features(path)
    items[4]["properties"]["code"] = items[1]["properties"]["code"]
    write_features(path, items)
    code = items[1]["properties"]["code"]
    assert (f"boundaries/parishes.geojson: feature 4 ({code}): duplicate feature id (first at "
            f"boundaries/parishes.geojson: feature 1 ({code}))") in problems_of(bundle_dir)


@pytest.mark.parametrize(("row", "message"), [
    ("12ab,vale-homes", "needs a numeric uprn and a provider"),
    ("100062000009,", "needs a numeric uprn and a provider"),
    ("100062000001,vale-homes", "uprn 100062000001 is listed twice (first at "
                                "housing_register.csv:2)"),
])
def test_bad_housing_register_line(bundle_dir: Path, row: str, message: str) -> None:
    path = bundle_dir / "housing_register.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], row, *lines[3:]]) + "\n")
    assert problems_of(bundle_dir) == [f"housing_register.csv:4: {message}"]


def test_housing_register_unknown_provider(bundle_dir: Path) -> None:
    path = bundle_dir / "housing_register.csv"
    path.write_text(path.read_text() + "100062000099,nobody-homes\n")
    line = len(path.read_text().splitlines())
    assert problems_of(bundle_dir) == [
        f"housing_register.csv:{line}: uprn 100062000099: unknown provider 'nobody-homes'"]


def test_estate_unknown_provider(bundle_dir: Path) -> None:
    path = bundle_dir / "boundaries/estates.geojson"
    items = features(path)
    items[0]["properties"]["provider"] = "nobody-homes"
    write_features(path, items)
    assert problems_of(bundle_dir) == [
        "boundaries/estates.geojson: feature 0 (EST-0001): unknown provider 'nobody-homes'"]


def test_organisation_area_that_is_no_feature(bundle_dir: Path) -> None:
    path = bundle_dir / "organisations.yaml"
    edit(path, "area: E04999010", "area: E04999999")
    assert problems_of(bundle_dir) == [
        f"organisations.yaml:{line_of(path, 'id: juniper-hill-pc')}: juniper-hill-pc: "
        "area 'E04999999' is no boundary feature"]


def test_two_organisations_for_one_area(bundle_dir: Path) -> None:
    path = bundle_dir / "organisations.yaml"
    edit(path, "area: E04999010", "area: E04999009")
    assert problems_of(bundle_dir) == [
        f"organisations.yaml:{line_of(path, 'id: juniper-hill-pc')}: juniper-hill-pc: "
        "area 'E04999009' is already covered by ivybridge-parva-pc"]


def test_unknown_layer_and_unknown_crs(bundle_dir: Path) -> None:
    edit(bundle_dir / "bundle.yaml", "{layer: estate,", "{layer: ward,")
    edit(bundle_dir / "bundle.yaml", "file: boundaries/county.geojson}",
         "file: boundaries/county.geojson, crs: 'EPSG:999999'}")
    found = problems_of(bundle_dir)
    assert "bundle.yaml: layer 'ward' is not one of parish, district, county, estate" in found
    assert any(p.startswith("bundle.yaml: boundaries/county.geojson: unknown crs 'EPSG:999999'")
               for p in found)


def test_area_tier_on_a_layer_nobody_covers(bundle_dir: Path) -> None:
    path = bundle_dir / "rules.yaml"
    edit(path, "- id: pothole-county\n  category: pothole\n",
         "- id: pothole-county\n  category: pothole\n  when: {area_tier: {estate: [unitary]}}\n")
    assert problems_of(bundle_dir) == [
        f"rules.yaml:{line_of(path, 'id: pothole-county')}: rule pothole-county: area_tier names "
        "'estate', but no organisation covers a estate feature"]


def test_every_problem_is_reported_at_once(bundle_dir: Path) -> None:
    edit(bundle_dir / "organisations.yaml", "tier: county", "tier: kingdom")
    (bundle_dir / "categories.yaml").unlink()
    write_features(bundle_dir / "boundaries/estates.geojson", [{"properties": {}}])
    assert len(problems_of(bundle_dir)) == 3


# Coordinate reference systems -----------------------------------------------------------------

TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
HERE = (-1.55, 51.05)  # inside the demo's Ashcombe parish


def _square(cx: float, cy: float, half: float) -> list[list[float]]:
    return [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half],
            [cx - half, cy + half], [cx - half, cy - half]]


def test_british_national_grid_layer_routes_like_its_wgs84_twin(bundle_dir: Path) -> None:
    """An estate given in EPSG:27700 metres lands where the same square in lon/lat does."""
    east, north = TO_BNG.transform(*HERE)
    bng = _square(east, north, 500.0)
    twins = {"bng": (bng, "crs: 'EPSG:27700', "),
             "wgs": ([list(TO_WGS84.transform(x, y)) for x, y in bng], "")}
    routes = {}
    for name, (ring, crs) in twins.items():
        write_features(bundle_dir / "boundaries/estates.geojson", [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
             "properties": {"code": "EST-0001", "name": "Square", "provider": "vale-homes"}}])
        manifest = (DEMO_BUNDLE / "bundle.yaml").read_text()
        (bundle_dir / "bundle.yaml").write_text(
            manifest.replace("{layer: estate, ", "{layer: estate, " + crs))
        router = Router(load_bundle(bundle_dir))
        routes[name] = [
            router.decide(Facts("housing_repair"), lon=lon, lat=lat).rule_id
            for lon, lat in [HERE, (HERE[0] + 0.006, HERE[1]), (HERE[0] + 0.008, HERE[1]),
                             (HERE[0], HERE[1] - 0.004), (HERE[0], HERE[1] - 0.005)]]
    # 500 m is ~0.0071° of longitude and ~0.0045° of latitude here
    assert routes["bng"] == routes["wgs"] == [
        "housing-estate", "housing-estate", "housing-district", "housing-estate",
        "housing-district"]
