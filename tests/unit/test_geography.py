"""The boundary index: which feature of each layer holds a point, the same way every time."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from services.router.geography import AmbiguousArea, BoundaryIndex
from signpost.bundle import Boundary, Bundle

# Demo parishes: Ashcombe E04999001 (-1.6..-1.5) and Bramley Green E04999002 (-1.5..-1.4) share
# the edge lon -1.5 for lat 51.0..51.1; Coldharbour E04999003 sits above Ashcombe.
SHARED_EDGE = (-1.5, 51.05)
SHARED_CORNER = (-1.5, 51.1)


def parish_id(index: BoundaryIndex, lon: float, lat: float) -> str | None:
    parish = index.containing(lon, lat).get("parish")
    return parish.feature_id if parish else None


def test_point_in_every_layer(demo_bundle: Bundle) -> None:
    found = BoundaryIndex(demo_bundle.boundaries).containing(-1.32, 51.14)  # Millbrook Estate
    assert {layer: b.feature_id for layer, b in found.items()} == {
        "county": "E10999001", "district": "E07999002", "estate": "EST-0001"}


def test_outside_everything(demo_bundle: Bundle) -> None:
    assert BoundaryIndex(demo_bundle.boundaries).containing(0.0, 0.0) == {}


@pytest.mark.parametrize("point", [SHARED_EDGE, SHARED_CORNER])
def test_shared_edge_goes_to_lower_feature_id(demo_bundle: Bundle,
                                              point: tuple[float, float]) -> None:
    index = BoundaryIndex(demo_bundle.boundaries)
    assert parish_id(index, *point) == "E04999001"
    assert index.containing(*point)["district"].feature_id == "E07999001"


def test_tie_break_does_not_depend_on_file_order() -> None:
    """Four squares meeting at (1, 1), listed in an order unrelated to their ids."""
    squares = [("P-d", box(1, 1, 2, 2)), ("P-b", box(0, 1, 1, 2)),
               ("P-c", box(1, 0, 2, 1)), ("P-a", box(0, 0, 1, 1))]
    for order in (squares, squares[::-1], squares[1:] + squares[:1]):
        index = BoundaryIndex([Boundary("parish", fid, fid, geom) for fid, geom in order])
        assert parish_id(index, 1.0, 1.0) == "P-a"
        assert parish_id(index, 1.0, 1.5) == "P-b"  # edge between P-b and P-d
        assert parish_id(index, 1.5, 1.0) == "P-c"  # edge between P-c and P-d
        assert parish_id(index, 1.5, 1.5) == "P-d"


def test_containing_many_agrees_with_containing(demo_bundle: Bundle) -> None:
    index = BoundaryIndex(demo_bundle.boundaries)
    # A grid that hits cell interiors, every shared edge and corner, and the outside.
    lons = np.round(np.arange(-1.65, -0.95, 0.025), 6)
    lats = np.round(np.arange(50.95, 51.35, 0.025), 6)
    grid_lon, grid_lat = (a.ravel() for a in np.meshgrid(lons, lats))
    rng = np.random.default_rng(7)
    all_lon = np.concatenate([grid_lon, rng.uniform(-1.7, -0.9, 500)])
    all_lat = np.concatenate([grid_lat, rng.uniform(50.9, 51.4, 500)])
    batch = index.containing_many(all_lon, all_lat)
    singles = [index.containing(float(x), float(y)) for x, y in zip(all_lon, all_lat, strict=True)]
    assert batch == singles
    assert any("parish" in found for found in batch) and any(not found for found in batch)


def test_containing_many_of_nothing(demo_bundle: Bundle) -> None:
    assert BoundaryIndex(demo_bundle.boundaries).containing_many(np.array([]), np.array([])) == []


def test_empty_index() -> None:
    assert BoundaryIndex([]).containing(0.0, 0.0) == {}


# Overlapping parishes (bad data): P-a 0..2 and P-b 1..3 overlap over 1..2; one district.
OVERLAP = [Boundary("parish", "P-b", "Bee", box(1, 0, 3, 2)),
           Boundary("district", "D-1", "Dee", box(0, 0, 3, 2)),
           Boundary("parish", "P-a", "Ay", box(0, 0, 2, 2))]


def test_a_point_inside_overlapping_features_is_ambiguous() -> None:
    for order in (OVERLAP, OVERLAP[::-1]):
        found = BoundaryIndex(order).containing(1.5, 1.0)
        parish = found["parish"]
        assert isinstance(parish, AmbiguousArea)
        assert [b.feature_id for b in parish.candidates] == ["P-a", "P-b"]
        assert parish.feature_id == "P-a+P-b" and parish.layer == "parish"
        assert found["district"].feature_id == "D-1"  # other layers are unaffected


def test_overlap_edges_go_to_the_feature_holding_the_point_inside() -> None:
    index = BoundaryIndex(OVERLAP)
    assert parish_id(index, 0.5, 1.0) == "P-a"
    assert parish_id(index, 2.5, 1.0) == "P-b"
    assert parish_id(index, 1.0, 1.0) == "P-a"  # on P-b's edge, inside P-a
    assert parish_id(index, 2.0, 1.0) == "P-b"  # on P-a's edge, inside P-b: not the lower id
    assert parish_id(index, 1.5, 2.0) == "P-a"  # on both edges (the top): the lower id


def test_containing_many_agrees_with_containing_where_features_overlap() -> None:
    squares = [Boundary("parish", fid, fid, box(x, y, x + 1, y + 1))
               for fid, x, y in (("Q-d", 1, 1), ("Q-b", 0, 1), ("Q-c", 1, 0), ("Q-a", 0, 0))]
    index = BoundaryIndex(OVERLAP + squares + [Boundary("parish", "Q-x", "x", box(0.5, 0.5,
                                                                                  1.5, 1.5))])
    axis = np.arange(-0.25, 3.3, 0.25)
    lons, lats = (a.ravel() for a in np.meshgrid(axis, axis))
    batch = index.containing_many(lons, lats)
    singles = [index.containing(float(x), float(y)) for x, y in zip(lons, lats, strict=True)]
    assert batch == singles
    assert any(isinstance(f.get("parish"), AmbiguousArea) for f in batch)
    assert any(f.get("parish") and not isinstance(f["parish"], AmbiguousArea) for f in batch)
