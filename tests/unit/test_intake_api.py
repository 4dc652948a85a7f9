"""Intake's HTTP contract with an in-memory publisher: 202 only after publishing, problem+json
for everything else, and no personal data or free text in the logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from prometheus_client import REGISTRY

from schemas import ReportSubmitted
from services.intake.api import create_app
from services.intake.publisher import Headers, PublishFailed
from signpost.bundle.model import Category, Question
from signpost.runtime.logging import configure_logging

CATEGORIES = [
    Category(id="speeding", name="Speeding traffic", questions=[
        Question(id="speed_limit", text="What is the speed limit?", answers=["20", "30",
                                                                            "40 or more"]),
        Question(id="pattern", text="When?", answers=["at certain times", "all day"])]),
    Category(id="pothole", name="Pothole"),
]
REFERENCE = re.compile(r"^SP-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")
PROBLEM = "application/problem+json"


class FakePublisher:
    """Records what it was given; `fail` makes it behave like a broker that did not ack."""

    def __init__(self, fail: bool = False, is_ready: bool = True) -> None:
        self.events: list[ReportSubmitted] = []
        self.fail, self.is_ready = fail, is_ready

    async def publish(self, event: ReportSubmitted, extra_headers: Headers = ()) -> None:
        if self.fail:
            raise PublishFailed("broker did not acknowledge")
        self.events.append(event)

    def ready(self) -> bool:
        return self.is_ready


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """capsys, with the logging set-up restored afterwards: configure_logging (called in the
    test, where stderr is capsys's) is global, and capsys closes its stream after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield capsys
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def valid(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "speeding",
        "description": "Cars race past the school at home time",
        "location": {"lat": 51.05, "lon": -1.55},
        "answers": {"speed_limit": "30", "pattern": "at certain times"},
        "uprn": "100012345678",
        "reporter": {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "07700 900123"},
    }
    body.update(changes)
    return body


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def post(publisher: FakePublisher, body: Any = None, **kwargs: Any) -> httpx.Response:
    async with client(create_app(publisher, CATEGORIES)) as c:
        if body is not None:
            kwargs["json"] = body
        return await c.post("/v1/reports", **kwargs)


async def test_accepted_report_is_published_then_answered_202() -> None:
    publisher = FakePublisher()
    before = sample("signpost_reports_received_total", category="speeding", source="api")
    response = await post(publisher, valid())

    assert response.status_code == 202
    reference = response.json()["reference"]
    assert REFERENCE.match(reference)
    assert response.json()["status_url"] == f"/v1/reports/{reference}"
    assert response.headers["location"] == f"/v1/reports/{reference}"
    [event] = publisher.events
    report = event.report
    assert (report.reference, report.category, report.source) == (reference, "speeding", "api")
    assert (report.location.lat, report.location.lon) == (51.05, -1.55)
    assert report.answers == {"speed_limit": "30", "pattern": "at certain times"}
    assert report.reporter is not None and report.reporter.email == "ada@example.org"
    assert report.uprn == "100012345678"
    assert report.submitted_at.utcoffset() is not None
    assert sample("signpost_reports_received_total", category="speeding", source="api") == \
        before + 1


async def test_minimal_report_needs_no_answers_uprn_or_reporter() -> None:
    publisher = FakePublisher()
    response = await post(publisher, {"category": "pothole", "description": "Deep hole",
                                      "location": {"lat": 51.1, "lon": -1.4}})
    assert response.status_code == 202
    assert publisher.events[0].report.reporter is None


async def test_references_differ() -> None:
    publisher = FakePublisher()
    async with client(create_app(publisher, CATEGORIES)) as c:
        refs = {(await c.post("/v1/reports", json=valid())).json()["reference"]
                for _ in range(20)}
    assert len(refs) == 20


@pytest.mark.parametrize(("body", "field", "words", "reason"), [
    ({k: v for k, v in valid().items() if k != "category"}, "category", "required", "invalid"),
    (valid(location={"lat": 200, "lon": 0}), "location.lat", "between -90 and 90", "invalid"),
    (valid(location={"lat": 51, "lon": "east"}), "location.lon", "-180 and 180", "invalid"),
    (valid(category="unicorns"), "category", "Choose one of: pothole, speeding",
     "unknown_category"),
    (valid(answers={"speed_limit": "70"}), "answers.speed_limit", "20, 30, 40 or more",
     "invalid_answer"),
    (valid(answers={"colour": "red"}), "answers", "does not ask", "invalid_answer"),
    (valid(answers={"a": "1", "b": "2", "c": "3", "d": "4"}), "answers", "at most 3", "invalid"),
    (valid(reporter={"email": "not-an-email"}), "reporter.email", "like name@example.com",
     "invalid"),
    (valid(description="x" * 5001), "description", "at most 5000 characters", "invalid"),
    (valid(uprn="12AB"), "uprn", "1 to 12 digits", "invalid"),
    (valid(colour="red"), "", "not recognised", "invalid"),
    (valid(location={"lat": "51.05", "lon": -1.55}), "location.lat", "must be a number",
     "invalid"),
    ([1, 2], "", "JSON object", "invalid"),
])
async def test_invalid_reports_get_422_problem_naming_the_field(
        body: Any, field: str, words: str, reason: str) -> None:
    publisher = FakePublisher()
    before = sample("signpost_reports_rejected_total", reason=reason)
    response = await post(publisher, body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert problem["type"].startswith("urn:signpost:problem:")
    errors = {e["field"]: e["message"] for e in problem["errors"]}
    assert field in errors, errors
    assert words in errors[field]
    assert all(e["pointer"] == "".join("/" + p for p in e["field"].split(".") if p)
               for e in problem["errors"])
    assert publisher.events == []
    assert sample("signpost_reports_rejected_total", reason=reason) == before + 1


async def test_messages_do_not_echo_what_was_typed() -> None:
    response = await post(FakePublisher(), valid(reporter={"email": "secret-ada@"}))
    assert "secret-ada" not in response.text


async def test_malformed_json_is_400_problem() -> None:
    before = sample("signpost_reports_rejected_total", reason="malformed_json")
    response = await post(FakePublisher(), content=b'{"category": ',
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 400
    assert sample("signpost_reports_rejected_total", reason="malformed_json") == before + 1


async def test_oversized_body_is_413_by_content_length() -> None:
    before = sample("signpost_reports_rejected_total", reason="too_large")
    publisher = FakePublisher()
    response = await post(publisher, valid(description="x" * 70_000))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 413
    assert publisher.events == []
    assert sample("signpost_reports_rejected_total", reason="too_large") == before + 1


async def test_oversized_body_is_413_when_streamed_without_length() -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 4096

    response = await post(FakePublisher(), content=chunks(),
                          headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_unacknowledged_publish_is_503_with_retry_after() -> None:
    before = sample("signpost_intake_publish_failures_total")
    response = await post(FakePublisher(fail=True), valid())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == PROBLEM
    assert "reference" not in response.json()
    assert sample("signpost_intake_publish_failures_total") == before + 1


async def test_publish_that_hangs_times_out_as_503() -> None:
    class Hanging(FakePublisher):
        async def publish(self, event: ReportSubmitted, extra_headers: Headers = ()) -> None:
            import asyncio

            await asyncio.sleep(60)

    app = create_app(Hanging(), CATEGORIES, publish_timeout_s=0.05, retry_after_s=7)
    async with client(app) as c:
        response = await c.post("/v1/reports", json=valid())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"


async def test_health_readiness_and_metrics() -> None:
    async with client(create_app(FakePublisher(), CATEGORIES)) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 200
        await c.post("/v1/reports", json=valid())
        metrics = await c.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'signpost_reports_received_total{category="speeding",source="api"}' in metrics.text
    assert "signpost_intake_publish_seconds_bucket" in metrics.text

    async with client(create_app(FakePublisher(is_ready=False), CATEGORIES)) as c:
        not_ready = await c.get("/readyz")
        assert (await c.get("/healthz")).status_code == 200
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == PROBLEM


async def test_unknown_route_and_wrong_method_are_problems() -> None:
    async with client(create_app(FakePublisher(), CATEGORIES)) as c:
        missing = await c.get("/v1/nothing")
        wrong = await c.get("/v1/reports")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM
    assert "POST" in wrong.headers["allow"]


async def test_unexpected_error_is_plain_500_problem(
        json_logs: pytest.CaptureFixture[str]) -> None:
    class Broken(FakePublisher):
        async def publish(self, event: ReportSubmitted, extra_headers: Headers = ()) -> None:
            raise RuntimeError(f"internal detail {event.report.reporter}")

    configure_logging("intake-test")
    async with client(create_app(Broken(), CATEGORIES)) as c:
        response = await c.post("/v1/reports", json=valid())
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "internal detail" not in response.text and "RuntimeError" not in response.text
    logged = json_logs.readouterr().err
    assert "unhandled_error" in logged and "RuntimeError" in logged
    assert "Ada Lovelace" not in logged and "internal detail" not in logged


async def test_logs_never_hold_personal_data_description_or_location(
        json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("intake-test", "DEBUG")
    publisher = FakePublisher()
    app = create_app(publisher, CATEGORIES)
    async with client(app) as c:
        accepted = await c.post("/v1/reports", json=valid())
        await c.post("/v1/reports", json=valid(reporter={"name": "Ada Lovelace",
                                                         "email": "ada@"}))
        await c.post("/v1/reports", json=valid(category="unicorns"))
    async with client(create_app(FakePublisher(fail=True), CATEGORIES)) as c:
        await c.post("/v1/reports", json=valid())

    lines = [json.loads(line) for line in json_logs.readouterr().err.splitlines() if line]
    events = [line["event"] for line in lines]
    assert "report_accepted" in events and "publish_failed" in events
    assert events.count("report_rejected") == 2
    accepted_line = next(line for line in lines if line["event"] == "report_accepted")
    assert accepted_line["reference"] == accepted.json()["reference"]
    text = json.dumps(lines)
    for secret in ("Ada Lovelace", "ada@example.org", "ada@", "07700 900123",
                   "Cars race past", "51.05", "-1.55", "100012345678"):
        assert secret not in text, secret
