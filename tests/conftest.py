"""Fixtures shared by every suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from signpost.bundle import Bundle, load_bundle
from signpost.runtime.settings import DEMO_BUNDLE

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def demo_bundle() -> Bundle:
    return load_bundle(DEMO_BUNDLE)


@pytest.fixture
def shared_data() -> Path:
    """The reference data beside the project; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("reference data ../shared/data is not present")
    return SHARED_DATA
