"""Open311 GeoReport v2 under /open311/v2: services, service definitions (a category's
questions as attributes), posting a request (form-encoded), resolving its token and reading
requests back. Errors are the spec's list of {code, description}, with the HTTP status as the
code.

Tokens: the spec lets a server answer a post with a token when the id comes later. Signpost
assigns the id before it answers, so the token it issues is the id itself; tokens/{token}
resolves it for clients that always look a token up."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from schemas import Location, ReporterContact
from services.intake.addresses import address_of
from services.intake.auth import Authenticator, Refused, require_submit
from services.intake.models import Catalogue
from services.intake.open311_format import (
    Format,
    Open311Error,
    RequestCreated,
    RequestToken,
    Service,
    ServiceDefinition,
    ServiceRequest,
    definition_of,
    render,
    service_of,
)
from services.intake.reads import (
    PUBLIC,
    Reader,
    ShortCache,
    View,
    public_degrees,
    reader_of,
)
from services.intake.status import ReportStatus, State, StatusProjection
from services.intake.submission import Draft, Submissions
from signpost.runtime import metrics

PREFIX = "/open311/v2"
REQUESTS_JSON, REQUESTS_XML = PREFIX + "/requests.json", PREFIX + "/requests.xml"
MAX_DESCRIPTION = 4000
MAX_SCANNED = 2000  # a listing looks at this many of the most recently changed reports
MAX_IDS = 200
PAGE_SIZE, MAX_PAGE_SIZE = 100, 200
LISTING_CACHE_S = 2.0  # a public listing is built at most this often per query
DEDUPE_WINDOW_S = 600
# A plain decimal, as Open311 clients send: float() alone also takes "1_0", "nan", "inf".
DECIMAL = re.compile(r"[-+]?[0-9]{1,3}(\.[0-9]{0,20})?")
# Keyed by State so mypy rejects a misspelt state; a unit test checks every State has a note
# (a missing one answered 500).
NOTES: dict[State, str] = {"received": "Received; deciding who owns it.",
         "routed": "Sent to the organisation responsible; waiting for delivery.",
         "notified": "Delivered to the organisation responsible, which will deal with it.",
         "acknowledged": "The organisation responsible has acknowledged it.",
         "escalated": "Not acknowledged in time; passed to the next tier of council as well.",
         "unroutable": "Passed to a person to decide who owns it.",
         "dead_lettered": "Could not be processed automatically; a person will look at it."}
FORM_FIELDS = ("api_key", "service_code", "lat", "long", "address_string", "address_id",
               "description", "email", "first_name", "last_name", "phone", "media_url")
POST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["service_code"],
        "properties": {name: {"type": "number"} if name in ("lat", "long") else
                       {"type": "string"} for name in FORM_FIELDS},
        "additionalProperties": {"type": "string"},
        "description": "Answers as attribute[CODE]=KEY; lat and long are WGS84"}}}}}
FmtPath = Annotated[Format, Path(description="json or xml")]
ApiKeyQuery = Annotated[str | None, Query(
    description="Optional for reads (as in the spec); without a key that may read, the public "
                "view: no description, a rounded location, no sensitive categories")]


def errors(path: str, status: int, description: str,
           headers: Mapping[str, str] | None = None) -> Response:
    fmt = "xml" if path.endswith(".xml") else "json"
    return render(fmt, "errors", "error", [Open311Error(code=status, description=description)],
                  status=status, headers=dict(headers or {}))


def _docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    xml = {"text/xml": {"schema": {"type": "string"}}}
    found: dict[int | str, dict[str, Any]] = {200: {"content": xml}}
    found.update({s: {"model": list[Open311Error], "content": xml}
                  for s in (400, *statuses)})  # 400: a format other than json or xml
    return found


def bad(description: str, status: int = 400) -> Refused:
    return Refused(status, description, "open311", "Bad request")


def router(catalogue: Catalogue, auth: Authenticator, submissions: Submissions,
           projection: StatusProjection) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["Open311 GeoReport v2"])

    @api.get("/services.{fmt}", response_model=list[Service], responses=_docs())
    async def services(fmt: FmtPath) -> Response:
        listed = [service_of(c) for c in catalogue.categories.values()]
        return render(fmt, "services", "service", list(listed))

    @api.get("/services/{service_code}.{fmt}", response_model=ServiceDefinition,
             responses=_docs(404))
    async def service_definition(service_code: str, fmt: FmtPath) -> Response:
        category = catalogue.categories.get(service_code)
        if category is None:
            raise bad("service_code: not a service offered here; see services.json.", 404)
        return render(fmt, "service_definition", "", definition_of(category))

    @api.post("/requests.{fmt}", response_model=list[RequestCreated],
              responses=_docs(400, 401, 403, 409, 413, 415, 422, 429, 503),
              openapi_extra=POST_BODY)
    async def post_request(request: Request, fmt: FmtPath,
                           idempotency_key: Annotated[str | None, Header(
                               alias="Idempotency-Key", min_length=1, max_length=255)] = None,
                           ) -> Response:
        form = await _form(request)
        caller = auth.authorize(form.get("api_key"), request.headers.get("origin"), "open311",
                                address_of(request))
        require_submit(caller)
        try:
            draft = _draft(catalogue, form)
        except Refused as exc:
            metrics.reports_rejected.labels("open311_invalid").inc()
            raise exc from None
        content = repr((caller.key.key_sha256 if caller.key else "", draft.category,
                        draft.location.lat, draft.location.lon, draft.description))
        accepted = await submissions.submit(caller, draft, idempotency_key=idempotency_key,
                                            content_key=content, content_ttl_s=DEDUPE_WINDOW_S)
        notice = ("Received. It goes to the council, parish or housing provider responsible; "
                  f"follow it at {PREFIX}/requests/{accepted.reference}.{fmt}")
        return render(fmt, "service_requests", "request", [RequestCreated(
            service_request_id=accepted.reference, service_notice=notice,
            token=accepted.reference)])

    def reader(request: Request, api_key: str | None) -> Reader:
        return reader_of(auth.authorize_optional(
            api_key, request.headers.get("origin"), "open311", address_of(request)))

    def shown(found: ReportStatus | None, who: Reader) -> tuple[ReportStatus, View] | None:
        """The report and how much of it this reader sees; None: as if it did not exist."""
        if found is None or found.report_json is None:
            return None
        view = who.view(found.source, found.category, catalogue.sensitive)
        return None if view is None else (found, view)

    @api.get("/tokens/{token}.{fmt}", response_model=list[RequestToken],
             responses=_docs(401, 403, 404, 429))
    async def get_token(request: Request, token: str, fmt: FmtPath,
                        api_key: ApiKeyQuery = None) -> Response:
        who = reader(request, api_key)
        found = shown(projection.get(token.strip().upper()), who)
        if found is None:
            raise bad("token: no request with this token is known here. If it was posted a "
                      "moment ago, try again shortly.", 404)
        reference = found[0].reference
        return render(fmt, "service_requests", "request", [RequestToken(
            service_request_id=reference, token=reference)])

    @api.get("/requests/{service_request_id}.{fmt}", response_model=list[ServiceRequest],
             responses=_docs(401, 403, 404, 429))
    async def get_request(request: Request, service_request_id: str, fmt: FmtPath,
                          api_key: ApiKeyQuery = None) -> Response:
        who = reader(request, api_key)
        found = shown(projection.get(service_request_id.strip().upper()), who)
        if found is None:
            raise bad("service_request_id: no request with this id is known here. If it was "
                      "posted a moment ago, try again shortly.", 404)
        return render(fmt, "service_requests", "request", [_request(catalogue, *found)])

    cache: ShortCache[list[ServiceRequest]] = ShortCache(LISTING_CACHE_S, max_entries=64)

    @api.get("/requests.{fmt}", response_model=list[ServiceRequest],
             responses=_docs(401, 403, 429))
    async def get_requests(request: Request, fmt: FmtPath, api_key: ApiKeyQuery = None,
                           service_request_id: Annotated[str | None, Query(
                               max_length=MAX_IDS * 20,
                               description="Comma-separated ids")] = None,
                           service_code: Annotated[str | None, Query(max_length=100)] = None,
                           status: Annotated[str | None, Query(
                               description="open or closed")] = None,
                           page: Annotated[int, Query(
                               ge=1, le=MAX_SCANNED, description="From 1")] = 1,
                           page_size: Annotated[int, Query(
                               ge=1, le=MAX_PAGE_SIZE,
                               description=f"At most {MAX_PAGE_SIZE}")] = PAGE_SIZE,
                           ) -> Response:
        who = reader(request, api_key)
        ids = tuple(i.strip().upper() for i in (service_request_id or "").split(",")
                    if i.strip())[:MAX_IDS]

        def build() -> list[ServiceRequest]:
            chosen = ([s for i in ids if (s := projection.get(i)) is not None] if ids
                      else projection.recent(MAX_SCANNED))
            visible = [found for s in chosen if (found := shown(s, who)) is not None and (
                not service_code or s.category == service_code)]
            if status and status != "open":  # every request Signpost holds is open
                visible = []
            start = (page - 1) * page_size
            return [_request(catalogue, *f) for f in visible[start:start + page_size]]

        # Only the public view is cached: it is what anyone can ask for at any rate, and it
        # holds no descriptions, so 64 kept listings stay small. Keys have their own limits.
        listed = cache.get((ids, service_code, status, page, page_size), build) \
            if who == PUBLIC else build()
        return render(fmt, "service_requests", "request", list(listed))

    return api


async def _form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "Send the request form-encoded "
                           "(Content-Type: application/x-www-form-urlencoded).",
                      "open311", "Unsupported media type")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                          max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise bad("The form could not be read: it must be UTF-8 and at most 200 fields.") from None
    given = [*request.query_params.multi_items(), *pairs]
    form = dict(given)
    if len(form) < len(given):  # last-wins would let two readers of one form disagree
        counts = Counter(name for name, _ in given)
        ours = [n for n, c in counts.items() if c > 1 and n in FORM_FIELDS]
        raise bad(f"{ours[0]}: given more than once; send it once." if ours else
                  "A field is given more than once; send each field once.")
    return form


def _draft(catalogue: Catalogue, form: Mapping[str, str]) -> Draft:
    code = form.get("service_code", "").strip()
    if not code:
        raise bad("service_code: required; see services.json for the codes.")
    answers = {k[len("attribute["):-1]: v for k, v in form.items()
               if k.startswith("attribute[") and k.endswith("]")}
    refused = catalogue.check(code, answers, field="service_code", answers_field="attribute")
    if refused:
        raise bad("; ".join(_open311_field(p.field) + ": " + p.message for p in refused[1]))
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise bad(f"description: must be at most {MAX_DESCRIPTION} characters.")
    media = form.get("media_url", "").strip()
    if media:
        parts = urlsplit(media)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(media) > 900:
            raise bad("media_url: must be an http or https address of at most 900 characters.")
        description = f"{description}\n\nPhoto: {media}".strip()
    return Draft(category=code, description=description, location=_location(form),
                 answers=answers, reporter=_reporter(form))


def _open311_field(field: str) -> str:
    if field.startswith("attribute."):
        return f"attribute[{field[len('attribute.'):]}]"
    return field


def _location(form: Mapping[str, str]) -> Location:
    lat, lon = form.get("lat", "").strip(), form.get("long", "").strip()
    if not (lat or lon):
        address = " (address_string alone cannot be placed)" if (
            form.get("address_string") or form.get("address_id")) else ""
        raise bad("A location is required: Signpost decides who owns a report from its "
                  f"coordinates, so send lat and long (WGS84 degrees){address}.")
    if not (lat and lon):
        raise bad(f"{'long' if lat else 'lat'}: required together with "
                  f"{'lat' if lat else 'long'}.")
    if not (DECIMAL.fullmatch(lat) and DECIMAL.fullmatch(lon)):
        raise bad("lat and long must be numbers (WGS84 degrees).")
    where = float(lat), float(lon)
    if not all(math.isfinite(v) for v in where) or not (
            -90 <= where[0] <= 90 and -180 <= where[1] <= 180):
        raise bad("lat must be between -90 and 90, and long between -180 and 180.")
    return Location(lat=where[0], lon=where[1])


def _reporter(form: Mapping[str, str]) -> ReporterContact | None:
    name = " ".join(p for p in (form.get("first_name", "").strip(),
                                form.get("last_name", "").strip()) if p)
    email, phone = form.get("email", "").strip(), form.get("phone", "").strip()
    if not (name or email or phone):
        return None
    try:
        return ReporterContact(name=name or None, email=email or None, phone=phone or None)
    except ValidationError as exc:
        names = {"name": "first_name/last_name", "email": "email", "phone": "phone"}
        fields = sorted({names.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors()})
        raise bad("; ".join(f"{f}: not valid (email like name@example.com, phone at most 40 "
                            "characters, name at most 200)" for f in fields)) from None


def _request(catalogue: Catalogue, found: ReportStatus, view: View) -> ServiceRequest:
    """The public view has no description (the resident's own words) and a rounded place."""
    report = found.report
    if report is None:
        raise ValueError("only reports whose submission was seen are listed")
    category = catalogue.categories.get(report.category)
    owners = ", ".join(o.name for o in found.owners.values()) or None
    return ServiceRequest(
        service_request_id=found.reference, status="open", status_notes=NOTES[found.state],
        service_code=report.category, service_name=category.name if category else None,
        description=(report.description[:MAX_DESCRIPTION] or None) if view == "full" else None,
        agency_responsible=owners,
        requested_datetime=report.submitted_at.isoformat(timespec="seconds"),
        updated_datetime=found.updated_at.isoformat(timespec="seconds"),
        lat=_place(report.location.lat, view), long=_place(report.location.lon, view))


def _place(degrees: float, view: View) -> float:
    return degrees if view == "full" else public_degrees(degrees)
