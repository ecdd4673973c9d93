from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import Register, generate_register


@pytest.fixture(scope="session")
def register(tmp_path_factory: pytest.TempPathFactory) -> Register:
    """A few thousand persons, a full snapshot and three deltas with real churn (read-only)."""
    return generate_register(tmp_path_factory.mktemp("registry"), persons=4000, deltas=3)


@pytest.fixture(scope="session")
def small_register(tmp_path_factory: pytest.TempPathFactory) -> Register:
    """A few hundred persons for tests that import many times (read-only)."""
    return generate_register(tmp_path_factory.mktemp("small"), persons=300, deltas=3)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "register.sqlite3"
