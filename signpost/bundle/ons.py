"""Build a deployment bundle from ONS boundary GeoJSON (`signpost bundle import-ons`).

ONS files name their properties with the year (`PAR23CD`/`PAR23NM`, `LAD23CD`, `CTY23CD`);
re-published copies often rename them (`area_code`/`area_name`, `areacd`/`areanm`). Either is
read. Coordinates stay as published: the layer entry in bundle.yaml names their CRS and the
loader converts to WGS84, so the files can be compared with their source.

The bundle gets one organisation per feature (placeholder clerks to be replaced), the standard
categories and a standard two-tier rule set in which unitary authorities take county matters.
The result is loaded with `load_bundle` before the import reports success.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from schemas import Tier
from signpost.bundle.loader import WGS84, load_bundle

BNG = "EPSG:27700"
CATEGORIES = Path(__file__).resolve().parent.parent / "demo_bundle" / "categories.yaml"
# The ONS code's first three characters say what kind of area a feature is.
DISTRICT_TIERS = {"E06": Tier.UNITARY, "E07": Tier.DISTRICT, "E08": Tier.UNITARY,
                  "E09": Tier.UNITARY, "W06": Tier.UNITARY, "S12": Tier.UNITARY}
LAYER_CODES = {"parish": ("E04", "W04"), "county": ("E10",)}
PREFIXES = {"parish": "PAR", "district": "LAD", "county": "CTY"}
FILES = {"parish": "parishes", "district": "districts", "county": "counties"}
GENERIC_KEYS = (("area_code", "area_name"), ("areacd", "areanm"), ("code", "name"))
Log = Callable[[str], None]


class OnsImportError(Exception):
    """The input cannot become a bundle; `problems` names the file and feature of each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("cannot import:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    geometry: dict[str, Any]


@dataclass(frozen=True)
class SourceLayer:
    layer: str
    path: Path
    crs: str
    areas: list[Area]
    raw_crs: dict[str, Any] | None  # the input's own `crs` member, kept for GIS tools


@dataclass(frozen=True)
class Summary:
    out: Path
    organisations: dict[str, int]  # tier -> count
    rules: int
    warnings: list[str]


def import_ons(parishes: Path, districts: Path, counties: Path | None, out: Path,
               name: str | None = None, *, force: bool = False, log: Log = print) -> Summary:
    """Write a bundle to `out` and return what it holds. Raises OnsImportError on bad input,
    and BundleError if the written bundle does not load (a bug here, or ids the loader refuses)."""
    _check_out(out, force)
    sources = [("parish", parishes), ("district", districts), ("county", counties)]
    layers = [read_layer(path, layer, log) for layer, path in sources if path is not None]
    orgs = [org for source in layers for org in organisations(source)]
    has_county = any(source.layer == "county" for source in layers)
    warnings = _warnings(orgs, has_county)
    rules = standard_rules(has_county)
    bundle_name = name or _default_name(layers)
    _write_bundle(out, bundle_name, layers, orgs, rules, log)
    load_bundle(out)  # the importer's own output must be a valid bundle
    tiers: dict[str, int] = {}
    for org in orgs:
        tiers[org["tier"]] = tiers.get(org["tier"], 0) + 1
    return Summary(out, tiers, len(rules), warnings)


def _check_out(out: Path, force: bool) -> None:
    # --force overwrites the bundle's files but never deletes a directory it did not make.
    if out.exists() and not out.is_dir():
        raise OnsImportError([f"{out}: is a file, not a directory"])
    if out.exists() and any(out.iterdir()) and not force:
        raise OnsImportError([f"{out}: exists and is not empty (--force overwrites its files)"])


# Reading -----------------------------------------------------------------------------------


def read_layer(path: Path, layer: str, log: Log = print) -> SourceLayer:
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
        features = collection["features"]
    except FileNotFoundError:
        raise OnsImportError([f"{path}: file is missing"]) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise OnsImportError([f"{path}: not a GeoJSON FeatureCollection ({exc})"]) from None
    if not isinstance(features, list) or not features:
        raise OnsImportError([f"{path}: has no features"])
    code_key, name_key = detect_keys(path, features, layer)
    crs = detect_crs(path, collection)
    areas, skipped = _areas(path, features, layer, code_key, name_key)
    log(f"read {len(features)} {layer} features from {path} ({code_key}/{name_key}, {crs})")
    if skipped:
        log(f"  skipped {skipped} whose code is not a {layer} ({'/'.join(LAYER_CODES[layer])})")
    raw_crs = collection.get("crs") if isinstance(collection.get("crs"), dict) else None
    return SourceLayer(layer, path, crs, areas, raw_crs)


def detect_keys(path: Path, features: list[Any], layer: str) -> tuple[str, str]:
    """The (code, name) property names: ONS `<PREFIX><YY>CD`/`NM` first, then generic ones."""
    keys = {k for f in features[:50] if isinstance(f, dict)
            for k in (f.get("properties") or {})}
    by_lower = {k.lower(): k for k in keys}
    pattern = re.compile(r"^([a-z]+)(\d\d)cd$")
    found = [(m.group(1), m.group(0)) for k in sorted(by_lower) if (m := pattern.match(k))]
    ons = [(prefix, cd) for prefix, cd in found if cd[:-2] + "nm" in by_lower]
    wanted = [cd for prefix, cd in ons if prefix == PREFIXES[layer].lower()]
    candidates = wanted or [cd for _, cd in ons]
    if len(candidates) == 1:
        code = candidates[0]
        return by_lower[code], by_lower[code[:-2] + "nm"]
    for code, name in GENERIC_KEYS:
        if code in by_lower and name in by_lower:
            return by_lower[code], by_lower[name]
    raise OnsImportError([f"{path}: cannot tell which properties hold the {layer} code and name "
                          f"(expected e.g. {PREFIXES[layer]}23CD/{PREFIXES[layer]}23NM or "
                          f"area_code/area_name; found {', '.join(sorted(keys)) or 'none'})"])


def detect_crs(path: Path, collection: dict[str, Any]) -> str:
    """The CRS the `crs` member names, else British National Grid if coordinates are metres."""
    named = _named_crs(path, collection.get("crs"))
    metric = _looks_metric(collection["features"])
    if named == WGS84 and metric:
        raise OnsImportError([f"{path}: crs says longitude/latitude but coordinates are metres"])
    return named or (BNG if metric else WGS84)


def _named_crs(path: Path, crs: Any) -> str | None:
    if not isinstance(crs, dict):
        return None
    name = str((crs.get("properties") or {}).get("name", ""))
    if name.upper().endswith("CRS84"):
        return WGS84
    match = re.search(r"EPSG:(?:[\d.]*:)?(\d+)$", name, re.IGNORECASE)
    if match is None:
        raise OnsImportError([f"{path}: unrecognised crs {name!r}"])
    return WGS84 if match.group(1) == "4326" else f"EPSG:{match.group(1)}"


def _looks_metric(features: list[Any]) -> bool:
    """Lon/lat never exceeds 180/90; grid coordinates in metres do, almost everywhere in GB."""
    for feature in features[:20]:
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        for x, y in _first_positions(geometry.get("coordinates") if geometry else None):
            if abs(x) > 180 or abs(y) > 90:
                return True
    return False


def _first_positions(coords: Any, limit: int = 10) -> Iterator[tuple[float, float]]:
    while isinstance(coords, list) and coords and isinstance(coords[0], list):
        if not isinstance(coords[0][0], list):
            for position in coords[:limit]:
                if len(position) >= 2 and all(isinstance(v, int | float) for v in position[:2]):
                    yield float(position[0]), float(position[1])
            return
        coords = coords[0]


def _areas(path: Path, features: list[Any], layer: str, code_key: str,
           name_key: str) -> tuple[list[Area], int]:
    areas: list[Area] = []
    problems: list[str] = []
    skipped = 0
    for index, feature in enumerate(features):
        props = (feature.get("properties") if isinstance(feature, dict) else None) or {}
        code, name = str(props.get(code_key) or "").strip(), str(props.get(name_key) or "").strip()
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        label = f"{path}: feature {index}" + (f" ({code})" if code else "")
        if not code or not name:
            problems.append(f"{label}: needs properties {code_key!r} and {name_key!r}")
        elif not isinstance(geometry, dict) or geometry.get("type") not in (
                "Polygon", "MultiPolygon"):
            kind = geometry.get("type") if isinstance(geometry, dict) else "missing"
            problems.append(f"{label}: geometry is {kind}, expected a polygon")
        elif layer in LAYER_CODES and not code.startswith(LAYER_CODES[layer]):
            skipped += 1  # e.g. ONS "non-civil parished" areas in a parish file
        elif layer == "district" and code[:3] not in DISTRICT_TIERS:
            problems.append(f"{label}: {code} is not a local authority district code "
                            f"({', '.join(DISTRICT_TIERS)})")
        else:
            areas.append(Area(code, name, geometry))
    if problems:
        raise OnsImportError(problems)
    return areas, skipped


# Organisations and rules --------------------------------------------------------------------


def organisations(source: SourceLayer) -> list[dict[str, Any]]:
    slugs: set[str] = set()
    orgs = []
    for area in source.areas:
        tier = DISTRICT_TIERS[area.code[:3]] if source.layer == "district" else Tier(source.layer)
        slug = _slug(area.name)
        slug = f"{slug}-{area.code.lower()}" if slug in slugs else slug  # same-named parishes
        slugs.add(slug)
        orgs.append({
            "id": area.code,
            "name": f"{area.name} {_suffix(source.layer)}",
            "tier": tier.value,
            "area": area.code,
            "clerk": {"name": "Clerk (placeholder)", "email": f"clerk@{slug}.example.org"},
        })
    return orgs


def _suffix(layer: str) -> str:
    return {"parish": "Parish Council", "county": "County Council"}.get(layer, "Council")


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:50].strip("-") or "council"


def standard_rules(has_county: bool) -> list[dict[str, Any]]:
    """Two-tier ownership, in order. Unitary districts take county matters; without a county
    layer a two-tier district's county matters stay unroutable (triage), never guessed."""
    speeding = {
        "speed_limit": ["20", "30"], "road_type": "village street", "pattern": "at certain times"}
    return [
        _rule("speeding-community-speedwatch", "speeding", "parish", answers=speeding,
              inside=["parish"],
              description="Village speeding at 20/30 mph is for the parish's Community Speedwatch"),
        *_county_matter("speeding-major-road", "speeding", has_county,
                        answers={"road_type": "A road or dual carriageway"}),
        *_county_matter("speeding-fast-limit", "speeding", has_county,
                        answers={"speed_limit": "40 or more"}),
        _rule("speeding-community-safety", "speeding", "district",
              description="Other speeding goes to the district's community safety partnership"),
        *_county_matter("pothole", "pothole", has_county),
        *_county_matter("streetlight", "streetlight", has_county),
        _rule("fly-tipping-district", "fly_tipping", "district"),
        _rule("missed-bin-district", "missed_bin", "district"),
        *_parish_matter("bus-shelter", "bus_shelter"),
        *_parish_matter("village-green", "village_green"),
        {"id": "housing-registered-home", "category": "housing_repair",
         "description": "Ready for a housing_register.csv: a registered home goes to its provider",
         "when": {"uprn_registered": True}, "owner": {"housing_provider": True}},
        {"id": "housing-estate", "category": "housing_repair", "when": {"inside": ["estate"]},
         "owner": {"housing_provider": True}},
        _rule("housing-district", "housing_repair", "district"),
    ]


def _rule(rule_id: str, category: str, owner_layer: str, description: str = "",
          **when: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": rule_id, "category": category}
    if description:
        rule["description"] = description
    if when:
        rule["when"] = when
    rule["owner"] = {"layer": owner_layer}
    return rule


def _county_matter(stem: str, category: str, has_county: bool,
                   answers: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    asked: dict[str, Any] = {"answers": answers} if answers else {}
    unitary = {"area_tier": {"district": [Tier.UNITARY.value]}, **asked}
    rules = [_rule(f"{stem}-unitary", category, "district",
                   description="A unitary authority does the county's job", **unitary)]
    if has_county:
        in_county = {"inside": ["county"], **asked}
        rules.append(_rule(f"{stem}-county", category, "county", **in_county))
    return rules


def _parish_matter(stem: str, category: str) -> list[dict[str, Any]]:
    return [_rule(f"{stem}-parish", category, "parish", inside=["parish"]),
            _rule(f"{stem}-unparished", category, "district", outside=["parish"],
                  description="Unparished areas: the district (or unitary) owns it")]


def _warnings(orgs: list[dict[str, Any]], has_county: bool) -> list[str]:
    two_tier = sum(1 for o in orgs if o["tier"] == Tier.DISTRICT.value)
    if two_tier and not has_county:
        return [f"{two_tier} two-tier districts (E07) but no --counties: their county matters "
                "(potholes, street lights, major-road speeding) will be unroutable"]
    return []


def _default_name(layers: list[SourceLayer]) -> str:
    names = [a.name for s in layers if s.layer == "district" for a in s.areas]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{shown} (ONS import)"


# Writing -----------------------------------------------------------------------------------


def _write_bundle(out: Path, name: str, layers: list[SourceLayer], orgs: list[dict[str, Any]],
                  rules: list[dict[str, Any]], log: Log) -> None:
    (out / "boundaries").mkdir(parents=True, exist_ok=True)
    entries = []
    for source in layers:
        file = f"boundaries/{FILES[source.layer]}.geojson"
        _write(out / file, _geojson(source), log)
        entry = {"layer": source.layer, "file": file}
        if source.crs != WGS84:
            entry["crs"] = source.crs
        entries.append(entry)
    manifest = {"name": name, "version": date.today().isoformat(), "boundaries": entries}
    header = ("# Imported from ONS boundaries by `signpost bundle import-ons`.\n"
              "# Contains National Statistics and OS data (c) Crown copyright and database "
              "right (Open Government Licence v3.0).\n")
    _write(out / "bundle.yaml", header + _yaml(manifest), log)
    _write(out / "organisations.yaml",
           "# Clerks are placeholders: replace each with the organisation's real contact.\n"
           + _yaml(orgs), log)
    _write(out / "categories.yaml", CATEGORIES.read_text(encoding="utf-8"), log)
    _write(out / "rules.yaml", "# Ordered ownership rules: the first rule whose conditions all "
           "hold decides the owner.\n" + _yaml(rules), log)


def _geojson(source: SourceLayer) -> str:
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    if source.raw_crs:
        collection["crs"] = source.raw_crs
    collection["features"] = [
        {"type": "Feature", "properties": {"code": a.code, "name": a.name}, "geometry": a.geometry}
        for a in source.areas]
    return json.dumps(collection, separators=(",", ":")) + "\n"


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)


def _write(path: Path, text: str, log: Log) -> None:
    path.write_text(text, encoding="utf-8")
    log(f"wrote {path}")
