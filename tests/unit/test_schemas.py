"""Event contracts: exported JSON Schemas are current, and bad records are refused with a reason."""

from __future__ import annotations

import pytest

from schemas import ReportSubmitted
from schemas.export import export_schemas
from signpost.runtime.kafka import PoisonRecord, decode


def test_exported_json_schemas_are_up_to_date() -> None:
    stale = export_schemas(check=True)
    assert not stale, f"run `signpost schemas export` and commit: {stale}"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty record"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not a valid ReportSubmitted v1"),
        (b'{"schema_version": 2, "report": {}}', "schema_version"),
        (b"x" * 1_000_001, "exceeds"),
    ],
)
def test_poison_records_are_named_with_their_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonRecord, match=reason):
        decode(raw, ReportSubmitted)
