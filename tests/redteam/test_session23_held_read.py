"""Red team, session 23: the loop's lookups of one step share one read transaction of the
snapshot (``SnapshotStore.hold_reads``, ``verifier.service.core.LoopStep``).

Real parts only: real SQLite files written by the project's importer from snapshots signed
with the generator's demo key (``tests.cache.helpers``), real asyncio loops with the
daemon's own :class:`LoopStep`, and for the pins a real :class:`Service` over a demo state.
A commit "by another connection" is another :class:`SnapshotStore` on the same file (what
another process's ``oms-verifier snapshot import`` is) or a plain ``sqlite3`` connection.

Findings (each test fails on d52dc49):
- the documented bound "a commit is seen from the next step on" does not hold: a callback
  scheduled in a step before that step's first lookup runs in the next step *before* the
  step's release (asyncio runs the ready queue in order) and reads the old transaction: an
  annulled policy answered ``active`` in the step after the commit;
- a fault while the step's transaction reads the meta (a corrupt meta page) leaves the
  transaction marked open with the meta of an *older* read: every other lookup of the step
  answers from that meta with the records of the new state, where the plain path fails
  every lookup (fail-open on a corrupt store, for as long as the fault lasts), and the
  step's release then raises into the loop: a traceback from the loop's default exception
  handler for every step, with nobody to throttle it;
- the held connection is opened once and never again: a register database moved aside and
  imported again (what the ``store_unusable`` message tells the operator to do) is never
  seen; the loop answers from the moved-aside file, an annulled policy as in force, until the
  daemon restarts (the per-thread readers have the same property: not new, but the held
  connection keeps it on the daemon's main lane).
The pins (marked so) hold what was checked and found right.
"""

from __future__ import annotations

import asyncio
import csv
import os
import sqlite3
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cache.register_model import PolicyStatus
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import REGION, delta_on, demo_key, key_checker, record, snapshot_bytes
from verifier import config as config_mod
from verifier.checks.context import LookupMode
from verifier.checks.holder import HolderMatcher
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.checks.signature import TrustSignatureChecker
from verifier.devkit import demo
from verifier.identifiers import Sex, make_enp
from verifier.pipeline import Pipeline
from verifier.service.core import LoopStep, Service
from verifier.trust import TrustStore
from verifier.verdict import Outcome, Reason

PEOPLE = [make_enp(REGION, date(1980, 1, 1), Sex.MALE, serial) for serial in range(1, 9)]
ENP, OTHER = PEOPLE[0], PEOPLE[4]  # valid ENPs, policies in force in the first snapshot


def _store_at_first(tmp: Path, created: datetime | None = None) -> SnapshotStore:
    """A store holding a small signed full snapshot (sequence 1), every policy in force."""
    key = demo_key()
    src = tmp / "full-1.bin"
    kw: dict[str, Any] = {"created": created} if created is not None else {}
    src.write_bytes(snapshot_bytes(key=key, records=[record(e) for e in PEOPLE], **kw))
    store = SnapshotStore(tmp / "register.sqlite3")
    store.import_file(src, key_checker(key.public_key()))
    return store


def _annul(store_path: Path, enp: str, tmp: Path) -> None:
    """Another connection (another process's ``snapshot import`` is one) imports a signed
    delta that annuls ``enp``."""
    other = SnapshotStore(store_path)
    rec = other.lookup_enp(enp)
    assert rec is not None and rec.status is PolicyStatus.ACTIVE
    delta = delta_on(other, [replace(rec, status=PolicyStatus.ANNULLED)], tmp / "annul.bin")
    other.import_file(delta, key_checker(demo_key().public_key()))
    assert other.lookup_enp(enp) == replace(rec, status=PolicyStatus.ANNULLED)
    other.close()


def _on_a_loop(body: Callable[[asyncio.AbstractEventLoop], Coroutine[Any, Any, None]]) -> None:
    """``body`` on a new real event loop, failing on any error the loop's handler saw."""
    errors: list[dict[str, Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _lp, ctx: errors.append(ctx))
        await body(loop)

    asyncio.run(main())
    assert errors == [], errors


def _steps(n: int) -> Coroutine[Any, Any, None]:
    async def go() -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    return go()


# --- findings ---------------------------------------------------------------------------------


def test_pins_a_commit_is_seen_at_the_latest_by_the_step_after_it(tmp_path: Path) -> None:
    """Pins the documented bound (SnapshotStore.hold_reads). Step N: a callback is scheduled
    (a task woken, a future resolved: the loop does this all the time), then the step's
    first lookup begins the transaction and schedules its release, then another process
    commits an annulment. In step N+1 that early callback runs before the release and may
    still read step N's view (the red team found the first wording promised more); every
    lookup after the release, and all of step N+2, sees the commit."""
    store = _store_at_first(tmp_path)
    seen: dict[str, PolicyStatus | None] = {}

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        store.hold_reads(LoopStep(loop))
        done: asyncio.Future[None] = loop.create_future()

        def status() -> PolicyStatus | None:
            rec = store.read_one(ENP).records[ENP]
            return rec.status if rec is not None else None

        def after() -> None:
            seen["after"] = status()
            done.set_result(None)

        def next_step() -> None:
            seen["next step"] = status()
            loop.call_soon(after)

        def step_n() -> None:
            loop.call_soon(next_step)  # scheduled before this step's first lookup
            seen["step N"] = status()
            _annul(store.path, ENP, tmp_path)  # committed while step N runs

        loop.call_soon(step_n)
        await done

    _on_a_loop(body)
    assert seen["step N"] is PolicyStatus.ACTIVE  # the step's own view, as documented
    assert seen["next step"] is PolicyStatus.ACTIVE  # before the release: step N's view
    assert seen["after"] is PolicyStatus.ANNULLED  # the step after: the commit, always


def _corrupt_meta_page(store: SnapshotStore) -> Callable[[], None]:
    """Checkpoint the WAL into the file and return what overwrites the meta table's page in
    the file with garbage (the records' pages stay good): a corrupt register database."""
    raw = sqlite3.connect(store.path, isolation_level=None)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'").fetchone()
        (page_size,) = raw.execute("PRAGMA page_size").fetchone()
    finally:
        raw.close()

    def corrupt() -> None:
        with open(store.path, "r+b") as f:
            f.seek((int(root) - 1) * int(page_size))
            f.write(b"\xff" * int(page_size))

    return corrupt


def _commit_records_only(path: Path, enp: str, status: PolicyStatus) -> None:
    """Another connection commits a change to one record (not to the meta)."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("UPDATE records SET status = ? WHERE enp = ?", (int(status), int(enp)))
    finally:
        raw.close()


def _outcome(store: SnapshotStore, enp: str) -> str:
    try:
        read = store.read_one(enp)
    except sqlite3.DatabaseError as exc:
        return f"error: {exc}"
    return f"answered with the meta of sequence {read.info.sequence}"


def test_a_fault_reading_the_meta_answers_no_lookup_of_the_step_from_an_older_meta(
    tmp_path: Path,
) -> None:
    """The meta page of the file is corrupt; another connection's commit makes the step's
    transaction read the meta again. The plain path fails every lookup; the held one fails
    the first lookup of each step and answers every other from the meta it read earlier,
    beside the new state's records ("never a record of one snapshot with the meta of
    another"), for as long as the file stays corrupt."""
    store = _store_at_first(tmp_path)
    corrupt = _corrupt_meta_page(store)
    plain = SnapshotStore(store.path)
    answers: dict[str, list[str]] = {"held": [], "plain": []}

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(lambda _lp, _ctx: None)  # the release's noise: next test
        store.hold_reads(LoopStep(loop))
        store.read_one(ENP), plain.read_one(ENP)  # the meta read while the file was good
        await _steps(2)
        corrupt()
        _commit_records_only(store.path, OTHER, PolicyStatus.SUSPENDED)
        for _ in range(3):  # three steps, two lookups each
            await _steps(2)
            for who, s in (("held", store), ("plain", plain)):
                answers[who] += [_outcome(s, ENP), _outcome(s, OTHER)]

    _on_a_loop(body)
    assert all(a.startswith("error: ") for a in answers["plain"]), answers
    assert answers["held"] == answers["plain"], answers


def test_the_release_of_a_step_raises_nothing_into_the_loop(tmp_path: Path) -> None:
    """Under the same corrupt file, the step's release (``COMMIT`` on the held connection)
    raises ``DatabaseError`` out of a loop callback: asyncio's default handler logs a
    traceback for every step that looked something up, unthrottled."""
    store = _store_at_first(tmp_path)
    corrupt = _corrupt_meta_page(store)

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        store.hold_reads(LoopStep(loop))
        store.read_one(ENP)
        await _steps(2)
        corrupt()
        _commit_records_only(store.path, OTHER, PolicyStatus.SUSPENDED)
        for _ in range(3):
            await _steps(2)
            for enp in (ENP, OTHER):
                _outcome(store, enp)  # the lookups fail, typed or not: not this test's matter
        await _steps(2)

    _on_a_loop(body)  # asserts the loop's exception handler saw nothing


def test_a_register_moved_aside_and_imported_again_is_what_the_loop_reads(
    tmp_path: Path,
) -> None:
    """The operator does what ``store_unusable`` says: moves the database (and its -wal and
    -shm) aside and imports a snapshot again, with the daemon running. From then on every
    new connection reads the new file; the loop's held connection reads the old one for
    ever: the policy the new register annuls is answered from the moved-aside file."""
    store = _store_at_first(tmp_path)
    path = store.path
    seen: list[PolicyStatus | None] = []

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        store.hold_reads(LoopStep(loop))
        store.read_one(ENP)
        await _steps(2)
        aside = tmp_path / "aside"
        aside.mkdir()
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{path}{suffix}")
            if p.exists():
                os.rename(p, aside / p.name)
        fresh = _store_at_first(tmp_path)  # `oms-verifier snapshot import` of the same full
        assert fresh.path == path
        _annul(path, ENP, tmp_path)  # ... and the register's delta that annuls the policy
        fresh.close()
        for _ in range(3):
            await _steps(2)
            rec = store.read_one(ENP).records[ENP]
            seen.append(rec.status if rec is not None else None)

    _on_a_loop(body)
    assert SnapshotStore(path).lookup_enp(ENP) is not None
    assert seen == [PolicyStatus.ANNULLED] * 3, seen


# --- pins: checked and found right --------------------------------------------------------------


def test_pin_the_clock_is_honoured_inside_a_held_step(tmp_path: Path) -> None:
    """PIN. The held meta is data: the snapshot's freshness is judged at each lookup's own
    moment, so a clock moving past ``register_valid_until`` and its grace inside one step
    (and a clock going back before ``created_at``) is honoured at once."""
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    store = _store_at_first(tmp_path, created)
    now = [created + timedelta(hours=1)]
    pipeline = Pipeline(
        signature=TrustSignatureChecker(TrustStore()),
        revocation=SnapshotRevocationChecker(store),
        status=SnapshotStatusChecker(store),
        holder=HolderMatcher(None, lambda: store.info().name_key_id),
        clock=lambda: now[0],
    )
    out: list[tuple[Outcome, tuple[Reason, ...]]] = []

    def ask(enp: str) -> None:
        v = pipeline.verify_typed(enp, "api:t", mode=LookupMode.OFFLINE)
        out.append((v.outcome, tuple(v.reasons)))

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        store.hold_reads(LoopStep(loop))
        ask(ENP)
        until = store.info().register_valid_until
        assert until is not None and until > created  # the snapshot's own validity
        grace = SnapshotStatusChecker(store).policy.stale_grace
        now[0] = until + grace + timedelta(seconds=1)  # the same step: the transaction is open
        held = store._held
        assert held is not None and held.open
        ask(ENP)
        ask(OTHER)
        now[0] = created - timedelta(days=1)
        ask(ENP)

    _on_a_loop(body)
    assert out[0] == (Outcome.VALID, ())
    assert out[1] == out[2] == (Outcome.UNKNOWN, (Reason.SNAPSHOT_EXPIRED,))
    assert out[3][0] is Outcome.UNKNOWN and Reason.CLOCK_INCONSISTENT in out[3][1]


def test_pin_a_reload_inside_an_open_step_leaves_nothing_pinned(tmp_path: Path) -> None:
    """PIN. A real Service over a demo state: a lookup opens the step's transaction, a
    reload swaps the parts in that step, another process annuls the policy meanwhile: the
    old store's held read is closed, and the next lookup answers the annulment."""
    base = tmp_path / "state"
    st = demo.ensure_demo(config_mod.load(None, base), persons=300)
    cfg = st.cfg
    persons = next((base / "demo").rglob("persons.csv"))
    with persons.open(encoding="utf-8") as f:
        enp = next(
            r["enp"]
            for r in csv.DictReader(f)
            if r["status"] == "active"
            and not r["deleted"]
            and not r["end"]
            and not r["revoked_carrier"]
        )
    out: list[str] = []

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        svc = Service(cfg)
        await svc.start()
        try:

            def ask() -> str:
                v = svc.verify_enp_now(enp, source="api:t", who="t", channel="api")
                return v.outcome.value

            out.append(ask())
            old = svc.parts.store
            assert isinstance(old, SnapshotStore) and old._held is not None and old._held.open
            reload = asyncio.ensure_future(svc.reload(cfg))
            _commit_records_only(cfg.register_db, enp, PolicyStatus.ANNULLED)
            await reload
            assert old._held is None  # closed with the old parts
            await _steps(2)
            out.append(ask())
        finally:
            await svc.stop()

    _on_a_loop(body)
    assert out == ["valid", "annulled"]
