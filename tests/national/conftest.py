"""Shared national registers: real generator output, real GOST signatures, real files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cache.national_store import NationalStore
from tests.national.helpers import SEED, check
from verifier.devkit.national_generator import NationalRegister, generate_national

CREATED = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def national(tmp_path_factory: pytest.TempPathFactory) -> NationalRegister:
    """200 k persons over every region, one delta per region (ground truth in sample.csv)."""
    out = tmp_path_factory.mktemp("national")
    return generate_national(out, persons=200_000, seed=SEED, deltas=1, created_at=CREATED)


@pytest.fixture(scope="session")
def national_store(
    national: NationalRegister, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NationalStore]:
    store = NationalStore(tmp_path_factory.mktemp("nstore"))
    store.import_dir(national.out_dir, check)
    yield store
    store.close()


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> NationalRegister:
    """Three regions, two deltas each: for tests that change or break a store."""
    out = tmp_path_factory.mktemp("small")
    return generate_national(
        out,
        persons=2_000_000,
        seed=SEED,
        deltas=2,
        created_at=CREATED,
        regions=("01", "50", "92"),
    )


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[NationalStore]:
    store = NationalStore(tmp_path / "store")
    yield store
    store.close()
