"""`signpost bundle import-ons`: ONS boundary GeoJSON in, a bundle that routes correctly out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from services.router.explain import explain
from services.router.router import Router
from services.router.rules import Decision, Facts
from signpost.bundle import load_bundle
from signpost.bundle.ons import OnsImportError, import_ons
from signpost.cli import main

TRAFFORD = "E08000009"
TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def router(bundle: Path) -> Router:
    return Router(load_bundle(bundle))


def route(routes: Router, category: str, point: Point) -> Decision:
    return routes.decide(Facts(category), lon=point.x, lat=point.y)


def owner_of(routes: Router, category: str, point: Point) -> str | None:
    owner = route(routes, category, point).owner
    return owner.id if owner else None


# Trafford reference data (a metropolitan borough with four civil parishes) --------------------


@pytest.fixture
def trafford(shared_data: Path, tmp_path: Path) -> tuple[Path, list[dict[str, Any]], Any]:
    folder = shared_data / "trafford"
    parishes, district = folder / "parish.geojson", folder / "local_authority_district.geojson"
    if not parishes.exists() or not district.exists():
        pytest.skip("Trafford reference data is not present")
    out = tmp_path / "trafford"
    import_ons(parishes, district, None, out, log=lambda _: None)
    features = json.loads(parishes.read_text())["features"]
    [borough] = json.loads(district.read_text())["features"]
    return out, features, shape(borough["geometry"])


def test_trafford_bundle_loads(trafford: tuple[Path, list[dict[str, Any]], Any]) -> None:
    out, features, _ = trafford
    bundle = load_bundle(out)
    assert bundle.organisations[TRAFFORD].tier.value == "unitary"
    assert bundle.organisations[TRAFFORD].name == "Trafford Council"
    parish_orgs = {o.id for o in bundle.organisations.values() if o.tier.value == "parish"}
    assert parish_orgs == {f["properties"]["area_code"] for f in features}
    assert bundle.organisations["E04000010"].name == "Dunham Massey Parish Council"
    assert str(bundle.organisations["E04000010"].clerk.email) == "clerk@dunham-massey.example.org"


def test_trafford_parish_things_go_to_each_parish(
        trafford: tuple[Path, list[dict[str, Any]], Any]) -> None:
    routes = router(trafford[0])
    for feature in trafford[1]:
        point = shape(feature["geometry"]).representative_point()
        assert owner_of(routes, "bus_shelter", point) == feature["properties"]["area_code"]
        assert owner_of(routes, "pothole", point) == TRAFFORD


def test_trafford_unparished_goes_to_the_borough(
        trafford: tuple[Path, list[dict[str, Any]], Any]) -> None:
    out, features, borough = trafford
    parished = unary_union([shape(f["geometry"]) for f in features])
    unparished = borough.difference(parished.buffer(0.001)).representative_point()
    assert borough.contains(unparished) and not parished.intersects(unparished)
    # Through `explain`, as an officer checking the bundle would.
    result, code = explain(out, "bus_shelter", unparished.y, unparished.x, {}, None)
    assert code == 0 and result["owner"]["id"] == TRAFFORD
    assert result["rule_id"] == "bus-shelter-unparished"
    routes = router(out)
    for category in ("pothole", "streetlight", "fly_tipping"):
        assert owner_of(routes, category, unparished) == TRAFFORD


def test_trafford_via_the_command_line(shared_data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "trafford"
    code = main(["bundle", "import-ons", "--parishes", str(folder / "parish.geojson"),
                 "--districts", str(folder / "local_authority_district.geojson"),
                 "--out", str(tmp_path / "b"), "--name", "Trafford"])
    out = capsys.readouterr().out
    assert code == 0
    assert "read 4 parish features" in out and "read 1 district features" in out
    assert "wrote" in out and "4 parish, 1 unitary organisations" in out
    assert load_bundle(tmp_path / "b").name == "Trafford"


# A synthetic two-tier county in British National Grid ----------------------------------------
# County E10 = district E07 (400-410 km east); unitary E06 beside it (410-420 km).
# Parishes: one in each; an ONS "non-civil parished area" (E43) that must be skipped.


def _square(west: float, south: float, size: float = 10_000) -> dict[str, Any]:
    ring = [[west, south], [west + size, south], [west + size, south + size],
            [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _collection(prefix: str, items: list[tuple[str, str, dict[str, Any]]],
                crs: str | None = "urn:ogc:def:crs:EPSG::27700") -> dict[str, Any]:
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {f"{prefix}CD": code, f"{prefix}NM": name, "FID": i},
         "geometry": geometry} for i, (code, name, geometry) in enumerate(items)]}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    return collection


def _write(path: Path, collection: dict[str, Any]) -> Path:
    path.write_text(json.dumps(collection))
    return path


def _bng_point(east: float, north: float) -> Point:
    return Point(*TO_WGS84.transform(east, north))


@pytest.fixture
def shire(tmp_path: Path) -> dict[str, Path]:
    return {
        "parishes": _write(tmp_path / "par.geojson", _collection("PAR21", [
            ("E04000001", "Upper Wick", _square(400_000, 250_000, 5_000)),
            ("E04000002", "Harbourside", _square(410_000, 250_000, 5_000)),
            ("E43000001", "Westvale, unparished area", _square(405_000, 250_000, 5_000))])),
        "districts": _write(tmp_path / "lad.geojson", _collection("LAD21", [
            ("E07000001", "Westvale", _square(400_000, 250_000)),
            ("E06000001", "Eastport", _square(410_000, 250_000))])),
        "counties": _write(tmp_path / "cty.geojson", _collection("CTY21", [
            ("E10000001", "Testshire", _square(400_000, 250_000))])),
    }


UPPER_WICK, WESTVALE_TOWN = _bng_point(402_500, 252_500), _bng_point(407_500, 257_500)
HARBOURSIDE, EASTPORT_TOWN = _bng_point(412_500, 252_500), _bng_point(417_500, 257_500)


def test_two_tier_county_routing(shire: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = import_ons(shire["parishes"], shire["districts"], shire["counties"], out,
                         log=lambda _: None)
    assert summary.organisations == {"parish": 2, "district": 1, "unitary": 1, "county": 1}
    assert summary.warnings == []
    expected = {
        (UPPER_WICK, "bus_shelter"): "E04000001", (UPPER_WICK, "pothole"): "E10000001",
        (UPPER_WICK, "fly_tipping"): "E07000001", (WESTVALE_TOWN, "bus_shelter"): "E07000001",
        (WESTVALE_TOWN, "streetlight"): "E10000001", (HARBOURSIDE, "village_green"): "E04000002",
        (HARBOURSIDE, "pothole"): "E06000001", (EASTPORT_TOWN, "bus_shelter"): "E06000001",
        (EASTPORT_TOWN, "streetlight"): "E06000001", (EASTPORT_TOWN, "missed_bin"): "E06000001",
    }
    routes = router(out)
    assert {key: owner_of(routes, key[1], key[0]) for key in expected} == expected


def test_major_road_speeding_goes_to_the_highway_authority(shire: dict[str, Path],
                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_ons(shire["parishes"], shire["districts"], shire["counties"], out, log=lambda _: None)
    answers = {"road_type": "A road or dual carriageway"}
    for point, owner in [(UPPER_WICK, "E10000001"), (HARBOURSIDE, "E06000001")]:
        result, code = explain(out, "speeding", point.y, point.x, answers, None)
        assert code == 0 and result["owner"]["id"] == owner


def test_british_national_grid_is_declared_for_the_loader(shire: dict[str, Path],
                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_ons(shire["parishes"], shire["districts"], shire["counties"], out, log=lambda _: None)
    manifest = yaml.safe_load((out / "bundle.yaml").read_text())
    assert {e["layer"]: e.get("crs") for e in manifest["boundaries"]} == {
        "parish": "EPSG:27700", "district": "EPSG:27700", "county": "EPSG:27700"}
    parishes = json.loads((out / "boundaries/parishes.geojson").read_text())["features"]
    assert [f["properties"] for f in parishes] == [
        {"code": "E04000001", "name": "Upper Wick"}, {"code": "E04000002", "name": "Harbourside"}]


def test_metres_without_a_crs_member_mean_british_national_grid(shire: dict[str, Path],
                                                                tmp_path: Path) -> None:
    for key in shire:
        collection = json.loads(shire[key].read_text())
        del collection["crs"]
        _write(shire[key], collection)
    out = tmp_path / "out"
    import_ons(shire["parishes"], shire["districts"], None, out, log=lambda _: None)
    manifest = yaml.safe_load((out / "bundle.yaml").read_text())
    assert {e.get("crs") for e in manifest["boundaries"]} == {"EPSG:27700"}
    assert owner_of(router(out), "bus_shelter", UPPER_WICK) == "E04000001"


def test_without_counties_two_tier_county_matters_are_unroutable(
        shire: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = import_ons(shire["parishes"], shire["districts"], None, out, log=lambda _: None)
    assert summary.warnings and "E07" in summary.warnings[0]
    routes = router(out)
    assert route(routes, "pothole", UPPER_WICK).reason_code == "no_rule"
    assert owner_of(routes, "pothole", HARBOURSIDE) == "E06000001"  # the unitary still does it


def test_lowercase_and_lon_lat_input(tmp_path: Path) -> None:
    box = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    small = {"type": "Polygon", "coordinates": [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5], [0, 0]]]}
    parishes = _write(tmp_path / "p.json", {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"areacd": "E04000077", "areanm": "Ŵyre Bank"},
         "geometry": small}]})
    districts = _write(tmp_path / "d.json", _collection("lad23", [("E09000001", "City", box)],
                                                        crs=None))
    out = tmp_path / "out"
    import_ons(parishes, districts, None, out, log=lambda _: None)
    bundle = load_bundle(out)
    assert str(bundle.organisations["E04000077"].clerk.email) == "clerk@wyre-bank.example.org"
    assert "crs" not in (out / "bundle.yaml").read_text()
    routes = Router(bundle)
    assert owner_of(routes, "village_green", Point(0.25, 0.25)) == "E04000077"
    assert owner_of(routes, "village_green", Point(0.75, 0.75)) == "E09000001"


def test_progress_is_printed(shire: dict[str, Path], tmp_path: Path) -> None:
    lines: list[str] = []
    import_ons(shire["parishes"], shire["districts"], shire["counties"], tmp_path / "out",
               log=lines.append)
    assert lines[0].startswith("read 3 parish features") and "PAR21CD/PAR21NM" in lines[0]
    assert "skipped 1" in lines[1]
    assert sum(line.startswith("wrote") for line in lines) == 7


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["features"][1]["properties"].pop("PAR21NM"),
     "feature 1 (E04000002): needs properties 'PAR21CD' and 'PAR21NM'"),
    (lambda c: c["features"][0].update(geometry={"type": "Point", "coordinates": [1, 2]}),
     "feature 0 (E04000001): geometry is Point, expected a polygon"),
    (lambda c: c.update(crs={"type": "name", "properties": {"name": "EPSG:4326"}}),
     "crs says longitude/latitude but coordinates are metres"),
    (lambda c: c.update(crs={"type": "name", "properties": {"name": "mystery"}}),
     "unrecognised crs 'mystery'"),
    (lambda c: [f["properties"].update(PAR21CD=None, PAR21NM=None, other=1)
                for f in c["features"]],
     "cannot tell which properties hold the parish code and name"),
])
def test_bad_input_names_file_and_feature(shire: dict[str, Path], tmp_path: Path,
                                          change: Any, message: str) -> None:
    collection = json.loads(shire["parishes"].read_text())
    change(collection)
    for feature in collection["features"]:  # drop the keys the last case nulled
        props = feature["properties"]
        feature["properties"] = {k: v for k, v in props.items() if v is not None}
    _write(shire["parishes"], collection)
    with pytest.raises(OnsImportError) as caught:
        import_ons(shire["parishes"], shire["districts"], None, tmp_path / "out",
                   log=lambda _: None)
    assert any(p.startswith(str(shire["parishes"])) and message in p
               for p in caught.value.problems), caught.value.problems


def test_unknown_district_code(shire: dict[str, Path], tmp_path: Path) -> None:
    collection = json.loads(shire["districts"].read_text())
    collection["features"][1]["properties"]["LAD21CD"] = "E10000009"
    _write(shire["districts"], collection)
    with pytest.raises(OnsImportError, match="E10000009 is not a local authority district code"):
        import_ons(shire["parishes"], shire["districts"], None, tmp_path / "o", log=print)


def test_refuses_a_non_empty_out_unless_forced(shire: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ["bundle", "import-ons", "--parishes", str(shire["parishes"]),
            "--districts", str(shire["districts"]), "--out", str(out)]
    assert main(args) == 2 and "not empty" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert (out / "notes.txt").read_text() == "keep me" and load_bundle(out)
    assert "warning:" in capsys.readouterr().err  # E07 without --counties


def test_same_named_parishes_get_distinct_mailboxes(shire: dict[str, Path],
                                                    tmp_path: Path) -> None:
    collection = json.loads(shire["parishes"].read_text())
    collection["features"][1]["properties"]["PAR21NM"] = "Upper Wick"
    _write(shire["parishes"], collection)
    import_ons(shire["parishes"], shire["districts"], None, tmp_path / "o", log=lambda _: None)
    emails = {o.id: str(o.clerk.email) for o in load_bundle(tmp_path / "o").organisations.values()}
    assert emails["E04000001"] == "clerk@upper-wick.example.org"
    assert emails["E04000002"] == "clerk@upper-wick-e04000002.example.org"
