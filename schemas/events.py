"""Event models. Past-tense names; each carries its type and schema version so a reader
can refuse a record it does not understand instead of guessing."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

SCHEMA_VERSION = 1  # the Literal on Event.schema_version changes with it

Reference = Annotated[str, StringConstraints(pattern=r"^SP-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _now() -> datetime:
    return datetime.now(UTC)


def _event_id() -> str:
    return str(uuid4())


class Tier(StrEnum):
    PARISH = "parish"
    DISTRICT = "district"
    COUNTY = "county"
    UNITARY = "unitary"
    HOUSING_PROVIDER = "housing_provider"


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(Contract):
    """A WGS84 point, as a web map gives it."""

    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 degrees")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 degrees")


class ReporterContact(Contract):
    """The resident's details. Personal data: never logged, shown to an owner only if allowed."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None


class Report(Contract):
    reference: Reference
    category: ShortText
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    location: Location
    answers: dict[str, str] = Field(default_factory=dict, max_length=3)
    uprn: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")] | None = None
    reporter: ReporterContact | None = None
    submitted_at: datetime
    source: ShortText = "api"


class Owner(Contract):
    id: ShortText
    name: ShortText
    tier: Tier


class BoundaryHit(Contract):
    """A boundary feature that contained the report's point."""

    layer: str
    feature_id: str
    name: str


class RoutingTrace(Contract):
    bundle_version: str
    rules_evaluated: list[str]
    matched_rule: str | None
    boundaries: list[BoundaryHit]


class Event(Contract):
    schema_version: Literal[1] = 1
    event_id: str = Field(default_factory=_event_id)
    occurred_at: datetime = Field(default_factory=_now)

    @property
    def reference(self) -> str:
        raise NotImplementedError


class ReportSubmitted(Event):
    event_type: Literal["ReportSubmitted"] = "ReportSubmitted"
    report: Report

    @property
    def reference(self) -> str:
        return self.report.reference


class ReportRouted(Event):
    event_type: Literal["ReportRouted"] = "ReportRouted"
    report: Report
    owner: Owner
    rule_id: str
    trace: RoutingTrace
    likely_duplicate_of: Reference | None = Field(
        None, description="An open report of the same category nearby that this one likely repeats"
    )
    # Set only by the notifier on the deliveries it makes itself (on its own delivery topic,
    # never the routed topic): the router's decisions are those without either.
    reminder: bool = Field(
        False, description="A reminder to an owner who has not acknowledged the report within "
        "its category's SLA"
    )
    escalated_from: Owner | None = Field(
        None, description="The owner who did not acknowledge the report, even after a "
        "reminder; `owner` is the next tier's"
    )

    @property
    def reference(self) -> str:
        return self.report.reference


class ReportUnroutable(Event):
    """No rule owns the report: it goes to triage for a person to decide, never dropped."""

    event_type: Literal["ReportUnroutable"] = "ReportUnroutable"
    report: Report
    reason_code: str
    reason: str
    trace: RoutingTrace
    likely_duplicate_of: Reference | None = Field(
        None, description="An open report of the same category nearby that this one likely repeats"
    )

    @property
    def reference(self) -> str:
        return self.report.reference


class ReportRerouted(Event):
    """A report re-decided with a changed bundle (`signpost route replay`) now has a different
    owner, or is now routed or unroutable where it was not. No owner: unroutable."""

    event_type: Literal["ReportRerouted"] = "ReportRerouted"
    report: Report
    previous_owner: Owner | None
    previous_rule_id: str | None
    previous_reason_code: str | None
    previous_bundle_version: str
    owner: Owner | None
    rule_id: str | None
    reason_code: str | None
    trace: RoutingTrace

    @property
    def reference(self) -> str:
        return self.report.reference


class NotificationSent(Event):
    event_type: Literal["NotificationSent"] = "NotificationSent"
    report_reference: Reference
    owner_id: str
    channel: str
    submitted_at: datetime
    external_id: str | None = Field(
        None, description="The receiving system's id, e.g. an Open311 service_request_id"
    )

    @property
    def reference(self) -> str:
        return self.report_reference


class NotificationFailed(Event):
    event_type: Literal["NotificationFailed"] = "NotificationFailed"
    report_reference: Reference
    owner_id: str
    channel: str
    reason: str
    permanent: bool
    retry_after_s: float | None = Field(
        None, description="How long the receiving system asked Signpost to wait (Retry-After)"
    )

    @property
    def reference(self) -> str:
        return self.report_reference


class ReportAcknowledged(Event):
    """The owner's clerk confirmed, through the signed link, that they have the report."""

    event_type: Literal["ReportAcknowledged"] = "ReportAcknowledged"
    report_reference: Reference
    owner_id: str

    @property
    def reference(self) -> str:
        return self.report_reference


class ReportEscalated(Event):
    """The owner did not acknowledge the report within its category's SLA, nor within another
    SLA period after a reminder: it now goes to the next tier's owner (a parish's to its
    district or unitary, else the county; a district's to the county), who is notified like
    any owner. The earlier owner may still acknowledge it."""

    event_type: Literal["ReportEscalated"] = "ReportEscalated"
    report_reference: Reference
    from_owner: Owner
    to_owner: Owner
    reason: str = Field(description="Why, in words; never the resident's details")
    sla_hours: float = Field(gt=0, description="The category's SLA that passed, twice")

    @property
    def reference(self) -> str:
        return self.report_reference


class DeadLetter(Event):
    """A record a service could not process, kept whole with the reason."""

    event_type: Literal["DeadLetter"] = "DeadLetter"
    service: str
    source_topic: str
    partition: int
    offset: int
    key: str | None
    value: str = Field(description="The original record, decoded as UTF-8 with replacement")
    reason: str

    @property
    def reference(self) -> str:
        return self.key or ""


EVENT_TYPES: tuple[type[Event], ...] = (
    ReportSubmitted,
    ReportRouted,
    ReportUnroutable,
    ReportRerouted,
    NotificationSent,
    NotificationFailed,
    ReportAcknowledged,
    ReportEscalated,
    DeadLetter,
)
