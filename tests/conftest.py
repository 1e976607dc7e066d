"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.azurite import Azurite

FIXTURES = Path(__file__).parent / "fixtures"
AZURE_FIXTURES = FIXTURES / "azure"


def load_fixture(name: str) -> Any:
    """A real Microsoft sample from tests/fixtures/azure (see SOURCES.md there)."""
    return json.loads((AZURE_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _root_log_level_restored() -> Iterator[None]:
    """A test that raises the root logger's level (a --debug run, telemetry set up) must not
    make later tests' stderr carry library DEBUG lines: order-dependent failures otherwise."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One real Azurite for the whole session; tests use their own queue/table names."""
    server = Azurite.start()
    try:
        yield server
    finally:
        server.stop()
