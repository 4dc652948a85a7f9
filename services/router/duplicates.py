"""Likely duplicates: a report of the same category close to a recent routed report.

Pure and in memory; no I/O. The router asks `likely_duplicate_of` for each report and then
`record`s the routed ones. "Open" means "routed within the window": Signpost does not learn
when an owner closes a report, so the window stands in for it (FixMyStreet's own check uses
the same category within 250 to 1000 m).

Points are bucketed by category in a grid of cells about `distance_m` tall, so a look-up reads
a few cells and measures the great-circle (haversine) distance to each candidate. Memory is
bounded twice: records older than the window (by the newest submission time seen, so the
answer does not depend on when the router happens to run) are evicted, and so are the oldest
once there are `max_size`. The grid does not wrap at the antimeridian (irrelevant in England).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import NamedTuple

from schemas import Report

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 110_500.0  # slightly under the true 110.6 to 111.7 km: cells err large
# Cells twice as wide in degrees as they are tall: at England's latitudes (50 to 56 degrees) a
# degree of longitude is 0.56 to 0.64 of one of latitude, so they are roughly square on the
# ground, and a look-up reads 6 to 9 cells instead of 12 to 15.
CELL_WIDTH_IN_HEIGHTS = 2


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance on the mean-radius sphere (well under 0.5% from the ellipsoid)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class Seen(NamedTuple):  # one per routed report in the window: a tuple is quick to make
    reference: str
    category: str
    lon: float
    lat: float
    submitted_at: float  # POSIX seconds
    owner_id: str
    likely_duplicate_of: str | None


Cell = tuple[str, int, int]


class OpenReports:
    def __init__(self, window_s: float, distance_m: float, max_size: int = 200_000) -> None:
        if window_s <= 0 or distance_m <= 0 or max_size < 1:
            raise ValueError("window, distance and max size must be positive")
        self.window_s, self.distance_m, self.max_size = window_s, distance_m, max_size
        self._cell_deg = distance_m / METRES_PER_DEGREE_LAT  # its height
        self._cell_lon_deg = self._cell_deg * CELL_WIDTH_IN_HEIGHTS
        self._seen: dict[str, Seen] = {}  # insertion order: oldest first, for eviction
        self._cells: dict[Cell, dict[str, Seen]] = {}  # reference -> its entry
        self._newest = -math.inf

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, reference: object) -> bool:
        return reference in self._seen

    def _cell(self, category: str, lon: float, lat: float) -> Cell:
        return category, math.floor(lat / self._cell_deg), math.floor(lon / self._cell_lon_deg)

    def _reach(self, lat: float) -> tuple[float, float]:
        """Degrees of latitude and longitude that `distance_m` spans at most, near `lat`."""
        dlat = self._cell_deg
        coslat = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
        return dlat, dlat / max(coslat, 0.01)

    def _neighbourhood(self, category: str, lon: float, lat: float, dlat: float,
                       dlon: float) -> list[Cell]:
        _, south, west = self._cell(category, lon - dlon, lat - dlat)
        _, north, east = self._cell(category, lon + dlon, lat + dlat)
        return [(category, row, col) for row in range(south, north + 1)
                for col in range(west, east + 1)]

    def likely_duplicate_of(self, report: Report) -> str | None:
        """The reference of the nearest recorded report of the same category within the
        distance, submitted no later than this one and at most the window before it. A report
        already recorded gets the answer recorded for it (so a redelivery gets the same one)."""
        return self._nearest(report, _seconds(report.submitted_at))

    def record(self, report: Report, owner_id: str, likely_duplicate_of: str | None) -> None:
        """Remember a routed report (a second record of the same reference changes nothing)."""
        self._remember(report, _seconds(report.submitted_at), owner_id, likely_duplicate_of)

    def observe(self, report: Report, owner_id: str | None) -> str | None:
        """`likely_duplicate_of`, then `record` if the report was routed (to `owner_id`):
        the router's one call per report."""
        at = _seconds(report.submitted_at)
        original = self._nearest(report, at)
        if owner_id is not None:
            self._remember(report, at, owner_id, original)
        return original

    def _nearest(self, report: Report, at: float) -> str | None:
        known = self._seen.get(report.reference)
        if known is not None:
            return known.likely_duplicate_of
        lon, lat = report.location.lon, report.location.lat
        dlat, dlon = self._reach(lat)
        earliest, cells = at - self.window_s, self._cells
        empty: dict[str, Seen] = {}
        best: tuple[float, str] | None = None
        for cell in self._neighbourhood(report.category, lon, lat, dlat, dlon):
            for reference, other in cells.get(cell, empty).items():
                # Most of the cells' reports are outside the distance's box: cheaper to rule
                # out by it than by the great-circle distance.
                if abs(other.lat - lat) > dlat or abs(other.lon - lon) > dlon \
                        or not earliest <= other.submitted_at <= at:
                    continue
                metres = distance_m(lon, lat, other.lon, other.lat)
                if metres <= self.distance_m and (best is None or (metres, reference) < best):
                    best = (metres, reference)
        return best[1] if best else None

    def _remember(self, report: Report, at: float, owner_id: str,
                  likely_duplicate_of: str | None) -> None:
        if report.reference in self._seen:
            return
        seen = Seen(report.reference, report.category, report.location.lon, report.location.lat,
                    at, owner_id, likely_duplicate_of)
        self._seen[seen.reference] = seen
        self._cells.setdefault(self._cell(seen.category, seen.lon, seen.lat),
                               {})[seen.reference] = seen
        if at > self._newest:
            self._newest = at
        self._evict()

    def _evict(self) -> None:
        cutoff = self._newest - self.window_s
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest.submitted_at >= cutoff and len(self._seen) <= self.max_size:
                break
            self._forget(oldest)

    def _forget(self, seen: Seen) -> None:
        del self._seen[seen.reference]
        cell = self._cell(seen.category, seen.lon, seen.lat)
        members = self._cells[cell]
        members.pop(seen.reference, None)
        if not members:
            del self._cells[cell]


def _seconds(when: datetime) -> float:
    return when.timestamp()
