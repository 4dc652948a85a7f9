"""SLA clocks: an owner who does not acknowledge a report within its category's SLA is
reminded once; if another SLA period passes without an acknowledgement the report is
escalated to the next tier's owner, who gets a clock of their own.

Pure: the clock is a value, and each function takes the clock (and the time) and answers the
next clock or what to do. The app (app.py) keeps one clock per report in a Faust table, starts
it when a delivery succeeds, stops it on `ReportAcknowledged` and acts on due clocks.

- One clock per report, not per owner: the latest owner notified is the one the report waits
  on. A report re-routed to another owner (`signpost route replay`) therefore stops waiting on
  the old one, and an escalation replaces the clock with the next owner's.
- An acknowledgement by the current owner, or by any owner the report was escalated from,
  stops it: someone in the chain has the report, and escalating further would only add noise.
- The next tier comes from the boundaries the router found the report in (`trace.boundaries`)
  and the organisation covering each: a parish's district (or the unitary covering it where
  there is no district), else the county; a district's county. County, unitary and housing
  provider have no next tier: the breach is recorded (metric, log) and the clock ends. A
  housing provider is not escalated to the district on purpose: a district council cannot
  repair a housing association's homes, and the route for those complaints is the Housing
  Ombudsman, not Signpost.
- A finished clock is kept for a while (`sla_keep_finished_s`): a redelivered notification
  (the at-least-once window) must not start it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import NAMESPACE_URL, uuid5

from pydantic import BaseModel, ConfigDict

from schemas import Owner, ReportEscalated, ReportRouted, Tier
from signpost.bundle import Bundle

DEFAULT_SLA_HOURS = 72.0  # a category no longer in the bundle (as Category.sla_hours)
# Tiers to look for, in order, among the organisations covering the report's point.
NEXT_TIERS: dict[Tier, tuple[Tier, ...]] = {
    Tier.PARISH: (Tier.DISTRICT, Tier.UNITARY, Tier.COUNTY),
    Tier.DISTRICT: (Tier.COUNTY,),
}
Ending = Literal["acknowledged", "escalated", "no_next_tier"]


class SlaClock(BaseModel):
    """One report's wait for its current owner's acknowledgement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routed: ReportRouted  # as delivered to the current owner: a reminder sends it again
    partition: int  # the input and changelog partition: only that partition's worker acts
    notified_at: datetime
    sla_hours: float
    reminded_at: datetime | None = None
    earlier_owners: tuple[str, ...] = ()  # escalated from, oldest first
    ended: Ending | None = None
    ended_at: datetime | None = None
    acknowledged_by: str | None = None

    @property
    def reference(self) -> str:
        return self.routed.report.reference

    @property
    def owner(self) -> Owner:
        return self.routed.owner

    @property
    def period(self) -> timedelta:
        return timedelta(hours=self.sla_hours)

    def due_at(self) -> datetime | None:
        """When the next breach falls due; None once the clock has ended."""
        if self.ended is not None:
            return None
        return (self.reminded_at or self.notified_at) + self.period


@dataclass(frozen=True)
class Remind:
    """First breach: notify the same owner again, once."""


@dataclass(frozen=True)
class Escalate:
    """Second breach: notify the next tier's owner."""

    to: Owner


@dataclass(frozen=True)
class NoNextTier:
    """Second breach at the top tier (or a housing provider): record it and stop."""


@dataclass(frozen=True)
class Forget:
    """A clock that ended long enough ago to drop from the table."""


Action = Remind | Escalate | NoNextTier | Forget


def sla_hours(bundle: Bundle, category_id: str) -> float:
    category = bundle.categories.get(category_id)
    return category.sla_hours if category else DEFAULT_SLA_HOURS


def start(existing: SlaClock | None, routed: ReportRouted, *, partition: int,
          sla_hours: float, now: datetime) -> SlaClock | None:
    """The clock after `routed` was delivered, or None to leave the existing one as it is.

    A reminder never restarts the clock (it is the clock's own doing); nor does a second
    delivery to an owner the report already waits on, or waited on before an escalation
    (a redelivery inside the at-least-once window)."""
    if routed.reminder:
        return None
    earlier: tuple[str, ...] = ()
    if existing is not None:
        if routed.owner.id == existing.owner.id or routed.owner.id in existing.earlier_owners:
            return None
        if routed.escalated_from is not None:
            earlier = (*existing.earlier_owners, routed.escalated_from.id)
    elif routed.escalated_from is not None:  # the old clock was forgotten meanwhile
        earlier = (routed.escalated_from.id,)
    return SlaClock(routed=routed, partition=partition, notified_at=now, sla_hours=sla_hours,
                    earlier_owners=earlier)


def acknowledge(clock: SlaClock, owner_id: str, now: datetime) -> SlaClock | None:
    """The clock after `owner_id` acknowledged the report, or None if that changes nothing
    (already ended, or an owner the report no longer waits on, e.g. one re-routed away)."""
    if clock.ended is not None:
        return None
    if owner_id != clock.owner.id and owner_id not in clock.earlier_owners:
        return None
    return clock.model_copy(update={"ended": "acknowledged", "ended_at": now,
                                    "acknowledged_by": owner_id})


def decide(clock: SlaClock, now: datetime, bundle: Bundle, *,
           keep_finished_s: float) -> Action | None:
    """What to do about the clock now; None: nothing yet."""
    at = next_check_at(clock, now, keep_finished_s=keep_finished_s)
    if at is None or now < at:
        return None
    if clock.ended is not None:
        return Forget()
    if clock.reminded_at is None:
        return Remind()
    to = next_tier_owner(clock.routed, bundle)
    return Escalate(to) if to is not None else NoNextTier()


def next_check_at(clock: SlaClock, now: datetime, *, keep_finished_s: float) -> datetime | None:
    """The earliest time `decide` answers anything but None (None: never). The notifier's
    timer keeps only this per clock, and parses a clock again only once it has come."""
    if clock.ended is not None:
        return (clock.ended_at or now) + timedelta(seconds=keep_finished_s)
    return clock.due_at()


def next_tier_owner(routed: ReportRouted, bundle: Bundle) -> Owner | None:
    """The owner one tier up from `routed.owner` at the report's point, or None."""
    covering = [organisation for hit in routed.trace.boundaries
                if (organisation := bundle.organisation_for_area(hit.feature_id)) is not None]
    for tier in NEXT_TIERS.get(routed.owner.tier, ()):
        for organisation in covering:
            if organisation.tier == tier and organisation.id != routed.owner.id:
                return organisation.as_owner()
    return None


def reminded(clock: SlaClock, now: datetime) -> SlaClock:
    return clock.model_copy(update={"reminded_at": now})


def ended(clock: SlaClock, how: Ending, now: datetime) -> SlaClock:
    return clock.model_copy(update={"ended": how, "ended_at": now})


def reminder(clock: SlaClock, now: datetime) -> ReportRouted:
    """The delivery that reminds the current owner: the same report, marked as a reminder
    (its own idempotency key, so it is sent once despite the first delivery's)."""
    return clock.routed.model_copy(update={"reminder": True, "escalated_from": None,
                                           "occurred_at": now, "event_id": _event_id(clock,
                                                                                     "reminder")})


def escalation(clock: SlaClock, to: Owner, now: datetime) -> tuple[ReportEscalated,
                                                                     ReportRouted]:
    """The event saying so, and the delivery to the next tier's owner.

    Event ids are derived from the report and the owners, so a repeat after a crash (the
    event published, the clock not yet updated) is recognisably the same event."""
    reason = (f"not acknowledged by {clock.owner.id} ({clock.owner.tier.value}) within "
              f"{clock.sla_hours:g} h, nor within {clock.sla_hours:g} h of a reminder")
    event = ReportEscalated(report_reference=clock.reference, from_owner=clock.owner,
                            to_owner=to, reason=reason, sla_hours=clock.sla_hours,
                            occurred_at=now, event_id=_event_id(clock, f"escalated/{to.id}"))
    routed = clock.routed.model_copy(update={
        "owner": to, "escalated_from": clock.owner, "reminder": False, "occurred_at": now,
        "event_id": _event_id(clock, f"routed/{to.id}")})
    return event, routed


def notice(routed: ReportRouted) -> str:
    """How a reminder or an escalation announces itself, e.g. at the start of a subject."""
    if routed.reminder:
        return "Reminder, not yet acknowledged: "
    if routed.escalated_from is not None:
        return f"Escalated from {routed.escalated_from.name}: "
    return ""


def _event_id(clock: SlaClock, what: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"signpost:{clock.reference}/{clock.owner.id}/{what}"))
