"""The likely-duplicate index: distance, category, window, self, redelivery, eviction."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Location, Report
from services.router.duplicates import OpenReports, distance_m

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LAT, LON = 51.25, -1.05
_numbers = itertools.count(1)


def north(metres: float) -> float:
    return LAT + metres / 111_200


def east(metres: float) -> float:
    return LON + metres / (111_320 * math.cos(math.radians(LAT)))


def report(category: str = "pothole", lat: float = LAT, lon: float = LON,
           hours: float = 0, reference: str | None = None) -> Report:
    reference = reference or f"SP-TEST-{next(_numbers):04d}-0000"
    return Report(reference=reference, category=category, location=Location(lat=lat, lon=lon),
                  submitted_at=T0 + timedelta(hours=hours))


def routed(index: OpenReports, r: Report) -> str | None:
    found = index.likely_duplicate_of(r)
    index.record(r, "owner-1", found)
    return found


@pytest.fixture
def index() -> OpenReports:
    return OpenReports(window_s=72 * 3600, distance_m=250)


def test_distance_is_metres_on_the_ground() -> None:
    assert distance_m(LON, LAT, LON, north(100)) == pytest.approx(100, rel=0.01)
    assert distance_m(LON, LAT, east(100), LAT) == pytest.approx(100, rel=0.01)


@pytest.mark.parametrize("dx, dy", [(50, 0), (0, 240), (-170, -170), (240, 0), (0, -240)])
def test_same_category_within_the_distance_is_a_likely_duplicate(
        index: OpenReports, dx: float, dy: float) -> None:
    first = report()
    assert routed(index, first) is None
    assert routed(index, report(lat=north(dy), lon=east(dx), hours=1)) == first.reference


@pytest.mark.parametrize("dx, dy", [(260, 0), (0, 260), (-190, -190), (2000, 0)])
def test_outside_the_distance_is_not(index: OpenReports, dx: float, dy: float) -> None:
    routed(index, report())
    assert routed(index, report(lat=north(dy), lon=east(dx), hours=1)) is None


def test_other_category_is_not(index: OpenReports) -> None:
    routed(index, report("pothole"))
    assert routed(index, report("streetlight", hours=1)) is None


def test_the_nearest_earlier_report_is_chosen(index: OpenReports) -> None:
    far, near = report(lat=north(200)), report(lat=north(30))
    routed(index, far)
    routed(index, near)
    assert index.likely_duplicate_of(report(hours=1)) == near.reference


def test_outside_the_window_is_not(index: OpenReports) -> None:
    routed(index, report())
    assert routed(index, report(hours=73)) is None
    assert routed(index, report(lon=east(2000), hours=100)) is None


def test_a_later_submission_is_not_what_an_earlier_one_duplicates(index: OpenReports) -> None:
    routed(index, report(hours=5))
    assert index.likely_duplicate_of(report(hours=1)) is None


def test_a_report_is_never_its_own_duplicate(index: OpenReports) -> None:
    first = report()
    assert routed(index, first) is None
    assert routed(index, first) is None  # redelivered: still not a duplicate of itself


def test_a_redelivered_report_gets_the_answer_it_got_first(index: OpenReports) -> None:
    first, second = report(lat=north(100)), report(hours=1)
    routed(index, first)
    assert routed(index, second) == first.reference
    routed(index, report(hours=0.5))  # a nearer, earlier report arrives in between
    assert routed(index, second) == first.reference


def test_old_reports_are_evicted_by_time(index: OpenReports) -> None:
    old = report()
    routed(index, old)
    routed(index, report(lon=east(5000), hours=80))
    assert old.reference not in index and len(index) == 1


def test_memory_is_bounded_by_size() -> None:
    index = OpenReports(window_s=72 * 3600, distance_m=250, max_size=3)
    reports = [report(lon=east(1000 * i), hours=i / 100) for i in range(10)]
    for r in reports:
        routed(index, r)
    assert len(index) == 3
    assert [r.reference in index for r in reports[-3:]] == [True] * 3
    assert routed(index, report(hours=1)) is None  # the first report was forgotten


def test_many_reports_in_many_cells(index: OpenReports) -> None:
    for i in range(500):
        routed(index, report(lat=north(300 * (i // 25)), lon=east(300 * (i % 25)), hours=i / 1000))
    target = report(lat=north(300 * 7 + 20), lon=east(300 * 3 - 20), hours=1)
    found = index.likely_duplicate_of(target)
    assert found is not None and len(index) == 500


@settings(max_examples=60, deadline=None)
@given(lat=st.floats(-70, 70), spread_m=st.sampled_from([150.0, 400.0, 2000.0]),
       seed=st.integers(0, 2**32 - 1))
def test_the_grid_finds_what_a_search_of_every_report_finds(lat: float, spread_m: float,
                                                            seed: int) -> None:
    """Whatever the latitude and however the reports fall across cell edges, the answer is
    the nearest earlier report of the category within the distance, as a brute-force search
    over every recorded report says."""
    rng, index, kept = random.Random(seed), OpenReports(window_s=72 * 3600, distance_m=250), []
    metres_per_degree_lon = 111_320 * math.cos(math.radians(lat))
    for i in range(120):
        r = report(category=rng.choice(["pothole", "graffiti"]),
                   lat=lat + rng.uniform(-spread_m, spread_m) / 111_200,
                   lon=10 + rng.uniform(-spread_m, spread_m) / metres_per_degree_lon,
                   hours=i / 100)
        expected = min(((distance_m(r.location.lon, r.location.lat, o.location.lon,
                                    o.location.lat), o.reference) for o in kept
                        if o.category == r.category), default=None)
        if expected is not None and expected[0] > 250:
            expected = None
        assert routed(index, r) == (expected[1] if expected else None)
        kept.append(r)
