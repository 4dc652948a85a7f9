"""Signpost's event contracts: the records the services exchange on Kafka."""

from schemas.events import (
    SCHEMA_VERSION,
    BoundaryHit,
    DeadLetter,
    Event,
    Location,
    NotificationFailed,
    NotificationSent,
    Owner,
    Report,
    ReportAcknowledged,
    ReporterContact,
    ReportRouted,
    ReportSubmitted,
    ReportUnroutable,
    RoutingTrace,
    Tier,
)

__all__ = [
    "SCHEMA_VERSION",
    "BoundaryHit",
    "DeadLetter",
    "Event",
    "Location",
    "NotificationFailed",
    "NotificationSent",
    "Owner",
    "Report",
    "ReportAcknowledged",
    "ReportRouted",
    "ReportSubmitted",
    "ReportUnroutable",
    "ReporterContact",
    "RoutingTrace",
    "Tier",
]
