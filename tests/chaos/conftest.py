"""Chaos tests run short in CI; `--chaos-full` runs the issue's full sizes."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true",
                     help="full-size chaos runs (10,000 reports, 3 kills per service)")


@pytest.fixture
def chaos_full(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--chaos-full"))
