"""The batch's column-wise path gives every item exactly what ``Pipeline.verify`` gives.

``Pipeline.verify_many`` offline over the snapshot store checks typed ENPs by group (the
verdict of the first ENP of a group is the pipeline's own; the others are made from it) and
writes their JSON from shared pieces (``Verdict.to_json``). Here every person of the demo
register (800 people: every status, policy type, alias and revoked carrier the generator
makes), typos, old numbers, temporary certificates, labelled and scanned inputs and
documents are verified both ways at the fixed clocks of the golden test (fresh, expired,
snapshot dated after the clock) and compared as values and as JSON bytes, masked and not;
then across batches at changing clocks and sources, with a commit landing inside a batch,
and with JSON pieces that must not be used.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import CREATED as REG_CREATED
from tests.cache.helpers import (
    annulling_delta,
    generate_register,
    import_all,
)
from tests.test_golden_verdicts import CLOCKS, build_world
from tests.test_pipeline_many import _inputs, _typed
from verifier import pipeline as pipeline_module
from verifier.checks.context import LookupMode
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.errors import InputError, RecognitionError
from verifier.identifiers import luhn_check_digit
from verifier.pipeline import Pipeline
from verifier.service.assembly import Assembly
from verifier.service.core import Service
from verifier.verdict import Outcome, Reason, Verdict

World = tuple[Assembly, list[dict[str, str]], demo.DemoState]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    parts, rows, state = build_world(tmp_path_factory.mktemp("columns"))
    yield parts, rows, state
    parts.close()


def _bad_facet() -> str:
    """The right check digit over a date facet no calendar has (month 00)."""
    payload = "50" + "99999999" + "00001"
    return payload + str(luhn_check_digit(payload))


def _corpus(rows: list[dict[str, str]], state: demo.DemoState) -> list[CredentialInput]:
    """Every person (live and deleted), their typos, aliases, the demo's samples and odd
    inputs, then more ENPs from other sources and shapes the column path must tell apart."""
    items = _inputs(rows, state)
    live = [r["enp"] for r in rows if not r["deleted"]]
    items += [
        _typed(_bad_facet()),
        _typed("7700000000000000"),
        _typed("0000000000000000"),
        CredentialInput(live[0].encode(), source="api:test", manual=True, symbology="card"),
        CredentialInput(live[1].encode(), source="api:other", manual=True),
        CredentialInput(live[2].encode(), source="api:other", manual=True),
        CredentialInput(live[1].encode(), source="api:test", manual=True),
    ]
    return items


def _per_item(p: Pipeline, items: Sequence[CredentialInput]) -> list[Verdict | RecognitionError]:
    """The oracle: every item through the full checks, one by one — with the grouping that a
    single offline lookup also uses switched off, so the comparison is never of a path with
    itself."""
    out: list[Verdict | RecognitionError] = []
    real = pipeline_module._columnar_status
    pipeline_module._columnar_status = lambda *_a: None  # type: ignore[assignment]
    try:
        for item in items:
            try:
                out.append(p.verify(item, mode=LookupMode.OFFLINE))
            except RecognitionError as exc:
                out.append(exc)
    finally:
        pipeline_module._columnar_status = real
    return out


def _same(
    batch: Sequence[Verdict | RecognitionError], single: Sequence[Verdict | RecognitionError]
) -> None:
    """Equal as values, and the batch's JSON bytes are the single verdict's, both ways."""
    assert len(batch) == len(single)
    for i, (b, s) in enumerate(zip(batch, single, strict=True)):
        if isinstance(s, RecognitionError):
            assert isinstance(b, RecognitionError), i
            assert (type(b), b.code, b.message) == (type(s), s.code, s.message), i
            continue
        assert isinstance(b, Verdict), i
        assert b == s, i
        for masked in (False, True):
            want = orjson.dumps(s.to_dict(masked=masked))
            assert b.to_json(masked=masked) == want, (i, masked)
            assert b.to_dict(masked=masked) == s.to_dict(masked=masked), (i, masked)
            assert s.to_json(masked=masked) == want, (i, masked)


def _shaped(answers: Sequence[Verdict | RecognitionError]) -> int:
    return sum(1 for a in answers if isinstance(a, Verdict) and a._shape is not None)


def _at(parts: Assembly, now: datetime) -> Pipeline:
    return dataclasses.replace(parts.pipeline, clock=lambda: now)


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_every_single_offline_lookup_is_answered_as_the_full_checks_answer(
    world: World, clock: str
) -> None:
    """``verify`` of one typed ENP offline (the MIS's GET) goes by its group too, the groups
    carried from one lookup to the next: each answer is the full checks' own."""
    parts, rows, state = world
    p = _at(parts, CLOCKS[clock])
    items = _corpus(rows, state)
    single: list[Verdict | RecognitionError] = []
    for item in items:
        try:
            single.append(p.verify(item, mode=LookupMode.OFFLINE))
        except RecognitionError as exc:
            single.append(exc)
    _same(single, _per_item(p, items))
    typed = sum(1 for it in items if pipeline_module.typed_enp(it) and it.symbology is None)
    assert _shaped(single) >= typed  # the group path answered them


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_every_person_in_a_batch_is_answered_as_verify_answers(world: World, clock: str) -> None:
    parts, rows, state = world
    p = _at(parts, CLOCKS[clock])
    items = _corpus(rows, state)
    batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store)
    _same(batch, _per_item(p, items))
    # The column path did answer the typed ENPs (not a fallback to verify for each).
    typed = sum(1 for it in items if pipeline_module.typed_enp(it) and it.symbology is None)
    assert _shaped(batch) >= typed > 2 * len(rows)
    verdicts = [v for v in batch if isinstance(v, Verdict)]
    if clock == "fresh":
        # Every outcome a snapshot can give (not_insured is the online registry's word only).
        assert {o for o in Outcome} - {v.outcome for v in verdicts} == {Outcome.NOT_INSURED}
    else:
        assert all(v.outcome is not Outcome.VALID for v in verdicts)


def test_batches_at_other_moments_and_sources_share_nothing_stale(world: World) -> None:
    """Groups are kept between batches: each batch, at its own moment (fresh, later the same
    day, the next days, expired, the clock behind, fresh again) and with another caller,
    still gets exactly what verify says at that moment."""
    parts, rows, state = world
    items = _corpus(rows, state)[::3]
    fresh = CLOCKS["fresh"]
    valid_until = parts.store.info().register_valid_until
    assert valid_until is not None and valid_until > CLOCKS["fresh"]  # fresh is inside it
    moments = [
        fresh,
        fresh + timedelta(hours=5),
        fresh + timedelta(days=1),
        # Fresh, then stale within the hour (the same day, the same snapshot meta); stale,
        # then past the grace: the snapshot's state alone changes what the checks say.
        valid_until - timedelta(minutes=30),
        valid_until + timedelta(minutes=30),
        valid_until + timedelta(hours=23, minutes=59),
        valid_until + timedelta(days=1, minutes=1),
        CLOCKS["expired"],
        CLOCKS["clock_behind"],
        fresh,
    ]
    for n, now in enumerate(moments):
        source = "api:other" if n == len(moments) - 2 else "api:test"
        batch_items = [dataclasses.replace(it, source=source) for it in items]
        p = _at(parts, now)
        _same(
            p.verify_many(batch_items, mode=LookupMode.OFFLINE, register=parts.store),
            _per_item(p, batch_items),
        )


def test_a_batch_is_checked_as_of_one_moment(world: World) -> None:
    """A clock that moves on every reading: the batch reads it once, and every verdict is
    what verify says at that reading."""
    parts, rows, state = world
    ticks = itertools.count()

    def clock() -> datetime:
        return CLOCKS["fresh"] + timedelta(minutes=next(ticks))

    items = _corpus(rows, state)[:200]
    p = dataclasses.replace(parts.pipeline, clock=clock)
    batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store)
    moments = {v.checked_at for v in batch if isinstance(v, Verdict)}
    assert moments == {CLOCKS["fresh"]}
    _same(batch, _per_item(_at(parts, CLOCKS["fresh"]), items))


def test_the_service_batch_mixes_unreadable_items_in_place(world: World) -> None:
    """What the route hands over: inputs and the items it could not read (non-strings,
    empty, too long), each answered in its place."""
    parts, rows, state = world
    p = _at(parts, CLOCKS["fresh"])
    items = _corpus(rows, state)[:300]
    mixed: list[CredentialInput | InputError] = []
    for i, item in enumerate(items):
        mixed.append(item)
        if i % 7 == 0:
            mixed.append(InputError("элемент пакета — не текст", code="bad_type"))
    answers = Service._batch_offline(p, parts.store, mixed)
    assert {a.checked_at for a in answers} == {CLOCKS["fresh"]}  # one moment, for all
    single = iter(_per_item(p, items))
    for entry, answer in zip(mixed, answers, strict=True):
        if isinstance(entry, InputError):
            assert answer.outcome is Outcome.UNKNOWN and answer.reasons == (Reason.UNRECOGNIZED,)
            continue
        want = next(single)
        if isinstance(want, RecognitionError):
            assert Reason.UNRECOGNIZED in answer.reasons
            continue
        assert answer == want
        assert answer.to_json() == orjson.dumps(want.to_dict())


def test_json_pieces_are_never_used_for_a_verdict_they_were_not_cut_for(world: World) -> None:
    parts, rows, _state = world
    live = [r["enp"] for r in rows if not r["deleted"]]
    # An input source that is the stand-in for the ENP itself: the cut is refused, the
    # verdicts are written in full and are still the single lookup's.
    source = "\ue000oms-enp\ue000"
    items = [CredentialInput(e.encode(), source=source, manual=True) for e in live[:50]]
    p = _at(parts, CLOCKS["fresh"])
    batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store)
    _same(batch, _per_item(p, items))
    first = batch[0]
    assert isinstance(first, Verdict) and first._shape is not None
    assert first._shape.render(first, False) is None
    # Another group's shape on a verdict: refused by fits(), written in full.
    items = [_typed(e) for e in live[:200]]
    batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store)
    verdicts = [v for v in batch if isinstance(v, Verdict)]
    a = verdicts[0]
    b = next(v for v in verdicts if v.checks is not a.checks)
    assert a._shape is not None and b._shape is not a._shape
    object.__setattr__(b, "_shape", a._shape)
    assert a._shape.render(b, False) is None
    assert b.to_json() == orjson.dumps(b.to_dict())
    # A changed copy never keeps its shape.
    changed = dataclasses.replace(a, message="другое")
    assert changed._shape is None
    assert changed.to_json() == orjson.dumps(changed.to_dict())


# --- a commit inside the batch ---------------------------------------------------------------

NOW = REG_CREATED + timedelta(hours=1)


class _CommitOnFirstName:
    """A name book that lands a commit when the batch first asks for a name (inside the
    prefetch scope, between the read of the records and the verdicts made from them)."""

    def __init__(self, act: Callable[[], object]) -> None:
        self.act, self.fired = act, 0

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        if not self.fired:
            self.fired += 1
            self.act()
        return None

    def clinic_name(self, code: str) -> str | None:
        return None


def test_a_commit_inside_a_column_batch_is_answered_after_it(tmp_path: Path) -> None:
    reg = generate_register(tmp_path / "reg", persons=300, deltas=0)
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    p = Pipeline(
        status=SnapshotStatusChecker(store),
        revocation=SnapshotRevocationChecker(store),
        clock=lambda: NOW,
    )
    items = [_typed(r["enp"]) for r in reg.live]
    before = p.verify_many(items, mode=LookupMode.OFFLINE, register=store)  # groups kept
    valid = [
        item.payload.decode()
        for item, v in zip(items, before, strict=True)
        if isinstance(v, Verdict) and v.outcome is Outcome.VALID
    ]
    assert len(valid) >= 40
    info = store.info()
    assert info.sequence is not None
    victims = valid[:20]
    delta = annulling_delta(
        store, victims, tmp_path / "delta.omssnap", REG_CREATED + timedelta(minutes=30)
    )
    names = _CommitOnFirstName(lambda: store.import_file(delta, reg.check))
    columns: list[int] = []
    real = pipeline_module._TypedColumns.typed

    def counted(self: pipeline_module._TypedColumns, enp: str, source: str) -> Verdict:
        if not self.single:  # the batch's prefetched pass, not the redo's single lookups
            columns.append(1)
        return real(self, enp, source)

    pipeline_module._TypedColumns.typed = counted  # type: ignore[method-assign]
    try:
        batch = dataclasses.replace(p, names=names).verify_many(
            items, mode=LookupMode.OFFLINE, register=store
        )
    finally:
        pipeline_module._TypedColumns.typed = real  # type: ignore[method-assign]
    assert names.fired == 1 and store.info().sequence == info.sequence + 1
    assert len(columns) == len(items)  # the first pass went column-wise, then was redone
    got = dict(zip([i.payload.decode() for i in items], batch, strict=True))
    for n, enp in enumerate(victims):
        v = got[enp]
        assert isinstance(v, Verdict)
        if n % 2 == 0:
            assert v.outcome is Outcome.ANNULLED, enp
        else:
            assert v.outcome is Outcome.UNKNOWN and Reason.NOT_IN_SNAPSHOT in v.reasons, enp
    _same(batch, _per_item(p, items))
    # The next batch (new snapshot meta: new groups) is the store as it is now, too.
    later = dataclasses.replace(p, clock=lambda: NOW + timedelta(minutes=1))
    _same(
        later.verify_many(items, mode=LookupMode.OFFLINE, register=store),
        _per_item(later, items),
    )


def test_the_first_clock_reading_is_the_batchs_even_when_redone(tmp_path: Path) -> None:
    """Redone after a commit, the batch reads the clock again: the store as it is now, at
    the moment it is read."""
    reg = generate_register(tmp_path / "reg", persons=60, deltas=0)
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    moments = iter([NOW, NOW + timedelta(seconds=5)])
    p = Pipeline(
        status=SnapshotStatusChecker(store),
        revocation=SnapshotRevocationChecker(store),
        clock=lambda: next(moments),
    )
    names = _CommitOnFirstName(lambda: SnapshotStore(store.path).record_sync(NOW, NOW))
    items = [_typed(r["enp"]) for r in reg.live]
    batch = dataclasses.replace(p, names=names).verify_many(
        items, mode=LookupMode.OFFLINE, register=store
    )
    assert names.fired == 1
    assert {v.checked_at for v in batch if isinstance(v, Verdict)} == {NOW + timedelta(seconds=5)}
    fixed = dataclasses.replace(p, clock=lambda: NOW + timedelta(seconds=5))
    _same(batch, _per_item(fixed, items))


def test_answers_are_never_valid_when_the_snapshot_cannot_vouch(world: World) -> None:
    """No false valid: at the expired and clock-behind moments not one item of a batch of
    every person comes out valid, through the column path."""
    parts, rows, state = world
    items = _corpus(rows, state)
    for clock in ("expired", "clock_behind"):
        p = _at(parts, CLOCKS[clock])
        batch = p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store)
        assert _shaped(batch) > len(rows)
        assert not [v for v in batch if isinstance(v, Verdict) and v.outcome is Outcome.VALID]
