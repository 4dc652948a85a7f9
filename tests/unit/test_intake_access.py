"""Issue #14, tried as a hostile caller would: each test sends the attack, expects the refusal,
and checks that nothing else changed (other sources' reports never shown, others still served).
The app is the real one, with an in-memory publisher and projection."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake import open311
from services.intake.addresses import client_address, trusted_networks
from services.intake.api import create_app
from services.intake.auth import (
    AddressLimits,
    ApiKey,
    ApiKeysError,
    Authenticator,
    hash_key,
    load_api_keys,
)
from services.intake.reads import ShortCache
from services.intake.status import StatusProjection
from signpost.bundle.model import Category, Question
from signpost.runtime.logging import configure_logging
from tests.unit.test_intake_api import FakePublisher, json_logs

__all__ = ["json_logs"]

CATEGORIES = [
    Category(id="speeding", name="Speeding traffic", questions=[
        Question(id="speed_limit", text="What is the speed limit?", answers=["20", "30"])]),
    Category(id="pothole", name="Pothole"),
    Category(id="housing_repair", name="Housing repair", sensitive=True),
]
KEYS = [
    ApiKey(source="council-a", key_sha256=hash_key("a-key"), scopes=("submit", "read")),
    ApiKey(source="council-b", key_sha256=hash_key("b-key"), scopes=("submit", "read")),
    ApiKey(source="triage", key_sha256=hash_key("staff-key"), scopes=("staff",)),
    ApiKey(source="a-form", key_sha256=hash_key("form-key"),
           cors_origins=("https://a.example",)),  # a browser key: submit only
]
O311 = "/open311/v2"
# 7 decimals, as a resident's phone sends them: the exact front door.
HOME = {"lat": 51.0512345, "lon": -1.5512345}
A_WORDS, B_WORDS = "Water pours through the ceiling at 4 Elm Rd", "Deep hole by the school"


def app_with(projection: StatusProjection | None = None, **kwargs: Any) -> FastAPI:
    auth = kwargs.pop("authenticator", None) or Authenticator(KEYS)
    return create_app(FakePublisher(), CATEGORIES, projection=projection or StatusProjection(),
                      authenticator=auth, **kwargs)


def caller(app: FastAPI, address: str = "198.51.100.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://intake")


def report(category: str, words: str, **extra: Any) -> dict[str, Any]:
    return {"category": category, "description": words, "location": HOME, **extra}


async def submitted(c: httpx.AsyncClient, key: str, body: dict[str, Any]) -> str:
    response = await c.post("/v1/reports", json=body, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    reference: str = response.json()["reference"]
    return reference


async def two_councils_reports(c: httpx.AsyncClient) -> tuple[str, str]:
    a = await submitted(c, "a-key", report("pothole", A_WORDS))
    b = await submitted(c, "b-key", report("pothole", B_WORDS))
    return a, b


# --- item 1: scopes and read filtering -----------------------------------------------------

async def test_another_councils_key_cannot_read_a_report_and_cannot_tell_it_exists() -> None:
    app = app_with()
    async with caller(app) as c:
        a, b = await two_councils_reports(c)
        unknown = await c.get("/v1/reports/SP-0000-0000-0000", headers={"X-API-Key": "b-key"})
        by_b = await c.get(f"/v1/reports/{a}", headers={"X-API-Key": "b-key"})
        by_form = await c.get(f"/v1/reports/{a}", headers={"X-API-Key": "form-key"})
        by_a = await c.get(f"/v1/reports/{a}", headers={"X-API-Key": "a-key"})
        b_own = await c.get(f"/v1/reports/{b}", headers={"X-API-Key": "b-key"})
        by_staff = [await c.get(f"/v1/reports/{r}", headers={"X-API-Key": "staff-key"})
                    for r in (a, b)]
    assert (by_b.status_code, by_form.status_code) == (404, 404)
    assert by_b.json() == unknown.json() == by_form.json(), "a 404 like any unknown reference"
    assert (by_a.status_code, b_own.status_code) == (200, 200)
    assert [r.status_code for r in by_staff] == [200, 200]
    assert by_a.json()["reference"] == a, "the owner still reads it"


async def test_a_browser_key_with_no_origin_reads_only_what_anyone_may() -> None:
    """The form key sits in the page's JavaScript: without an Origin header it is still only
    a submit key, so it sees the public view, never a description."""
    app = app_with()
    async with caller(app) as c:
        a, _ = await two_councils_reports(c)
        await submitted(c, "form-key", report("pothole", "Pothole outside the form's office"))
        listed = await c.get(f"{O311}/requests.json", params={"api_key": "form-key"})
        one = await c.get(f"{O311}/requests/{a}.json", params={"api_key": "form-key"})
        status = await c.get(f"/v1/reports/{a}", headers={"X-API-Key": "form-key"})
    assert listed.status_code == 200 and len(listed.json()) == 3
    assert all(r["description"] is None for r in listed.json() + one.json())
    assert A_WORDS not in listed.text + one.text
    assert status.status_code == 404


async def test_open311_reads_with_another_councils_key_never_show_its_residents_words() -> None:
    app = app_with()
    async with caller(app) as c:
        a, b = await two_councils_reports(c)
        as_b = await c.get(f"{O311}/requests.json", params={"api_key": "b-key"})
        a_as_b = await c.get(f"{O311}/requests/{a}.xml", params={"api_key": "b-key"})
        as_a = await c.get(f"{O311}/requests.json", params={"api_key": "a-key"})
        as_staff = await c.get(f"{O311}/requests.json", params={"api_key": "staff-key"})
    shown = {r["service_request_id"]: r for r in as_b.json()}
    assert shown[b]["description"] == B_WORDS, "its own report in full"
    assert shown[a]["description"] is None and A_WORDS not in as_b.text + a_as_b.text
    assert (shown[a]["lat"], shown[a]["long"]) == (51.051, -1.551), "a rounded place"
    assert {r["service_request_id"]: r["description"] for r in as_a.json()} == {
        a: A_WORDS, b: None}
    assert {r["description"] for r in as_staff.json()} == {A_WORDS, B_WORDS}
    assert (shown[b]["lat"], shown[b]["long"]) == (HOME["lat"], HOME["lon"])


async def test_anonymous_open311_reads_never_show_a_home_repair_or_an_exact_place() -> None:
    app = app_with()
    async with caller(app) as c:
        repair = await submitted(c, "a-key", report("housing_repair", A_WORDS))
        pothole = await submitted(c, "a-key", report("pothole", B_WORDS))
        by_code = await c.get(f"{O311}/requests.json", params={"service_code": "housing_repair"})
        everything = await c.get(f"{O311}/requests.json")
        one = await c.get(f"{O311}/requests/{repair}.json")
        token = await c.get(f"{O311}/tokens/{repair}.json")
        as_xml = await c.get(f"{O311}/requests.xml")
        staff = await c.get(f"{O311}/requests.json", params={"service_code": "housing_repair",
                                                              "api_key": "staff-key"})
    assert by_code.json() == []
    assert [r["service_request_id"] for r in everything.json()] == [pothole]
    assert (one.status_code, token.status_code) == (404, 404)
    assert repair not in everything.text + as_xml.text
    public = everything.json()[0]
    assert public["description"] is None and B_WORDS not in everything.text + as_xml.text
    assert (public["lat"], public["long"]) == (51.051, -1.551)
    assert "51.0512345" not in everything.text + as_xml.text
    assert [r["service_request_id"] for r in staff.json()] == [repair], "staff still see it"


async def test_keys_without_the_submit_scope_cannot_post() -> None:
    reader = ApiKey(source="dashboard", key_sha256=hash_key("read-only"), scopes=("read",))
    publisher = FakePublisher()
    app = create_app(publisher, CATEGORIES, authenticator=Authenticator([*KEYS, reader]))
    async with caller(app) as c:
        api = await c.post("/v1/reports", json=report("pothole", "x"),
                           headers={"X-API-Key": "read-only"})
        form = await c.post(f"{O311}/requests.json", data={
            "api_key": "read-only", "service_code": "pothole", "lat": "51", "long": "-1"})
    assert api.status_code == 403 and api.headers["content-type"] == "application/problem+json"
    assert form.status_code == 403 and form.json()[0]["code"] == 403
    assert publisher.events == []


@pytest.mark.parametrize("entry", [
    {"cors_origins": ["https://a.example"], "scopes": ["submit", "read"]},
    {"cors_origins": ["https://a.example"], "scopes": ["staff"]},
    {"scopes": ["admin"]},
    {"scopes": []},
])
def test_the_keys_file_refuses_a_reading_browser_key_in_one_line(
        tmp_path: Path, entry: dict[str, Any]) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(json.dumps([
        {"source": "ok", "key_sha256": hash_key("1")},
        {"source": "form", "key_sha256": hash_key("2"), **entry}]))
    with pytest.raises(ApiKeysError) as refused:
        load_api_keys(path)
    message = str(refused.value)
    assert "key 2" in message and "\n" not in message
    if "cors_origins" in entry:
        assert "may only have the submit scope" in message


def test_scopes_default_to_submit(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"- {{source: form, key_sha256: {hash_key('1')}, "
                    "cors_origins: ['https://a.example']}\n")
    [key] = load_api_keys(path)
    assert key.scopes == ("submit",)


async def test_open_intake_reads_as_staff() -> None:
    """Development (no keys file, SIGNPOST_INTAKE_OPEN): every call, with a key or not, reads
    every report in full: there is no one else on a developer's machine."""
    app = create_app(FakePublisher(), CATEGORIES, projection=StatusProjection())
    async with caller(app) as c:
        reference = await submitted(c, "", report("housing_repair", A_WORDS))
        status = await c.get(f"/v1/reports/{reference}")
        listed = await c.get(f"{O311}/requests.json")
    assert status.status_code == 200
    assert listed.json()[0]["description"] == A_WORDS
    assert listed.json()[0]["lat"] == HOME["lat"]


# --- item 2: abuse limits ------------------------------------------------------------------

async def test_twenty_wrong_keys_from_one_address_meet_a_429_and_others_are_unaffected() -> None:
    app = app_with(authenticator=Authenticator(KEYS, limits=AddressLimits(
        anonymous_reads_per_minute=60, failures_per_minute=10)))
    async with caller(app, "203.0.113.9") as guesser:
        answers = [await guesser.post("/v1/reports", json=report("pothole", "x"),
                                      headers={"X-API-Key": f"guess-{n}"}) for n in range(20)]
        right_key = await guesser.get("/v1/reports/SP-0000-0000-0000",
                                      headers={"X-API-Key": "a-key"})
        open311_guess = await guesser.post(f"{O311}/requests.json", data={"api_key": "guess"})
    statuses = [r.status_code for r in answers]
    assert statuses == [401] * 10 + [429] * 10
    limited = answers[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 1
    assert right_key.status_code == 429, "no oracle: a right key is not tried either"
    assert open311_guess.status_code == 429 and open311_guess.json()[0]["code"] == 429
    assert "retry-after" in open311_guess.headers
    async with caller(app, "198.51.100.20") as council:
        assert (await council.post("/v1/reports", json=report("pothole", "x"),
                                   headers={"X-API-Key": "a-key"})).status_code == 202


async def test_anonymous_reads_are_limited_per_address() -> None:
    app = app_with(authenticator=Authenticator(KEYS, limits=AddressLimits(
        anonymous_reads_per_minute=5, failures_per_minute=10)))
    async with caller(app, "203.0.113.9") as scraper:
        answers = [await scraper.get(f"{O311}/requests.json", params={"page": n})
                   for n in range(1, 8)]
        as_xml = await scraper.get(f"{O311}/requests/SP-0000-0000-0000.xml")
        keyed = await scraper.get(f"{O311}/requests.json", params={"api_key": "a-key"})
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    assert answers[-1].json()[0]["code"] == 429 and "retry-after" in answers[-1].headers
    assert as_xml.status_code == 429 and b"<code>429</code>" in as_xml.content
    assert keyed.status_code == 200, "keys have their own limit"
    async with caller(app, "198.51.100.20") as neighbour:
        assert (await neighbour.get(f"{O311}/requests.json")).status_code == 200


async def test_x_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    limits = AddressLimits(anonymous_reads_per_minute=2, failures_per_minute=10)
    ingress = trusted_networks("10.0.0.0/8, 192.0.2.1")
    app = app_with(authenticator=Authenticator(KEYS, limits=limits), trusted_proxies=ingress)
    async with caller(app, "10.1.2.3") as via_ingress:
        for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
            for _ in range(2):
                answer = await via_ingress.get(f"{O311}/requests.json", headers={
                    "X-Forwarded-For": f"{client}, 10.9.9.9"})
                assert answer.status_code == 200, "each client has its own allowance"
    async with caller(app, "198.51.100.50") as direct:  # not a proxy: its header is a claim
        answers = [await direct.get(f"{O311}/requests.json", headers={
            "X-Forwarded-For": f"203.0.113.{n}"}) for n in range(10, 13)]
    assert [a.status_code for a in answers] == [200, 200, 429]


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("198.51.100.7", "203.0.113.1", "198.51.100.7"),  # untrusted peer: header ignored
    ("10.0.0.5", "203.0.113.1", "203.0.113.1"),
    ("10.0.0.5", "1.1.1.1, 203.0.113.1, 10.0.0.9", "203.0.113.1"),  # the client's claim left
    ("10.0.0.5", "not-an-address", "10.0.0.5"),
    ("10.0.0.5", None, "10.0.0.5"),
    ("2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),
    (None, "203.0.113.1", "unknown"),
])
def test_client_address(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_address(peer, forwarded, trusted_networks("10.0.0.0/8")) == expected


def test_trusted_proxies_setting_refuses_what_is_no_network() -> None:
    with pytest.raises(ValueError, match=r"ingress\.local"):
        trusted_networks("10.0.0.0/8,ingress.local")


async def test_open311_listings_are_paginated_with_a_cap() -> None:
    projection = StatusProjection()
    app = app_with(projection)
    async with caller(app) as c:
        made = [await submitted(c, "a-key", report("pothole", f"hole {n}")) for n in range(5)]
        pages = [await c.get(f"{O311}/requests.json", params={
            "api_key": "a-key", "page": p, "page_size": 2}) for p in (1, 2, 3, 4)]
        too_big = await c.get(f"{O311}/requests.json", params={"page_size": 201})
        default = await c.get(f"{O311}/requests.json", params={"api_key": "a-key"})
    listed = [r["service_request_id"] for page in pages for r in page.json()]
    assert [len(p.json()) for p in pages] == [2, 2, 1, 0]
    assert listed == made[::-1], "newest first, each once"
    assert too_big.status_code == 400 and "page_size" in too_big.json()[0]["description"]
    assert len(default.json()) == 5 and open311.PAGE_SIZE == 100


async def test_repeated_listings_are_built_once_while_posts_go_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Fifty anonymous listings in a burst cost one build; a post in between is answered."""
    built = 0
    real = open311._request

    def counting(*args: Any) -> Any:
        nonlocal built
        built += 1
        return real(*args)

    monkeypatch.setattr(open311, "_request", counting)
    app = app_with()
    async with caller(app) as c:
        await two_councils_reports(c)
        first = await c.get(f"{O311}/requests.json")
        again = [await c.get(f"{O311}/requests.json", headers={"X-Forwarded-For": "x"})
                 for _ in range(49)]
        posted = await c.post("/v1/reports", json=report("pothole", "x"),
                              headers={"X-API-Key": "a-key"})
    assert built == 2, "two requests built once for fifty listings"
    assert all(r.json() == first.json() for r in again)
    assert posted.status_code == 202


async def test_the_cache_never_serves_one_readers_listing_to_another() -> None:
    app = app_with()
    async with caller(app) as c:
        a, _ = await two_councils_reports(c)
        anonymous = await c.get(f"{O311}/requests.json")
        as_a = await c.get(f"{O311}/requests.json", params={"api_key": "a-key"})
        newer = await submitted(c, "a-key", report("pothole", "A newer hole"))
        as_a_again = await c.get(f"{O311}/requests.json", params={"api_key": "a-key"})
    assert all(r["description"] is None for r in anonymous.json())
    assert {r["service_request_id"]: r["description"] for r in as_a.json()}[a] == A_WORDS
    assert as_a_again.json()[0]["service_request_id"] == newer, "keyed listings are fresh"


def test_short_cache_keeps_an_answer_for_its_time_only() -> None:
    now = [0.0]
    cache: ShortCache[int] = ShortCache(2.0, max_entries=2, clock=lambda: now[0])
    builds = iter(range(100))
    assert cache.get("a", lambda: next(builds)) == 0
    assert cache.get("a", lambda: next(builds)) == 0
    now[0] = 2.5
    assert cache.get("a", lambda: next(builds)) == 1
    cache.get("b", lambda: next(builds))
    cache.get("c", lambda: next(builds))
    assert cache.get("a", lambda: next(builds)) == 4, "bounded: the oldest went"


# --- item 5: input -------------------------------------------------------------------------

MARK = "CallerChosen-7Q"
FORM_TYPE = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("body", "field"), [
    (b'{"category": "pothole", "category": "speeding", "description": "x",'
     b' "location": {"lat": 51, "lon": -1}}', "category"),
    (b'{"category": "pothole", "description": "x",'
     b' "location": {"lat": 51, "lat": 52, "lon": -1}}', "location.lat"),
    (b'{"category": "speeding", "description": "x", "location": {"lat": 51, "lon": -1},'
     b' "answers": {"speed_limit": "20", "speed_limit": "30"}}', "answers.speed_limit"),
    (b'{"category": "pothole", "description": "x", "location": {"lat": 51, "lon": -1},'
     b' "' + MARK.encode() + b'": 1, "' + MARK.encode() + b'": 2}', ""),
    (b'{"category": "pothole", "description": "x", "location": {"lat": 51, "lon": -1},'
     b' "answers": {"' + MARK.encode() + b'": "1", "' + MARK.encode() + b'": "2"}}', "answers"),
])
async def test_a_repeated_json_key_is_a_422_naming_it_only_if_it_is_ours(
        body: bytes, field: str) -> None:
    publisher = FakePublisher()
    app = create_app(publisher, CATEGORIES)
    async with caller(app) as c:
        answer = await c.post("/v1/reports", content=body,
                              headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.headers["content-type"] == \
        "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == field and "more than once" in error["message"]
    assert MARK not in answer.text
    assert publisher.events == []


@pytest.mark.parametrize("location", [
    {"lat": "51.05", "lon": -1.55}, {"lat": 51.05, "lon": "-1.55"},
    {"easting": "440000", "northing": 120000}, {"lat": True, "lon": -1.55},
])
async def test_numbers_must_be_json_numbers(location: dict[str, Any]) -> None:
    publisher = FakePublisher()
    async with caller(create_app(publisher, CATEGORIES)) as c:
        answer = await c.post("/v1/reports", json=report("pothole", "x") | {
            "location": location})
    assert answer.status_code == 422
    assert any(e["field"].startswith("location.") for e in answer.json()["errors"])
    assert publisher.events == []


async def test_no_caller_chosen_string_comes_back_in_answers_or_logs(
        json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("intake-test", "DEBUG")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the test's own client, not intake
    big = MARK + "x" * 60_000
    bodies: list[dict[str, Any]] = [
        report("pothole", "x") | {MARK: "value"},
        report("pothole", "x") | {big: 1},
        report("pothole", "x") | {"location": {"lat": 51, "lon": -1, MARK: 1}},
        report("pothole", "x") | {"reporter": {MARK: "x"}},
        report("speeding", "x") | {"answers": {MARK: "30"}},
        report("speeding", "x") | {"answers": {"speed_limit": MARK}},
        report("speeding", "x") | {"answers": {MARK: 5}},
        report(MARK, "x"),
    ]
    answers = []
    async with caller(app_with(authenticator=Authenticator(None))) as c:
        for body in bodies:
            answers.append(await c.post("/v1/reports", json=body))
        answers.append(await c.get(f"/v1/{MARK}"))
        answers.append(await c.post(f"/v1/{MARK}", content=b"x" * 70_000))
        answers.append(await c.get(f"/v1/reports/{MARK}"))
        answers.append(await c.post(f"{O311}/requests.json", data={
            "service_code": "speeding", "lat": "51", "long": "-1",
            f"attribute[{MARK}]": "1"}))
        answers.append(await c.get(f"{O311}/{MARK}.json"))
    assert all(400 <= a.status_code < 500 for a in answers), [a.status_code for a in answers]
    for answer in answers:
        assert MARK not in answer.text and MARK not in json.dumps(dict(answer.headers))
    logged = json_logs.readouterr().err
    assert "report_rejected" in logged and MARK not in logged


@pytest.mark.parametrize("body", [
    b"[" * 20_000 + b"]" * 20_000,
    b'{"category": "pothole", "description": "x", "location": {"lat": 1e400, "lon": 0}}',
    b'{"category": "pothole", "description": "x", "location": {"lat": NaN, "lon": 0}}',
    b'{"category": "pothole", "description": "x", "location": {"lat": -Infinity, "lon": 0}}',
    b'{"category": "pothole", "description": "\xff\xfe", "location": {"lat": 1, "lon": 0}}',
    b'{"category": "pothole", "description": "\\ud800", "location": {"lat": 1, "lon": 0}}',
    b'{"category": {"a": {"a": {"a": 1, "a": 2}}}}',
    b'{"a": 1, "a": 2' + b"}" * 5,
    b"null", b"1", b'"text"', b"",
])
async def test_hostile_bodies_get_a_4xx_problem_never_a_500(body: bytes) -> None:
    publisher = FakePublisher()
    async with caller(create_app(publisher, CATEGORIES)) as c:
        answer = await c.post("/v1/reports", content=body,
                              headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert publisher.events == []


@pytest.mark.parametrize(("form", "words"), [
    (b"service_code=pothole&lat=51&long=-1&lat=52", "lat: given more than once"),
    (b"service_code=pothole&lat=51&long=-1&" + MARK.encode() + b"=1&" + MARK.encode() + b"=2",
     "A field is given more than once"),
    (b"service_code=pothole&lat=5_1&long=-1", "must be numbers"),
    (b"service_code=pothole&lat=nan&long=-1", "must be numbers"),
    (b"service_code=pothole&lat=51&long=1e1", "must be numbers"),
])
async def test_open311_forms_with_repeated_fields_or_odd_numbers_are_400(
        form: bytes, words: str) -> None:
    publisher = FakePublisher()
    async with caller(create_app(publisher, CATEGORIES)) as c:
        answer = await c.post(f"{O311}/requests.json", content=form, headers=FORM_TYPE)
        fine = await c.post(f"{O311}/requests.json", headers=FORM_TYPE,
                            content=b"service_code=pothole&lat=51.&long=-1.5512345678901234")
        in_query_too = await c.post(f"{O311}/requests.json?service_code=speeding",
                                    content=b"service_code=pothole&lat=51&long=-1",
                                    headers=FORM_TYPE)
    assert answer.status_code == 400 and words in answer.json()[0]["description"]
    assert MARK not in answer.text
    assert in_query_too.status_code == 400, "the query and the form disagreeing is refused"
    assert "service_code: given more than once" in in_query_too.json()[0]["description"]
    assert fine.status_code == 200, "plain decimals are numbers"
    assert len(publisher.events) == 1


def test_problem_fields_never_hold_a_callers_key() -> None:
    from services.intake.api import FIELDS
    from services.intake.problems import field_problems

    found = field_problems([{"type": "string_type", "loc": ("body", "answers", MARK, 0)},
                            {"type": "extra_forbidden", "loc": ("body", "location", MARK)}],
                           FIELDS, {"speed_limit"})
    assert [p.field for p in found] == ["answers", "location"]
    assert "lat, lon, easting, northing" in found[1].message
    assert not re.search(MARK, repr(found))
