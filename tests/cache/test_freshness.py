"""fresh -> stale -> expired across valid-until, the stale grace and the hard offline limit."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cache.freshness import Freshness, FreshnessPolicy, assess, clock_skewed
from cache.snapshot_store import SnapshotStore
from tests.vectors import load_json

from .helpers import CREATED, demo_key, key_checker, small_full

TABLE = load_json("cache/freshness.json")
POLICY = FreshnessPolicy(
    stale_grace=timedelta(seconds=TABLE["policy"]["stale_grace_s"]),
    hard_offline_limit=timedelta(seconds=TABLE["policy"]["hard_offline_limit_s"]),
    max_clock_skew=timedelta(seconds=TABLE["policy"]["max_clock_skew_s"]),
)


def test_policy_defaults_are_the_documented_ones() -> None:
    assert FreshnessPolicy() == POLICY


@pytest.mark.parametrize("case", TABLE["cases"], ids=lambda c: c["why"])
def test_assess(case: dict[str, Any]) -> None:
    until = CREATED + timedelta(seconds=case["valid_s"])
    now = CREATED + timedelta(seconds=case["at_s"])
    got = assess(CREATED, until, now, POLICY)
    assert got.state is Freshness(case["state"])
    assert got.age_s == max(case["at_s"], 0)
    assert got.valid_until == until


@pytest.mark.parametrize(("created", "until"), [(None, None), (CREATED, None), (None, CREATED)])
def test_absent_when_nothing_is_held(created: datetime | None, until: datetime | None) -> None:
    got = assess(created, until, CREATED, POLICY)
    assert got.state is Freshness.ABSENT
    assert got.age_s is None and got.valid_until is None


_ORDER = [Freshness.FRESH, Freshness.STALE, Freshness.EXPIRED]


@given(
    valid_s=st.integers(min_value=0, max_value=30 * 86400),
    times=st.lists(st.integers(min_value=-86400, max_value=60 * 86400), min_size=2, max_size=20),
)
def test_freshness_only_ever_gets_worse_as_time_passes(valid_s: int, times: list[int]) -> None:
    until = CREATED + timedelta(seconds=valid_s)
    states = [
        assess(CREATED, until, CREATED + timedelta(seconds=t), POLICY).state for t in sorted(times)
    ]
    ranks = [_ORDER.index(s) for s in states]
    assert ranks == sorted(ranks)
    for t, s in zip(sorted(times), states, strict=True):
        if t > POLICY.hard_offline_limit.total_seconds():
            assert s is Freshness.EXPIRED


# --- clock skew ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew_s", "flagged"),
    [
        (None, False),
        (0.0, False),
        (300.0, False),
        (-300.0, False),
        (300.5, True),
        (-301, True),
        (86400, True),
    ],
)
def test_clock_skewed(skew_s: float | None, flagged: bool) -> None:
    assert clock_skewed(skew_s, POLICY) is flagged


def test_record_sync_stores_the_device_clock_skew(tmp_path: Path) -> None:
    device_now = CREATED + timedelta(minutes=7)
    store = SnapshotStore(tmp_path / "r.sqlite3", clock=lambda: device_now)
    assert store.info().clock_skew_s is None and store.info().last_sync_at is None

    skew = store.record_sync(CREATED)  # the device clock is taken from the store's clock
    assert skew == 420.0
    info = store.info()
    assert info.clock_skew_s == 420.0
    assert info.last_sync_at == CREATED
    assert clock_skewed(info.clock_skew_s, POLICY)

    registry = CREATED + timedelta(hours=1)
    assert store.record_sync(registry, registry - timedelta(seconds=12.25)) == -12.25
    info = store.info()
    assert info.clock_skew_s == -12.25
    assert info.last_sync_at == registry
    assert not clock_skewed(info.clock_skew_s, POLICY)


def test_sync_record_survives_an_import_and_imported_at_uses_the_store_clock(
    tmp_path: Path,
) -> None:
    device_now = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    store = SnapshotStore(tmp_path / "r.sqlite3", clock=lambda: device_now)
    store.record_sync(device_now - timedelta(minutes=10))
    key = demo_key("fresh")
    store.import_stream(io.BytesIO(small_full(key)), key_checker(key.public_key()))
    info = store.info()
    assert info.imported_at == device_now
    assert info.clock_skew_s == 600.0
    assert info.last_sync_at == device_now - timedelta(minutes=10)
    assert info.created_at == CREATED
