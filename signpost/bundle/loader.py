"""Load and validate a bundle directory. Every error names the file, the line or feature, and
the problem, so a council officer can fix it; a router never starts on an invalid bundle.

Layout:
  bundle.yaml           name, version, boundary layer files
  organisations.yaml    owners and their clerks
  categories.yaml       report categories, their (up to three) questions, optional
                        `sensitive: true` (never shown to anonymous readers)
  rules.yaml            ordered ownership rules; first match wins
  housing_register.csv  optional: uprn,provider
  templates/            optional: a category's own email, <category id>.txt.j2 and .html.j2
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pyproj import Transformer
from pyproj.exceptions import CRSError
from shapely import make_valid
from shapely.geometry import shape
from shapely.ops import transform

from signpost.bundle.model import (
    LAYERS,
    Boundary,
    Bundle,
    Category,
    Entry,
    Organisation,
    Rule,
)
from signpost.bundle.templates import load_templates

WGS84 = "EPSG:4326"
M = TypeVar("M", bound=BaseModel)
# Where each entry was read, so cross-file problems can name a line: file -> id -> "file:line".
Sources = dict[str, dict[str, str]]


class BundleError(Exception):
    """The bundle is invalid; `problems` lists every problem found, each a readable line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid bundle:\n  " + "\n  ".join(problems))
        self.problems = problems


class LayerFile(Entry):
    layer: str
    file: str
    id_property: str = "code"
    name_property: str = "name"
    provider_property: str | None = None
    crs: str = WGS84


class Manifest(Entry):
    name: str
    version: str
    boundaries: list[LayerFile]


def load_bundle(directory: Path | str) -> Bundle:
    problems: list[str] = []
    sources: Sources = {}
    root = Path(directory)
    manifest = _load_one(root / "bundle.yaml", Manifest, problems)
    organisations = _load_list(root / "organisations.yaml", Organisation, problems, sources)
    before = len(problems)
    categories = _load_list(root / "categories.yaml", Category, problems, sources)
    categories_whole = len(problems) == before
    rules = _load_list(root / "rules.yaml", Rule, problems, sources)
    boundaries = [b for lf in (manifest.boundaries if manifest else []) for b in
                  _load_layer(root, lf, problems, sources)]
    register = _load_register(root / "housing_register.csv", problems, sources)
    # Templates name categories: with categories.yaml broken, they would only add noise.
    templates = (load_templates(root, {c.id: c for c in categories}, problems)
                 if categories_whole else {})
    if problems or manifest is None:
        raise BundleError(problems or ["bundle.yaml: unreadable"])
    bundle = Bundle(
        name=manifest.name,
        version=f"{manifest.version}+{_digest(root)}",
        organisations={o.id: o for o in organisations},
        categories={c.id: c for c in categories},
        rules=rules,
        boundaries=boundaries,
        housing_register=register,
        templates=templates,
    )
    _cross_check(bundle, sources, problems)
    if problems:
        raise BundleError(problems)
    return bundle


def load_bundle_or_exit(directory: Path, log: Any) -> Bundle:
    """For a service's start-up: an invalid bundle is logged, problem by problem, and the
    process exits with status 2 rather than run on a half-understood configuration."""
    try:
        bundle = load_bundle(directory)
    except BundleError as exc:
        log.error("bundle_invalid", bundle=str(directory), problems=exc.problems)
        raise SystemExit(2) from None
    log.info("bundle_loaded", bundle=bundle.name, version=bundle.version,
             categories=len(bundle.categories), rules=len(bundle.rules))
    return bundle


def bundle_digest(directory: Path | str) -> str:
    """The content digest that ends `Bundle.version`: a cheap way to see a bundle changed."""
    return _digest(Path(directory))


def _digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha.update(path.relative_to(root).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:12]


def _read_yaml(path: Path, problems: list[str]) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        if data is None:  # an empty file would otherwise load as an empty bundle part
            problems.append(f"{path.name}: file is empty")
        return data, yaml.compose(text, Loader=yaml.SafeLoader)
    except FileNotFoundError:
        problems.append(f"{path.name}: file is missing")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problems.append(f"{path.name}{line}: not valid YAML: {exc.problem or exc.context}")
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
    return None, None


def _load_one(path: Path, model: type[M], problems: list[str]) -> M | None:
    data, node = _read_yaml(path, problems)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_explain(path, node, exc, ()))
    return None


def _load_list(path: Path, model: type[M], problems: list[str], sources: Sources) -> list[M]:
    data, node = _read_yaml(path, problems)
    if data is None:
        return []
    if not isinstance(data, list):
        problems.append(f"{path.name}: expected a list of entries")
        return []
    items: list[M] = []
    where = sources.setdefault(path.name, {})
    for index, item in enumerate(data):
        try:
            entry = model.model_validate(item)
        except ValidationError as exc:
            problems.extend(_explain(path, node, exc, (index,)))
            continue
        # The line of the entry in the file, not of its position among the valid ones.
        at = f"{path.name}:{_line(node, (index,))}"
        ident = str(getattr(entry, "id", index))
        if ident in where:
            problems.append(f"{at}: duplicate id {ident!r} (first at {where[ident]})")
            continue
        where[ident] = at
        items.append(entry)
    return items


def _explain(path: Path, node: yaml.Node | None, exc: ValidationError,
             prefix: tuple[int | str, ...]) -> Iterable[str]:
    for err in exc.errors(include_url=False, include_input=False):
        loc = (*prefix, *err["loc"])
        field = ".".join(str(p) for p in err["loc"]) or "entry"
        yield f"{path.name}:{_line(node, loc)}: {field}: {err['msg']}"


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    best = node.start_mark.line + 1 if node else 0
    for step in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        elif isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(step)), None)
        else:
            break
        if node is None:
            break
        best = node.start_mark.line + 1
    return best


def _load_layer(root: Path, lf: LayerFile, problems: list[str],
                sources: Sources) -> list[Boundary]:
    where = lf.file
    if lf.layer not in LAYERS:
        problems.append(f"bundle.yaml: layer {lf.layer!r} is not one of {', '.join(LAYERS)}")
        return []
    try:
        collection = json.loads((root / lf.file).read_text(encoding="utf-8"))
        features = collection["features"]
    except FileNotFoundError:
        problems.append(f"{where}: file is missing")
        return []
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"{where}: not a GeoJSON FeatureCollection ({exc})")
        return []
    try:
        to_wgs84 = None if lf.crs == WGS84 else Transformer.from_crs(lf.crs, WGS84, always_xy=True)
    except CRSError as exc:
        problems.append(f"bundle.yaml: {where}: unknown crs {lf.crs!r} ({exc})")
        return []
    if not isinstance(features, list):
        problems.append(f"{where}: features is not a list")
        return []
    boundaries: list[Boundary] = []
    seen = sources.setdefault("features", {})
    for index, feature in enumerate(features):
        boundary = _boundary(where, index, feature, lf, to_wgs84, problems)
        if boundary is None:
            continue
        at = f"{where}: feature {index} ({boundary.feature_id})"
        if boundary.feature_id in seen:  # ids name areas across layers, so must be unique
            problems.append(f"{at}: duplicate feature id (first at {seen[boundary.feature_id]})")
            continue
        seen[boundary.feature_id] = at
        boundaries.append(boundary)
    return boundaries


def _boundary(where: str, index: int, feature: Any, lf: LayerFile,
              to_wgs84: Transformer | None, problems: list[str]) -> Boundary | None:
    label = f"{where}: feature {index}"
    if not isinstance(feature, dict):
        problems.append(f"{label}: not a GeoJSON Feature")
        return None
    props = feature.get("properties") or {}
    fid, name = props.get(lf.id_property), props.get(lf.name_property)
    if not fid or not name:
        problems.append(f"{label}: needs properties {lf.id_property!r} and {lf.name_property!r}")
        return None
    try:
        geometry = shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.append(f"{label} ({fid}): unreadable geometry ({exc})")
        return None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        problems.append(f"{label} ({fid}): geometry is {geometry.geom_type}, expected a polygon")
        return None
    if to_wgs84 is not None:
        geometry = transform(to_wgs84.transform, geometry)
    if not geometry.is_valid:
        geometry = make_valid(geometry)
    provider = props.get(lf.provider_property) if lf.provider_property else None
    return Boundary(lf.layer, str(fid), str(name), geometry, provider)


def _load_register(path: Path, problems: list[str], sources: Sources) -> dict[str, str]:
    if not path.exists():
        return {}
    register: dict[str, str] = {}
    where = sources.setdefault(path.name, {})
    with path.open(newline="", encoding="utf-8") as handle:
        for row in (reader := csv.DictReader(handle)):
            at = f"{path.name}:{reader.line_num}"
            uprn, provider = (row.get("uprn") or "").strip(), (row.get("provider") or "").strip()
            if not uprn.isdigit() or not provider:
                problems.append(f"{at}: needs a numeric uprn and a provider")
            elif uprn in where:
                problems.append(f"{at}: uprn {uprn} is listed twice (first at {where[uprn]})")
            else:
                register[uprn], where[uprn] = provider, at
    return register


def _cross_check(bundle: Bundle, sources: Sources, problems: list[str]) -> None:
    """References between files: every id a rule or register names must exist."""
    orgs, cats = bundle.organisations, bundle.categories
    _check_areas(bundle, sources, problems)
    for rule in bundle.rules:
        _check_rule(rule, cats, orgs, sources, problems)
        _check_area_tier(rule, bundle, sources, problems)
    for uprn, provider in bundle.housing_register.items():
        if provider not in orgs:
            at = sources["housing_register.csv"][uprn]
            problems.append(f"{at}: uprn {uprn}: unknown provider {provider!r}")
    for b in bundle.boundaries:
        if b.provider and b.provider not in orgs:
            problems.append(f"{sources['features'][b.feature_id]}: unknown provider {b.provider!r}")


def _check_areas(bundle: Bundle, sources: Sources, problems: list[str]) -> None:
    """Each organisation's area is a feature, and no feature has two owners."""
    feature_ids = {b.feature_id for b in bundle.boundaries}
    owners: dict[str, str] = {}
    for org in bundle.organisations.values():
        if not org.area:
            continue
        at = f"{sources['organisations.yaml'][org.id]}: {org.id}"
        if org.area not in feature_ids:
            problems.append(f"{at}: area {org.area!r} is no boundary feature")
        elif org.area in owners:
            problems.append(f"{at}: area {org.area!r} is already covered by {owners[org.area]}")
        else:
            owners[org.area] = org.id


def _check_area_tier(rule: Rule, bundle: Bundle, sources: Sources, problems: list[str]) -> None:
    """An area_tier condition on a layer no organisation covers could never hold."""
    covered = {b.layer for b in bundle.boundaries if bundle.organisation_for_area(b.feature_id)}
    for layer in rule.when.area_tier:
        if layer not in covered:
            problems.append(f"{sources['rules.yaml'][rule.id]}: rule {rule.id}: area_tier names "
                            f"{layer!r}, but no organisation covers a {layer} feature")


def _check_rule(rule: Rule, cats: dict[str, Category], orgs: dict[str, Organisation],
                sources: Sources, problems: list[str]) -> None:
    where = f"{sources['rules.yaml'][rule.id]}: rule {rule.id}"
    if rule.owner.organisation and rule.owner.organisation not in orgs:
        problems.append(f"{where}: unknown organisation {rule.owner.organisation!r}")
    category = cats.get(rule.category)
    if rule.category != "*" and category is None:
        problems.append(f"{where}: unknown category {rule.category!r}")
        return
    for qid, wanted in rule.when.answers.items():
        question = category.question(qid) if category else None
        if question is None:
            problems.append(f"{where}: question {qid!r} is not asked for {rule.category!r}")
            continue
        for answer in [wanted] if isinstance(wanted, str) else wanted:
            if answer not in question.answers:
                problems.append(f"{where}: {answer!r} is not an answer to {qid!r}")
