"""Reports for the benchmark: valid ReportSubmitted records spread over the demo county (with a
share outside it, which go to triage), and poison records for the correctness test."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from schemas import Location, Report, ReportSubmitted
from signpost.runtime.kafka import encode

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SPEEDING = {"speed_limit": "30", "road_type": "village street", "pattern": "at certain times"}
CATEGORIES = ("pothole", "streetlight", "fly_tipping", "missed_bin", "bus_shelter",
              "village_green", "speeding")


def reference(n: int) -> str:
    chars = []
    for _ in range(12):
        n, r = divmod(n, 32)
        chars.append(CROCKFORD[r])
    s = "".join(reversed(chars))
    return f"SP-{s[0:4]}-{s[4:8]}-{s[8:12]}"


def request_body(rng: random.Random) -> dict[str, Any]:
    """An intake POST body: a point in (mostly) the demo county's bounding box."""
    category = rng.choice(CATEGORIES)
    body: dict[str, Any] = {
        "category": category, "description": "Benchmark report",
        "location": {"lat": round(rng.uniform(50.98, 51.3), 5),
                     "lon": round(rng.uniform(-1.6, -1.0), 5)},
    }
    if category == "speeding":
        body["answers"] = SPEEDING
    return body


def routable_bodies(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """Request bodies the demo bundle routes to an owner (none goes to triage), so every
    accepted report should end as an email."""
    from services.router.router import Router
    from signpost.bundle import load_bundle
    from signpost.runtime.settings import DEMO_BUNDLE

    router, rng = Router(load_bundle(DEMO_BUNDLE)), random.Random(seed)
    bodies: list[dict[str, Any]] = []
    n = 0
    while len(bodies) < count:
        n += 1
        body = request_body(rng)
        report = Report(reference=reference(n), category=body["category"],
                        location=Location(**body["location"]), answers=body.get("answers", {}),
                        submitted_at=datetime.now(UTC))
        if router.route(report).event_type == "ReportRouted":
            bodies.append(body)
    return bodies


def submitted(n: int, rng: random.Random, ref: str | None = None) -> ReportSubmitted:
    body = request_body(rng)
    report = Report(reference=ref or reference(n), category=body["category"],
                    description=body["description"], location=Location(**body["location"]),
                    answers=body.get("answers", {}), submitted_at=datetime.now(UTC))
    return ReportSubmitted(report=report)


def submitted_records(count: int, seed: int = 7) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs: one report per key."""
    rng = random.Random(seed)
    for n in range(count):
        event = submitted(n, rng)
        yield event.reference.encode(), encode(event)


def poison_values() -> list[bytes]:
    return [b"not json", b'{"schema_version": 99}', b"\xff\xfe",
            json.dumps({"event_type": "ReportSubmitted", "report": {}}).encode()]
