"""Open311 GeoReport v2 under /open311/v2, through the real app with an in-memory publisher.
JSON answers are checked against the published Open311 JSON Schemas where ../shared has them."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from schemas import Owner, ReportAcknowledged, ReportRouted, RoutingTrace, Tier
from services.intake.api import create_app
from services.intake.auth import ApiKey, Authenticator, hash_key
from services.intake.open311 import NOTES
from services.intake.status import State, StatusProjection
from tests.unit.test_intake_api import CATEGORIES, FakePublisher, client

BASE = "/open311/v2"
FORM = {"service_code": "speeding", "lat": "51.05", "long": "-1.55",
        "attribute[speed_limit]": "30", "description": "Cars race past the school",
        "email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace",
        "phone": "07700 900123", "media_url": "https://photos.example/1.jpg"}
KEYS = [ApiKey(source="fms", key_sha256=hash_key("fms-key"), scopes=("submit", "read"))]


@pytest.fixture
def validate(shared_data: Path) -> Any:
    """validate(document, "services"): against ../shared/data/open311-schemas/services.json;
    a name that is no file there (e.g. "TokenResponse") is a list of that swagger.json
    definition, since the schemas have no file for the token and post responses."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    folder = shared_data / "open311-schemas"
    if not folder.is_dir():
        pytest.skip("Open311 schemas are not present")
    schemas = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}
    registry = Registry().with_resources(
        (name, Resource.from_contents(s, default_specification=DRAFT202012))
        for name, s in schemas.items())

    def check(document: Any, name: str) -> None:
        schema = schemas.get(name + ".json") or {
            "type": "array", "items": schemas["swagger.json"]["definitions"][name]}
        validator = Draft202012Validator(schema, registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = list(validator.iter_errors(document))
        assert not errors, [e.message for e in errors]

    return check


def test_the_schema_check_catches_a_bad_document(validate: Any) -> None:
    with pytest.raises(AssertionError):
        validate([{"service_request_id": "x", "status": "pending", "service_code": "c",
                   "requested_datetime": "yesterday"}], "requests")


async def post(app: Any, form: dict[str, str], fmt: str = "json", **kwargs: Any) -> Any:
    async with client(app) as c:
        return await c.post(f"{BASE}/requests.{fmt}", data=form, **kwargs)


async def test_services_and_definitions(validate: Any) -> None:
    async with client(create_app(FakePublisher(), CATEGORIES)) as c:
        services = await c.get(f"{BASE}/services.json")
        definition = await c.get(f"{BASE}/services/speeding.json")
        plain = await c.get(f"{BASE}/services/pothole.json")
        missing = await c.get(f"{BASE}/services/unicorns.json")
    validate(services.json(), "services")
    assert [s["service_code"] for s in services.json()] == ["speeding", "pothole"]
    assert services.json()[0]["metadata"] is True and services.json()[1]["metadata"] is False
    validate(definition.json(), "service-definition")
    first = definition.json()["attributes"][0]
    assert first == {"variable": True, "code": "speed_limit", "datatype": "singlevaluelist",
                     "required": False, "datatype_description": None, "order": 1,
                     "description": "What is the speed limit?",
                     "values": [{"key": "20", "name": "20"}, {"key": "30", "name": "30"},
                                {"key": "40 or more", "name": "40 or more"}]}
    assert plain.json()["attributes"] == []
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": missing.json()[0]["description"]}]


async def test_services_as_xml() -> None:
    async with client(create_app(FakePublisher(), CATEGORIES)) as c:
        services = await c.get(f"{BASE}/services.xml")
        definition = await c.get(f"{BASE}/services/speeding.xml")
    assert services.headers["content-type"].startswith("text/xml")
    root = ElementTree.fromstring(services.content)
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == ["speeding",
                                                                             "pothole"]
    attribute = ElementTree.fromstring(definition.content).find("attributes/attribute")
    assert attribute is not None and attribute.findtext("variable") == "true"
    assert [v.findtext("key") for v in attribute.findall("values/value")] == ["20", "30",
                                                                             "40 or more"]


async def test_post_request_publishes_the_report(validate: Any) -> None:
    publisher = FakePublisher()
    projection = StatusProjection()
    app = create_app(publisher, CATEGORIES, projection=projection)
    response = await post(app, FORM)
    assert response.status_code == 200, response.text
    validate(response.json(), "RequestResponse")
    [created] = response.json()
    reference = created["service_request_id"]
    assert created["service_notice"]
    report = publisher.events[0].report
    assert (report.reference, report.category, report.source) == (reference, "speeding", "open311")
    assert report.answers == {"speed_limit": "30"}
    assert report.reporter is not None and report.reporter.name == "Ada Lovelace"
    assert report.description.endswith("Photo: https://photos.example/1.jpg")

    async with client(app) as c:
        one = await c.get(f"{BASE}/requests/{reference}.json")
        listed = await c.get(f"{BASE}/requests.json", params={"service_request_id": reference})
        everything = await c.get(f"{BASE}/requests.json")
        closed = await c.get(f"{BASE}/requests.json", params={"status": "closed"})
        as_xml = await c.get(f"{BASE}/requests/{reference}.xml")
    validate(one.json(), "requests")
    request = one.json()[0]
    assert (request["service_request_id"], request["status"], request["service_code"]) == (
        reference, "open", "speeding")
    assert request["service_name"] == "Speeding traffic"
    assert (request["lat"], request["long"]) == (51.05, -1.55)
    assert "ada@example.org" not in one.text and "Lovelace" not in one.text
    assert listed.json() == one.json() and everything.json() == one.json()
    assert closed.json() == []
    element = ElementTree.fromstring(as_xml.content).find("request")
    assert element is not None and element.findtext("service_request_id") == reference


@pytest.mark.parametrize(("change", "words"), [
    ({"lat": "", "long": "", "address_string": "1 High St"}, "coordinates"),
    ({"lat": "", "long": ""}, "A location is required"),
    ({"long": ""}, "long: required together with lat"),
    ({"lat": "north"}, "must be numbers"),
    ({"lat": "91"}, "between -90 and 90"),
    ({"service_code": ""}, "service_code: required"),
    ({"service_code": "unicorns"}, "service_code: Not a category"),
    ({"attribute[speed_limit]": "70"}, "attribute[speed_limit]: Not an allowed answer"),
    ({"attribute[colour]": "red"}, "attribute: Answers a question this category does not ask"),
    ({"email": "not-an-email"}, "email: not valid"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"description": "x" * 4001}, "at most 4000"),
])
async def test_bad_requests_are_400_error_lists(change: dict[str, str], words: str) -> None:
    publisher = FakePublisher()
    response = await post(create_app(publisher, CATEGORIES), {**FORM, **change})
    assert response.status_code == 400
    [error] = response.json()
    assert error["code"] == 400 and words in error["description"], error
    assert publisher.events == []


async def test_errors_as_xml_and_wrong_content_type() -> None:
    app = create_app(FakePublisher(), CATEGORIES)
    as_xml = await post(app, {**FORM, "lat": ""}, fmt="xml")
    error = ElementTree.fromstring(as_xml.content).find("error")
    assert as_xml.status_code == 400 and error is not None and error.findtext("code") == "400"
    async with client(app) as c:
        as_json = await c.post(f"{BASE}/requests.json", json=FORM)
        nowhere = await c.get(f"{BASE}/nothing.json")
    assert as_json.status_code == 415 and as_json.json()[0]["code"] == 415
    assert nowhere.status_code == 404 and nowhere.json()[0]["code"] == 404


async def test_api_key_is_required_to_post_and_for_descriptions() -> None:
    publisher = FakePublisher()
    app = create_app(publisher, CATEGORIES, authenticator=Authenticator(KEYS))
    missing = await post(app, FORM)
    wrong = await post(app, {**FORM, "api_key": "nope"})
    accepted = await post(app, {**FORM, "api_key": "fms-key"})
    assert (missing.status_code, wrong.status_code, accepted.status_code) == (401, 401, 200)
    assert missing.json()[0]["code"] == 401
    reference = accepted.json()[0]["service_request_id"]
    assert publisher.events[0].report.source == "fms"
    async with client(app) as c:
        anonymous = await c.get(f"{BASE}/requests/{reference}.json")
        keyed = await c.get(f"{BASE}/requests/{reference}.json", params={"api_key": "fms-key"})
        bad_key = await c.get(f"{BASE}/requests/{reference}.json", params={"api_key": "x"})
    assert anonymous.status_code == 200 and anonymous.json()[0]["description"] is None
    assert keyed.json()[0]["description"].startswith("Cars race past")
    assert bad_key.status_code == 401


async def test_reposts_answer_the_same_request_id() -> None:
    publisher = FakePublisher()
    app = create_app(publisher, CATEGORIES)
    first = await post(app, FORM)
    same = await post(app, FORM)
    keyed = await post(app, {**FORM, "description": "Another"}, headers={"Idempotency-Key": "1"})
    keyed_again = await post(app, {**FORM, "description": "Another"},
                             headers={"Idempotency-Key": "1"})
    different = await post(app, {**FORM, "description": "Something else"})
    ids = [r.json()[0]["service_request_id"] for r in (first, same, keyed, keyed_again,
                                                       different)]
    assert ids[0] == ids[1] and ids[2] == ids[3]
    assert len(set(ids)) == 3 and len(publisher.events) == 3


def test_every_state_has_a_status_note() -> None:
    assert set(NOTES) == set(typing.get_args(State))


async def test_an_acknowledged_request_reads_back_as_json_and_xml(validate: Any) -> None:
    """Once the owner acknowledged a report, Open311 reads answered 500 (no note for it)."""
    projection = StatusProjection()
    app = create_app(FakePublisher(), CATEGORIES, projection=projection)
    reference = (await post(app, FORM)).json()[0]["service_request_id"]
    submitted = projection.get(reference)
    assert submitted is not None and submitted.report is not None
    owner = Owner(id="ashcombe-pc", name="Ashcombe Parish Council", tier=Tier.PARISH)
    projection.apply(ReportRouted(
        report=submitted.report, owner=owner, rule_id="r",
        trace=RoutingTrace(bundle_version="v", rules_evaluated=["r"], matched_rule="r",
                           boundaries=[])))
    projection.apply(ReportAcknowledged(report_reference=reference, owner_id=owner.id))
    assert submitted.state == "acknowledged"
    async with client(app) as c:
        one = await c.get(f"{BASE}/requests/{reference}.json")
        listed = await c.get(f"{BASE}/requests.json")
        one_xml = await c.get(f"{BASE}/requests/{reference}.xml")
        listed_xml = await c.get(f"{BASE}/requests.xml")
    assert [r.status_code for r in (one, listed, one_xml, listed_xml)] == [200] * 4
    validate(one.json(), "requests")
    validate(listed.json(), "requests")
    assert one.json() == listed.json()
    request = one.json()[0]
    assert request["status_notes"] == NOTES["acknowledged"]
    assert request["agency_responsible"] == "Ashcombe Parish Council"
    for document in (one_xml, listed_xml):
        element = ElementTree.fromstring(document.content).find("request")
        assert element is not None and element.findtext("service_request_id") == reference
        assert element.findtext("status_notes") == NOTES["acknowledged"]


async def test_the_token_a_post_answers_resolves_to_its_request_id(validate: Any) -> None:
    app = create_app(FakePublisher(), CATEGORIES, authenticator=Authenticator(KEYS))
    posted = await post(app, {**FORM, "api_key": "fms-key"})
    [created] = posted.json()
    reference, token = created["service_request_id"], created["token"]
    async with client(app) as c:
        as_json = await c.get(f"{BASE}/tokens/{token}.json")  # reads need no key
        as_xml = await c.get(f"{BASE}/tokens/{token}.xml")
        unknown = await c.get(f"{BASE}/tokens/SP-0000-0000-0000.json")
        unknown_xml = await c.get(f"{BASE}/tokens/nonsense.xml")
    assert as_json.status_code == 200, as_json.text
    validate(as_json.json(), "TokenResponse")
    assert as_json.json() == [{"service_request_id": reference, "token": token}]
    element = ElementTree.fromstring(as_xml.content).find("request")
    assert element is not None
    assert (element.findtext("service_request_id"), element.findtext("token")) == (reference,
                                                                                   token)
    assert unknown.status_code == 404
    assert unknown.json() == [{"code": 404, "description": unknown.json()[0]["description"]}]
    assert "token" in unknown.json()[0]["description"]
    error = ElementTree.fromstring(unknown_xml.content).find("error")
    assert unknown_xml.status_code == 404 and error is not None
    assert error.findtext("code") == "404"
