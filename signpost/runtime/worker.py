"""The faust-streaming app every stream service builds on: tuned for fast group joins,
health and metrics pages, readiness, and a dead-letter topic for records it cannot process."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from faust.web import Request, Response, View
from faust.worker import Worker
from prometheus_client import generate_latest

from signpost.runtime import metrics
from signpost.runtime.heap import tune_garbage_collector
from signpost.runtime.kafka import ensure_topics, group_id
from signpost.runtime.logging import configure_logging, get_logger
from signpost.runtime.loop import new_event_loop
from signpost.runtime.settings import Settings

log = get_logger(__name__)
FETCH_MAX_WAIT_MS = 50
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def _shorter_fetch_wait() -> None:
    """Faust hard-codes fetch_max_wait_ms=1500 for its consumer. A broker that holds an empty
    fetch for the whole wait (the embedded one does) then adds up to 1.5 s per hop; a short
    wait costs a few more empty fetches a second and nothing else."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "signpost_patched", False):
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when its fetcher starts
        return consumer

    create.signpost_patched = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]


def make_app(service: str, settings: Settings, web_port: int) -> faust.App:
    (settings.data_dir / service).mkdir(parents=True, exist_ok=True)
    _shorter_fetch_wait()
    app = faust.App(
        group_id(service),
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / service),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Join in seconds, not half a minute: the broker delays a join by half this value.
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=settings.kafka_session_timeout_s / 5,
        broker_rebalance_timeout=settings.kafka_session_timeout_s * 2,
        broker_request_timeout=max(settings.kafka_request_timeout_s, 30.0),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # No linger: per-record senders wait for each ack; batch senders fill a batch
        # anyway while the previous produce request is in flight.
        producer_linger_ms=0,
        # A batch's outputs leave in a few produce requests, not one per 16 kB (the default).
        producer_max_batch_size=512 * 1024,
        web_enabled=True,
        web_bind=settings.health_bind,
        web_port=web_port,
        web_in_thread=False,
        loghandlers=[],
    )
    readiness = Readiness()
    app.on_rebalance_complete.connect(readiness.on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(readiness.on_revoked)  # type: ignore[arg-type]
    app.page("/healthz")(Healthz)
    app.page("/metrics")(Metrics)
    app.page("/readyz")(readiness.view())
    app.signpost_readiness = readiness  # type: ignore[attr-defined]  # for a BatchConsumer
    return app


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """Bytes in, bytes out: services parse records themselves so bad ones can be dead-lettered."""
    return app.topic(name, key_serializer="raw", value_serializer="raw")


class Readiness:
    """Ready once a rebalance (and any table recovery) has completed; not ready during one."""

    def __init__(self) -> None:
        self.assigned = False

    def set(self, assigned: bool) -> None:
        self.assigned = assigned

    async def on_assigned(self, sender: Any, **kwargs: Any) -> None:
        self.assigned = True

    async def on_revoked(self, sender: Any, revoked: Any, **kwargs: Any) -> None:
        self.assigned = False

    def view(self) -> type[View]:
        readiness = self

        class Readyz(View):
            async def get(self, request: Request) -> Response:
                status = 200 if readiness.assigned else 503
                return self.json({"ready": readiness.assigned}, status=status)

        return Readyz


class Healthz(View):
    async def get(self, request: Request) -> Response:
        return self.json({"status": "ok"})


class Metrics(View):
    async def get(self, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type, so prometheus_client's
        # CONTENT_TYPE_LATEST cannot be passed as it is; this is the same format, UTF-8.
        return self.bytes(generate_latest(), content_type=PROMETHEUS_TEXT)


def progressed(service: str) -> None:
    metrics.last_progress.labels(service).set(time.time())


class JsonLogWorker(Worker):
    """A Faust worker whose logs, Faust's own included, are Signpost's JSON lines."""

    def __init__(self, app: faust.App, service: str, settings: Settings) -> None:
        super().__init__(app, loglevel=settings.log_level.lower(), quiet=True,
                         redirect_stdouts=False)
        self.service, self.log_level = service, settings.log_level

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        configure_logging(self.service, self.log_level)


def run_worker(app: faust.App, service: str, settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; the worker stops cleanly, committing what it finished."""
    loop = new_event_loop()  # Faust runs on this loop after the topics exist
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings))
    app.finalize()
    worker = JsonLogWorker(app, service, settings)
    tune_garbage_collector()
    worker.execute_from_commandline()
