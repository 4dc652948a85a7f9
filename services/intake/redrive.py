"""Finding reports the pipeline lost, and sending them again.

A report is lost at a stage when the stage's consumer group has committed past its record
(so the stage will never read it again) and no outcome for it has appeared since, a grace
period later: no routing decision or dead letter for a submitted report; no delivery, failure
or deferral for an owner a report was routed to. Neither should happen; the chaos tests saw
it, rarely, on the embedded broker under kill -9 (docs/reliability.md). The record is then
published again, as it was: every stage is idempotent (the router's decision id comes from the
submitted event, the notifier keeps one delivery per report and owner), so a report sent again
that was only late costs a repeat decision and a skipped delivery, never a second email.

Pure: takes the projection's statuses and the groups' committed offsets, returns what to send
again. The I/O (offsets, reading a record back, publishing) is redriver.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.intake.status import Position, ReportStatus

Stage = Literal["routing", "notification"]
Committed = dict[int, int]  # partition -> the group's committed offset (next to read)


@dataclass(frozen=True)
class Lost:
    reference: str
    stage: Stage
    position: Position  # on the submitted topic (routing) or the routed topic (notification)
    owner_id: str | None = None


def lost(statuses: list[ReportStatus], router: Committed, notifier: Committed) -> list[Lost]:
    """Reports a stage's group has moved past with no outcome seen yet: lost, or just late
    to appear in the projection (Suspects tells which)."""
    found: list[Lost] = []
    for status in statuses:
        found.extend(_lost_in_routing(status, router))
        found.extend(_lost_in_notification(status, notifier))
    return found


def _passed(position: Position, committed: Committed) -> bool:
    return committed.get(position.partition, -1) > position.offset


def _lost_in_routing(status: ReportStatus, router: Committed) -> list[Lost]:
    decided = status.owners or status.unroutable_reason is not None or \
        status.dead_letter_reason is not None
    if decided or status.submitted is None or not _passed(status.submitted, router):
        return []
    return [Lost(status.reference, "routing", status.submitted)]


def _lost_in_notification(status: ReportStatus, notifier: Committed) -> list[Lost]:
    return [Lost(status.reference, "notification", position, owner_id)
            for owner_id, position in (status.routed or {}).items()
            if owner_id not in status.deliveries and owner_id not in status.deferred
            and _passed(position, notifier)]


Key = tuple[str, Stage, str | None]


class Suspects:
    """A report counts as lost once it has stayed moved-past-without-outcome for `grace` (an
    outcome takes a moment to reach the projection after the stage commits); it is sent
    again at most `limit` times: one that keeps getting lost is a bug to find, not a loop."""

    def __init__(self, grace: timedelta, limit: int) -> None:
        self.grace, self.limit = grace, limit
        self._since: dict[Key, tuple[Position, datetime]] = {}
        self._sent: dict[Key, int] = {}
        self.given_up: list[Lost] = []  # newly past the limit, since the last look
        self._gave_up: set[Key] = set()

    def due(self, found: list[Lost], now: datetime) -> list[Lost]:
        keys = {_key(item) for item in found}
        for gone in self._since.keys() - keys:  # an outcome has appeared
            del self._since[gone]
        due, self.given_up = [], []
        for item in found:
            position, since = self._since.get(_key(item), (None, now))
            if position != item.position:  # first seen, or a new copy to wait for
                self._since[_key(item)] = (item.position, now)
                continue
            if now - since < self.grace:
                continue
            if self._sent.get(_key(item), 0) < self.limit:
                due.append(item)
            elif _key(item) not in self._gave_up:
                self._gave_up.add(_key(item))
                self.given_up.append(item)
        return due

    def sent(self, item: Lost, now: datetime) -> int:
        """Count a copy sent; its wait starts again."""
        self._sent[_key(item)] = self._sent.get(_key(item), 0) + 1
        self._since[_key(item)] = (item.position, now)
        return self._sent[_key(item)]


def _key(item: Lost) -> Key:
    return (item.reference, item.stage, item.owner_id)
