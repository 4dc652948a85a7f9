"""`signpost route explain`: the decision for one point and category, as JSON, with no broker.

The same Router as the service, so what it prints is what the service would decide. Inputs no
report could carry are refused rather than routed: a point outside the event contract's
Location, or a category or answers intake's own check would turn away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas import Location
from services.intake.models import Catalogue
from services.router.router import Router
from services.router.rules import Facts
from signpost.bundle import BundleError, load_bundle

LIMITS = {"lat": "from -90 to 90", "lon": "from -180 to 180"}


class InvalidInput(ValueError):
    """An input no submitted report could have; the message is one line naming the option."""


def explain(bundle_dir: Path, category: str, lat: float, lon: float, answers: dict[str, str],
            uprn: str | None) -> tuple[dict[str, Any], int]:
    """The decision as a JSON-ready dict, and the exit status (0 routed, 1 unroutable, 2 an
    invalid bundle). Raises InvalidInput for a point, category or answer a report can't have."""
    try:
        Location(lat=lat, lon=lon)
    except ValidationError as exc:
        bad = sorted({str(e["loc"][0]) for e in exc.errors()})
        raise InvalidInput("; ".join(f"--{name}: must be a finite number {LIMITS[name]} "
                                     "(WGS84 degrees)" for name in bad)) from None
    try:
        bundle = load_bundle(bundle_dir)
    except BundleError as exc:
        return {"error": "invalid bundle", "problems": exc.problems}, 2
    refused = Catalogue(list(bundle.categories.values())).check(category, answers,
                                                              name_unknown=True)
    if refused:
        code, problems = refused
        if code == "unknown_category":
            raise InvalidInput(f"--category {category}: {problems[0].message}")
        raise InvalidInput("; ".join(
            f"--answer {p.field.removeprefix('answers.')}: {p.message.rstrip('.')}"
            for p in problems))
    decision = Router(bundle).decide(Facts(category, answers, uprn), lon=lon, lat=lat)
    result: dict[str, Any] = {
        "routed": decision.routed,
        "owner": None,
        "rule_id": decision.rule_id,
        "reason_code": decision.reason_code,
        "reason": decision.reason,
        "trace": decision.trace.model_dump(mode="json"),
    }
    if decision.owner:
        owner = decision.owner
        result["owner"] = {"id": owner.id, "name": owner.name, "tier": owner.tier.value}
    return result, 0 if decision.routed else 1
