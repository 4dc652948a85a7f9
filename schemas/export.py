"""JSON Schema files for every event, one per type and version, checked in CI to be current."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import EVENT_TYPES, SCHEMA_VERSION

DEFAULT_DIR = Path(__file__).resolve().parent / "json" / f"v{SCHEMA_VERSION}"


def render(model: type) -> str:
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://signpost.example.org/schemas/v{SCHEMA_VERSION}/{model.__name__}.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_schemas(directory: Path | None = None, *, check: bool = False) -> list[Path]:
    """Write (or with check, only compare) the files; returns those that were out of date."""
    directory = directory or DEFAULT_DIR
    directory.mkdir(parents=True, exist_ok=True) if not check else None
    stale: list[Path] = []
    for model in EVENT_TYPES:
        path = directory / f"{model.__name__}.json"
        text = render(model)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    return stale
