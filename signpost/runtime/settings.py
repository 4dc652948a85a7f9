"""All configuration, from environment variables prefixed SIGNPOST_ (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_BUNDLE = Path(__file__).resolve().parent.parent / "demo_bundle"


class Topics(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNPOST_TOPIC_")

    submitted: str = "signpost.report-submitted.v1"
    routed: str = "signpost.report-routed.v1"
    triage: str = Field("signpost.report-unroutable.v1", description="Unroutable reports")
    notifications: str = "signpost.notification.v1"
    dead_letter: str = "signpost.dead-letter.v1"
    notification_retry: str = Field(
        "signpost.notification-retry.v1",
        description="The notifier's own deliveries: retries, SLA reminders and escalations")

    rerouted: str = Field("signpost.report-rerouted.v1",
                          description="Owner changes found by `signpost route replay`")

    def all(self) -> list[str]:
        return [self.submitted, self.routed, self.triage, self.notifications, self.dead_letter,
                self.notification_retry, self.rerouted]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNPOST_", env_file=".env", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    partitions: int = Field(4, ge=1, description="Partitions per topic when Signpost creates them")
    replication_factor: int = Field(1, ge=1)
    # The embedded broker holds a group join for half the session timeout; keep it short.
    kafka_session_timeout_s: float = Field(10.0, gt=1)
    kafka_request_timeout_s: float = Field(10.0, gt=0)
    # Production (Apache Kafka) uses the idempotent producer; the embedded broker lacks
    # InitProducerId, so `signpost dev` and the tests turn it off. Consumers dedupe anyway.
    kafka_idempotent_producer: bool = True

    bundle_dir: Path = DEMO_BUNDLE
    # The router reloads a changed bundle (checked this often; 0: only on SIGHUP).
    bundle_reload_s: float = Field(10.0, ge=0, description="Bundle change check interval")
    data_dir: Path = Path(".signpost-data")

    intake_host: str = "127.0.0.1"
    # Intake only. Keys are required: without a keys file intake refuses to start, unless
    # intake_open says explicitly to run open (development; `signpost dev` and tests do).
    api_keys_file: Path | None = Field(None, description="YAML/JSON list of hashed API keys")
    intake_open: bool = Field(False, description="Without a keys file, accept calls with no "
                                                 "API key (development only)")
    intake_publish_timeout_s: float = Field(5.0, gt=0, description="Wait for the broker's ack")
    intake_retry_after_s: int = Field(5, ge=1, description="Retry-After on 503")
    intake_rate_per_minute: int = Field(60, ge=1, description="Default per-key rate limit")
    intake_idempotency_ttl_s: float = Field(86_400, gt=0)
    intake_idempotency_max_keys: int = Field(100_000, ge=1)
    intake_status_max_reports: int = Field(50_000, ge=1, description="Status projection bound")
    intake_redrive: bool = Field(True, description="Send again reports the pipeline lost")
    intake_redrive_interval_s: float = Field(30.0, gt=0, description="How often to look")
    intake_redrive_grace_s: float = Field(
        120.0, gt=0, description="How long after a stage moved past a report without an "
                                 "outcome it counts as lost")
    intake_redrive_attempts: int = Field(3, ge=1, description="Times one report is sent again")
    health_bind: str = Field("127.0.0.1", description="Router and notifier health/metrics bind")
    intake_port: int = 8080
    router_port: int = Field(8081, description="Router health and metrics")
    notifier_port: int = Field(8082, description="Notifier health and metrics")

    # Router: a report of the same category this close to a report routed this recently is
    # marked as its likely duplicate (still routed). The index is bounded in memory.
    duplicate_distance_m: float = Field(250.0, gt=0, description="Likely-duplicate distance")
    duplicate_window_h: float = Field(72.0, gt=0, description="Likely-duplicate time window")
    duplicate_max_reports: int = Field(200_000, ge=1, description="Reports the index remembers")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_timeout_s: float = 10.0
    mail_from: str = "Signpost <signpost@example.org>"
    map_link: str = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"
    http_timeout_s: float = Field(10.0, gt=0, description="Notify, webhook and Open311 calls")
    modern_gov_timeout_s: float = Field(3.0, gt=0, description="Clerk look-up; then fallback")
    modern_gov_ttl_s: float = Field(3600, ge=0, description="How long a look-up answer is used")
    modern_gov_failure_ttl_s: float = Field(60, ge=0, description="Fallback period after failure")
    # No secret, no acknowledgement links (development); production sets one.
    ack_secret: SecretStr | None = Field(None, description="Signs acknowledgement links")
    ack_secret_file: Path | None = Field(None, description="The same, from a mounted file")
    ack_base_url: str = Field("http://127.0.0.1:8080", description="Where links are served")
    ack_ttl_s: float = Field(14 * 86_400, gt=0, description="How long a link stays valid")

    batch_size: int = Field(500, ge=1, description="Most records a stream service takes at once")
    batch_window_s: float = Field(0.005, gt=0, description="Longest wait to fill a batch")
    notifier_concurrency: int = Field(16, ge=1, description="Deliveries in flight at once")
    # After the quick in-process retries, a delivery is tried again later from the retry
    # topic, backing off from base to cap, until the horizon; then it is dead-lettered.
    notifier_retry_base_s: float = Field(15.0, gt=0)
    notifier_retry_cap_s: float = Field(600.0, gt=0)
    notifier_retry_horizon_s: float = Field(86_400.0, gt=0)
    smtp_connections: int = Field(4, ge=1, description="Kept-open connections to the relay")
    # SLA clocks (only with acknowledgement links): how often due clocks are looked for, and
    # how long a finished clock is kept to ignore a late redelivery of its notification.
    sla_check_s: float = Field(30.0, gt=0, description="How often SLA clocks are checked")
    sla_keep_finished_s: float = Field(86_400.0, ge=0, description="Finished SLA clocks kept")

    # --- access (#14) ---
    # Per client address (the socket peer, or the X-Forwarded-For hop a trusted proxy names).
    intake_anonymous_reads_per_minute: int = Field(
        60, ge=1, description="Open311 reads without an API key, per client address")
    intake_failed_auth_per_minute: int = Field(
        10, ge=1, description="Missing or wrong API keys per client address before a 429")
    intake_trusted_proxies: str = Field(
        "", description="Comma-separated addresses or networks (the ingress) whose "
                        "X-Forwarded-For names the client; empty: the socket peer is the client")

    log_level: str = "INFO"
    topics: Topics = Field(default_factory=Topics)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
