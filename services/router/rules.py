"""The ownership rules: ordered, first match wins, and every decision says how it was made.

Pure: takes the bundle, the boundaries containing the point and the report's facts; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from schemas import BoundaryHit, Owner, RoutingTrace, Tier
from services.router.geography import AmbiguousArea
from signpost.bundle import Boundary, Bundle, Organisation, OwnerRef, Rule


@dataclass(frozen=True)
class Facts:
    """What the router knows about a report when it decides."""

    category: str
    answers: dict[str, str] = field(default_factory=dict)
    uprn: str | None = None


@dataclass(frozen=True)
class Decision:
    owner: Organisation | None
    rule_id: str | None
    trace: RoutingTrace
    reason_code: str | None = None
    reason: str | None = None

    @property
    def routed(self) -> bool:
        return self.owner is not None

    @cached_property
    def owner_named(self) -> Owner | None:
        """The owner as events name it: made once per decision, which the router reuses for
        every report that shares its facts and place."""
        return self.owner.as_owner() if self.owner else None


class Unroutable(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def decide(bundle: Bundle, facts: Facts, areas: dict[str, Boundary]) -> Decision:
    evaluated: list[str] = []
    try:
        if facts.category not in bundle.categories:
            raise Unroutable("unknown_category",
                             f"category {facts.category!r} is not in the bundle")
        if not areas:
            raise Unroutable("outside_area", "the location is outside every boundary in the bundle")
        for rule in bundle.rules:
            evaluated.append(rule.id)
            if matches(rule, facts, areas, bundle):
                owner = resolve_owner(rule.owner, facts, areas, bundle)
                return Decision(owner, rule.id, _trace(bundle, evaluated, rule.id, areas))
        raise Unroutable("no_rule", f"no rule owns category {facts.category!r} at this location")
    except Unroutable as exc:
        return Decision(None, None, _trace(bundle, evaluated, None, areas), exc.code, exc.reason)


def matches(rule: Rule, facts: Facts, areas: dict[str, Boundary], bundle: Bundle) -> bool:
    when = rule.when
    if rule.category not in ("*", facts.category):
        return False
    for question, wanted in when.answers.items():
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if facts.answers.get(question) not in allowed:
            return False
    if any(layer not in areas for layer in when.inside):
        return False
    if any(layer in areas for layer in when.outside):
        return False
    if when.uprn_registered is not None:
        registered = facts.uprn is not None and facts.uprn in bundle.housing_register
        if registered != when.uprn_registered:
            return False
    return all(_area_has_tier(layer, tiers, areas, bundle)
               for layer, tiers in when.area_tier.items())


def _area_has_tier(layer: str, tiers: list[Tier], areas: dict[str, Boundary],
                   bundle: Bundle) -> bool:
    area = _one(areas.get(layer))
    owner = bundle.organisation_for_area(area.feature_id) if area else None
    return owner is not None and owner.tier in tiers


def resolve_owner(ref: OwnerRef, facts: Facts, areas: dict[str, Boundary],
                  bundle: Bundle) -> Organisation:
    if ref.organisation:
        return bundle.organisations[ref.organisation]
    if ref.housing_provider:
        return _housing_provider(facts, areas, bundle)
    if ref.layer is None:  # OwnerRef's validator makes this unreachable; say so if not
        raise Unroutable("invalid_rule", "the rule names no owner")
    area = _one(areas.get(ref.layer))
    if area is None:
        raise Unroutable("not_in_layer", f"the location is in no {ref.layer} boundary")
    owner = bundle.organisation_for_area(area.feature_id)
    if owner is None:
        raise Unroutable("no_owner_for_area",
                         f"no organisation covers {ref.layer} {area.feature_id} ({area.name})")
    return owner


def _housing_provider(facts: Facts, areas: dict[str, Boundary], bundle: Bundle) -> Organisation:
    provider = bundle.housing_register.get(facts.uprn or "")
    if provider is None:  # the register answers first; an estate only where it does not
        estate = _one(areas.get("estate"))
        provider = estate.provider if estate else None
    if provider is None:
        raise Unroutable("no_housing_provider", "no housing provider owns this property")
    return bundle.organisations[provider]


def _one(area: Boundary | None) -> Boundary | None:
    """The feature a rule needs, or triage where overlapping features of its layer all hold
    the point: no nearest-owner guess. Only a rule that needs *which* feature asks (an owner
    by layer, an area's tier, an estate's provider); being inside the layer at all is true
    whichever it is, so a county pothole on a parish overlap still routes."""
    if isinstance(area, AmbiguousArea):
        raise Unroutable("ambiguous_area",
                         f"the location is inside {len(area.candidates)} overlapping "
                         f"{area.layer} boundaries: "
                         + ", ".join(f"{b.feature_id} ({b.name})" for b in area.candidates))
    return area


def _trace(bundle: Bundle, evaluated: list[str], matched: str | None,
           areas: dict[str, Boundary]) -> RoutingTrace:
    found = [c for b in areas.values()
             for c in (b.candidates if isinstance(b, AmbiguousArea) else (b,))]
    hits = [BoundaryHit(layer=b.layer, feature_id=b.feature_id, name=b.name)
            for b in sorted(found, key=lambda b: (b.layer, b.feature_id))]
    return RoutingTrace(bundle_version=bundle.version, rules_evaluated=list(evaluated),
                        matched_rule=matched, boundaries=hits)
