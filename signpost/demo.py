"""Writes the demo bundle's boundaries: the fictional two-tier county of Vale, on a grid.

Three district strips; each split into 0.1° cells, some of them civil parishes and the rest
unparished town. Run `python -m signpost.demo DIR` to regenerate the GeoJSON files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

WEST, SOUTH, CELL = -1.6, 51.0, 0.1
DISTRICTS = [("E07999001", "Westbury"), ("E07999002", "Midford"), ("E07999003", "Eastcombe")]
# (district index, column 0-1, row 0-2) -> parish; cells not listed are unparished.
PARISHES = {
    (0, 0, 0): ("E04999001", "Ashcombe"),
    (0, 1, 0): ("E04999002", "Bramley Green"),
    (0, 0, 1): ("E04999003", "Coldharbour"),
    (0, 0, 2): ("E04999004", "Dunmere"),
    (1, 0, 0): ("E04999005", "Elmstead"),
    (1, 1, 2): ("E04999006", "Fairoak"),
    (2, 0, 0): ("E04999007", "Greyfriars"),
    (2, 1, 0): ("E04999008", "Hollins Cross"),
    (2, 0, 2): ("E04999009", "Ivybridge Parva"),
    (2, 1, 2): ("E04999010", "Juniper Hill"),
}
ESTATE = ("EST-0001", "Millbrook Estate", "vale-homes", (-1.33, 51.13, -1.31, 51.15))


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def feature(code: str, name: str, geometry: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, "name": name, **extra},
            "geometry": geometry}


def collections() -> dict[str, list[dict[str, Any]]]:
    county = [feature("E10999001", "Vale", box(WEST, SOUTH, WEST + 6 * CELL, SOUTH + 3 * CELL))]
    districts = [
        feature(code, name, box(WEST + 2 * i * CELL, SOUTH, WEST + 2 * (i + 1) * CELL,
                                SOUTH + 3 * CELL))
        for i, (code, name) in enumerate(DISTRICTS)
    ]
    parishes = [
        feature(code, name, box(WEST + (2 * d + c) * CELL, SOUTH + r * CELL,
                                WEST + (2 * d + c + 1) * CELL, SOUTH + (r + 1) * CELL))
        for (d, c, r), (code, name) in PARISHES.items()
    ]
    code, name, provider, bounds = ESTATE
    estates = [feature(code, name, box(*bounds), provider=provider)]
    return {"county": county, "districts": districts, "parishes": parishes, "estates": estates}


def write(directory: Path) -> None:
    (directory / "boundaries").mkdir(parents=True, exist_ok=True)
    for layer, features in collections().items():
        path = directory / "boundaries" / f"{layer}.geojson"
        text = json.dumps({"type": "FeatureCollection", "features": features}, indent=1)
        path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "demo_bundle")
