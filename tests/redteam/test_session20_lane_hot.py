"""Red team, session 20 (lane "hot"): the MIS hot path's newest parts.

``HotLine`` (the per-verification log line written without structlog's machinery),
``SnapshotStore.read_one``/``answering`` (one statement for the record and the change
counter, a thread-local scope for the group's first full check) and the pipeline's ``named``
holder (single lookups' insurers and clinics kept per version of the directory names).
Findings fail on the code as it is; the rest show an attack that held.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import CREATED, generate_register, import_all
from tests.test_batch_columnwise import _per_item
from verifier import log
from verifier.checks.context import CheckContext, LookupMode
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import CredentialInput
from verifier.directories import Directories
from verifier.pipeline import Pipeline
from verifier.service.assembly import DirectoryNames
from verifier.verdict import CheckResult, Verdict

NOW = CREATED + timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[SnapshotStore, list[str], Path]]:
    reg = generate_register(tmp_path / "reg", persons=80, deltas=2, delta_fraction=0.3)
    s = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(s, reg)
    yield s, [r["enp"] for r in reg.live], tmp_path
    s.close()


def _typed(enp: str) -> CredentialInput:
    return CredentialInput(enp.encode("ascii"), source="api:test", manual=True)


def _pipeline(s: SnapshotStore, **kw: object) -> Pipeline:
    kw.setdefault("revocation", SnapshotRevocationChecker(s))
    return Pipeline(
        status=SnapshotStatusChecker(s),
        clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )


# --- SnapshotStore.read_one / lookup_enp -------------------------------------------------


def test_a_number_padded_with_zeros_is_nobodys_record(
    store: tuple[SnapshotStore, list[str], Path],
) -> None:
    """FINDING (low): the integer key makes "0" + ENP (17 digits), "00" + ENP (18) and an
    ENP with a leading zero less that zero (15 digits) all the key of that ENP: a lookup of
    a string that is no ENP gives another number's record (its ``enp`` is not the one asked
    for). Only 16 digits are an ENP."""
    s, live, _ = store
    enp = live[0]
    assert s.lookup_enp(enp) is not None
    aliases = ["0" + enp, "00" + enp]
    zero = next((e for e in live if e.startswith("0")), None)
    if zero is not None:
        aliases.append(zero[1:])
    for alias in aliases:
        assert s.lookup_enp(alias) is None, alias
        assert s.read_one(alias).records == {alias: None}, alias


def test_read_one_after_an_import_between_the_counter_and_the_meta_is_one_state(
    tmp_path: Path,
) -> None:
    """HELD: info() reads the counter, then (another statement) the meta; an import by
    another connection committed between the two leaves a newer meta under the older
    counter. read_one's statement then sees the counter moved and reads both again: the
    meta and the record it gives are of one state, the file's last."""
    reg = generate_register(tmp_path / "reg", persons=80, deltas=2, delta_fraction=0.5)
    first_seq = int(reg.gen.files[0].stem.split("-")[1])
    s = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(s, reg, upto=first_seq)
    before = {r["enp"]: s.lookup_enp(r["enp"]) for r in reg.live}
    other = SnapshotStore(tmp_path / "register.sqlite3")
    real_meta = s._meta
    done: list[int] = []

    def meta_after_an_import(db: sqlite3.Connection | None = None) -> dict[str, str]:
        if not done:
            done.append(1)
            for f in reg.gen.files[1:]:
                other.import_file(f, reg.check)
        return real_meta(db)

    s._local.info = None
    s._meta = meta_after_an_import  # type: ignore[method-assign]
    try:
        s.info()  # the counter of the first state, the meta of the last
    finally:
        s._meta = real_meta  # type: ignore[method-assign]
    assert done
    changed = [e for e, r in before.items() if other.lookup_enp(e) != r]
    assert changed, "the deltas change records"
    for enp in changed:
        read = s.read_one(enp)
        assert read.info == other.info(), enp
        assert read.records == {enp: other.lookup_enp(enp)}, enp
    s.close()
    other.close()


def test_the_answering_scope_ends_with_a_check_that_raises(
    store: tuple[SnapshotStore, list[str], Path],
) -> None:
    """HELD: a checker raising inside verify_typed's scope leaves no scope behind: the next
    lookup on this thread reads the file (a stale scope would answer every later lookup)."""
    s, live, _ = store

    class Boom(SnapshotRevocationChecker):
        def check_revocation(self, ctx: CheckContext) -> CheckResult:
            raise RuntimeError("boom")

    p = _pipeline(s, revocation=Boom(s))
    with pytest.raises(RuntimeError):
        p.verify_typed(live[0], "api:test", mode=LookupMode.OFFLINE)
    assert getattr(s._local, "prefetch", None) is None
    # and inside a batch's scope the single lookup's scope neither replaces nor ends it
    with s.prefetched([live[1]]) as batch:
        with pytest.raises(RuntimeError):
            p.verify_typed(live[1], "api:test", mode=LookupMode.OFFLINE)
        assert s._local.prefetch is batch
    assert getattr(s._local, "prefetch", None) is None


# --- Pipeline.named ----------------------------------------------------------------------


def test_a_copy_for_another_clinic_says_whose_patient_by_its_own_clinic(
    store: tuple[SnapshotStore, list[str], Path],
) -> None:
    """FINDING (low): ``named`` (like ``groups``) is shared by the copies
    ``dataclasses.replace`` makes, keyed by the names' version only; an AttachmentInfo made
    under one ``this_clinic`` answers the copy with another (``this_clinic`` true where the
    copy's clinic is not the patient's). The oracle is the full per-item check."""
    s, live, base = store
    clinics = Counter(r.clinic for e in live if (r := s.lookup_enp(e)) and r.clinic)
    mine = clinics.most_common(1)[0][0]
    directories = Directories(base / "directories.sqlite3")
    try:
        p = _pipeline(s, names=DirectoryNames(directories), this_clinic=mine)
        for enp in live:
            p.verify_typed(enp, "api:test", mode=LookupMode.OFFLINE)
        other = dataclasses.replace(p, this_clinic="999999")
        got = [other.verify_typed(e, "api:test", mode=LookupMode.OFFLINE) for e in live]
        want = _per_item(other, [_typed(e) for e in live])
        for enp, g, w in zip(live, got, want, strict=True):
            assert isinstance(w, Verdict)
            assert g.attachment == w.attachment, enp
    finally:
        directories.close()


# --- HotLine -----------------------------------------------------------------------------


def test_a_hot_line_with_no_stderr_at_all_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """FINDING (medium): started with descriptor 2 closed (``2>&-``), Python's ``sys.stderr``
    is None; ``_Stderr.write`` catches OSError and ValueError only, so ``None.write`` raises
    AttributeError out of every verification (the HTTP answer a 500) — "a log line that
    cannot be written is dropped" does not hold."""
    log.configure(json=True, level="INFO")
    try:
        monkeypatch.setattr(sys, "stderr", None)
        log.HotLine("oms.service", "verified").info(channel="api", outcome="valid")
        log.get_logger("oms.service").info("verified", channel="api")
    finally:
        monkeypatch.undo()
        structlog.reset_defaults()


def test_a_level_raised_through_structlog_silences_the_hot_line_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """FINDING (low): HotLine's "in force" test looks at the processors only; a level raised
    with ``structlog.configure(wrapper_class=...)`` (the processors left as they are) still
    gets every INFO hot line while structlog writes none."""
    log.configure(json=True, level="INFO")
    try:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
        log.get_logger("oms.service").info("verified", channel="api")
        log.HotLine("oms.service", "verified").info(channel="api")
        assert capsys.readouterr().err == ""
    finally:
        structlog.reset_defaults()


@pytest.mark.parametrize(
    "fields",
    [
        {"Enp": "5047000821004979", "who": "a" * 5},
        {
            "policy": 5047000821004979,
            "nested": {"surname": "Иванов", "x": ["ЕНП 5047000821004979"]},
        },
        {"note": ("СНИЛС 112-233-445 95", "5047000821004979"), "dob": "2001-01-01"},
        {"level": "error", "timestamp": "x", "who": None, "n": 2**70},
    ],
)
def test_a_hot_line_masks_and_orders_as_structlog_does(
    capsys: pytest.CaptureFixture[str], fields: dict[str, object]
) -> None:
    """HELD: personal data under odd keys and shapes, an integer past 64 bits, fields named
    like the keys the chain adds: the two lines are one line but for the moment."""
    log.configure(json=True, level="INFO")
    try:
        log.get_logger("oms.service").info("verified", **dict(fields))
        log.HotLine("oms.service", "verified").info(**dict(fields))
        general, hot = capsys.readouterr().err.strip().splitlines()[-2:]
    finally:
        structlog.reset_defaults()
    a, b = json.loads(general), json.loads(hot)
    assert list(a) == list(b)
    a.pop("timestamp")
    b.pop("timestamp")
    assert a == b
    assert "5047000821004979" not in hot and "Иванов" not in hot and "2001-01-01" not in hot
