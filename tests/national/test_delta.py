"""Deltas apply while another thread keeps looking up; freshness is per region part."""

from __future__ import annotations

import threading
from datetime import timedelta

from cache.freshness import Freshness, FreshnessPolicy, assess
from cache.national_store import NationalStore
from cache.register_model import RegisterRecord
from tests.national.helpers import check, deltas, part, sample
from verifier.devkit.national_generator import NationalRegister


def test_delta_while_lookups_continue(small: NationalRegister, fresh_store: NationalStore) -> None:
    for r in ("01", "50", "92"):
        fresh_store.import_file(part(small.out_dir, r), check)
    rows = [r for r in sample(small.out_dir)]
    live = [r["enp"] for r in rows]
    before = {e: fresh_store.lookup_enp(e) for e in live}
    errors: list[BaseException] = []
    seen: dict[str, set[RegisterRecord | None]] = {e: set() for e in live}
    stop = threading.Event()
    count = [0]

    def looker() -> None:
        try:
            while not stop.is_set():
                for e in live:
                    seen[e].add(fresh_store.lookup_enp(e))
                    count[0] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which fails the test with it
            errors.append(exc)

    th = threading.Thread(target=looker)
    th.start()
    for r in ("01", "50", "92"):
        for d in deltas(small.out_dir, r):
            fresh_store.import_file(d, check)
    stop.set()
    th.join()
    assert not errors
    assert count[0] > 0
    after = {e: fresh_store.lookup_enp(e) for e in live}
    for r in rows:
        e = r["enp"]
        # Every answer during the deltas was the old record, the final one, or (for a record
        # changed twice) the intermediate one — never an error, never another person's.
        assert all(x is None or x.enp == e for x in seen[e])
        assert before[e] in seen[e] or after[e] in seen[e]
        if r["deleted"] == "yes":
            assert after[e] is None
        else:
            assert after[e] is not None and after[e].status.name.lower() == r["status"]
    assert any(before[e] != after[e] for e in live)


def test_freshness_per_region(small: NationalRegister, fresh_store: NationalStore) -> None:
    for r in ("01", "50"):
        fresh_store.import_file(part(small.out_dir, r), check)
    d2 = deltas(small.out_dir, "01")[0]
    fresh_store.import_file(d2, check)
    a, b = fresh_store.region_info("01"), fresh_store.region_info("50")
    assert (a.sequence, b.sequence) == (2, 1)
    assert a.register_valid_until is not None and b.register_valid_until is not None
    assert a.register_valid_until - b.register_valid_until == timedelta(hours=1)
    assert fresh_store.region_info("92").sequence is None  # not held: absent, not "not found"
    now = b.register_valid_until + timedelta(minutes=30)
    policy = FreshnessPolicy(stale_grace=timedelta(0))
    assert assess(a.created_at, a.register_valid_until, now, policy).state is Freshness.FRESH
    assert assess(b.created_at, b.register_valid_until, now, policy).state is Freshness.EXPIRED
    agg = fresh_store.info()
    assert agg.register_valid_until == b.register_valid_until  # the conservative aggregate
