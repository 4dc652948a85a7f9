"""Intake's HTTP API. A report is answered 202 only after the broker acknowledged it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import Lifespan, Scope

from schemas import Report, ReportSubmitted
from services.intake.guards import CatchAll, LimitBody
from services.intake.models import Accepted, Catalogue, ReportRequest, new_reference
from services.intake.problems import FieldProblem, Problem, field_problems, problem
from services.intake.publisher import PublishFailed, ReportPublisher
from signpost.runtime import metrics
from signpost.runtime.logging import get_logger

REPORTS = "/v1/reports"
MAX_BODY_BYTES = 64 * 1024
PROBLEM_DOCS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (400, 413, 422, 503)
}


def create_app(publisher: ReportPublisher,
               categories: Mapping[str, Mapping[str, Collection[str]]], *,
               publish_timeout_s: float = 5.0, retry_after_s: int = 5,
               max_body_bytes: int = MAX_BODY_BYTES,
               lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    """`categories`: category id -> question id -> allowed answers (in the order to list them).
    `lifespan` starts and stops the publisher (see main.build_app)."""
    log = get_logger("services.intake.api")  # per app: tests reconfigure logging between apps
    catalogue = Catalogue(categories)
    app = FastAPI(title="Signpost intake", version="1", lifespan=lifespan)

    def rejected(reason: str, response: JSONResponse, **fields: Any) -> JSONResponse:
        metrics.reports_rejected.labels(reason).inc()
        log.info("report_rejected", reason=reason, status=response.status_code, **fields)
        return response

    def invalid(reason: str, errors: list[FieldProblem]) -> JSONResponse:
        response = problem(422, "The report has problems; see errors.", kind=reason.replace(
            "_", "-"), title="Invalid report", instance=REPORTS, errors=errors)
        return rejected(reason, response, fields=[e.field for e in errors])

    def too_large(scope: Scope) -> None:
        if scope["path"] == REPORTS:
            metrics.reports_rejected.labels("too_large").inc()
        log.info("report_rejected", reason="too_large", status=413, path=scope["path"])

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()  # holds the input: never log it
        if any(e["type"] == "json_invalid" for e in errors):
            return rejected("malformed_json", problem(
                400, "The request body is not valid JSON.", kind="malformed-json",
                title="Malformed JSON", instance=request.url.path))
        return invalid("invalid", field_problems(errors))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = {404: "There is nothing at this address.",
                  405: "This address does not accept that method."}.get(exc.status_code)
        return problem(exc.status_code, detail or str(exc.detail), instance=request.url.path,
                       headers=exc.headers)

    @app.post(REPORTS, status_code=202, response_model=Accepted, responses=PROBLEM_DOCS)
    async def submit(body: ReportRequest) -> Response:
        refused = catalogue.check(body)
        if refused:
            return invalid(*refused)
        reference = new_reference()
        with structlog.contextvars.bound_contextvars(reference=reference):
            event = ReportSubmitted(report=Report(
                reference=reference, category=body.category, description=body.description,
                location=body.location, answers=body.answers, uprn=body.uprn,
                reporter=body.reporter, submitted_at=datetime.now(UTC), source="api"))
            started = time.perf_counter()
            try:
                await asyncio.wait_for(publisher.publish(event), publish_timeout_s)
            except (PublishFailed, TimeoutError) as exc:
                metrics.intake_publish_failures.inc()
                log.error("publish_failed", category=body.category, error=type(exc).__name__)
                return problem(503, "We could not record the report just now. Please try again.",
                               kind="unavailable", title="Service unavailable", instance=REPORTS,
                               headers={"Retry-After": str(retry_after_s)})
            elapsed = time.perf_counter() - started
            metrics.intake_publish_seconds.observe(elapsed)
            metrics.reports_received.labels(body.category, "api").inc()
            log.info("report_accepted", category=body.category, publish_ms=round(elapsed * 1000))
        status_url = f"{REPORTS}/{reference}"
        return JSONResponse(Accepted(reference=reference, status_url=status_url).model_dump(),
                            status_code=202, headers={"Location": status_url})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: PROBLEM_DOCS[503]})
    async def readyz() -> Response:
        if publisher.ready():
            return JSONResponse({"status": "ready"})
        return problem(503, "Not connected to the message broker.", kind="not-ready",
                       title="Not ready", instance="/readyz")

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(LimitBody, max_bytes=max_body_bytes, on_refused=too_large)
    app.add_middleware(CatchAll, log=log)
    return app
