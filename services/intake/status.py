"""A report's current state, projected from the event stream: received, routed (to whom),
notified, acknowledged by the owner, escalated to the next tier (to whom), unroutable (why),
dead-lettered. Pure: fed events,
answers look-ups; the Kafka consumer that feeds it is status_feed.py.

Bounded: past `max_reports` the least recently changed report is forgotten (its status then
answers 404). Topics are read independently, so events may arrive in any order: each one only
fills in its own part of the record, and the state is derived from what is known."""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal, NamedTuple

from pydantic import Field, TypeAdapter

from schemas import (
    DeadLetter,
    Event,
    NotificationFailed,
    NotificationSent,
    Owner,
    Report,
    ReportAcknowledged,
    ReportEscalated,
    ReportRouted,
    ReportSubmitted,
    ReportUnroutable,
)

State = Literal["received", "routed", "notified", "acknowledged", "escalated", "unroutable",
                "dead_lettered"]
DESCRIPTION_KEPT = 4000  # Open311 answers at most this much of it
IDEMPOTENCY_HEADER = "signpost_idempotency"
# The notification topic carries the notifier's outcomes, the owners' acknowledgements and
# the notifier's escalations.
Notification = Annotated[NotificationSent | NotificationFailed | ReportAcknowledged |
                         ReportEscalated, Field(discriminator="event_type")]
NOTIFICATION = TypeAdapter(Notification)


@dataclass(slots=True)
class Delivery:
    sent: bool
    channel: str
    reason: str | None = None
    permanent: bool = False


@dataclass(slots=True)
class Escalation:
    from_owner: str  # owner id
    to_owner: Owner
    at: datetime


class Position(NamedTuple):
    """Where a record is: the intake re-reads it from there if the pipeline lost it."""
    partition: int
    offset: int


# One per report kept, so as few objects as the collector must walk: a full collection's
# pause grows with them and, at thousands of reports a second, was intake's p99 latency.
@dataclass(slots=True)  # no per-instance __dict__
class ReportStatus:
    reference: str
    updated_at: datetime
    submitted: Position | None = None  # on the submitted topic
    routed: dict[str, Position] | None = None  # owner id -> on the routed topic
    deferred: tuple[str, ...] = ()  # owner ids with a delivery on the retry topic
    # The resident's report minus their contact details, as JSON: one untracked string in
    # place of about ten model objects; read back only when someone asks for the report.
    report_json: str | None = None
    # Who sent it and what it is, kept beside the JSON so reads are filtered without parsing.
    source: str | None = None
    category: str | None = None
    owners: dict[str, Owner] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # owner id -> latest
    acknowledged: dict[str, datetime] = field(default_factory=dict)  # owner id -> first ack
    escalations: dict[str, Escalation] = field(default_factory=dict)  # to owner id -> first
    unroutable_reason: str | None = None
    dead_letter_reason: str | None = None

    @property
    def escalated_to(self) -> Owner | None:
        """The owner the report was last escalated to."""
        latest = max(self.escalations.values(), key=lambda e: e.at, default=None)
        return latest.to_owner if latest else None

    @property
    def state(self) -> State:
        if self.owners and set(self.owners) <= set(self.acknowledged):
            return "acknowledged"
        if self.escalations:
            # As the notifier sees it: anyone along the escalation chain acknowledging it
            # means someone has the report.
            chain = set(self.escalations) | {e.from_owner for e in self.escalations.values()}
            return "acknowledged" if chain & set(self.acknowledged) else "escalated"
        if self.owners:
            sent = all(d.sent for o in self.owners if (d := self.deliveries.get(o)))
            if sent and set(self.owners) <= set(self.deliveries):
                return "notified"
            return "routed"
        if self.unroutable_reason is not None:
            return "unroutable"
        if self.dead_letter_reason is not None:
            return "dead_lettered"
        return "received"

    @property
    def report(self) -> Report | None:
        """Parsed from `report_json` on every read: read it once per answer."""
        return None if self.report_json is None else Report.model_validate_json(self.report_json)


class StatusProjection:
    def __init__(self, max_reports: int = 100_000) -> None:
        self.max_reports = max_reports
        self._reports: OrderedDict[str, ReportStatus] = OrderedDict()
        self._idempotency: dict[str, str] = {}  # scoped key hash -> reference
        self._keys: dict[str, str] = {}  # reference -> scoped key hash, to forget both
        self._owners: dict[str, Owner] = {}  # one instance per owner, shared by its reports

    def __len__(self) -> int:
        return len(self._reports)

    def get(self, reference: str) -> ReportStatus | None:
        return self._reports.get(reference)

    def by_idempotency_key(self, scoped: str) -> str | None:
        return self._idempotency.get(scoped)

    def recent(self, limit: int) -> list[ReportStatus]:
        """The most recently changed first."""
        found: list[ReportStatus] = []
        for status in reversed(self._reports.values()):
            if len(found) >= limit:
                break
            found.append(status)
        return found

    def statuses(self) -> list[ReportStatus]:
        return list(self._reports.values())

    def apply(self, event: Event, idempotency: str | None = None,
              position: Position | None = None) -> None:
        """`position`: where the event was read, for a submitted or routed report."""
        if not event.reference:
            return  # a dead letter without a key belongs to no report
        status = self._touch(event.reference, event.occurred_at)
        if isinstance(event, ReportSubmitted) and position and status.submitted is None:
            status.submitted = position
        elif isinstance(event, ReportRouted) and position:
            status.routed = status.routed or {}
            status.routed.setdefault(event.owner.id, position)
        if isinstance(event, ReportSubmitted | ReportRouted | ReportUnroutable) and \
                status.report_json is None:
            status.report_json = _kept(event.report)
            # Interned: a few distinct values shared by every report, not a copy each.
            status.source = sys.intern(event.report.source)
            status.category = sys.intern(event.report.category)
        if isinstance(event, ReportRouted):
            status.owners[event.owner.id] = self._shared(event.owner)
        elif isinstance(event, ReportUnroutable):
            status.unroutable_reason = event.reason
        elif isinstance(event, NotificationSent):
            status.deliveries[event.owner_id] = Delivery(True, event.channel)
        elif isinstance(event, NotificationFailed):
            if not (status.deliveries.get(event.owner_id) or Delivery(False, "")).sent:
                status.deliveries[event.owner_id] = Delivery(
                    False, event.channel, event.reason, event.permanent)
        elif isinstance(event, ReportAcknowledged):
            status.acknowledged.setdefault(event.owner_id, event.occurred_at)
        elif isinstance(event, ReportEscalated):
            to_owner = self._shared(event.to_owner)
            status.owners.setdefault(to_owner.id, to_owner)
            status.escalations.setdefault(to_owner.id, Escalation(
                event.from_owner.id, to_owner, event.occurred_at))
        elif isinstance(event, DeadLetter):
            status.dead_letter_reason = event.reason
        if idempotency:
            self._idempotency[idempotency] = event.reference
            self._keys[event.reference] = idempotency

    def resubmitted(self, reference: str, position: Position) -> None:
        """A lost report was submitted again: watch the new copy from now on."""
        status = self._reports.get(reference)
        if status is not None:
            status.submitted = position

    def deferred(self, routed: ReportRouted) -> None:
        """The notifier put a delivery on its retry topic: not lost, only waiting."""
        status = self._reports.get(routed.reference)
        if status is not None and routed.owner.id not in status.deferred:
            status.deferred += (routed.owner.id,)

    def _shared(self, owner: Owner) -> Owner:
        """The projection's instance of this owner (the latest details win)."""
        known = self._owners.get(owner.id)
        if known != owner:
            known = self._owners[owner.id] = owner
        return known

    def _touch(self, reference: str, when: datetime) -> ReportStatus:
        status = self._reports.get(reference)
        if status is None:
            status = self._reports[reference] = ReportStatus(reference, when)
            while len(self._reports) > self.max_reports:
                old, _ = self._reports.popitem(last=False)
                key = self._keys.pop(old, None)
                if key is not None:
                    self._idempotency.pop(key, None)
        else:
            self._reports.move_to_end(reference)
            status.updated_at = max(status.updated_at, when)
        return status


def _kept(report: Report) -> str:
    """What the projection keeps of a report: no contact details, a bounded description."""
    if len(report.description) > DESCRIPTION_KEPT:
        report = report.model_copy(update={"description": report.description[:DESCRIPTION_KEPT]})
    return report.model_dump_json(exclude={"reporter"})
