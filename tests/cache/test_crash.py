"""``kill -9`` in the middle of an import, with a real process and a real SQLite file.

A large snapshot (over a million records, written with the real writer and signed with the demo
key) is imported by a child process into a store that already serves an older snapshot; the
child is SIGKILLed while it stages. Reopening the store must find the old snapshot serving, no
``stage_*`` tables, and a fresh import must then succeed.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cache.register_model import Alias, AliasKind, PolicyStatus, PolicyType, RegisterRecord
from cache.snapshot_format import RECORD, Section, SnapshotHeader, SnapshotKind, SnapshotWriter
from cache.snapshot_store import COMMIT_EVERY, SignatureCheck, SnapshotRefused, SnapshotStore
from verifier.crypto.signatures import sign_digest, verify_digest

from .helpers import (
    CREATED,
    REGION,
    SEED,
    Register,
    Served,
    demo_key,
    key_checker,
    record,
    served,
    small_full,
    snapshot_bytes,
    stage_tables,
)

ROOT = Path(__file__).resolve().parents[2]
BIG = 1_500_000
FIRST_ENP = 5000000000000000
PROBES = [FIRST_ENP + i for i in range(0, BIG, BIG // 200)]  # ENPs both snapshots hold

IMPORTER = """
import sys
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import demo_key, key_checker
store = SnapshotStore(sys.argv[1])
store.import_file(sys.argv[2], key_checker(demo_key(int(sys.argv[3])).public_key()))
print("imported", flush=True)
"""


@pytest.fixture(scope="module")
def big_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Full snapshot #2: BIG synthetic active records, streamed through SnapshotWriter."""
    template = RegisterRecord(
        enp=str(FIRST_ENP),
        policy_type=PolicyType.DIGITAL,
        status=PolicyStatus.ACTIVE,
        status_since=date(2020, 1, 1),
        smo_ogrn="1027739008440",
        okato="46000",
        start=date(2020, 1, 1),
        end=None,
        clinic="500001",
        name_hash=b"\x5a" * 8,
    ).as_row()
    pack, rest = RECORD.pack, template[1:]
    records = [pack(FIRST_ENP + i, *rest) for i in range(BIG)]
    key = demo_key(SEED)
    header = SnapshotHeader(
        kind=SnapshotKind.FULL,
        region=REGION,
        sequence=2,
        base_sequence=None,
        created_at=CREATED,
        register_valid_until=CREATED.replace(day=13),
        revocations_valid_until=CREATED.replace(day=13),
        counts={"RECS": BIG, "ALIA": 0, "DELS": 0, "REVP": 0, "REVK": 0},
        key_id=key.public_key().key_id(),
    )
    path = tmp_path_factory.mktemp("big") / "full-000002.omssnap"
    with path.open("wb") as f:
        w = SnapshotWriter(f, header)
        w.fixed_section(Section.RECORDS, records)
        del records
        w.var_section(Section.ALIASES, [])
        w.fixed_section(Section.DELETIONS, [])
        w.fixed_section(Section.REVOKED_DOCS, [])
        w.var_section(Section.REVOKED_KEYS, [])
        w.finish(lambda d: sign_digest(key, d))
    return path


def _old_store(db: Path) -> SnapshotStore:
    """Snapshot #1: the probe ENPs suspended, one with a temporary certificate."""
    key = demo_key(SEED)
    recs = [record(e, status=PolicyStatus.SUSPENDED) for e in PROBES]
    data = snapshot_bytes(
        key=key,
        sequence=1,
        records=recs,
        aliases=[Alias(recs[0].enp, AliasKind.TEMP_CERT, "987654321")],
    )
    store = SnapshotStore(db)
    store.import_stream(io.BytesIO(data), key_checker(key.public_key()))
    return store


def _probe_state(store: SnapshotStore) -> Served:
    return served(store, [f"{e:016d}" for e in PROBES], [(AliasKind.TEMP_CERT, "987654321")])


def _staged_rows(db: Path) -> int:
    """Rows the child has committed to stage_records so far (-1: no stage table yet)."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "stage_records" not in names:
            return -1
        return int(conn.execute("SELECT count(*) FROM stage_records").fetchone()[0])
    except sqlite3.OperationalError:  # the table went away between the two statements
        return -1
    finally:
        conn.close()


def _live_status(db: Path, enp: int) -> int:
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute("SELECT status FROM records WHERE enp = ?", (enp,)).fetchone()[0])
    finally:
        conn.close()


def _kill_when(db: Path, snap: Path, ready: Callable[[int], bool]) -> int:
    """Start the importer, SIGKILL it once ``ready(staged rows)``; returns the rows it staged."""
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORTER, str(db), str(snap), str(SEED)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 25
        staged = -1
        while time.monotonic() < deadline:
            staged = _staged_rows(db)
            if ready(staged):
                break
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"importer ended before the kill: rc={proc.returncode} {out!r} {err!r}")
            time.sleep(0.005)
        else:
            pytest.fail("the importer never reached the kill point")
        # Mid-import, the live tables still hold the old snapshot.
        assert _live_status(db, PROBES[0]) == PolicyStatus.SUSPENDED
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert proc.stdout is not None and b"imported" not in proc.stdout.read()
        return staged
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
def test_kill_9_during_import_leaves_the_old_snapshot_serving(
    big_snapshot: Path, tmp_path: Path
) -> None:
    db = tmp_path / "register.sqlite3"
    store = _old_store(db)
    before = _probe_state(store)
    assert before.info.sequence == 1
    store.close()

    kill_points: list[tuple[str, Callable[[int], bool]]] = [
        ("stage table just created", lambda n: n >= 0),
        ("after two committed batches", lambda n: n >= 2 * COMMIT_EVERY),
    ]
    for label, ready in kill_points:
        staged = _kill_when(db, big_snapshot, ready)
        assert 0 <= staged < BIG, label
        assert stage_tables(db), f"{label}: the kill should leave stage tables behind"
        reopened = SnapshotStore(db)  # what the next CLI run or daemon start does
        assert stage_tables(db) == [], label
        after = _probe_state(reopened)
        assert after == before, label
        rec = reopened.lookup_enp(f"{PROBES[1]:016d}")
        assert rec is not None and rec.status is PolicyStatus.SUSPENDED
        reopened.close()

    # A fresh import of the same file now goes through.
    store = SnapshotStore(db)
    res = store.import_file(big_snapshot, key_checker(demo_key(SEED).public_key()))
    assert (res.kind, res.sequence, res.records) == (SnapshotKind.FULL, 2, BIG)
    info = store.info()
    assert (info.sequence, info.records) == (2, BIG)
    for enp in PROBES[:20]:
        rec = store.lookup_enp(f"{enp:016d}")
        assert rec is not None and rec.status is PolicyStatus.ACTIVE
    assert store.lookup_alias(AliasKind.TEMP_CERT, "987654321") is None
    assert store.lookup_enp(f"{FIRST_ENP + BIG - 1:016d}") is not None
    assert stage_tables(db) == []


def test_opening_the_store_elsewhere_does_not_break_an_import(tmp_path: Path) -> None:
    """The daemon imports while a clerk runs ``oms-verifier snapshot status`` (a new process)."""
    db = tmp_path / "register.sqlite3"
    key = demo_key(SEED)
    pub = key.public_key()
    store = SnapshotStore(db)
    store.import_stream(io.BytesIO(small_full(key, sequence=1)), key_checker(pub))
    verifying, go_on = threading.Event(), threading.Event()

    def check(key_id: str, digest: bytes, signature: bytes) -> bool:
        verifying.set()  # everything is staged and committed; the signature is being checked
        go_on.wait(30)
        return verify_digest(pub, digest, signature)

    outcome: dict[str, Any] = {}

    def importer() -> None:
        newer = small_full(key, sequence=2, status=PolicyStatus.SUSPENDED)
        try:
            outcome["result"] = store.import_stream(io.BytesIO(newer), check)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which fails the test with it
            outcome["error"] = exc

    t = threading.Thread(target=importer)
    t.start()
    try:
        assert verifying.wait(30)
        other = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from cache.snapshot_store import SnapshotStore; "
                "print(SnapshotStore(sys.argv[1]).info().sequence)",
                str(db),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = other.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # a fixed store may make the opener wait its turn
            go_on.set()
            out, err = other.communicate(timeout=60)
        assert other.returncode == 0, err
        assert out.strip() in ("1", "2")  # it sees a whole snapshot, old or new
    finally:
        go_on.set()
        t.join(60)
    if "error" in outcome:
        assert store.info().sequence == 1  # the old snapshot does survive the failure
        raise outcome["error"]
    assert store.info().sequence == 2


def test_staged_records_stay_invisible_until_the_switch(tmp_path: Path) -> None:
    """While the signature is being checked everything is staged, and nobody sees it: not this
    store's reader threads, not a reader of the same file. A bad signature keeps it that way."""
    db = tmp_path / "register.sqlite3"
    key = demo_key(SEED)
    pub = key.public_key()
    store = SnapshotStore(db)
    store.import_stream(io.BytesIO(small_full(key, sequence=1)), key_checker(pub))
    enp = "5000000000000001"
    seen: list[object] = []

    def look() -> None:
        rec = store.lookup_enp(enp)
        seen.append((store.info().sequence, rec.status if rec else None))

    def check(verdict: bool) -> SignatureCheck:
        def inner(key_id: str, digest: bytes, signature: bytes) -> bool:
            assert stage_tables(db)  # staged and committed by now
            t = threading.Thread(target=look)
            t.start()
            t.join()
            look()
            return verdict and verify_digest(pub, digest, signature)

        return inner

    newer = small_full(key, sequence=2, status=PolicyStatus.SUSPENDED)
    with pytest.raises(SnapshotRefused):
        store.import_stream(io.BytesIO(newer), check(False))
    store.import_stream(io.BytesIO(newer), check(True))
    look()
    assert seen == [(1, PolicyStatus.ACTIVE)] * 4 + [(2, PolicyStatus.SUSPENDED)]
    assert stage_tables(db) == []


def test_reader_threads_during_imports_see_whole_snapshots(
    small_register: Register, tmp_path: Path
) -> None:
    """Smoke test: lookups from several threads while deltas go in; each answer is a record the
    register held at some sequence, never an error."""
    store = SnapshotStore(tmp_path / "register.sqlite3")
    store.import_file(small_register.gen.files[0], small_register.check)
    enps = [r["enp"] for r in small_register.rows]
    stop = threading.Event()
    errors: list[BaseException] = []
    answers = [0]

    def reader() -> None:
        try:
            while not stop.is_set():
                for enp in enps[:50]:
                    store.lookup_enp(enp)
                    answers[0] += 1
                assert store.info().sequence in (1, 2, 3, 4)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which fails the test with it
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for f in small_register.gen.files[1:]:
            store.import_file(f, small_register.check)
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
    assert answers[0] > 0
    assert store.info().sequence == 4
