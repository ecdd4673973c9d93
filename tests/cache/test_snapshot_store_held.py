"""The read transaction the lookups of one step share (SnapshotStore.hold_reads), on real
SQLite: one transaction per step, the same answers as before, a commit by another connection
seen from the next step on, and nothing held outside a step or on another thread.

The holder here is the protocol's plain form: a step that is open until the test ends it and
then runs the releases it was handed (the daemon's is the event loop, tests/service)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from cache.snapshot_store import Prefetch, SnapshotStore

from .helpers import Register, import_all


class Steps:
    """A step of work the store's lookups may share a read for, ended by :meth:`end`."""

    def __init__(self) -> None:
        self.open = True
        self.releases: list[Callable[[], None]] = []

    def holding(self) -> bool:
        return self.open

    def at_end(self, release: Callable[[], None]) -> None:
        self.releases.append(release)

    def end(self) -> None:
        releases, self.releases = self.releases, []
        for release in releases:
            release()


def _begins(store: SnapshotStore) -> list[str]:
    """The BEGIN statements the held connection runs, from now on."""
    held = store._held
    assert held is not None and held.db is not None
    seen: list[str] = []
    held.db.set_trace_callback(lambda sql: seen.append(sql) if sql == "BEGIN" else None)
    return seen


def _changed_enp(db: Path, reg: Register, first_seq: int, tmp: Path) -> str:
    """An ENP whose record the later deltas change."""
    old = SnapshotStore(tmp / "old.sqlite3")
    import_all(old, reg, first_seq)
    new = SnapshotStore(tmp / "new.sqlite3")
    import_all(new, reg)
    for person in reg.live:
        enp = person["enp"]
        if old.lookup_enp(enp) != new.lookup_enp(enp):
            return str(enp)
    raise AssertionError("the deltas changed no record")


def _held_at_first(
    db: Path, reg: Register, tmp: Path
) -> tuple[SnapshotStore, Steps, str, Prefetch, int]:
    """A store at the register's first snapshot, its reads held by a step, and the first
    lookup of that step of an ENP the later deltas change."""
    first_seq = int(reg.gen.files[0].stem.split("-")[1])
    enp = _changed_enp(db, reg, first_seq, tmp)
    store = SnapshotStore(db)
    import_all(store, reg, first_seq)
    steps = Steps()
    store.hold_reads(steps)
    return store, steps, enp, store.read_one(enp), first_seq


def _import_the_rest(db: Path, reg: Register) -> SnapshotStore:
    """The later deltas, imported by another connection (another process would be one)."""
    other = SnapshotStore(db)
    for f in reg.gen.files[1:]:
        other.import_file(f, reg.check)
    return other


def test_the_lookups_of_a_step_share_one_transaction_and_answer_as_before(
    db: Path, register: Register
) -> None:
    store = SnapshotStore(db)
    import_all(store, register)
    plain = SnapshotStore(db)  # another connection, reading as before
    steps = Steps()
    store.hold_reads(steps)
    enps = [r["enp"] for r in register.live[:40]] + [r["enp"] for r in register.deleted[:10]]
    enps.append("5000000000000000")  # not in the register
    store.read_one(enps[0])
    begins = _begins(store)
    for enp in enps:
        read, before = store.read_one(enp), plain.read_one(enp)
        assert read.records == before.records, enp
        assert read.info == before.info, enp
    assert begins == []  # all inside the step's one transaction
    steps.end()
    assert steps.releases == []
    store.read_one(enps[1])
    assert begins == ["BEGIN"]  # the next step, its own


def test_a_commit_by_another_connection_is_seen_from_the_next_step(
    db: Path, small_register: Register, tmp_path: Path
) -> None:
    """The staleness bound: a lookup sees the file as of its step's first lookup, never an
    older one; a status an import changed is the new one from the next step on."""
    store, steps, enp, old, first_seq = _held_at_first(db, small_register, tmp_path)
    assert old.info.sequence == first_seq
    other = _import_the_rest(db, small_register)
    same_step = store.read_one(enp)
    assert same_step.info.sequence == first_seq  # the step's own view, as documented
    assert same_step.records == old.records
    steps.end()
    after = store.read_one(enp)
    assert after.info.sequence == int(small_register.gen.files[-1].stem.split("-")[1])
    assert after.records[enp] == other.lookup_enp(enp) != old.records[enp]
    assert after.info == other.info()


def test_outside_a_step_a_lookup_reads_the_file_as_it_is(
    db: Path, small_register: Register, tmp_path: Path
) -> None:
    """A step that ended without running its releases (a loop that stopped): the open
    transaction is ended by the next lookup, which sees the import committed since."""
    store, steps, enp, old, _ = _held_at_first(db, small_register, tmp_path)
    steps.open = False  # the step is over, its release never ran
    other = _import_the_rest(db, small_register)
    now = store.read_one(enp)
    assert now.records[enp] == other.lookup_enp(enp) != old.records[enp]
    held = store._held
    assert held is not None and not held.open
    steps.end()  # the late release finds nothing to end


def test_another_thread_reads_as_before(db: Path, small_register: Register) -> None:
    store = SnapshotStore(db)
    import_all(store, small_register)
    steps = Steps()
    store.hold_reads(steps)
    enp = small_register.live[0]["enp"]
    seen: list[object] = []
    t = threading.Thread(target=lambda: seen.append(store.read_one(enp)))
    t.start()
    t.join()
    assert seen and steps.releases == []  # the other thread held nothing
    held = store._held
    assert held is not None and held.db is None and not held.open


def test_close_ends_the_held_read_and_a_late_release_is_harmless(
    db: Path, small_register: Register
) -> None:
    store = SnapshotStore(db)
    import_all(store, small_register)
    steps = Steps()
    store.hold_reads(steps)
    enp = small_register.live[0]["enp"]
    store.read_one(enp)
    held = store._held
    assert held is not None and held.db is not None and held.open
    store.close()
    assert store._held is None
    steps.end()  # the pending release: the connection is closed, nothing raised
    assert store.read_one(enp).records[enp] is not None  # reads as before, a new connection


def test_a_register_moved_aside_and_imported_again_is_read_by_every_reader(
    db: Path, small_register: Register, tmp_path: Path
) -> None:
    """What ``store_unusable`` tells the operator to do, with the daemon running: the
    database (and its -wal and -shm) moved aside, a snapshot imported again. Every reader
    of the running store — a thread's own connection (the batch route, the status), the
    held one — reads the new file from its next read, not the moved-aside one."""
    first_seq = int(small_register.gen.files[0].stem.split("-")[1])
    enp = _changed_enp(db, small_register, first_seq, tmp_path)
    store = SnapshotStore(db)
    import_all(store, small_register, first_seq)
    old = store.lookup_enp(enp)
    with store.prefetched([enp]) as batch:
        assert batch.records[enp] == old
    aside = tmp_path / "aside"
    aside.mkdir()
    for suffix in ("", "-wal", "-shm"):
        moved = Path(f"{db}{suffix}")
        if moved.exists():
            moved.rename(aside / moved.name)
    fresh = SnapshotStore(db)
    import_all(fresh, small_register)  # the register as it is now
    new = fresh.lookup_enp(enp)
    assert new != old
    assert store.lookup_enp(enp) == new
    assert store.read_one(enp).records[enp] == new
    assert store.info() == fresh.info()
    with store.prefetched([enp]) as batch:
        assert batch.records[enp] == new
