"""Fixtures for the integration suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.integration.local_http import LocalHttpServer, Reply


@pytest.fixture
def http_server() -> Iterator[Callable[..., LocalHttpServer]]:
    """Start a local HTTP server with scripted replies; stopped after the test."""
    with ExitStack() as stack:
        def start(*replies: Reply) -> LocalHttpServer:
            return stack.enter_context(LocalHttpServer(*replies).running())

        yield start
