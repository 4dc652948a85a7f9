"""Ordnance Survey grid references ("ST 12345 67890"), which council officers and their GIS
read more readily than latitude and longitude.

Pure: WGS84 lat/lon → British National Grid (EPSG:27700) → two 100 km square letters and
five digits each of easting and northing (1 m). Uses the same transformation choice as
intake's easting/northing → lat/lon, so a grid point given to intake comes back as itself.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pyproj import Transformer

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"
# The National Grid's extent: 7 x 13 squares of 100 km from its false origin.
GRID_EAST_M, GRID_NORTH_M = 700_000, 1_300_000
# The 25 letters of a 5 x 5 block, row by row from the north-west; I is not used.
LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=2)
def _transformer(source: str, target: str) -> Transformer:
    # One choice for both directions, so a grid point given to intake comes back as itself.
    # Best is OSTN15 (a grid file pyproj downloads on demand, so not here); the Helmert shift
    # it falls back to is good to a few metres over Great Britain, well inside any boundary's
    # resolution; far offshore it falls back to coarser shifts (tens of metres).
    return Transformer.from_crs(source, target, always_xy=True, only_best=False)


def wgs84_to_bng(lat: float, lon: float) -> tuple[float, float]:
    """(easting, northing) in metres; not finite where the projection has no answer."""
    easting, northing = _transformer(WGS84, BNG).transform(lon, lat)
    return float(easting), float(northing)


def bng_to_wgs84(easting: float, northing: float) -> tuple[float, float]:
    """(lat, lon) for a British National Grid point."""
    lon, lat = _transformer(BNG, WGS84).transform(easting, northing)
    return float(lat), float(lon)


def grid_reference(lat: float, lon: float) -> str | None:
    """The 10-figure grid reference of a WGS84 point, or None outside the National Grid.

    The grid is a rectangle, so a point just across the Channel or the Irish Sea still has
    one; reports come from the council's own area, so that is not worth a coastline check.
    """
    return bng_grid_reference(*wgs84_to_bng(lat, lon))


def bng_grid_reference(easting: float, northing: float) -> str | None:
    """Easting and northing in metres → "ST 12345 67890"; None outside the grid."""
    if not (math.isfinite(easting) and math.isfinite(northing)):
        return None
    # To the centimetre first, so a point that converted to 2999.9993 m (a round trip through
    # lat/lon is out by up to a millimetre) is read as 3000, not truncated to 2999.
    easting, northing = round(easting, 2), round(northing, 2)
    if not (0 <= easting < GRID_EAST_M and 0 <= northing < GRID_NORTH_M):
        return None
    e100k, n100k = int(easting // 100_000), int(northing // 100_000)
    # First letter: the 500 km square (S and T in the south, N and O, then H and J);
    # second: the 100 km square within it. Both count rows from the north.
    first = (19 - n100k) - (19 - n100k) % 5 + (e100k + 10) // 5
    second = (19 - n100k) * 5 % 25 + e100k % 5
    # Truncated, not rounded: a reference names the square the point lies in.
    east, north = int(easting) % 100_000, int(northing) % 100_000
    return f"{LETTERS[first]}{LETTERS[second]} {east:05d} {north:05d}"
