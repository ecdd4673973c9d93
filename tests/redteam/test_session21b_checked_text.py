"""Red team, session 21b: the checked moment written once for the audit row and the JSON
(``verdict.checked_text``, shared by ``audit._iso_utc`` and ``VerdictShape.render``, 676f292).

What held, pinned so it can fail: the one-slot memo is keyed by the moment's identity, so
two verdicts with equal but distinct moments in different zones each write their own zone in
their JSON and one UTC text in the audit; a non-UTC ``checked_at`` is stored converted to UTC
(the memo never hands the audit the JSON's local text, in either order); the audit writer
thread and threads rendering JSON at once never swap texts; ``--since``/``--until`` still
cut at the right row around whole seconds and microseconds, whatever zone the bounds are in.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from verifier.credential import Credential, CredentialKind
from verifier.service.audit import AuditLog
from verifier.verdict import AnswerSource, Outcome, Verdict, VerdictShape, checked_text

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))
ENP = "5047110881001326"


def _verdict(at: datetime, enp: str = ENP) -> Verdict:
    return Verdict(
        outcome=Outcome.UNKNOWN,
        reasons=(),
        message="",
        credential=Credential(kind=CredentialKind.MANUAL, enp=enp),
        checks=(),
        source=AnswerSource.NONE,
        checked_at=at,
    )


def _shaped(like: Verdict, at: datetime) -> Verdict:
    v = dataclasses.replace(like, checked_at=at)
    object.__setattr__(v, "_shape", like._shape)
    return v


def _stored(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT at FROM audit ORDER BY id")]


def test_equal_moments_in_two_zones_write_their_own_zone_and_one_utc_row(
    tmp_path: Path,
) -> None:
    utc = T0 + timedelta(microseconds=7)
    msk = utc.astimezone(MSK)
    moscow = utc.astimezone(ZoneInfo("Europe/Moscow"))
    assert utc == msk == moscow
    like = _verdict(utc)
    object.__setattr__(like, "_shape", VerdictShape(like))
    log = AuditLog(tmp_path / "audit.sqlite3")
    try:
        for at in (utc, msk, moscow, utc, msk):
            v = _shaped(like, at)
            shape = v._shape
            assert shape is not None and shape.render(v, False) is not None  # the shaped path
            log.record(v, who="desk", channel="api")
            doc = orjson.loads(v.to_json())
            assert doc == orjson.loads(orjson.dumps(v.to_dict()))
            assert doc["checked_at"] == at.isoformat()
            log.record(v, who="desk", channel="api")  # after the JSON: the memo holds `at`
    finally:
        log.close()
    assert set(_stored(tmp_path / "audit.sqlite3")) == {utc.isoformat()}


def test_a_non_utc_moment_is_stored_as_utc_text_in_either_order(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite3")
    at = datetime(2026, 12, 1, 23, 30, 0, 5, tzinfo=ZoneInfo("Asia/Kamchatka"))
    try:
        v = _verdict(at)
        assert checked_text(at) == at.isoformat()  # the JSON's text in the memo first
        log.record(v, who="desk", channel="api")
        log.record(v, who="desk", channel="api")
        assert checked_text(at) == at.isoformat()
    finally:
        log.close()
    assert _stored(tmp_path / "audit.sqlite3") == [at.astimezone(UTC).isoformat()] * 2
    assert _stored(tmp_path / "audit.sqlite3")[0].endswith("+00:00")


def test_the_writer_thread_and_renderers_never_swap_texts(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite3", commit_rows=7)
    moments = [T0 + timedelta(seconds=i, microseconds=i % 3) for i in range(400)]
    gate = threading.Barrier(4)
    wrong: list[tuple[str, str]] = []

    def render(offset: int) -> None:
        gate.wait()
        for i in range(offset, len(moments), 3):
            at = moments[i] if i % 2 else moments[i].astimezone(MSK)
            text = checked_text(at)
            if text != at.isoformat():
                wrong.append((text, at.isoformat()))

    threads = [threading.Thread(target=render, args=(n,)) for n in range(3)]
    try:
        for t in threads:
            t.start()
        gate.wait()
        for at in moments:
            log.submit(_verdict(at), who="mis", channel="api")
        for t in threads:
            t.join()
        assert log.flush(30.0)
    finally:
        log.close()
    assert wrong == []
    assert _stored(tmp_path / "audit.sqlite3") == [m.isoformat() for m in moments]


def test_since_and_until_cut_at_the_right_row(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite3")
    whole = T0 + timedelta(seconds=5)
    moments = [
        whole - timedelta(microseconds=1),
        whole,  # written without a fraction: "…:05+00:00"
        whole + timedelta(microseconds=1),
        whole + timedelta(seconds=1),
    ]
    try:
        for at in moments:
            log.record(_verdict(at.astimezone(MSK) if at is whole else at), who="d", channel="c")

        def ats(since: datetime | None, until: datetime | None) -> list[str]:
            return sorted(e.at for e in log.query(since=since, until=until, limit=None))

        iso = [m.isoformat() for m in moments]
        assert ats(whole, None) == iso[1:]
        assert ats(whole.astimezone(MSK), None) == iso[1:]
        assert ats(None, whole) == iso[:1]
        assert ats(None, whole.astimezone(ZoneInfo("America/Los_Angeles"))) == iso[:1]
        assert ats(whole + timedelta(microseconds=1), None) == iso[2:]
        assert ats(whole, whole + timedelta(microseconds=1)) == iso[1:2]
        assert ats(whole - timedelta(microseconds=1), whole + timedelta(seconds=1)) == iso[:3]
        assert [e.at for e in log.iter_range(since=whole, until=None)] == iso[1:]
    finally:
        log.close()
