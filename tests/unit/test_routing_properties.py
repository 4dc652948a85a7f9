"""Properties of routing on the demo bundle, for points Hypothesis chooses.

Points are drawn inside a feature's bounding box and kept only when strictly inside (more than
EDGE degrees from every boundary involved), so the properties hold for any polygon shape.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from services.router.router import Router
from services.router.rules import Facts
from signpost.bundle import Boundary, load_bundle
from signpost.runtime.settings import DEMO_BUNDLE

BUNDLE = load_bundle(DEMO_BUNDLE)
ROUTER = Router(BUNDLE)
EDGE = 1e-7
LAYER = {layer: [b for b in BUNDLE.boundaries if b.layer == layer]
         for layer in ("parish", "district", "county")}
[COUNTY] = LAYER["county"]
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])
fraction = st.floats(0.0, 1.0)


def point_in_box(boundary: Boundary, fx: float, fy: float) -> tuple[float, float]:
    west, south, east, north = boundary.geometry.bounds
    return west + fx * (east - west), south + fy * (north - south)


def strictly_inside(boundary: Boundary, lon: float, lat: float) -> bool:
    point = Point(lon, lat)
    return bool(boundary.geometry.contains(point)
                and boundary.geometry.boundary.distance(point) > EDGE)


def owner(category: str, lon: float, lat: float) -> str | None:
    decision = ROUTER.decide(Facts(category), lon=lon, lat=lat)
    return decision.owner.id if decision.owner else None


def council(boundary: Boundary) -> str:
    org = BUNDLE.organisation_for_area(boundary.feature_id)
    assert org is not None, f"no organisation covers {boundary.feature_id}"
    return org.id


@PROPERTY
@given(st.sampled_from(LAYER["parish"]), fraction, fraction)
def test_inside_a_parish_parish_things_go_to_its_council(parish: Boundary, fx: float,
                                                          fy: float) -> None:
    lon, lat = point_in_box(parish, fx, fy)
    assume(strictly_inside(parish, lon, lat))
    assert owner("bus_shelter", lon, lat) == council(parish)
    assert owner("village_green", lon, lat) == council(parish)


@PROPERTY
@given(st.sampled_from(LAYER["district"]), fraction, fraction)
def test_unparished_bus_shelters_go_to_the_district(district: Boundary, fx: float,
                                                    fy: float) -> None:
    lon, lat = point_in_box(district, fx, fy)
    assume(strictly_inside(district, lon, lat))
    point = Point(lon, lat)
    assume(all(p.geometry.distance(point) > EDGE for p in LAYER["parish"]))
    assert owner("bus_shelter", lon, lat) == council(district)


@PROPERTY
@given(fraction, fraction)
def test_potholes_in_the_county_go_to_the_county(fx: float, fy: float) -> None:
    lon, lat = point_in_box(COUNTY, fx, fy)
    assume(strictly_inside(COUNTY, lon, lat))
    assert owner("pothole", lon, lat) == council(COUNTY)


@PROPERTY
@given(st.floats(-4.0, 2.0), st.floats(49.0, 53.0),
       st.sampled_from(sorted(BUNDLE.categories)))
def test_outside_the_county_nothing_routes(lon: float, lat: float, category: str) -> None:
    assume(COUNTY.geometry.distance(Point(lon, lat)) > EDGE)
    decision = ROUTER.decide(Facts(category), lon=lon, lat=lat)
    assert not decision.routed and decision.reason_code == "outside_area"


def test_the_demo_has_parished_and_unparished_land() -> None:
    """Guards the properties above against passing vacuously on a changed demo bundle."""
    parished = sum(p.geometry.area for p in LAYER["parish"])
    assert 0 < parished < COUNTY.geometry.area
    assert len(LAYER["district"]) == 3 == len({council(d) for d in LAYER["district"]})
