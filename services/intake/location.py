"""Where a report is: WGS84 latitude/longitude (web maps) or British National Grid
easting/northing (council GIS, EPSG:27700), always stored as WGS84."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from schemas import Location
from services.intake.problems import FieldProblem
from signpost.gridref import bng_to_wgs84


class PointIn(BaseModel):
    """Either lat and lon, or easting and northing: exactly one pair. Numbers must be JSON
    numbers (strict): "51.0" as text is refused, not guessed at."""

    model_config = ConfigDict(extra="forbid", strict=True)

    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, WGS84 degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, WGS84 degrees")
    easting: float | None = Field(None, ge=0, le=700_000,
                                  description="British National Grid easting, metres")
    northing: float | None = Field(None, ge=0, le=1_300_000,
                                   description="British National Grid northing, metres")




def resolve(point: PointIn, path: tuple[str, ...] = ("location",)
            ) -> Location | list[FieldProblem]:
    wgs = (point.lat, point.lon)
    grid = (point.easting, point.northing)
    has_wgs, has_grid = any(v is not None for v in wgs), any(v is not None for v in grid)
    if has_wgs and has_grid:
        return [FieldProblem.at(list(path), "Give either lat and lon, or easting and northing, "
                                            "not both.")]
    if not (has_wgs or has_grid):
        return [FieldProblem.at(list(path), "A location is required: give lat and lon (WGS84), "
                                            "or easting and northing (British National Grid).")]
    names, values = (("lat", "lon"), wgs) if has_wgs else (("easting", "northing"), grid)
    missing = [n for n, v in zip(names, values, strict=True) if v is None]
    if missing:
        other = next(n for n in names if n not in missing)
        return [FieldProblem.at([*path, m], f"Required together with {other}.") for m in missing]
    if point.lat is not None and point.lon is not None:
        return Location(lat=point.lat, lon=point.lon)
    if point.easting is None or point.northing is None:  # unreachable: checked above
        return [FieldProblem.at(list(path), "Give easting and northing.")]
    lat, lon = bng_to_wgs84(point.easting, point.northing)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return [FieldProblem.at(list(path), "This grid reference cannot be converted.")]
    return Location(lat=round(lat, 7), lon=round(lon, 7))
