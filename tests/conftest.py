from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.vectors import DATA

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


@pytest.fixture(scope="session", autouse=True)
def _no_system_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read an installed service's /etc/oms-verifier/config.toml: an empty config
    for every test and every CLI subprocess it starts (tests that want a file pass their own)."""
    empty = tmp_path_factory.mktemp("config") / "empty.toml"
    empty.write_text("")
    old = os.environ.get("OMS_VERIFIER_CONFIG")
    os.environ["OMS_VERIFIER_CONFIG"] = str(empty)
    yield
    if old is None:
        os.environ.pop("OMS_VERIFIER_CONFIG", None)
    else:
        os.environ["OMS_VERIFIER_CONFIG"] = old


@pytest.fixture
def data_dir() -> Path:
    return DATA
