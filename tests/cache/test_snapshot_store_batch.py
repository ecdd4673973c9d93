"""The store's batch reads (lookup_many, prefetched) and its info cache, on real SQLite.

Another ``SnapshotStore`` object on the same file is another connection, as a second process
(``oms-verifier snapshot import`` while the daemon runs) would be."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cache.snapshot_store import LOOKUP_CHUNK, Prefetch, SnapshotStore

from .helpers import Register, import_all


def _count_reads(store: SnapshotStore) -> list[int]:
    """Each read of the store's meta from the file appends to the list returned."""
    reads: list[int] = []
    real = store._read_info

    def counting() -> object:
        reads.append(1)
        return real()

    store._read_info = counting  # type: ignore[method-assign]
    return reads


def _store(db: Path, reg: Register, upto: int | None = None) -> SnapshotStore:
    store = SnapshotStore(db)
    import_all(store, reg, upto)
    return store


def test_lookup_many_answers_what_lookup_enp_answers(db: Path, register: Register) -> None:
    store = _store(db, register)
    live = [r["enp"] for r in register.live]
    gone = [r["enp"] for r in register.deleted]
    asked = [
        *live,
        *gone,
        live[0],  # twice
        "5000000000000000",  # not in the register
        "00" + live[1][2:],  # other digits
        "",
        "50 00",
        "１２３",  # non-ASCII digits: left to lookup_enp
        "9" * 30,  # longer than any integer key
    ]
    assert len(asked) > LOOKUP_CHUNK  # more than one IN (...) chunk
    found = store.lookup_many(asked)
    for enp in asked:
        if enp in found:
            assert found[enp] == store.lookup_enp(enp), enp
        else:  # left out: not a plain run of ASCII digits
            assert not (len(enp) == 16 and enp.isascii() and enp.isdigit()), enp
    assert all(found[e] is not None for e in live)
    assert all(found[e] is None for e in gone)
    assert found["5000000000000000"] is None


def test_info_sees_an_import_by_another_connection(db: Path, small_register: Register) -> None:
    first_seq = int(small_register.gen.files[0].stem.split("-")[1])
    store = _store(db, small_register, upto=first_seq)
    assert store.info().sequence == first_seq
    assert store.info() == store.info()  # kept while nothing changes
    other = SnapshotStore(db)  # another connection: another process importing
    for f in small_register.gen.files[1:]:
        other.import_file(f, small_register.check)
    last = int(small_register.gen.files[-1].stem.split("-")[1])
    assert last > first_seq
    assert store.info().sequence == last
    other.record_sync(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC))
    assert store.info().clock_skew_s == pytest.approx(5.0)


def test_info_is_read_once_per_change(db: Path, small_register: Register) -> None:
    store = _store(db, small_register)
    reads = _count_reads(store)
    for _ in range(5):
        store.info()
    assert len(reads) == 1
    SnapshotStore(db).record_sync(datetime(2026, 1, 1, tzinfo=UTC))
    store.info()
    store.info()
    assert len(reads) == 2


def test_prefetched_scope_answers_from_one_read(db: Path, small_register: Register) -> None:
    store = _store(db, small_register)
    enps = [r["enp"] for r in small_register.live[:50]]
    before = store.info()
    with store.prefetched([*enps, "5000000000000000"]) as scope:
        assert scope.info == before
        assert store.info() is scope.info
        for e in enps:
            assert store.lookup_enp(e) == scope.records[e] is not None
        assert store.lookup_enp("5000000000000000") is None
        # Not prefetched: read from the file as usual.
        other = small_register.live[60]["enp"]
        assert store.lookup_enp(other) is not None
        seen_elsewhere: list[object] = []
        t = threading.Thread(
            target=lambda: seen_elsewhere.append(store._local.__dict__.get("prefetch"))
        )
        t.start()
        t.join()
        assert seen_elsewhere == [None]  # the scope is this thread's only
    assert not scope.changed
    assert getattr(store._local, "prefetch", None) is None


def test_prefetched_scope_says_when_another_connection_committed(
    db: Path, small_register: Register
) -> None:
    store = _store(db, small_register)
    with store.prefetched([small_register.live[0]["enp"]]) as scope:
        SnapshotStore(db).record_sync(datetime(2026, 1, 1, tzinfo=UTC))
        assert store.info() is scope.info  # still the batch's own view
    assert scope.changed
    assert store.info().last_sync_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_prefetched_scopes_do_not_nest(db: Path, small_register: Register) -> None:
    store = _store(db, small_register)
    with store.prefetched([]), pytest.raises(RuntimeError), store.prefetched([]):
        pass
    assert getattr(store._local, "prefetch", None) is None


def test_read_one_answers_what_info_and_lookup_enp_answer(db: Path, register: Register) -> None:
    store = _store(db, register)
    live = [r["enp"] for r in register.live]
    gone = [r["enp"] for r in register.deleted]
    for enp in [*live[:50], *gone[:20], "5000000000000000", "", "50 00", "１２３", "9" * 30]:
        read = store.read_one(enp)
        assert read.info == store.info(), enp
        assert read.records == {enp: store.lookup_enp(enp)}, enp


def test_read_one_reads_meta_and_record_of_one_state(db: Path, small_register: Register) -> None:
    """After another connection's import, the first read_one gives the new meta and the
    new record together (read again in one transaction), and the meta is kept after it."""
    first_seq = int(small_register.gen.files[0].stem.split("-")[1])
    store = _store(db, small_register, upto=first_seq)
    enp = next(r["enp"] for r in small_register.live)
    before = store.read_one(enp)
    assert before.info.sequence == first_seq
    reads = _count_reads(store)
    assert store.read_one(enp).info is before.info and reads == []  # nothing changed
    other = SnapshotStore(db)
    for f in small_register.gen.files[1:]:
        other.import_file(f, small_register.check)
    after = store.read_one(enp)
    assert after.info.sequence == int(small_register.gen.files[-1].stem.split("-")[1])
    assert after.records[enp] == other.lookup_enp(enp)
    assert reads == [1]
    assert store.read_one(enp).info is after.info and reads == [1]


def test_answering_installs_a_read_on_this_thread_only(db: Path, register: Register) -> None:
    store = _store(db, register)
    enp = register.live[0]["enp"]
    other_enp = register.live[1]["enp"]
    scope = Prefetch(dataclasses.replace(store.info(), sequence=999999), {enp: None})
    seen: list[object] = []
    with store.answering(scope):
        assert store.lookup_enp(enp) is None  # the scope's word, not the file's
        assert store.lookup_enp(other_enp) is not None  # not in the scope: the file
        assert store.info() is scope.info and scope.info.sequence == 999999
        t = threading.Thread(target=lambda: seen.append(store.lookup_enp(enp)))
        t.start()
        t.join()
    assert seen and seen[0] is not None  # another thread never sees the scope
    assert store.lookup_enp(enp) is not None  # and it ends with the block
    with store.prefetched([other_enp]) as batch, store.answering(scope):
        assert store.info() is batch.info  # inside a batch's scope, that one stays
