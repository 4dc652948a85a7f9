"""Point-in-polygon look-up over every boundary layer, with one STRtree built once per bundle.

Each layer gives a point at most one feature. A point on an edge shared by touching features
of a layer belongs to the one with the lower feature id, so the same point always gets the
same answer. A point inside two or more features of one layer (they overlap: bad data) gets an
`AmbiguousArea` naming them all, which the rules send to triage instead of guessing an owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree, points
from shapely.geometry import GeometryCollection

from signpost.bundle import Boundary

_NOWHERE = GeometryCollection()


@dataclass(frozen=True)
class AmbiguousArea(Boundary):
    """Stands in a layer's place when the point is inside several of its features. Its
    feature_id joins theirs, so nothing keyed by feature id mistakes it for one of them."""

    candidates: tuple[Boundary, ...] = ()

    @classmethod
    def of(cls, candidates: Sequence[Boundary]) -> AmbiguousArea:
        ordered = tuple(sorted(candidates, key=lambda b: b.feature_id))
        return cls(layer=ordered[0].layer, feature_id="+".join(b.feature_id for b in ordered),
                   name=" / ".join(b.name for b in ordered), geometry=_NOWHERE,
                   candidates=ordered)


def _settle(candidates: Sequence[Boundary], inside: Sequence[bool]) -> Boundary:
    """One layer's answer from the features whose closure holds the point (two or more),
    `inside` saying which hold it in their interior."""
    interior = [b for b, i in zip(candidates, inside, strict=True) if i]
    if len(interior) > 1:
        return AmbiguousArea.of(interior)
    return min(interior or candidates, key=lambda b: b.feature_id)


class BoundaryIndex:
    def __init__(self, boundaries: Sequence[Boundary]) -> None:
        self._boundaries = list(boundaries)
        self._geoms = np.array([b.geometry for b in self._boundaries], dtype=object)
        self._tree = STRtree(self._geoms)
        layers = sorted({b.layer for b in self._boundaries})
        self._layer = np.array([layers.index(b.layer) for b in self._boundaries], dtype=np.int64)
        by_id = sorted(range(len(self._boundaries)), key=lambda i: self._boundaries[i].feature_id)
        self._rank = np.empty(len(self._boundaries), dtype=np.int64)
        self._rank[by_id] = np.arange(len(by_id))

    def containing(self, lon: float, lat: float) -> dict[str, Boundary]:
        """The feature of each layer that holds the point (see the module's docstring)."""
        return self.containing_many(np.array([lon]), np.array([lat]))[0]

    def containing_many(self, lons: np.ndarray, lats: np.ndarray) -> list[dict[str, Boundary]]:
        """Vectorised look-up for a batch of points (same answers as `containing`). Only the
        (point, layer) pairs with more than one candidate pay for an interior test."""
        lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
        pts, hits = self._tree.query(points(lons, lats), predicate="intersects")
        order = np.lexsort((self._rank[hits], self._layer[hits], pts))
        pts, hits = pts[order], hits[order]
        layer = self._layer[hits]
        starts = np.ones(len(pts), dtype=bool)
        starts[1:] = (pts[1:] != pts[:-1]) | (layer[1:] != layer[:-1])
        group = np.cumsum(starts) - 1
        shared = np.bincount(group)[group] > 1 if len(group) else starts
        found: list[dict[str, Boundary]] = [{} for _ in range(len(lons))]
        boundaries = self._boundaries
        for p, i in zip(pts[~shared].tolist(), hits[~shared].tolist(), strict=True):
            found[p][boundaries[i].layer] = boundaries[i]
        if shared.any():
            inside = shapely.contains_xy(self._geoms[hits[shared]], lons[pts[shared]],
                                         lats[pts[shared]]).tolist()
            groups: dict[int, tuple[int, list[Boundary], list[bool]]] = {}
            for g, p, i, ins in zip(group[shared].tolist(), pts[shared].tolist(),
                                    hits[shared].tolist(), inside, strict=True):
                _, candidates, flags = groups.setdefault(g, (p, [], []))
                candidates.append(boundaries[i])
                flags.append(ins)
            for p, candidates, flags in groups.values():
                found[p][candidates[0].layer] = _settle(candidates, flags)
        return found
