"""Intake's HTTP API. A report is answered 202 only after the broker acknowledged it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Lifespan, Scope

from schemas import ReportAcknowledged, ReporterContact
from services.intake import acknowledge, open311
from services.intake.addresses import Network, address_of
from services.intake.auth import Authenticator, Caller, Refused, require_submit
from services.intake.guards import CatchAll, LimitBody
from services.intake.idempotency import IdempotencyStore
from services.intake.json_body import repeated_key
from services.intake.location import PointIn, resolve
from services.intake.models import (
    Accepted,
    Catalogue,
    Categories,
    OwnerOut,
    ReportRequest,
    ReportState,
)
from services.intake.problems import (
    REPEATED_KEY,
    FieldProblem,
    Problem,
    field_problems,
    problem,
)
from services.intake.publisher import PublishFailed, ReportPublisher
from services.intake.reads import reader_of
from services.intake.status import ReportStatus, StatusProjection
from services.intake.submission import Draft, Submissions
from signpost.acklinks import AckLinks
from signpost.bundle.model import Category
from signpost.runtime import metrics
from signpost.runtime.logging import get_logger

REPORTS = "/v1/reports"
MAX_BODY_BYTES = 64 * 1024
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="The source's API key")
BEARER = HTTPBearer(auto_error=False, description="The source's API key as a bearer token")


def docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": Problem, "content": {"application/problem+json": {}}} for s in statuses}


async def authorize(request: Request,
              key: Annotated[str | None, Security(API_KEY)] = None,
              bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
              ) -> Caller:
    """X-API-Key, or Authorization: Bearer; checked by the app's authenticator.
    Async though it does no I/O: a sync dependency costs a thread-pool hop per request."""
    auth: Authenticator = request.app.state.authenticator
    presented = key or (bearer.credentials if bearer else None)
    return auth.authorize(presented, request.headers.get("origin"), "api", address_of(request))


Authorized = Annotated[Caller, Depends(authorize)]


async def single_keys(request: Request) -> None:
    """A key repeated in one JSON object is a 422 (checked after authorization, before the
    body's own checks); json.loads alone would keep the last one silently."""
    where = repeated_key(await request.body())
    if where is not None:
        raise RequestValidationError([{"type": REPEATED_KEY, "loc": ("body", *where),
                                       "msg": "repeated key", "input": None}])


# The names the JSON API itself uses: a problem may name these, never a caller's own key.
FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(ReportRequest.model_fields), "location": tuple(PointIn.model_fields),
    "reporter": tuple(ReporterContact.model_fields)}


def create_app(publisher: ReportPublisher, categories: Sequence[Category], *,
               projection: StatusProjection | None = None,
               authenticator: Authenticator | None = None,
               idempotency: IdempotencyStore | None = None,
               publish_timeout_s: float = 5.0, retry_after_s: int = 5,
               max_body_bytes: int = MAX_BODY_BYTES,
               ack_links: AckLinks | None = None,
               trusted_proxies: Sequence[Network] = (),
               lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    """`lifespan` starts and stops the publisher and status feed (see main.build_app).
    No authenticator: open, as in development. `trusted_proxies`: whose X-Forwarded-For
    names the client (the ingress), for per-address limits."""
    log = get_logger("services.intake.api")  # per app: tests reconfigure logging between apps
    catalogue = Catalogue(categories)
    auth = authenticator if authenticator is not None else Authenticator(None)
    status = projection if projection is not None else StatusProjection()
    store = idempotency if idempotency is not None else IdempotencyStore()
    submissions = Submissions(publisher, status, store, log,
                              publish_timeout_s=publish_timeout_s, retry_after_s=retry_after_s)
    # OpenTelemetry off: intake's telemetry is Prometheus and structlog, and FastAPI's hooks
    # looked up the global OTel providers on every request (7 % of intake's time).
    app = FastAPI(title="Signpost intake", version="1", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Residents' reports in; the owning council's clerk notified. "
                              "A JSON API under /v1 and Open311 GeoReport v2 under /open311/v2.")

    def rejected(reason: str, response: JSONResponse, **fields: Any) -> JSONResponse:
        metrics.reports_rejected.labels(reason).inc()
        log.info("report_rejected", reason=reason, status=response.status_code, **fields)
        return response

    def invalid(reason: str, errors: list[FieldProblem]) -> JSONResponse:
        response = problem(422, "The report has problems; see errors.", kind=reason.replace(
            "_", "-"), title="Invalid report", instance=REPORTS, errors=errors)
        return rejected(reason, response, fields=[e.field for e in errors])

    def too_large(scope: Scope) -> None:
        submission = scope["path"] in (REPORTS, open311.REQUESTS_JSON, open311.REQUESTS_XML)
        if submission:
            metrics.reports_rejected.labels("too_large").inc()
        log.info("report_rejected", reason="too_large", status=413,
                 path=scope["path"] if submission else "other")  # never a caller's own path

    app.state.authenticator = auth
    app.state.trusted_proxies = tuple(trusted_proxies)
    names = {q.id for c in categories for q in c.questions}

    @app.exception_handler(Refused)
    async def on_refused(request: Request, exc: Refused) -> Response:
        if request.url.path.startswith(open311.PREFIX):
            return open311.errors(request.url.path, exc.status, exc.detail, exc.headers)
        if exc.status in (401, 403, 429):
            log.info("caller_refused", status=exc.status, kind=exc.kind)
        return problem(exc.status, exc.detail, kind=exc.kind, title=exc.title,
                       instance=request.url.path, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()  # holds the input: never log it
        if request.url.path.startswith(open311.PREFIX):
            found = field_problems(errors, FIELDS, names)
            return open311.errors(request.url.path, 400, "; ".join(
                f"{p.field}: {p.message}" for p in found) or "The request is not valid.")
        if any(e["type"] == "json_invalid" for e in errors):
            return rejected("malformed_json", problem(
                400, "The request body is not valid JSON.", kind="malformed-json",
                title="Malformed JSON", instance=route_of(request)))
        return invalid("invalid", field_problems(errors, FIELDS, names))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        detail = {404: "There is nothing at this address.",
                  405: "This address does not accept that method."}.get(exc.status_code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every route at this path, not only the first that matched
            headers["Allow"] = ", ".join(sorted(allowed(app, request.url.path)))
        if request.url.path.startswith(open311.PREFIX):
            return open311.errors(request.url.path, exc.status_code,
                                  detail or str(exc.detail), headers)
        return problem(exc.status_code, detail or str(exc.detail), instance=route_of(request),
                       headers=headers)

    @app.post(REPORTS, status_code=202, response_model=Accepted,
              responses=docs(400, 401, 403, 409, 413, 422, 429, 503))
    async def submit(body: ReportRequest, caller: Authorized,
                     _: Annotated[None, Depends(single_keys)],
                     idempotency_key: Annotated[str | None, Header(
                         alias="Idempotency-Key", min_length=1, max_length=255,
                         description="Repeat a submission safely: the same key answers the "
                                     "first reference")] = None) -> Response:
        require_submit(caller)
        refused = catalogue.check(body.category, body.answers)
        if refused:
            return invalid(*refused)
        where = resolve(body.location)
        if isinstance(where, list):
            return invalid("invalid_location", where)
        draft = Draft(category=body.category, description=body.description, location=where,
                      answers=body.answers, uprn=body.uprn, reporter=body.reporter)
        accepted = await submissions.submit(caller, draft, idempotency_key=idempotency_key)
        status_url = f"{REPORTS}/{accepted.reference}"
        headers = {"Location": status_url}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(Accepted(reference=accepted.reference,
                                     status_url=status_url).model_dump(),
                            status_code=202, headers=headers)

    @app.get(REPORTS + "/{reference}", response_model=ReportState,
             responses=docs(401, 403, 404, 429))
    async def report_status(reference: str,
                            caller: Authorized) -> Response:
        found = status.get(reference.strip().upper())
        view = None if found is None else reader_of(caller).view(
            found.source, found.category, catalogue.sensitive)
        if found is None or view != "full":  # the same 404: whether it exists is not told
            return problem(404, "No report with this reference is known here. If it was "
                                "submitted a moment ago, try again shortly.",
                           kind="unknown-reference", title="Unknown reference",
                           instance=REPORTS + "/{reference}")
        return JSONResponse(state_of(found).model_dump(mode="json"))

    @app.get("/v1/categories", response_model=Categories)
    async def categories_list() -> Categories:
        return catalogue.listing()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses=docs(503))
    async def readyz() -> Response:
        if publisher.ready():
            return JSONResponse({"status": "ready"})
        return problem(503, "Not connected to the message broker.", kind="not-ready",
                       title="Not ready", instance="/readyz")

    @app.get("/metrics", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(open311.router(catalogue, auth, submissions, status))

    async def record_acknowledgement(event: ReportAcknowledged) -> None:
        try:
            await asyncio.wait_for(publisher.acknowledge(event), publish_timeout_s)
        except (PublishFailed, TimeoutError):
            metrics.intake_publish_failures.inc()
            raise Refused(503, "We could not record the acknowledgement just now. Please try "
                               "again.", "unavailable", "Service unavailable",
                          headers={"Retry-After": str(retry_after_s)}) from None
        status.apply(event)
        log.info("report_acknowledged", reference=event.reference, owner=event.owner_id)

    app.include_router(acknowledge.router(ack_links, record_acknowledgement))
    app.add_middleware(LimitBody, max_bytes=max_body_bytes, on_refused=too_large)
    if auth.origins():
        # One CORS policy for the app: the union of every source's origins. It only tells
        # browsers what they may read; the key (checked per request) is what authenticates,
        # and a key listing origins is refused from any other (authorize, 403).
        app.add_middleware(CORSMiddleware, allow_origins=auth.origins(),
                           allow_methods=["GET", "POST"], max_age=600,
                           allow_headers=["Content-Type", "X-API-Key", "Authorization",
                                          "Idempotency-Key"],
                           expose_headers=["Location", "Retry-After", "Idempotent-Replayed"])
    app.add_middleware(CatchAll, log=log)
    return app


def route_of(request: Request) -> str | None:
    """The matched route's template (never the path the caller typed), or None."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def allowed(app: FastAPI, path: str) -> set[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        regex, more = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and more and regex.match(path):
            methods |= set(more)
    return methods


def state_of(found: ReportStatus) -> ReportState:
    owners = []
    for owner in found.owners.values():
        delivery = found.deliveries.get(owner.id)
        note = "pending" if delivery is None else ("sent" if delivery.sent else "failed")
        owners.append(OwnerOut(id=owner.id, name=owner.name, tier=owner.tier, notification=note,
                               acknowledged_at=found.acknowledged.get(owner.id)))
    report = found.report
    return ReportState(reference=found.reference, status=found.state,
                       category=report.category if report else None,
                       submitted_at=report.submitted_at if report else None,
                       updated_at=found.updated_at, owners=owners,
                       escalated_to=found.escalated_to.id if found.escalated_to else None,
                       unroutable_reason=found.unroutable_reason,
                       dead_letter_reason=found.dead_letter_reason)
