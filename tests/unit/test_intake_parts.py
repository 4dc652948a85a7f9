"""Intake's pure parts: keys file, authentication and rate limit, idempotency store, grid
conversion and the status projection."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import (
    DeadLetter,
    Location,
    NotificationFailed,
    NotificationSent,
    Owner,
    Report,
    ReporterContact,
    ReportRouted,
    ReportSubmitted,
    ReportUnroutable,
    RoutingTrace,
    Tier,
)
from services.intake.auth import (
    ApiKey,
    ApiKeysError,
    Authenticator,
    RateLimiter,
    Refused,
    hash_key,
    load_api_keys,
)
from services.intake.idempotency import IdempotencyStore, Seen, scoped_key
from services.intake.location import PointIn, bng_to_wgs84, resolve
from services.intake.problems import FieldProblem
from services.intake.status import StatusProjection

REF = "SP-AAAA-BBBB-CCCC"
TRACE = RoutingTrace(bundle_version="1", rules_evaluated=[], matched_rule=None, boundaries=[])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_file_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "keys.yaml"
    yml.write_text(f"- source: vale-form\n  key_sha256: {hash_key('s3cret').upper()}\n"
                   "  rate_per_minute: 10\n  cors_origins: [https://vale.example]\n")
    [key] = load_api_keys(yml)
    assert key.key_sha256 == hash_key("s3cret") and key.cors_origins == ("https://vale.example",)
    js = tmp_path / "keys.json"
    js.write_text(f'[{{"source": "fms", "key_sha256": "{hash_key("x")}"}}]')
    assert load_api_keys(js)[0].source == "fms"


@pytest.mark.parametrize("text", ["", "{}", "- source: a\n  key_sha256: nothex\n",
                                  "- source: a\n  key_sha256: " + "0" * 64 + "\n  colour: red\n",
                                  "[unclosed"])
def test_bad_keys_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ApiKeysError):
        load_api_keys(path)
    with pytest.raises(ApiKeysError):
        load_api_keys(tmp_path / "missing.yaml")


def test_authenticator_checks_key_origin_and_rate() -> None:
    clock = Clock()
    auth = Authenticator([ApiKey(source="form", key_sha256=hash_key("k1"), rate_per_minute=2,
                                 cors_origins=("https://vale.example",)),
                          ApiKey(source="app", key_sha256=hash_key("k2"))],
                         default_rate_per_minute=60, limiter=RateLimiter(clock))
    assert auth.origins() == ["https://vale.example"]
    assert auth.authorize("k2", None, "api").source == "app"
    for presented in (None, "", "wrong"):
        with pytest.raises(Refused) as refused:
            auth.authorize(presented, None, "api")
        assert refused.value.status == 401
    with pytest.raises(Refused) as wrong_site:
        auth.authorize("k1", "https://evil.example", "api")
    assert wrong_site.value.status == 403
    assert auth.authorize("k1", "https://vale.example", "api").source == "form"
    assert auth.authorize("k1", None, "api").source == "form"  # a burst of up to 2
    with pytest.raises(Refused) as limited:
        auth.authorize("k1", None, "api")
    assert limited.value.status == 429 and limited.value.headers["Retry-After"] == "30"
    clock.now += 30
    assert auth.authorize("k1", None, "api").source == "form"
    assert auth.authorize_optional(None, None, "open311") is None


def test_open_authenticator_lets_everyone_in() -> None:
    auth = Authenticator(None)
    assert auth.open and auth.origins() == []
    assert auth.authorize(None, None, "open311").source == "open311"


def test_idempotency_store() -> None:
    clock = Clock()
    store = IdempotencyStore(ttl_s=60, max_keys=2, clock=clock)
    assert store.begin("form", "a", "f1") == (Seen.NEW, None)
    assert store.begin("form", "a", "f1") == (Seen.BUSY, None)
    assert store.begin("form", "a", "f2") == (Seen.MISMATCH, None)
    store.complete("form", "a", REF)
    assert store.begin("form", "a", "f1") == (Seen.DONE, REF)
    store.begin("form", "b", "f")
    store.abandon("form", "b")
    assert store.begin("form", "b", "f") == (Seen.NEW, None)  # a failed publish may be retried
    store.begin("form", "c", "f")
    assert len(store) == 2  # bounded: the oldest went
    clock.now += 61
    assert store.begin("form", "c", "f") == (Seen.NEW, None)
    assert scoped_key("form", "1") != scoped_key("app", "1")


def test_one_source_cannot_flush_another_sources_idempotency_keys() -> None:
    """The attack: one key sends thousands of fresh Idempotency-Keys to push out everyone
    else's, so their retries would make second reports."""
    store = IdempotencyStore(max_keys=100)
    store.begin("council-a", "a-1", "f")
    store.complete("council-a", "a-1", REF)
    for n in range(5_000):
        store.begin("attacker", f"k{n}", "f")
    assert store.begin("council-a", "a-1", "f") == (Seen.DONE, REF)
    assert len(store) == 101  # the attacker keeps only its own 100


def test_grid_reference_converts_to_wgs84() -> None:
    # OS's worked example (Caister water tower): ETRS89 52°39'28.83"N 1°42'57.87"E. Without
    # the OSTN15 grid file pyproj uses a Helmert shift, good to a few metres.
    lat, lon = bng_to_wgs84(651409.903, 313177.270)
    assert lat == pytest.approx(52.658008, abs=1e-4) and lon == pytest.approx(1.716074, abs=1e-4)
    where = resolve(PointIn(easting=530_000, northing=180_000))
    assert isinstance(where, Location) and 51.4 < where.lat < 51.6 and -0.2 < where.lon < 0


@pytest.mark.parametrize(("point", "field", "words"), [
    (PointIn(), "location", "A location is required"),
    (PointIn(lat=51, lon=0, easting=1, northing=1), "location", "not both"),
    (PointIn(lat=51), "location.lon", "together with lat"),
    (PointIn(northing=5), "location.easting", "together with northing"),
])
def test_location_needs_exactly_one_pair(point: PointIn, field: str, words: str) -> None:
    problems = resolve(point)
    assert isinstance(problems, list)
    assert [p.field for p in problems] == [field]
    assert words in problems[0].message
    assert all(isinstance(p, FieldProblem) for p in problems)


def report(reference: str = REF) -> Report:
    return Report(reference=reference, category="pothole", description="Deep hole",
                  location=Location(lat=51, lon=-1), submitted_at=datetime.now(UTC),
                  reporter=ReporterContact(email="ada@example.org"))


def test_projection_follows_a_report_in_any_order() -> None:
    projection = StatusProjection()
    owner = Owner(id="ashcombe", name="Ashcombe Parish Council", tier=Tier.PARISH)
    projection.apply(NotificationSent(report_reference=REF, owner_id="ashcombe", channel="email",
                                      submitted_at=datetime.now(UTC)))
    assert projection.get(REF).state == "received"  # type: ignore[union-attr]
    projection.apply(ReportSubmitted(report=report()), idempotency="h1")
    status = projection.get(REF)
    assert status is not None and status.report is not None
    assert status.report.reporter is None, "contact details are not kept"
    projection.apply(ReportRouted(report=report(), owner=owner, rule_id="r", trace=TRACE))
    assert status.state == "notified"
    projection.apply(NotificationFailed(report_reference=REF, owner_id="ashcombe",
                                        channel="email", reason="x", permanent=False))
    assert status.state == "notified", "a late failure does not undo a delivery"
    assert projection.by_idempotency_key("h1") == REF


def test_projection_unroutable_dead_letter_and_bound() -> None:
    projection = StatusProjection(max_reports=2)
    projection.apply(ReportUnroutable(report=report(), reason_code="none", reason="No rule",
                                      trace=TRACE), idempotency="h")
    assert projection.get(REF).state == "unroutable"  # type: ignore[union-attr]
    other = "SP-AAAA-BBBB-DDDD"
    projection.apply(DeadLetter(service="router", source_topic="t", partition=0, offset=1,
                                key=other, value="{", reason="not JSON"))
    assert projection.get(other).state == "dead_lettered"  # type: ignore[union-attr]
    projection.apply(DeadLetter(service="router", source_topic="t", partition=0, offset=2,
                                key=None, value="{", reason="no key"))
    assert len(projection) == 2
    projection.apply(ReportSubmitted(report=report("SP-AAAA-BBBB-EEEE")))
    assert projection.get(REF) is None and projection.by_idempotency_key("h") is None
    assert [s.reference for s in projection.recent(5)] == ["SP-AAAA-BBBB-EEEE", other]
