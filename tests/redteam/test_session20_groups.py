"""Red team, session 20: the grouped offline verdicts of typed ENPs (``_TypedColumns``).

A typed ENP checked offline is answered from a group carried across single lookups and
batches while the checkers, snapshot meta, freshness state and local calendar day are equal.
Every answer here is compared, as a value and as JSON bytes (masked and not), with the full
per-item checks (the oracle: ``_columnar_status`` patched to None), across the moments and
changes that could leave a carried group stale: local midnight in a far-east zone with
policies ending today and starting tomorrow, the snapshot going stale and expired, the clock
jumping back before the snapshot and forward again, a delta annulling and deleting records
between two lookups at one moment, two pipelines of other clinics alternating, a batch and
single lookups on two threads at once, and a member verdict changed by ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cache.register_model import PolicyStatus, RegisterRecord
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import (
    CREATED,
    VALID_HOURS,
    Register,
    delta_on,
    generate_register,
    import_all,
)
from tests.test_batch_columnwise import _per_item
from verifier.checks.context import LookupMode
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import CredentialInput
from verifier.errors import RecognitionError
from verifier.pipeline import Pipeline
from verifier.verdict import Outcome, Verdict

Answer = Verdict | RecognitionError
VALID_UNTIL = CREATED + timedelta(hours=VALID_HOURS)


def _typed(enp: str, source: str = "api:test") -> CredentialInput:
    return CredentialInput(enp.encode("ascii"), source=source, manual=True)


def _oracle(p: Pipeline, items: Sequence[CredentialInput]) -> list[Answer]:
    """Every item through the full checks, grouping off (tests/test_batch_columnwise.py)."""
    return _per_item(p, items)


def _singles(p: Pipeline, items: Sequence[CredentialInput]) -> list[Answer]:
    out: list[Answer] = []
    for item in items:
        try:
            out.append(p.verify(item, mode=LookupMode.OFFLINE))
        except RecognitionError as exc:
            out.append(exc)
    return out


def _same(got: Sequence[Answer], want: Sequence[Answer], what: str) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if isinstance(w, RecognitionError):
            assert isinstance(g, RecognitionError), (what, i)
            assert (g.code, g.message) == (w.code, w.message), (what, i)
            continue
        assert isinstance(g, Verdict), (what, i)
        assert g == w, (what, i)
        for masked in (False, True):
            assert g.to_json(masked=masked) == orjson.dumps(w.to_dict(masked=masked)), (
                what,
                i,
                masked,
            )


def _outcomes(answers: Sequence[Answer]) -> list[Outcome | None]:
    return [a.outcome if isinstance(a, Verdict) else None for a in answers]


@dataclasses.dataclass
class Lab:
    reg: Register
    store: SnapshotStore
    path: Path

    def pipeline(self, now: datetime, **kw: object) -> Pipeline:
        status = SnapshotStatusChecker(self.store)
        return Pipeline(
            status=status,
            revocation=SnapshotRevocationChecker(self.store),
            clock=lambda: now,
            **kw,  # type: ignore[arg-type]
        )

    def delta(self, records: Sequence[RegisterRecord], deletions: Sequence[str] = ()) -> None:
        sequence = self.store.info().sequence
        target = self.path / f"delta-{(sequence or 0) + 1}.omssnap"
        delta_on(self.store, records, target, deletions=deletions)
        self.store.import_file(target, self.reg.check)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reg = generate_register(tmp_path / "reg", persons=120, deltas=0)
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    yield Lab(reg, store, tmp_path)
    store.close()


def _live(lab: Lab) -> list[str]:
    return [r["enp"] for r in lab.reg.live]


def _corpus(lab: Lab) -> list[CredentialInput]:
    live = _live(lab)
    dead = [r["enp"] for r in lab.reg.deleted]
    items = [_typed(e) for e in live] + [_typed(e) for e in dead]
    items += [_typed(e, "kiosk") for e in live[:10]]
    items += [_typed("7700000000000000"), _typed(live[0][:-1] + str((int(live[0][-1]) + 1) % 10))]
    return items


@pytest.fixture
def far_east() -> Iterator[None]:
    """The process in UTC+14 (the clinic's calendar is local: ``astimezone()``)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14"
    time.tzset()
    assert datetime(2026, 3, 11, 10, 0, tzinfo=UTC).astimezone().date() == date(2026, 3, 12)
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_local_midnight_ends_todays_policies_in_carried_groups(lab: Lab, far_east: None) -> None:
    """Policies ending on the local day before midnight and starting on the next: a group made
    at 23:59:30 local must not answer at 00:00:30 local (UTC is still on the same day)."""
    live = _live(lab)
    day = date(2026, 3, 11)  # local day of the first clock
    changed: list[RegisterRecord] = []
    for n, enp in enumerate(live[:40]):
        rec = lab.store.lookup_enp(enp)
        assert rec is not None and rec.enp == enp  # the live person it names
        kind = n % 4
        if kind == 0:  # ends today (in force until local midnight)
            rec = dataclasses.replace(rec, status=PolicyStatus.ACTIVE, end=day, start=None)
        elif kind == 1:  # starts tomorrow
            rec = dataclasses.replace(
                rec, status=PolicyStatus.ACTIVE, start=day + timedelta(days=1), end=None
            )
        elif kind == 2:  # ended yesterday
            rec = dataclasses.replace(
                rec, status=PolicyStatus.ACTIVE, end=day - timedelta(days=1), start=None
            )
        else:  # in force, no end
            rec = dataclasses.replace(rec, status=PolicyStatus.ACTIVE, end=None, start=None)
        changed.append(dataclasses.replace(rec, smo_ogrn="1027739008440", okato="46000"))
    lab.delta(changed)
    items = [_typed(r.enp) for r in changed]
    before = datetime(2026, 3, 11, 9, 59, 30, tzinfo=UTC)  # 23:59:30 local
    after = datetime(2026, 3, 11, 10, 0, 30, tzinfo=UTC)  # 00:00:30 local, next day
    assert before.astimezone().date() == day and after.astimezone().date() == day + timedelta(1)
    for now in (before, after, before, after):
        p = lab.pipeline(now)
        got = _singles(p, items)
        _same(got, _oracle(p, items), f"singles at {now}")
        batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store)
        _same(batch, _oracle(p, items), f"batch at {now}")
        outcomes = _outcomes(got)
        if now is after:
            assert Outcome.VALID not in outcomes[0::4], "a policy that ended yesterday (local)"
            assert set(outcomes[1::4]) == {Outcome.VALID}, "started today (local)"
        else:
            assert set(outcomes[0::4]) == {Outcome.VALID}
            assert Outcome.VALID not in outcomes[1::4]
        assert Outcome.VALID not in outcomes[2::4]
        assert set(outcomes[3::4]) == {Outcome.VALID}


def test_single_lookups_across_staleness_expiry_and_clock_jumps(lab: Lab) -> None:
    """One pipeline's lookups at moments that change what the snapshot vouches for within a
    day and back: fresh, stale, expired, the clock before the snapshot, fresh again."""
    items = _corpus(lab)
    moments = [
        CREATED + timedelta(hours=1),
        VALID_UNTIL - timedelta(minutes=1),
        VALID_UNTIL + timedelta(minutes=1),  # stale, the same local day (UTC host)
        CREATED + timedelta(hours=2),  # back: fresh again
        CREATED - timedelta(hours=3),  # before the snapshot: its clock is behind
        CREATED + timedelta(hours=2),
        VALID_UNTIL + timedelta(hours=25),  # expired
        CREATED + timedelta(days=8),  # past the hard offline limit
        CREATED + timedelta(hours=2),
    ]
    for now in moments:
        p = lab.pipeline(now)
        got = _singles(p, items)
        _same(got, _oracle(p, items), f"singles at {now}")
        if now < CREATED or now > VALID_UNTIL + timedelta(hours=24):
            assert Outcome.VALID not in _outcomes(got), now


def test_a_delta_between_two_lookups_at_one_moment_is_seen(lab: Lab) -> None:
    """The same clock, the same pipeline: a delta annuls half of the valid ENPs and deletes
    the other half between two rounds of single lookups (and two batches)."""
    now = CREATED + timedelta(hours=1)
    p = lab.pipeline(now)
    items = [_typed(e) for e in _live(lab)]
    first = _singles(p, items)
    _same(first, _oracle(p, items), "before")
    valid = [
        i.payload.decode()
        for i, v in zip(items, first, strict=True)
        if isinstance(v, Verdict) and v.outcome is Outcome.VALID
    ]
    assert len(valid) >= 20
    victims = valid[:20]
    annulled = []
    for enp in victims[::2]:
        rec = lab.store.lookup_enp(enp)
        assert rec is not None and rec.enp == enp  # the live person it names
        annulled.append(dataclasses.replace(rec, status=PolicyStatus.ANNULLED))
    lab.delta(annulled, victims[1::2])
    second = _singles(p, items)
    _same(second, _oracle(p, items), "after the delta")
    got = dict(zip([i.payload.decode() for i in items], second, strict=True))
    for enp in victims:
        v = got[enp]
        assert isinstance(v, Verdict) and v.outcome is not Outcome.VALID, enp
    batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store)
    _same(batch, _oracle(p, items), "batch after the delta")


def test_a_record_sync_between_lookups_changes_nothing_but_is_answered_anew(lab: Lab) -> None:
    """A sync (meta changes, records do not) between lookups: the answers stay the oracle's."""
    now = CREATED + timedelta(hours=1)
    p = lab.pipeline(now)
    items = _corpus(lab)
    _same(_singles(p, items), _oracle(p, items), "before")
    lab.store.record_sync(now - timedelta(minutes=10), now)  # ten minutes of skew
    _same(_singles(p, items), _oracle(p, items), "after the sync")


def test_two_clinics_alternating_share_no_attachment(lab: Lab) -> None:
    """Two pipelines over the same checkers (one service's pipeline replaced for another
    clinic's code): the attachment's ``this_clinic`` follows the pipeline that asks."""
    now = CREATED + timedelta(hours=1)
    base = lab.pipeline(now)
    live = _live(lab)
    clinics = {r["clinic"] for r in lab.reg.live if r["clinic"]}
    assert clinics
    mine = sorted(clinics)[0]
    a = dataclasses.replace(base, this_clinic=mine)
    b = dataclasses.replace(base, this_clinic="999999")
    c = dataclasses.replace(base, this_clinic=None)
    items = [_typed(e) for e in live]
    for p in (a, b, c, a, c, b):
        _same(_singles(p, items), _oracle(p, items), f"singles {p.this_clinic}")
        batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store)
        _same(batch, _oracle(p, items), f"batch {p.this_clinic}")


def test_a_batch_and_single_lookups_on_two_threads(lab: Lab) -> None:
    """The loop thread's lookups and a pool thread's batches at once, at two moments (one
    context each, so the shared ``_groups`` is replaced back and forth under them)."""
    t1 = CREATED + timedelta(hours=1)
    t2 = VALID_UNTIL + timedelta(minutes=5)  # stale: another context
    p1, p2 = lab.pipeline(t1), lab.pipeline(t2)
    items = _corpus(lab)
    want1, want2 = _oracle(p1, items), _oracle(p2, items)
    start = threading.Barrier(2)
    results: dict[str, list[list[Answer]]] = {"single": [], "batch": []}
    errors: list[BaseException] = []

    def singles() -> None:
        try:
            start.wait()
            for _ in range(3):
                results["single"].append(_singles(p1, items))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def batches() -> None:
        try:
            start.wait()
            for _ in range(3):
                got = p2.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store)
                results["batch"].append(got)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=singles), threading.Thread(target=batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results["single"]) == 3 and len(results["batch"]) == 3
    for got in results["single"]:
        _same(got, want1, "thread singles")
    for got in results["batch"]:
        _same(got, want2, "thread batch")


def test_a_replaced_member_is_written_as_its_own_fields(lab: Lab) -> None:
    """A grouped verdict changed with ``dataclasses.replace`` (as a masking or kiosk layer
    might) is written from its own fields, never from its old group's pieces."""
    now = CREATED + timedelta(hours=1)
    p = lab.pipeline(now)
    items = [_typed(e) for e in _live(lab)]
    got = p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store)
    members = [v for v in got if isinstance(v, Verdict) and v._shape is not None]
    assert len(members) > 10
    for v in members[:20]:
        for change in (
            {"message": "другое"},
            {"input_source": "kiosk"},
            {"outcome": Outcome.UNKNOWN},
            {"registry_error": "x"},
            {"checked_at": now + timedelta(seconds=1)},
            {"register": None},
        ):
            w = dataclasses.replace(v, **change)  # type: ignore[arg-type]
            assert w._shape is None
            for masked in (False, True):
                assert w.to_json(masked=masked) == orjson.dumps(w.to_dict(masked=masked))


def test_the_grouped_path_is_what_these_tests_exercise(lab: Lab) -> None:
    """Guard against a vacuous pass: single lookups here do go by group (their verdicts carry
    a shape, the oracle's never), and later lookups of a group are its members."""
    p = lab.pipeline(CREATED + timedelta(hours=1))
    items = [_typed(e) for e in _live(lab)]
    got = _singles(p, items)
    shaped = [v for v in got if isinstance(v, Verdict) and v._shape is not None]
    assert len(shaped) == len(items)
    assert len({id(v._shape) for v in shaped}) < len(items) // 4  # few groups, many members
    assert all(isinstance(v, Verdict) and v._shape is None for v in _oracle(p, items))


def test_a_closed_store_is_not_kept_alive_by_the_group_caches(tmp_path: Path) -> None:
    """A reload drops its old pipeline and closes its store; nothing module-level should keep
    them (``_columnar_status``'s lru_cache and ``_groups``' context hold strong references)."""
    import gc
    import weakref

    reg = generate_register(tmp_path / "reg", persons=20, deltas=0)
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    now = CREATED + timedelta(hours=1)
    p = Pipeline(
        status=SnapshotStatusChecker(store),
        revocation=SnapshotRevocationChecker(store),
        clock=lambda: now,
    )
    p.verify(_typed(reg.live[0]["enp"]), mode=LookupMode.OFFLINE)
    gone = weakref.ref(store)
    store.close()
    del p, store
    gc.collect()
    assert gone() is None, "the old store (and its pipeline's checkers) outlive the reload"


@dataclasses.dataclass
class _DataclassStatus:
    """A StatusChecker port written as a plain dataclass (as tests/test_pipeline.py's
    RegisterStub is): it compares by value, so it has no hash."""

    inner: SnapshotStatusChecker

    def check_status(self, ctx: object) -> object:
        return self.inner.check_status(ctx)  # type: ignore[arg-type]


def test_an_unhashable_checker_never_crashes_an_offline_lookup(lab: Lab) -> None:
    """Any StatusChecker may be plugged in; ``_columnar_status`` is an lru_cache over the
    checkers, so an unhashable one raised TypeError out of ``verify`` / ``verify_many``
    offline (auto still worked). The answer must be the full checks' own."""
    now = CREATED + timedelta(hours=1)
    p = dataclasses.replace(
        lab.pipeline(now), status=_DataclassStatus(SnapshotStatusChecker(lab.store))
    )
    items = [_typed(e) for e in _live(lab)[:10]]
    want = _oracle(p, items)
    _same(_singles(p, items), want, "singles")
    _same(p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store), want, "batch")


def test_random_deltas_clocks_and_sources_interleaved(lab: Lab) -> None:
    _walk(lab, 20)


def test_random_walk_in_a_far_east_zone(lab: Lab, far_east: None) -> None:
    """The same walk with the local day 14 hours ahead of UTC's."""
    _walk(lab, 21)


def _walk(lab: Lab, seed: int) -> None:
    """A seeded walk: deltas that change any field a verdict shows (status, dates, insurer,
    clinic, region code) or delete and re-add records, at clocks around the day's and the
    snapshot's boundaries, with single lookups and batches interleaved from two sources."""
    import random

    rnd = random.Random(seed)
    live = _live(lab)
    pool = live[:60]
    kept: dict[str, RegisterRecord] = {}
    for enp in pool:
        rec = lab.store.lookup_enp(enp)
        assert rec is not None and rec.enp == enp  # the live person it names
        kept[enp] = rec
    statuses = list(PolicyStatus)
    for step in range(24):
        info = lab.store.info()
        assert info.created_at is not None and info.register_valid_until is not None
        created, until = info.created_at, info.register_valid_until
        local = created.astimezone()
        midnight = datetime.combine(
            local.date() + timedelta(days=1), datetime.min.time(), local.tzinfo
        ).astimezone(UTC)
        now = rnd.choice(
            [
                created + timedelta(minutes=rnd.randint(1, 600)),
                midnight - timedelta(seconds=rnd.randint(1, 90)),
                midnight + timedelta(seconds=rnd.randint(0, 90)),
                until + timedelta(minutes=rnd.choice([-2, 2, 60 * 23, 60 * 25])),
                created - timedelta(minutes=rnd.choice([1, 10, 600])),
            ]
        )
        p = lab.pipeline(now)
        items = [_typed(e, rnd.choice(["api:a", "api:b"])) for e in rnd.sample(pool, 30)]
        if rnd.random() < 0.5:
            got = _singles(p, items)
        else:
            got = list(p.verify_many(items, mode=LookupMode.OFFLINE, register=lab.store))
        _same(got, _oracle(p, items), f"step {step} at {now}")
        changed: list[RegisterRecord] = []
        deleted: list[str] = []
        day = now.astimezone().date()
        for enp in rnd.sample(pool, 8):
            if rnd.random() < 0.2:
                deleted.append(enp)
                continue
            rec = kept[enp]
            rec = dataclasses.replace(
                rec,
                status=rnd.choice(statuses),
                status_since=rnd.choice([None, day, day - timedelta(days=3)]),
                start=rnd.choice([None, day, day + timedelta(days=1), day - timedelta(days=9)]),
                end=rnd.choice([None, day, day - timedelta(days=1), day + timedelta(days=1)]),
                smo_ogrn=rnd.choice(["1027739008440", "1027700186062", ""]),
                okato=rnd.choice(["46000", "45000", ""]),
                clinic=rnd.choice(["500001", "500002", None]),
            )
            kept[enp] = rec
            changed.append(rec)
        lab.delta(changed, deleted)
