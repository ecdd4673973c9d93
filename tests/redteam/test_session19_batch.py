"""Red team, session 19: the batch path (``Pipeline.verify_many`` over ``SnapshotStore``'s
prefetch scope and its ``info()`` cache keyed on ``PRAGMA data_version``).

The attack: make a batch answer from the store as it was before an import that annulled or
deleted people — the import committed by this process's writer connection mid-batch, by
another process, or by another thread while this thread's scope is open — or make the info
cache keep answering "fresh" once the clock has passed the snapshot's valid-until. Each test
asserts the protection that stops it; removing the re-verification on ``changed``, sharing the
scope between threads, or caching a freshness decision would turn a verdict here ``valid``.

Real parts only: the registry generator's signed register, a delta written by the real writer
and signed with the same GOST key, real SQLite (a second process is a real ``python``)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import (
    CREATED,
    SEED,
    Register,
    annulling_delta,
    generate_register,
    import_all,
)
from tests.test_batch_columnwise import _per_item  # the full checks, grouping off
from tests.test_pipeline_many import _same
from verifier.checks.context import LookupMode
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import CredentialInput
from verifier.errors import RecognitionError
from verifier.pipeline import Pipeline
from verifier.verdict import Outcome, Reason, Verdict

ROOT = Path(__file__).resolve().parents[2]
NOW = CREATED + timedelta(hours=1)  # the generated register is fresh at this clock


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Register:
    return generate_register(tmp_path_factory.mktemp("s19reg"), persons=400, deltas=1)


@dataclasses.dataclass
class Desk:
    reg: Register
    store: SnapshotStore
    victims: list[str]  # in force now; the hostile delta annuls half and deletes half
    bystanders: list[str]  # in force now, untouched by the delta
    delta: Path

    def pipeline(self, now: datetime = NOW, names: object | None = None) -> Pipeline:
        p = Pipeline(
            status=SnapshotStatusChecker(self.store),
            revocation=SnapshotRevocationChecker(self.store),
            clock=lambda: now,
        )
        return p if names is None else dataclasses.replace(p, names=names)  # type: ignore[arg-type]


def _typed(enp: str) -> CredentialInput:
    return CredentialInput(enp.encode(), source="api:redteam", manual=True)


@pytest.fixture
def desk(reg: Register, tmp_path: Path) -> Desk:
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    info = store.info()
    assert info.sequence is not None
    p = Pipeline(
        status=SnapshotStatusChecker(store),
        revocation=SnapshotRevocationChecker(store),
        clock=lambda: NOW,
    )
    valid = [
        r["enp"]
        for r in reg.live
        if p.verify(_typed(r["enp"]), mode=LookupMode.OFFLINE).outcome is Outcome.VALID
    ]
    assert len(valid) >= 40
    victims, bystanders = valid[10:30], valid[:10]
    delta = annulling_delta(
        store, victims, tmp_path / "hostile-delta.omssnap", CREATED + timedelta(minutes=30)
    )
    return Desk(reg, store, victims, bystanders, delta)


def _outcomes(answers: Sequence[Verdict | RecognitionError]) -> list[str]:
    return [a.outcome.value if isinstance(a, Verdict) else f"!{a.code}" for a in answers]


class _ImportOnFirstName:
    """Directory names: asked during the first verdict of the batch, when the scope is open.
    That is when the import lands (``act``), exactly between the prefetch and the verdicts
    that would read the prefetched, now stale, records."""

    def __init__(self, act: Callable[[], object]) -> None:
        self.act = act
        self.fired = 0

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        if not self.fired:
            self.fired += 1
            self.act()
        return None

    def clinic_name(self, code: str) -> str | None:
        return None


def _assert_after_import(desk: Desk, answers: Sequence[Verdict | RecognitionError]) -> None:
    n = len(desk.bystanders)
    got = dict(zip(desk.victims, answers[n:], strict=True))
    for i, enp in enumerate(desk.victims):
        v = got[enp]
        assert isinstance(v, Verdict)
        if i % 2 == 0:
            assert v.outcome is Outcome.ANNULLED, (enp, v.outcome, v.reasons)
        else:
            assert v.outcome is Outcome.UNKNOWN and Reason.NOT_IN_SNAPSHOT in v.reasons, enp
    assert all(isinstance(v, Verdict) and v.outcome is Outcome.VALID for v in answers[:n]), (
        _outcomes(answers[:n])
    )


def test_import_by_this_process_writer_mid_batch_is_not_answered_stale(desk: Desk) -> None:
    """The daemon's own sync (the same ``SnapshotStore``, its writer connection) applies a
    delta while a batch is inside its prefetch scope: nobody it annulled may come out valid."""
    names = _ImportOnFirstName(lambda: desk.store.import_file(desk.delta, desk.reg.check))
    p = desk.pipeline(names=names)
    items = [_typed(e) for e in desk.bystanders + desk.victims]
    many = p.verify_many(items, mode=LookupMode.OFFLINE, register=desk.store)
    assert names.fired == 1 and desk.store.info().sequence is not None
    _assert_after_import(desk, many)
    _same(many, _per_item(desk.pipeline(), items))


def test_import_by_another_process_mid_batch_is_not_answered_stale(desk: Desk) -> None:
    """``oms-verifier snapshot import`` in another process while the batch runs."""
    code = (
        "import sys\n"
        "from cache.snapshot_store import SnapshotStore\n"
        "from tests.cache.helpers import key_checker, demo_key\n"
        f"SnapshotStore(sys.argv[1]).import_file(sys.argv[2], "
        f"key_checker(demo_key({SEED}).public_key()))\n"
    )

    def other_process() -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-c", code, str(desk.store.path), str(desk.delta)]
        subprocess.run(argv, cwd=ROOT, env=env, check=True, timeout=120)

    names = _ImportOnFirstName(other_process)
    p = desk.pipeline(names=names)
    items = [_typed(e) for e in desk.bystanders + desk.victims]
    many = p.verify_many(items, mode=LookupMode.OFFLINE, register=desk.store)
    assert names.fired == 1
    _assert_after_import(desk, many)


def test_another_threads_scope_never_answers_for_this_thread(desk: Desk) -> None:
    """Thread A holds a batch scope (the store before the delta); thread B imports and then
    verifies through the same pipeline and store: B sees the delta, and A's batch, noticing
    the commit, ends with the same answers."""
    seen_by_b: list[Verdict | RecognitionError] = []
    errors: list[BaseException] = []

    def thread_b() -> None:
        try:
            desk.store.import_file(desk.delta, desk.reg.check)
            seen_by_b.extend(_per_item(desk.pipeline(), [_typed(e) for e in desk.victims]))
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    def act() -> None:
        t = threading.Thread(target=thread_b)
        t.start()
        t.join(120)

    p = desk.pipeline(names=_ImportOnFirstName(act))
    items = [_typed(e) for e in desk.bystanders + desk.victims]
    many = p.verify_many(items, mode=LookupMode.OFFLINE, register=desk.store)
    assert not errors
    assert _outcomes(seen_by_b) == _outcomes(many[len(desk.bystanders) :])
    assert Outcome.VALID.value not in _outcomes(seen_by_b)
    _assert_after_import(desk, many)


def test_info_cache_does_not_keep_an_expired_snapshot_fresh(desk: Desk) -> None:
    """Nothing commits (``data_version`` stays, the cached ``StoreInfo`` is reused), the clock
    moves past valid-until and the grace: freshness is judged at the verdict's clock."""
    enp = desk.bystanders[0]
    cached = desk.store.info()
    assert desk.pipeline().verify(_typed(enp), mode=LookupMode.OFFLINE).outcome is Outcome.VALID
    assert cached.register_valid_until is not None
    later = cached.register_valid_until + timedelta(days=30)
    for v in [
        desk.pipeline(later).verify(_typed(enp), mode=LookupMode.OFFLINE),
        *desk.pipeline(later).verify_many(
            [_typed(e) for e in desk.bystanders], mode=LookupMode.OFFLINE, register=desk.store
        ),
    ]:
        assert isinstance(v, Verdict)
        assert v.outcome is Outcome.UNKNOWN and Reason.SNAPSHOT_EXPIRED in v.reasons
    assert desk.store.info() is cached  # the cache was in use all along


@pytest.mark.parametrize(
    "odd",
    [
        "arabic_indic",
        "fullwidth",
        "underscore",
        "plus",
        "seventeen",
        "eighteen",
        "leading_zero",
        "region_00",
        "duplicate",
    ],
)
def test_odd_enps_in_a_batch_answer_what_verify_answers(desk: Desk, odd: str) -> None:
    """``int()`` takes non-ASCII digits, ``_`` and ``+``; a batch must not turn any of them
    into a register answer for the plain ENP (the prefetch keys only 16 ASCII digits)."""
    enp = desk.bystanders[0]
    forms = {
        "arabic_indic": enp.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        "fullwidth": enp.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "underscore": enp[:2] + "_" + enp[2:],
        "plus": "+" + enp,
        "seventeen": enp + "0",
        "eighteen": "00" + enp,
        "leading_zero": "00" + enp[2:],
        "region_00": "0000000000000000",
        "duplicate": enp,
    }
    items = [_typed(enp), _typed(forms[odd]), _typed(enp)]
    p = desk.pipeline()
    many = p.verify_many(items, mode=LookupMode.OFFLINE, register=desk.store)
    _same(many, _per_item(p, items))
    assert isinstance(many[0], Verdict) and many[0].outcome is Outcome.VALID
    if odd != "duplicate":
        assert not (isinstance(many[1], Verdict) and many[1].outcome is Outcome.VALID), odd
