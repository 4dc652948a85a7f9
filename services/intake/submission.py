"""Accepting a report, whichever door it came in by (JSON API or Open311): idempotency, publish
with acks=all, then the status projection. Answers a reference or raises Refused."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from structlog.stdlib import BoundLogger

from schemas import Location, Report, ReporterContact, ReportSubmitted
from services.intake.auth import Caller, Refused
from services.intake.idempotency import IdempotencyStore, Seen, scoped_key
from services.intake.models import new_reference
from services.intake.publisher import PublishFailed, ReportPublisher
from services.intake.status import IDEMPOTENCY_HEADER, StatusProjection
from signpost.runtime import metrics


@dataclass(frozen=True)
class Draft:
    """A checked report, before it has a reference."""

    category: str
    description: str
    location: Location
    answers: dict[str, str]
    uprn: str | None = None
    reporter: ReporterContact | None = None

    def fingerprint(self) -> str:
        text = repr((self.category, self.description, self.location.lat, self.location.lon,
                     sorted(self.answers.items()), self.uprn,
                     self.reporter.model_dump_json() if self.reporter else None))
        return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Accepted:
    reference: str
    replayed: bool  # an earlier submission with the same key or content


class Submissions:
    def __init__(self, publisher: ReportPublisher, projection: StatusProjection,
                 idempotency: IdempotencyStore, log: BoundLogger, *,
                 publish_timeout_s: float, retry_after_s: int) -> None:
        self.publisher, self.projection, self.idempotency = publisher, projection, idempotency
        self._log, self._timeout_s, self._retry_after_s = log, publish_timeout_s, retry_after_s

    async def submit(self, caller: Caller, draft: Draft, *, idempotency_key: str | None = None,
                     content_key: str | None = None, content_ttl_s: float = 600) -> Accepted:
        """`idempotency_key`: the client's Idempotency-Key header (shared with other replicas
        through the topic). `content_key`: a local-only key for re-posts of the same content."""
        if idempotency_key is not None:
            key, ttl, shared = scoped_key(caller.source, idempotency_key), None, True
        elif content_key is not None:
            key, ttl, shared = scoped_key(caller.source, "content\0" + content_key), \
                content_ttl_s, False
        else:
            return Accepted(await self._publish(caller, draft, None), replayed=False)
        seen, reference = self.idempotency.begin(caller.source, key, draft.fingerprint(), ttl)
        if seen is Seen.NEW and shared:
            reference = self.projection.by_idempotency_key(key)
            if reference is not None:
                self.idempotency.complete(caller.source, key, reference)
                seen = Seen.DONE
        if seen is Seen.DONE and reference is not None:
            self._log.info("report_replayed", reference=reference, category=draft.category)
            return Accepted(reference, replayed=True)
        if seen is Seen.BUSY:
            raise Refused(409, "A request with this Idempotency-Key is still being processed; "
                               "try again in a moment.", "idempotency-busy", "Conflict",
                          headers={"Retry-After": "1"})
        if seen is Seen.MISMATCH:
            raise Refused(422, "This Idempotency-Key was already used for a different report; "
                               "use a new key for a new report.", "idempotency-mismatch",
                          "Idempotency-Key reused")
        try:
            reference = await self._publish(caller, draft, key if shared else None)
        except BaseException:
            self.idempotency.abandon(caller.source, key)
            raise
        self.idempotency.complete(caller.source, key, reference)
        return Accepted(reference, replayed=False)

    async def _publish(self, caller: Caller, draft: Draft, shared_key: str | None) -> str:
        reference = new_reference()
        with structlog.contextvars.bound_contextvars(reference=reference):
            event = ReportSubmitted(report=Report(
                reference=reference, category=draft.category, description=draft.description,
                location=draft.location, answers=draft.answers, uprn=draft.uprn,
                reporter=draft.reporter, submitted_at=datetime.now(UTC), source=caller.source))
            headers: list[tuple[str, bytes]] = []
            if shared_key:
                headers.append((IDEMPOTENCY_HEADER, shared_key.encode()))
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout_s):  # no extra task per request
                    await self.publisher.publish(event, headers)
            except (PublishFailed, TimeoutError) as exc:
                metrics.intake_publish_failures.inc()
                self._log.error("publish_failed", category=draft.category,
                                error=type(exc).__name__)
                raise Refused(503, "We could not record the report just now. Please try again.",
                              "unavailable", "Service unavailable",
                              headers={"Retry-After": str(self._retry_after_s)}) from None
            elapsed = time.perf_counter() - started
            metrics.intake_publish_seconds.observe(elapsed)
            metrics.reports_received.labels(draft.category, caller.source).inc()
            self.projection.apply(event, shared_key)
            self._log.info("report_accepted", category=draft.category, source=caller.source,
                           publish_ms=round(elapsed * 1000))
        return reference

