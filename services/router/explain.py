"""`signpost route explain`: the decision for one point and category, as JSON, with no broker.

The same Router as the service, so what it prints is what the service would decide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.router.router import Router
from services.router.rules import Facts
from signpost.bundle import BundleError, load_bundle


def explain(bundle_dir: Path, category: str, lat: float, lon: float, answers: dict[str, str],
            uprn: str | None) -> tuple[dict[str, Any], int]:
    """The decision as a JSON-ready dict, and the exit status (0 routed, 1 unroutable, 2 error)."""
    try:
        bundle = load_bundle(bundle_dir)
    except BundleError as exc:
        return {"error": "invalid bundle", "problems": exc.problems}, 2
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
