"""Every Prometheus metric Signpost exports, in one place so dashboards and alerts have one source.

Labels are low-cardinality by design: category, tier, rule, channel, reason codes.
Never a reference, a name, an address or any resident's text.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

reports_received = Counter(
    "signpost_reports_received", "Reports accepted by intake (202 sent)", ["category", "source"]
)
reports_rejected = Counter(
    "signpost_reports_rejected", "Reports refused by intake, by reason", ["reason"]
)
intake_publish_failures = Counter(
    "signpost_intake_publish_failures", "Reports the broker did not acknowledge (503 sent)"
)
intake_publish_seconds = Histogram(
    "signpost_intake_publish_seconds", "Time for the broker to acknowledge a report",
    buckets=LATENCY_BUCKETS,
)
reports_redriven = Counter(
    "signpost_reports_redriven", "Reports a stage moved past without an outcome, sent again",
    ["stage"])
routing_decisions = Counter(
    "signpost_routing_decisions", "Reports routed to an owner", ["category", "tier", "rule"]
)
reports_unroutable = Counter(
    "signpost_reports_unroutable", "Reports sent to triage, by reason", ["reason"]
)
likely_duplicates = Counter(
    "signpost_likely_duplicates", "Reports marked as a likely duplicate of an open report",
    ["category"],
)
routing_seconds = Histogram(
    "signpost_routing_seconds", "Time to decide a report's owner", buckets=LATENCY_BUCKETS
)
notifications_sent = Counter(
    "signpost_notifications_sent", "Notifications delivered", ["channel", "tier"]
)
notifications_failed = Counter(
    "signpost_notifications_failed", "Notifications that failed", ["channel", "permanent"]
)
notification_retries = Counter(
    "signpost_notification_retries", "Delivery attempts retried after a transient failure",
    ["channel"],
)
notifications_duplicate_skipped = Counter(
    "signpost_notifications_duplicate_skipped",
    "Redelivered events whose notification had already been sent", ["channel"],
)
end_to_end_seconds = Histogram(
    "signpost_end_to_end_seconds", "From intake's acknowledgement to the owner's notification",
    ["channel"], buckets=LATENCY_BUCKETS,
)
directory_fallbacks = Counter(
    "signpost_directory_fallbacks", "Clerk look-ups answered from the static directory", ["reason"]
)
dead_letters = Counter(
    "signpost_dead_letters", "Records moved to the dead-letter topic", ["service", "source_topic"]
)
consumer_lag = Gauge(
    "signpost_consumer_lag_records", "Records not yet consumed", ["service", "topic", "partition"]
)
last_progress = Gauge(
    "signpost_last_progress_timestamp_seconds", "When the service last finished a record",
    ["service"],
)
sla_breaches = Counter(
    "signpost_sla_breaches", "Reports not acknowledged within their category's SLA", ["tier"]
)
escalations = Counter(
    "signpost_escalations", "Reports escalated to the next tier", ["from_tier", "to_tier"]
)
