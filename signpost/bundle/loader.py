"""Load and validate a bundle directory. Every error names the file, the line or feature, and
the problem, so a council officer can fix it; a router never starts on an invalid bundle.

Layout:
  bundle.yaml           name, version, boundary layer files
  organisations.yaml    owners and their clerks
  categories.yaml       report categories and their (up to three) questions
  rules.yaml            ordered ownership rules; first match wins
  housing_register.csv  optional: uprn,provider
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

WGS84 = "EPSG:4326"
M = TypeVar("M", bound=BaseModel)


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
    root = Path(directory)
    manifest = _load_one(root / "bundle.yaml", Manifest, problems)
    organisations = _load_list(root / "organisations.yaml", Organisation, problems)
    categories = _load_list(root / "categories.yaml", Category, problems)
    rules = _load_list(root / "rules.yaml", Rule, problems)
    boundaries = [b for lf in (manifest.boundaries if manifest else []) for b in
                  _load_layer(root, lf, problems)]
    register = _load_register(root / "housing_register.csv", problems)
    if problems:
        raise BundleError(problems)
    assert manifest is not None
    bundle = Bundle(
        name=manifest.name,
        version=f"{manifest.version}+{_digest(root)}",
        organisations={o.id: o for o in organisations},
        categories={c.id: c for c in categories},
        rules=rules,
        boundaries=boundaries,
        housing_register=register,
    )
    _cross_check(bundle, problems)
    if problems:
        raise BundleError(problems)
    return bundle


def _digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha.update(path.relative_to(root).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:12]


def _read_yaml(path: Path, problems: list[str]) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except FileNotFoundError:
        problems.append(f"{path.name}: file is missing")
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


def _load_list(path: Path, model: type[M], problems: list[str]) -> list[M]:
    data, node = _read_yaml(path, problems)
    if data is None:
        return []
    if not isinstance(data, list):
        problems.append(f"{path.name}: expected a list of entries")
        return []
    items: list[M] = []
    for index, item in enumerate(data):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            problems.extend(_explain(path, node, exc, (index,)))
    _check_unique(path, node, [getattr(i, "id", None) for i in items], problems)
    return items


def _check_unique(path: Path, node: yaml.Node | None, ids: list[Any], problems: list[str]) -> None:
    seen: set[Any] = set()
    for index, ident in enumerate(ids):
        if ident in seen:
            problems.append(f"{path.name}:{_line(node, (index,))}: duplicate id {ident!r}")
        seen.add(ident)


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


def _load_layer(root: Path, lf: LayerFile, problems: list[str]) -> list[Boundary]:
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
    to_wgs84 = None if lf.crs == WGS84 else Transformer.from_crs(lf.crs, WGS84, always_xy=True)
    boundaries = (_boundary(where, i, f, lf, to_wgs84, problems) for i, f in enumerate(features))
    return [b for b in boundaries if b is not None]


def _boundary(where: str, index: int, feature: Any, lf: LayerFile,
              to_wgs84: Transformer | None, problems: list[str]) -> Boundary | None:
    props = (feature or {}).get("properties") or {}
    label = f"{where}: feature {index}"
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


def _load_register(path: Path, problems: list[str]) -> dict[str, str]:
    if not path.exists():
        return {}
    register: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            uprn, provider = (row.get("uprn") or "").strip(), (row.get("provider") or "").strip()
            if not uprn.isdigit() or not provider:
                problems.append(f"{path.name}:{line}: needs a numeric uprn and a provider")
                continue
            register[uprn] = provider
    return register


def _cross_check(bundle: Bundle, problems: list[str]) -> None:
    """References between files: every id a rule or register names must exist."""
    orgs, cats = bundle.organisations, bundle.categories
    feature_ids = {b.feature_id for b in bundle.boundaries}
    for org in orgs.values():
        if org.area and org.area not in feature_ids:
            problems.append(
                f"organisations.yaml: {org.id}: area {org.area!r} is no boundary feature")
    for rule in bundle.rules:
        _check_rule(rule, cats, orgs, problems)
    for uprn, provider in bundle.housing_register.items():
        if provider not in orgs:
            problems.append(f"housing_register.csv: uprn {uprn}: unknown provider {provider!r}")
    for b in bundle.boundaries:
        if b.provider and b.provider not in orgs:
            problems.append(f"{b.layer} {b.feature_id}: unknown provider {b.provider!r}")


def _check_rule(rule: Rule, cats: dict[str, Category], orgs: dict[str, Organisation],
                problems: list[str]) -> None:
    where = f"rules.yaml: rule {rule.id}"
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
