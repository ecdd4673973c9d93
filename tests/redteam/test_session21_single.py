"""Red team, session 21: a single lookup's context kept while it holds (``_TypedColumns.for_one``,
``Pipeline.single``, 5c1af77).

Session 20's walks made a new pipeline for every moment; here ONE pipeline (as the daemon
holds one until a reload) answers lookup after lookup while what its kept columns were made of
moves under it: its clock runs fresh → stale → expired → behind the snapshot → fresh, another
process and another connection import deltas and a new full snapshot into the same file, the
directory names change under a live ``DirectoryNames``, copies of it for other clinics (which
share its ``single``) take turns lookup by lookup, two threads ask at two moments, batches come
in between. Every answer is compared with the full checks' (the oracle, grouping off), as a
value and as JSON bytes; and the tests check that the kept columns were in fact used again, so
none of this passes by never reusing them.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cache.register_model import PolicyStatus, RegisterRecord
from cache.snapshot_format import SnapshotKind
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import (
    CREATED,
    SEED,
    Register,
    demo_key,
    generate_register,
    import_all,
    snapshot_bytes,
)
from tests.redteam import test_session21_store_locks as store_locks
from tests.redteam.test_session20_groups import (  # noqa: F401 - far_east: a fixture
    Answer,
    _oracle,
    _outcomes,
    _same,
    _singles,
    _typed,
    far_east,
)
from verifier.checks.context import LookupMode
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import CredentialInput
from verifier.directories import Directories
from verifier.pipeline import Pipeline
from verifier.service.assembly import DirectoryNames
from verifier.verdict import InsurerInfo, Outcome, Verdict

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """A clock the test moves; per thread when ``per_thread`` is set."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.local = threading.local()

    def __call__(self) -> datetime:
        mine: datetime | None = getattr(self.local, "now", None)
        return self.now if mine is None else mine


@dataclasses.dataclass
class Lab:
    reg: Register
    store: SnapshotStore
    path: Path
    clock: Clock
    seq: int = 0

    def pipeline(self, **kw: object) -> Pipeline:
        return Pipeline(
            status=SnapshotStatusChecker(self.store),
            revocation=SnapshotRevocationChecker(self.store),
            clock=self.clock,
            **kw,  # type: ignore[arg-type]
        )

    def delta_file(
        self, records: list[RegisterRecord], deletions: tuple[str, ...] = (), *, full: bool = False
    ) -> Path:
        info = self.store.info()
        assert info.sequence is not None and info.created_at is not None
        self.seq += 1
        data = snapshot_bytes(
            key=demo_key(SEED),
            kind=SnapshotKind.FULL if full else SnapshotKind.DELTA,
            sequence=info.sequence + 1,
            base=None if full else info.sequence,
            created=info.created_at + timedelta(minutes=1),
            records=records,
            deletions=() if full else list(deletions),
            name_key_id=info.name_key_id or "",
        )
        target = self.path / f"change-{self.seq}.omssnap"
        target.write_bytes(data)
        return target

    def records(self, enps: list[str]) -> list[RegisterRecord]:
        out = []
        for enp in enps:
            rec = self.store.lookup_enp(enp)
            assert rec is not None and rec.enp == enp
            out.append(rec)
        return out


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reg = generate_register(tmp_path / "reg", persons=120, deltas=0)
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    try:
        yield Lab(reg, store, tmp_path, Clock(CREATED + timedelta(hours=1)))
    finally:
        store.close()


def _live(lab: Lab) -> list[str]:
    return [r["enp"] for r in lab.reg.live]


def _items(lab: Lab, n: int = 40) -> list[CredentialInput]:
    live = _live(lab)
    return [_typed(e) for e in live[:n]] + [_typed("7700000000000000"), _typed(live[0][::-1])]


def _reused(p: Pipeline, ask: Callable[[], object]) -> bool:
    """Whether the lookup ``ask`` makes answered from the columns this thread kept."""
    held = getattr(p.single, "columns", None)
    ask()
    now = getattr(p.single, "columns", None)
    return held is not None and now is not None and now[1] is held[1]


def _annul(lab: Lab, enps: list[str]) -> list[RegisterRecord]:
    return [dataclasses.replace(r, status=PolicyStatus.ANNULLED) for r in lab.records(enps)]


# -- a moving clock on one pipeline ------------------------------------------------------------


def test_one_pipeline_with_a_moving_clock_answers_as_the_full_checks(lab: Lab) -> None:
    info = lab.store.info()
    assert info.created_at is not None and info.register_valid_until is not None
    created, until = info.created_at, info.register_valid_until
    p = lab.pipeline()
    items = _items(lab)
    moments = [
        created + timedelta(hours=1),
        created + timedelta(hours=2),  # the same context: kept columns, a new moment
        until - timedelta(seconds=1),
        until + timedelta(seconds=1),  # stale
        until + timedelta(hours=23),
        until + timedelta(hours=25),  # expired
        created + timedelta(hours=3),  # back: fresh
        created - timedelta(hours=2),  # the clock behind the snapshot
        created - timedelta(minutes=4),  # within the allowed skew: not from the future
        created + timedelta(days=8),  # past the hard offline limit
        created + timedelta(hours=4),
    ]
    reuse = 0
    for now in moments:
        lab.clock.now = now
        got = _singles(p, items)
        want = _oracle(p, items)
        _same(got, want, f"at {now}")
        for v in got:
            if isinstance(v, Verdict):
                assert v.checked_at == now
                if v.snapshot is not None:
                    assert v.snapshot.age_s == max((now - created).total_seconds(), 0.0)
        if now < created - timedelta(minutes=5) or now > until + timedelta(hours=24):
            assert Outcome.VALID not in _outcomes(got), now
        reuse += _reused(p, lambda: p.verify(items[0], mode=LookupMode.OFFLINE))
    assert reuse >= 5  # the kept columns answered (fresh and stale moments)


def test_expired_and_absent_never_reuse_a_kept_moment(lab: Lab, tmp_path: Path) -> None:
    info = lab.store.info()
    assert info.register_valid_until is not None
    p = lab.pipeline()
    items = _items(lab, 10)
    for hours in (26, 27, 30):
        lab.clock.now = info.register_valid_until + timedelta(hours=hours)
        assert not _reused(p, lambda: p.verify(items[0], mode=LookupMode.OFFLINE))
        got = _singles(p, items)
        _same(got, _oracle(p, items), f"expired +{hours}h")
        assert all(isinstance(v, Verdict) and v.checked_at == lab.clock.now for v in got)
    empty = SnapshotStore(tmp_path / "empty.sqlite3")
    try:
        q = Pipeline(
            status=SnapshotStatusChecker(empty),
            revocation=SnapshotRevocationChecker(empty),
            clock=lab.clock,
        )
        for minutes in (1, 2):
            lab.clock.now = CREATED + timedelta(minutes=minutes)
            assert not _reused(q, lambda: q.verify(items[0], mode=LookupMode.OFFLINE))
            got = _singles(q, items)
            _same(got, _oracle(q, items), "absent")
            assert Outcome.VALID not in _outcomes(got)
    finally:
        empty.close()


# -- the store changing under a kept context ---------------------------------------------------


def test_another_connection_and_another_process_import_between_lookups(lab: Lab) -> None:
    p = lab.pipeline()
    items = _items(lab)
    live = _live(lab)
    first = _singles(p, items)
    _same(first, _oracle(p, items), "before")
    assert _reused(p, lambda: p.verify(items[0], mode=LookupMode.OFFLINE))
    # another connection in this process (the store's writer): five valid people annulled
    valid = [i.payload.decode() for i, v in zip(items, first, strict=True) if _valid(v)]
    lab.store.import_file(lab.delta_file(_annul(lab, valid[:5])), lab.reg.check)
    got = _singles(p, items)
    _same(got, _oracle(p, items), "after another connection's delta")
    assert not any(_valid(v) for v in got[:40] if _enp(v) in valid[:5])
    # another process: a delta deleting five more
    delta = lab.delta_file([], tuple(valid[5:10]))
    _import_elsewhere(lab, delta)
    got = _singles(p, items)
    _same(got, _oracle(p, items), "after another process's delta")
    assert not any(_valid(v) for v in got if _enp(v) in valid[5:10])
    # another process: a new full snapshot holding only a third of the people
    kept = [e for e in live[20:] if lab.store.lookup_enp(e) is not None]
    full = lab.delta_file(lab.records(kept), full=True)
    _import_elsewhere(lab, full)
    got = _singles(p, items)
    _same(got, _oracle(p, items), "after another process's full import")
    gone = set(live[:20])
    assert not any(_valid(v) for v in got if _enp(v) in gone)


def test_a_sync_between_lookups_is_seen(lab: Lab) -> None:
    """A sync (meta only: its moment and the clock's skew) between lookups: the kept columns
    hold the meta as it was read, so the next lookup makes new ones, and answers alike."""
    p = lab.pipeline()
    items = _items(lab, 10)
    _same(_singles(p, items), _oracle(p, items), "before")
    assert _reused(p, lambda: p.verify(items[0], mode=LookupMode.OFFLINE))
    lab.store.record_sync(lab.clock.now - timedelta(hours=2), lab.clock.now)
    assert not _reused(p, lambda: p.verify(items[0], mode=LookupMode.OFFLINE))
    after = _singles(p, items)
    _same(after, _oracle(p, items), "after the sync")
    assert all(
        isinstance(v, Verdict) and v.snapshot is not None and v.snapshot.sequence is not None
        for v in after[:10]
    )


def _decision(v: Answer) -> object:
    if not isinstance(v, Verdict):
        return None
    return (v.outcome, v.reasons, tuple((c.name, c.status, c.reason) for c in v.checks))


def _valid(v: Answer) -> bool:
    return isinstance(v, Verdict) and v.outcome is Outcome.VALID


def _enp(v: Answer) -> str | None:
    return v.credential.enp if isinstance(v, Verdict) and v.credential else None


def _import_elsewhere(lab: Lab, snapshot: Path) -> None:
    store_locks._import_elsewhere(lab.store.path, snapshot)


# -- the names, the clinic, threads, batches ---------------------------------------------------


def test_a_directory_import_elsewhere_is_named_after_the_window(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "directories.sqlite3"
    ticks = [1000.0]
    with Directories(path) as directories:
        names = DirectoryNames(directories, clock=lambda: ticks[0])
        p = lab.pipeline(names=names)
        items = _items(lab)
        before = _singles(p, items)
        _same(before, _oracle(p, items), "before")
        insurers = {(i.ogrn, i.region) for i in _insurers(before)}
        assert insurers
        with sqlite3.connect(path) as other:
            other.executemany(
                "INSERT INTO insurer VALUES (?,?,?,?,?,?,?)",
                [(o, k, "СМО «Новая»", "СМО", None, 1, "2020-01-01") for o, k in insurers],
            )
        ticks[0] += 5  # past the change check's window
        after = _singles(p, items)
        _same(after, _oracle(p, items), "after")
        assert {i.name for i in _insurers(after)} == {"СМО «Новая»"}


def _insurers(answers: list[Answer]) -> list[InsurerInfo]:
    return [v.insurer for v in answers if isinstance(v, Verdict) and v.insurer is not None]


def test_copies_for_other_clinics_take_turns_lookup_by_lookup(lab: Lab) -> None:
    """Copies made with ``dataclasses.replace`` share the original's ``single``: alternating
    item by item, each answer names its own pipeline's clinic."""
    base = lab.pipeline()
    clinics = sorted({r["clinic"] for r in lab.reg.live if r["clinic"]})
    assert clinics
    copies = [
        dataclasses.replace(base, this_clinic=clinics[0]),
        dataclasses.replace(base, this_clinic="999999"),
        base,
    ]
    assert all(c.single is base.single for c in copies)
    items = _items(lab)
    rnd = random.Random(21)
    for step in range(3 * len(items)):
        p = rnd.choice(copies)
        item = rnd.choice(items)
        _same(_singles(p, [item]), _oracle(p, [item]), f"step {step} clinic {p.this_clinic}")


def test_two_threads_at_two_moments_on_one_pipeline(lab: Lab) -> None:
    info = lab.store.info()
    assert info.register_valid_until is not None
    moments = [CREATED + timedelta(hours=1), info.register_valid_until + timedelta(minutes=5)]
    p = lab.pipeline()
    items = _items(lab)
    want = []
    for m in moments:
        lab.clock.now = m
        want.append(_oracle(p, items))
    start = threading.Barrier(2)
    got: dict[int, list[list[Answer]]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        lab.clock.local.now = moments[i]
        try:
            start.wait()
            for _ in range(4):
                got[i].append(_singles(p, items))
                if i == 1:
                    got[i].append(list(p.verify_many(items, mode=LookupMode.OFFLINE)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in (0, 1):
        assert got[i]
        for answers in got[i]:
            _same(answers, want[i], f"thread {i}")


def test_batches_between_single_lookups_of_other_contexts(lab: Lab) -> None:
    """A batch at a stale moment replaces the pipeline's groups; the next single lookup at
    the fresh moment must not answer from columns holding the batch's groups, nor from its
    own old groups' dict (made for another context in between)."""
    info = lab.store.info()
    assert info.register_valid_until is not None
    fresh, stale = CREATED + timedelta(hours=1), info.register_valid_until + timedelta(minutes=5)
    p = lab.pipeline()
    items = _items(lab)
    for now in (fresh, stale, fresh, stale, fresh):
        lab.clock.now = now
        _same(_singles(p, items[:10]), _oracle(p, items[:10]), f"singles at {now}")
        lab.clock.now = stale if now == fresh else fresh
        batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store)
        _same(list(batch), _oracle(p, items), "batch")
        lab.clock.now = now
        _same(_singles(p, items), _oracle(p, items), f"singles after a batch at {now}")


@pytest.mark.usefixtures("far_east")
def test_local_midnight_on_one_pipeline_in_utc_plus_14(lab: Lab) -> None:
    """One pipeline's clock crossing local midnight (UTC is still on the same day) and back,
    policies ending on the day and starting on the next: the kept columns' day moves too."""
    live = _live(lab)
    day = date(2026, 3, 11)  # local, at 23:59:30
    changed = []
    for n, rec in enumerate(lab.records(live[:40])):
        if n % 2:
            rec = dataclasses.replace(rec, status=PolicyStatus.ACTIVE, end=day, start=None)
        else:
            start = day + timedelta(days=1)
            rec = dataclasses.replace(rec, status=PolicyStatus.ACTIVE, start=start, end=None)
        changed.append(rec)
    lab.store.import_file(lab.delta_file(changed), lab.reg.check)
    items = [_typed(r.enp) for r in changed]
    before = datetime(2026, 3, 11, 9, 59, 30, tzinfo=UTC)  # 23:59:30 local
    after = datetime(2026, 3, 11, 10, 0, 30, tzinfo=UTC)  # 00:00:30 local, the next day
    p = lab.pipeline()
    for now in (before, before + timedelta(seconds=5), after, before, after):
        lab.clock.now = now
        got = _singles(p, items)
        _same(got, _oracle(p, items), f"at {now}")
        outcomes = _outcomes(got)
        ending, starting = set(outcomes[1::2]), set(outcomes[0::2])
        if now >= after:
            assert Outcome.VALID not in ending and starting == {Outcome.VALID}
        else:
            assert ending == {Outcome.VALID} and Outcome.VALID not in starting
