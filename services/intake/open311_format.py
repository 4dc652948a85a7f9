"""Open311 GeoReport v2 response documents, as pydantic models (for JSON and the OpenAPI
description) and as XML (the spec's other format)."""

from __future__ import annotations

import re
from typing import Any, Literal
from xml.etree.ElementTree import Element, SubElement, tostring  # nosec B405: builds only

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from signpost.bundle.model import Category

XML = "text/xml; charset=utf-8"
Format = Literal["json", "xml"]


class Open311Error(BaseModel):
    code: int = Field(description="The HTTP status")
    description: str


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str | None = None
    metadata: bool = Field(description="True: GET the service definition for its questions")
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str | None = None
    group: str | None = None


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool = True
    code: str
    datatype: Literal["singlevaluelist"] = "singlevaluelist"
    required: bool = False
    datatype_description: str | None = None
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class RequestCreated(BaseModel):
    service_request_id: str
    service_notice: str | None = None
    token: str = Field(description="Resolves to service_request_id at tokens/{token}")


class RequestToken(BaseModel):
    service_request_id: str
    token: str


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None = None
    service_code: str
    service_name: str | None = None
    description: str | None = Field(None, max_length=4000)
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: str = Field(description="ISO 8601 with offset")
    updated_datetime: str | None = None
    lat: float | None = None
    long: float | None = None


def service_of(category: Category) -> Service:
    return Service(service_code=category.id, service_name=category.name,
                   metadata=bool(category.questions))


def definition_of(category: Category) -> ServiceDefinition:
    return ServiceDefinition(service_code=category.id, attributes=[
        Attribute(code=q.id, order=n, description=q.text,
                  values=[AttributeValue(key=a, name=a) for a in q.answers])
        for n, q in enumerate(category.questions, start=1)])


def render(fmt: str, root: str, item: str, documents: list[BaseModel] | BaseModel,
           status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A list (or one document) as JSON, or as XML under <root><item>…</item></root>."""
    data: Any = ([d.model_dump(mode="json") for d in documents]
                 if isinstance(documents, list) else documents.model_dump(mode="json"))
    if fmt != "xml":
        return JSONResponse(data, status_code=status, headers=headers)
    element = Element(root)
    for entry in data if isinstance(data, list) else [data]:
        _fill(SubElement(element, item) if isinstance(data, list) else element, entry)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(element, encoding="unicode"
                                                                   ).encode()
    return Response(body, status_code=status, headers=headers, media_type=XML)


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ITEM_TAGS = {"attributes": "attribute", "values": "value"}


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _fill(SubElement(element, name), inner)
    elif isinstance(value, list):
        for inner in value:
            _fill(SubElement(element, _ITEM_TAGS.get(element.tag, "item")), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("\ufffd", str(value))
