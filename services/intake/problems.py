"""RFC 9457 problem details. Every error intake sends is one of these, with field errors in
words a form can show a resident. Messages never echo what the resident typed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:signpost:problem:"  # RFC 9457 3.1.1: an identifier, not dereferenced
REPEATED_KEY = "repeated_key"  # our own error type, beside pydantic's
_REPEATED_UNNAMED = "repeated_unnamed_key"  # the repeated key is not one of the API's names


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


def _message(kind: str, path: str, ctx: Mapping[str, Any],
             fields: Mapping[str, Sequence[str]]) -> str:
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        listed = fields.get(path)
        return "Has a field that is not recognised; check the spelling" + (
            f". The fields here are: {', '.join(listed)}." if listed else ".")
    if kind == REPEATED_KEY:
        return "This key appears more than once; send it once."
    if kind == _REPEATED_UNNAMED:
        return "A key appears more than once in this object; send each key once."
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


def field_problems(errors: Sequence[Mapping[str, Any]],
                   fields: Mapping[str, Sequence[str]] | None = None,
                   names: Collection[str] = ()) -> list[FieldProblem]:
    """Pydantic/FastAPI validation errors in plain words; the leading 'body' is dropped.

    A body's keys are the caller's to choose, so a path in the body is named only as far as
    it goes through names the API knows (`fields`: parent path -> its fields, and `names`,
    e.g. the categories' question ids): `{"colour": 1}` is a problem with the body, not with
    "colour". Never echoing a caller's string keeps responses and logs free of what they
    chose to send."""
    known = _all(fields or {}) | set(names)
    found: list[FieldProblem] = []
    for error in errors:
        loc = list(error.get("loc", ()))
        kind = error["type"]
        if loc[:1] == ["body"]:
            loc = loc[1:-1] if kind == "extra_forbidden" else loc[1:]  # named by its parent
            cut = next((n for n, p in enumerate(loc) if isinstance(p, str) and p not in known),
                       None)
            if cut is not None:
                loc = loc[:cut]
                kind = {REPEATED_KEY: _REPEATED_UNNAMED}.get(kind, kind)
        path = ".".join(str(p) for p in loc)
        problem = FieldProblem.at(loc, _message(kind, path, error.get("ctx") or {},
                                                fields or {}))
        if problem not in found:
            found.append(problem)
    return found


def _all(fields: Mapping[str, Sequence[str]]) -> set[str]:
    return {name for listed in fields.values() for name in listed}
