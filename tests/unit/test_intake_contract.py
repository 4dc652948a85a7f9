"""The JSON API's contract beyond a single POST: API keys, rate limit, CORS, idempotency,
status, categories and grid references. In-memory publisher, the real app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI

from schemas import Owner, ReportRouted, RoutingTrace, Tier
from services.intake.api import create_app
from services.intake.auth import ApiKey, Authenticator, hash_key
from services.intake.status import StatusProjection
from tests.unit.test_intake_api import CATEGORIES, PROBLEM, FakePublisher, client, valid

KEYS = [ApiKey(source="vale-form", key_sha256=hash_key("form-key"), rate_per_minute=3,
               cors_origins=("https://report.vale.example",)),
        ApiKey(source="fms", key_sha256=hash_key("fms-key"))]


def keyed(publisher: FakePublisher, **kwargs: Any) -> FastAPI:
    return create_app(publisher, CATEGORIES, authenticator=Authenticator(KEYS), **kwargs)


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "nope"},
                                     {"Authorization": "Bearer nope"}])
async def test_missing_or_wrong_key_is_401_problem(headers: dict[str, str]) -> None:
    publisher = FakePublisher()
    async with client(keyed(publisher)) as c:
        response = await c.post("/v1/reports", json=valid(), headers=headers)
        status = await c.get("/v1/reports/SP-AAAA-BBBB-CCCC", headers=headers)
    assert response.status_code == 401 and status.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert "API key" in response.json()["detail"]
    assert publisher.events == []


async def test_key_by_header_or_bearer_names_the_source() -> None:
    publisher = FakePublisher()
    async with client(keyed(publisher)) as c:
        one = await c.post("/v1/reports", json=valid(), headers={"X-API-Key": "form-key"})
        two = await c.post("/v1/reports", json=valid(), headers={"Authorization": "Bearer fms-key"})
    assert (one.status_code, two.status_code) == (202, 202)
    assert [e.report.source for e in publisher.events] == ["vale-form", "fms"]


async def test_rate_limit_is_per_key_with_retry_after() -> None:
    async with client(keyed(FakePublisher())) as c:
        codes = [(await c.post("/v1/reports", json=valid(), headers={"X-API-Key": "form-key"})
                  ) for _ in range(4)]
        other = await c.post("/v1/reports", json=valid(), headers={"X-API-Key": "fms-key"})
    assert [r.status_code for r in codes] == [202, 202, 202, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert codes[-1].headers["content-type"] == PROBLEM
    assert other.status_code == 202


async def test_cors_for_the_form_origin_only() -> None:
    async with client(keyed(FakePublisher())) as c:
        preflight = await c.options("/v1/reports", headers={
            "Origin": "https://report.vale.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type"})
        stranger = await c.options("/v1/reports", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        wrong_site = await c.post("/v1/reports", json=valid(), headers={
            "X-API-Key": "form-key", "Origin": "https://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://report.vale.example"
    assert "access-control-allow-origin" not in stranger.headers
    assert wrong_site.status_code == 403


async def test_idempotency_key_returns_the_first_reference() -> None:
    publisher = FakePublisher()
    async with client(create_app(publisher, CATEGORIES)) as c:
        first = await c.post("/v1/reports", json=valid(), headers={"Idempotency-Key": "abc"})
        again = await c.post("/v1/reports", json=valid(), headers={"Idempotency-Key": "abc"})
        changed = await c.post("/v1/reports", json=valid(description="Other"),
                               headers={"Idempotency-Key": "abc"})
        fresh = await c.post("/v1/reports", json=valid(), headers={"Idempotency-Key": "def"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 422 and changed.headers["content-type"] == PROBLEM
    assert fresh.json()["reference"] != first.json()["reference"]
    assert len(publisher.events) == 2


async def test_concurrent_repeats_make_one_report() -> None:
    class Slow(FakePublisher):
        async def publish(self, event: Any, extra_headers: Any = ()) -> None:
            await asyncio.sleep(0.05)
            await super().publish(event, extra_headers)

    publisher = Slow()
    async with client(create_app(publisher, CATEGORIES)) as c:
        responses = await asyncio.gather(*(c.post(
            "/v1/reports", json=valid(), headers={"Idempotency-Key": "same"}) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [202, 409, 409]
    assert len(publisher.events) == 1


async def test_failed_publish_can_be_retried_with_the_same_key() -> None:
    publisher = FakePublisher(fail=True)
    async with client(create_app(publisher, CATEGORIES)) as c:
        failed = await c.post("/v1/reports", json=valid(), headers={"Idempotency-Key": "k"})
        publisher.fail = False
        retried = await c.post("/v1/reports", json=valid(), headers={"Idempotency-Key": "k"})
    assert (failed.status_code, retried.status_code) == (503, 202)


async def test_replica_recognises_a_key_from_the_projection() -> None:
    """Another replica published it: the key's hash came back on the topic's header."""
    projection = StatusProjection()
    first = FakePublisher()
    async with client(create_app(first, CATEGORIES, projection=StatusProjection())) as c:
        reference = (await c.post("/v1/reports", json=valid(),
                                  headers={"Idempotency-Key": "k"})).json()["reference"]
    [event] = first.events
    from services.intake.idempotency import scoped_key

    projection.apply(event, scoped_key("api", "k"))
    second = FakePublisher()
    async with client(create_app(second, CATEGORIES, projection=projection)) as c:
        again = await c.post("/v1/reports", json=valid(), headers={"Idempotency-Key": "k"})
    assert again.json()["reference"] == reference and second.events == []


async def test_status_follows_the_report() -> None:
    publisher = FakePublisher()
    projection = StatusProjection()
    async with client(create_app(publisher, CATEGORIES, projection=projection)) as c:
        accepted = (await c.post("/v1/reports", json=valid())).json()
        received = await c.get(accepted["status_url"])
        [event] = publisher.events
        trace = RoutingTrace(bundle_version="1", rules_evaluated=["r1"], matched_rule="r1",
                             boundaries=[])
        projection.apply(ReportRouted(report=event.report, rule_id="r1", trace=trace, owner=Owner(
            id="vale-county", name="Vale County Council", tier=Tier.COUNTY)))
        routed = await c.get(accepted["status_url"].lower())
        unknown = await c.get("/v1/reports/SP-0000-0000-0000")
    assert received.status_code == 200
    assert received.json()["status"] == "received"
    assert "description" not in received.text and "ada@example.org" not in received.text
    body = routed.json()
    assert body["status"] == "routed" and body["category"] == "speeding"
    assert body["owners"] == [{"id": "vale-county", "name": "Vale County Council",
                               "tier": "county", "notification": "pending",
                               "acknowledged_at": None}]
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM


async def test_categories_list_questions() -> None:
    async with client(create_app(FakePublisher(), CATEGORIES)) as c:
        response = await c.get("/v1/categories")
    speeding = response.json()["categories"][0]
    assert speeding["id"] == "speeding" and speeding["name"] == "Speeding traffic"
    assert speeding["questions"][0] == {"id": "speed_limit", "text": "What is the speed limit?",
                                        "answers": ["20", "30", "40 or more"]}


async def test_grid_reference_is_stored_as_wgs84() -> None:
    publisher = FakePublisher()
    async with client(create_app(publisher, CATEGORIES)) as c:
        response = await c.post("/v1/reports", json=valid(
            location={"easting": 440_000, "northing": 120_000}))
    assert response.status_code == 202
    where = publisher.events[0].report.location
    assert 50.9 < where.lat < 51.1 and -1.6 < where.lon < -1.3


@pytest.mark.parametrize(("location", "field"), [
    ({}, "location"), ({"lat": 51, "lon": -1, "easting": 1, "northing": 2}, "location"),
    ({"easting": 440_000}, "location.northing"), ({"easting": -5, "northing": 1},
                                                  "location.easting")])
async def test_location_problems_are_422(location: dict[str, Any], field: str) -> None:
    async with client(create_app(FakePublisher(), CATEGORIES)) as c:
        response = await c.post("/v1/reports", json=valid(location=location))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
