"""RFC 9457 problem details. Every error intake sends is one of these, with field errors in
words a form can show a resident. Messages never echo what the resident typed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:signpost:problem:"  # RFC 9457 3.1.1: an identifier, not dereferenced


class FieldProblem(BaseModel):
    field: str  # dotted path in the request body; "" is the whole body
    pointer: str  # the same place as a JSON Pointer (RFC 6901)
    message: str

    @classmethod
    def at(cls, path: Sequence[str | int], message: str) -> FieldProblem:
        parts = [str(p) for p in path]
        pointer = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)
        return cls(field=".".join(parts), pointer=pointer, message=message)


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


def problem(status: int, detail: str, *, kind: str | None = None, title: str | None = None,
            instance: str | None = None, errors: list[FieldProblem] | None = None,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = Problem(type=TYPE_PREFIX + kind if kind else "about:blank",
                   title=title or HTTPStatus(status).phrase, status=status, detail=detail,
                   instance=instance, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        headers=dict(headers or {}), media_type=PROBLEM_JSON)


_HINTS = {
    "": "Send the report as a JSON object (Content-Type: application/json).",
    "location": "Give the location as an object with lat and lon.",
    "location.lat": "Latitude must be a number between -90 and 90 (WGS84 degrees).",
    "location.lon": "Longitude must be a number between -180 and 180 (WGS84 degrees).",
    "reporter.email": "Enter an email address in the correct format, like name@example.com.",
    "uprn": "A UPRN is a number of 1 to 12 digits.",
    "answers": "Give answers as an object of question id to answer, at most 3.",
}


def _message(kind: str, path: str, ctx: Mapping[str, Any]) -> str:
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "This field is not recognised; check its spelling."
    if path in _HINTS:
        return _HINTS[path]
    words = {
        "string_type": "Must be text.",
        "string_too_short": "Must not be empty.",
        "string_too_long": f"Must be at most {ctx.get('max_length')} characters.",
        "float_type": "Must be a number.",
        "float_parsing": "Must be a number.",
        "finite_number": "Must be a number.",
        "greater_than_equal": f"Must be at least {ctx.get('ge')}.",
        "less_than_equal": f"Must be at most {ctx.get('le')}.",
        "model_type": "Must be a JSON object.",
        "model_attributes_type": "Must be a JSON object.",
        "dict_type": "Must be a JSON object.",
        "string_pattern_mismatch": "Is not in the expected format.",
    }
    return words.get(kind, "Is not valid.")


def field_problems(errors: Sequence[Mapping[str, Any]]) -> list[FieldProblem]:
    """Pydantic/FastAPI validation errors in plain words; the leading 'body' is dropped."""
    found: list[FieldProblem] = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"]:
            loc = loc[1:]
        path = ".".join(str(p) for p in loc)
        found.append(FieldProblem.at(loc, _message(error["type"], path, error.get("ctx") or {})))
    return found
