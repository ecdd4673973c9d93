"""One chain rule for the sync, ``snapshot import``, the demo and the reference registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cache.snapshot_chain import Link, chain_files, plan, read_chain
from verifier.devkit.generator import generate
from verifier.registry.protocol import DeltaRef, SnapshotIndex
from verifier.service.sync import plan as sync_plan

FULL = Link("full-000005.omssnap", 5)
D6 = Link("delta-000006.omssnap", 6, 5)
D7 = Link("delta-000007.omssnap", 7, 6)


def test_a_delta_that_does_not_advance_is_ignored_not_followed_forever() -> None:
    loop = Link("delta-000005.omssnap", 5, 5)
    assert plan(FULL, [loop, D6], None) == [FULL, D6]
    index = SnapshotIndex(
        "50", FULL.name, 5, 6, (DeltaRef(loop.name, 5, 5), DeltaRef(D6.name, 6, 5))
    )
    assert sync_plan(index, None) == [FULL.name, D6.name]


def test_latest_defaults_to_the_end_of_the_full_chain() -> None:
    assert plan(FULL, [D6, D7], None) == [FULL, D6, D7]
    assert plan(FULL, [D6, D7], 6) == [D7]
    assert plan(FULL, [D6, D7], 7) == []
    assert plan(FULL, [D6, D7], 3) == [FULL, D6, D7]  # no chain from 3


def test_without_a_full_snapshot_only_the_held_chain() -> None:
    assert plan(None, [D6, D7], 5) == [D6, D7]
    assert plan(None, [D6, D7], None) == []


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reg")
    generate(out, persons=30, region="50", seed=7, deltas=2)
    return out


def test_a_directory_orders_by_headers(register: Path) -> None:
    found = read_chain(register)
    assert found.region == "50"
    assert found.full == Link("full-000001.omssnap", 1)
    names = [p.name for p in chain_files(register)]
    assert names == ["full-000001.omssnap", "delta-000002.omssnap", "delta-000003.omssnap"]
    assert [p.name for p in chain_files(register, 2)] == ["delta-000003.omssnap"]
    assert chain_files(register, 3) == []


def test_a_directory_of_deltas_continues_the_held_store(register: Path, tmp_path: Path) -> None:
    for name in ("delta-000002.omssnap", "delta-000003.omssnap", "persons.csv"):
        shutil.copy(register / name, tmp_path / name)
    assert read_chain(tmp_path).full is None
    assert [p.name for p in chain_files(tmp_path, 1)] == [
        "delta-000002.omssnap",
        "delta-000003.omssnap",
    ]
