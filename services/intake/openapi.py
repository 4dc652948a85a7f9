"""The served OpenAPI document, checked in as services/intake/openapi.json so clients and
reviewers see contract changes in the diff (`signpost schemas export` writes it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas import ReportAcknowledged, ReportSubmitted

OPENAPI_FILE = Path(__file__).resolve().parent / "openapi.json"


class _NoPublisher:
    async def publish(self, event: ReportSubmitted, extra_headers: Any = ()) -> None:
        raise NotImplementedError

    async def acknowledge(self, event: ReportAcknowledged) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        return False


def openapi_document() -> dict[str, Any]:
    from services.intake.api import create_app

    document: dict[str, Any] = create_app(_NoPublisher(), []).openapi()
    return document


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def export_openapi(path: Path = OPENAPI_FILE, check: bool = False) -> bool:
    """True when the file was (check: would be) changed."""
    text = render()
    stale = not path.is_file() or path.read_text(encoding="utf-8") != text
    if stale and not check:
        path.write_text(text, encoding="utf-8")
    return stale
