"""Pipeline.verify_many gives, for every input, exactly what Pipeline.verify gives.

On the demo's real register (every status, aliases, temporary certificates, revoked blanks,
deleted people), its real trust store and directories, with a fixed clock so the whole
Verdict — checked_at included — can be compared with ``==``."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from cache.snapshot_store import SnapshotStore
from verifier.checks.context import LookupMode
from verifier.config import load
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.errors import RecognitionError
from verifier.identifiers import enp_checksum_ok
from verifier.pipeline import Pipeline
from verifier.service.assembly import Assembly, assemble
from verifier.verdict import Reason, Verdict

World = tuple[Assembly, list[dict[str, str]], demo.DemoState]


@pytest.fixture(scope="module")
def demo_parts(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Assembly, list[dict[str, str]], demo.DemoState]]:
    state = demo.ensure_demo(load(None, tmp_path_factory.mktemp("state")))
    parts = assemble(state.cfg)
    with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    yield parts, rows, state
    parts.close()


def _typed(text: str) -> CredentialInput:
    return CredentialInput(text.encode("utf-8"), source="api:test", manual=True)


def _other_checksum(enp: str) -> str:
    for d in "0123456789":
        candidate = enp[:-1] + d
        if candidate != enp and not enp_checksum_ok(candidate):
            return candidate
    raise AssertionError(enp)


def _inputs(rows: list[dict[str, str]], state: demo.DemoState) -> list[CredentialInput]:
    items: list[CredentialInput] = []
    for r in rows:  # every person, deleted ones too: every status the register holds
        items.append(_typed(r["enp"]))
        items.append(_typed(_other_checksum(r["enp"])))
        if r["old_number"]:
            items.append(_typed(r["old_number"]))
        if r["temp_cert_number"]:
            items.append(_typed(r["temp_cert_number"]))
    enp = rows[0]["enp"]
    items += [
        _typed(f"ЕНП {enp}"),  # labelled: recognised, not the plain fast form
        _typed(f" {enp} "),
        _typed(enp),  # twice in one batch
        _typed("7700000000000000"),  # another region
        _typed("5000000000000000"),
        _typed("123456789"),  # a certificate number nobody holds
        _typed("не номер"),  # no credential: RecognitionError in its place
        _typed("1" * 40),
        CredentialInput(enp.encode(), source="scan", manual=False),  # scanned, not typed
    ]
    items += [s[2] for s in demo.demo_samples(state)]  # paper, card, digital, documents…
    return items


def _per_item(p: Pipeline, items: Sequence[CredentialInput], mode: LookupMode) -> list[object]:
    out: list[object] = []
    for it in items:
        try:
            out.append(p.verify(it, mode=mode))
        except RecognitionError as exc:
            out.append(exc)
    return out


def _same(a: Sequence[object], b: Sequence[object]) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if isinstance(x, RecognitionError):
            assert isinstance(y, RecognitionError), i
            assert (type(x), x.code, x.message) == (type(y), y.code, y.message), i
        else:
            assert isinstance(x, Verdict), i
            assert x == y, i


@pytest.mark.parametrize(
    "shift",
    [
        timedelta(0),  # fresh
        timedelta(days=30),  # the snapshot expired: never an answer from it
        timedelta(days=-3),  # the snapshot dated after this computer's clock
    ],
    ids=["fresh", "expired", "clock_behind"],
)
def test_verify_many_is_verify_for_every_input(demo_parts: World, shift: timedelta) -> None:
    parts, rows, state = demo_parts
    now = datetime.now(UTC) + shift
    p = dataclasses.replace(parts.pipeline, clock=lambda: now)
    items = _inputs(rows, state)
    many = p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store)
    _same(many, _per_item(p, items, LookupMode.OFFLINE))
    verdicts = [v for v in many if isinstance(v, Verdict)]
    seen = {r for v in verdicts for r in v.reasons}
    assert len(verdicts) < len(many)  # some inputs were no credential
    if shift == timedelta(0):
        assert {v.outcome.value for v in verdicts} >= {"valid", "invalid", "unknown"}
        assert {Reason.ENP_CHECKSUM, Reason.REGISTER_SUSPENDED, Reason.NOT_IN_SNAPSHOT} <= seen
    elif shift > timedelta(0):
        assert Reason.SNAPSHOT_EXPIRED in seen
        assert all(v.outcome.value != "valid" for v in verdicts)
    else:
        assert Reason.CLOCK_INCONSISTENT in seen
        assert all(v.outcome.value != "valid" for v in verdicts)


def test_verify_many_without_a_batch_store_is_verify(
    demo_parts: World,
) -> None:
    """A store that cannot prefetch (the national store today) is read item by item."""
    parts, rows, state = demo_parts
    now = datetime.now(UTC)
    p = dataclasses.replace(parts.pipeline, clock=lambda: now)
    items = _inputs(rows, state)[:300]
    _same(p.verify_many(items, mode=LookupMode.OFFLINE), _per_item(p, items, LookupMode.OFFLINE))
    _same(
        p.verify_many(items, mode=LookupMode.OFFLINE, register=object()),
        _per_item(p, items, LookupMode.OFFLINE),
    )


@dataclasses.dataclass
class _Scope:
    changed: bool = False


class _ChangingStore:
    """A real store whose batch scope reports that another connection committed meanwhile."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store
        self.scopes = 0

    @contextlib.contextmanager
    def prefetched(self, enps: Iterable[str]) -> Iterator[_Scope]:
        self.scopes += 1
        scope = _Scope()
        with self.store.prefetched(enps):
            yield scope
        scope.changed = True


def test_a_store_changed_during_the_batch_is_verified_again_item_by_item(
    demo_parts: World,
) -> None:
    parts, rows, state = demo_parts
    assert isinstance(parts.store, SnapshotStore)
    now = datetime.now(UTC)
    p = dataclasses.replace(parts.pipeline, clock=lambda: now)
    items = _inputs(rows, state)[:200]
    asked: list[str] = []
    real, real_one = parts.store.lookup_enp, parts.store.read_one

    def counting(enp: str) -> object:
        asked.append(enp)
        return real(enp)

    def counting_one(enp: str) -> object:  # a single offline lookup's one read
        asked.append(enp)
        return real_one(enp)

    changing = _ChangingStore(parts.store)
    parts.store.lookup_enp = counting  # type: ignore[method-assign]
    parts.store.read_one = counting_one  # type: ignore[method-assign]
    try:
        many = p.verify_many(items, mode=LookupMode.OFFLINE, register=changing)
        in_scope = len(asked)
        asked.clear()
        expected = _per_item(p, items, LookupMode.OFFLINE)
        per_item = len(asked)
    finally:
        del parts.store.lookup_enp
        del parts.store.read_one
    _same(many, expected)
    assert changing.scopes == 1
    # The second pass (outside any scope) read each ENP from the file like verify does.
    assert in_scope >= per_item > 0


def test_a_real_commit_during_the_batch_is_noticed(
    demo_parts: World,
) -> None:
    parts, rows, _state = demo_parts
    assert isinstance(parts.store, SnapshotStore)
    store = parts.store
    now = datetime.now(UTC)
    items = [_typed(r["enp"]) for r in rows[:50]]
    passes: list[int] = []

    class Names:
        def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
            if not passes:  # first name asked in the batch: another process syncs now
                SnapshotStore(store.path).record_sync(now - timedelta(seconds=1), now)
            passes.append(1)
            return None

        def clinic_name(self, code: str) -> str | None:
            return None

    p = dataclasses.replace(parts.pipeline, clock=lambda: now, names=Names())
    many = p.verify_many(items, mode=LookupMode.OFFLINE, register=store)
    first_pass = len({r["smo_ogrn"] for r in rows[:50] if r["smo_ogrn"] and not r["deleted"]})
    assert len(passes) > first_pass  # verified again after the commit
    _same(many, _per_item(p, items, LookupMode.OFFLINE))
