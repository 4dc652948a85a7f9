"""Point-in-polygon look-up over every boundary layer, with one STRtree built once per bundle."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from shapely import STRtree, points

from signpost.bundle import Boundary


class BoundaryIndex:
    def __init__(self, boundaries: Sequence[Boundary]) -> None:
        self._boundaries = list(boundaries)
        self._tree = STRtree([b.geometry for b in self._boundaries])

    def containing(self, lon: float, lat: float) -> dict[str, Boundary]:
        """The feature of each layer that contains the point.

        A point exactly on a boundary shared by two features of one layer belongs to the one
        with the lower feature id, so the same point always gets the same answer.
        """
        hits = self._tree.query(points(lon, lat), predicate="intersects")
        found: dict[str, Boundary] = {}
        for i in sorted(hits.tolist(), key=lambda j: self._boundaries[j].feature_id):
            boundary = self._boundaries[i]
            found.setdefault(boundary.layer, boundary)
        return found

    def containing_many(self, lons: np.ndarray, lats: np.ndarray) -> list[dict[str, Boundary]]:
        """Vectorised look-up for a batch of points (same answers as `containing`)."""
        pts, hits = self._tree.query(points(lons, lats), predicate="intersects")
        found: list[dict[str, Boundary]] = [{} for _ in range(len(lons))]
        order = sorted(zip(pts.tolist(), hits.tolist(), strict=True),
                       key=lambda ph: (ph[0], self._boundaries[ph[1]].feature_id))
        for p, i in order:
            found[p].setdefault(self._boundaries[i].layer, self._boundaries[i])
        return found
