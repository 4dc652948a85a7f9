"""Kafka client factory, topic creation and the CloudEvents envelope every record carries."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import ValidationError

from schemas import Event
from signpost.runtime.settings import Settings

E = TypeVar("E", bound=Event)
CE_SPEC_VERSION = b"1.0"
MAX_RECORD_BYTES = 1_000_000
Headers = list[tuple[str, bytes]]


class PoisonRecord(Exception):
    """A record that can never be processed: it goes to the dead-letter topic with this reason."""


def group_id(service: str) -> str:
    """The consumer group (and Faust app id) of a stream service."""
    return f"signpost-{service}"


def connection_options(settings: Settings) -> dict[str, Any]:
    """How every Signpost client reaches the brokers: the one place for bootstrap servers and
    (in production) transport security, shared by producers, consumers, admin and Faust."""
    return {"bootstrap_servers": settings.kafka_bootstrap}


def make_producer(settings: Settings, client_id: str, **options: Any) -> AIOKafkaProducer:
    """acks=all, idempotent where the broker supports it; `options` go to aiokafka as they are."""
    config: dict[str, Any] = {
        "linger_ms": 2, "request_timeout_ms": int(settings.kafka_request_timeout_s * 1000),
        **options}
    return AIOKafkaProducer(**connection_options(settings), client_id=client_id,
                            acks="all", enable_idempotence=settings.kafka_idempotent_producer,
                            **config)


def make_consumer(settings: Settings, client_id: str, *topics: str,
                  **options: Any) -> AIOKafkaConsumer:
    """A consumer that commits only when told (no auto-commit) and, without a group, reads
    from the earliest record; `options` go to aiokafka as they are."""
    config: dict[str, Any] = {
        "group_id": None, "enable_auto_commit": False, "auto_offset_reset": "earliest",
        "request_timeout_ms": int(settings.kafka_request_timeout_s * 1000), **options}
    return AIOKafkaConsumer(*topics, **connection_options(settings), client_id=client_id,
                            **config)


def make_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_options(settings),
                               request_timeout_ms=int(settings.kafka_request_timeout_s * 1000))


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> None:
    """Create Signpost's topics if missing; the embedded broker does not auto-create them."""
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in (names or settings.topics.all()) if n not in existing]
        if not wanted:
            return
        new = [NewTopic(n, settings.partitions, settings.replication_factor) for n in wanted]
        with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
            await admin.create_topics(new)
    finally:
        await admin.close()


def encode(event: Event) -> bytes:
    return event.model_dump_json().encode()


def cloudevent_headers(event: Event, source: str) -> Headers:
    """CloudEvents Kafka binding, binary mode: the record value is the event data."""
    return [
        ("ce_specversion", CE_SPEC_VERSION),
        ("ce_id", event.event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", f"uk.signpost.{type(event).__name__}.v{event.schema_version}".encode()),
        ("ce_time", event.occurred_at.isoformat().encode()),
        ("ce_subject", event.reference.encode()),
        ("content-type", b"application/json"),
    ]


def decode(raw: bytes | None, model: type[E]) -> E:
    """Parse a record into its event model, or raise PoisonRecord saying why not."""
    if raw is None:
        raise PoisonRecord("empty record (tombstone)")
    if len(raw) > MAX_RECORD_BYTES:
        raise PoisonRecord(f"record of {len(raw)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonRecord(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise PoisonRecord(_describe(exc, model)) from None


def _describe(exc: ValidationError, model: type[Event]) -> str:
    first = exc.errors(include_url=False, include_input=False)[:3]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}" for e in first]
    version = model.model_fields["schema_version"].default
    return f"not a valid {model.__name__} v{version}: " + "; ".join(parts)
