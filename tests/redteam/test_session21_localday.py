"""Red team, session 21: the remembered local day (``verifier.checks.context.local_date``, 5c1af77).

Finding (fails on 5c1af77): the day's bounds are ``datetime.combine(day, time.min).astimezone()``.
On a day whose local midnight does not exist (the clocks jump 00:00 → 01:00, as in Cuba,
Chile, Lebanon, Paraguay and POSIX rules ``…/0``) that naive midnight falls into the gap and
Python places it an hour early (the offset after the jump). Once a moment after the jump has
been asked, the remembered day starts an hour before it truly does, and every moment of the
previous day's last local hour reads as the new day: a policy that starts "tomorrow" is in
force an hour early — a false ``valid`` — after the clock was set back, or for a batch whose
moment was taken before the jump. ``moment.astimezone().date()`` (what it replaced) is right
whatever was asked before.

The rest pin what held: the remembered day against ``astimezone()`` in far-east and far-west
zones across midnight, back and forth, a zone changed with ``time.tzset()``, naive moments
and two threads asking at once.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cache.register_model import PolicyStatus
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import (
    Register,
    delta_on,
    generate_register,
    import_all,
)
from verifier.checks import context
from verifier.checks.context import CheckContext, LookupMode, local_date
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import Credential, CredentialInput, CredentialKind
from verifier.pipeline import Pipeline
from verifier.verdict import Outcome

# UTC-5, summer time UTC-4 from the second Wednesday of March at 00:00 local (2026-03-11):
# local 2026-03-11 00:00 … 00:59 never happens; the day begins at 01:00 summer time, 05:00 UTC.
MIDNIGHT_JUMP = "XST5XDT,M3.2.3/0,M11.1.0/1"
JUMP_DAY = date(2026, 3, 11)
AFTER_JUMP = datetime(2026, 3, 11, 5, 30, tzinfo=UTC)  # 01:30 summer time, 11 March
LAST_HOUR = datetime(2026, 3, 11, 4, 30, tzinfo=UTC)  # 23:30 standard time, 10 March


def _zone(tz: str | None) -> None:
    if tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = tz
    time.tzset()


@pytest.fixture
def zone() -> Iterator[type[object]]:
    """Set the process's zone with ``time.tzset()``; put the old one back after."""
    before = os.environ.get("TZ")

    class Zone:
        @staticmethod
        def set(tz: str) -> None:
            _zone(tz)

    try:
        yield Zone
    finally:
        _zone(before)


def _set(zone: type[object], tz: str) -> None:
    zone.set(tz)  # type: ignore[attr-defined]


# -- the finding -----------------------------------------------------------------------------


def test_the_last_hour_before_a_midnight_jump_is_still_the_old_day(zone: type[object]) -> None:
    _set(zone, MIDNIGHT_JUMP)
    assert AFTER_JUMP.astimezone().date() == JUMP_DAY
    assert LAST_HOUR.astimezone().date() == JUMP_DAY - timedelta(days=1)
    assert local_date(AFTER_JUMP) == JUMP_DAY  # remembered: the day of the jump
    assert local_date(LAST_HOUR) == JUMP_DAY - timedelta(days=1)  # 23:30 on 10 March
    ctx = CheckContext(
        credential=Credential(kind=CredentialKind.MANUAL, enp="5012345678901234"),
        now=LAST_HOUR,
        mode=LookupMode.OFFLINE,
    )
    assert ctx.today == JUMP_DAY - timedelta(days=1)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[SnapshotStore, Register, Path]]:
    """A generated register (created 2026-03-10 12:00 UTC, valid 72 h: fresh on both sides
    of the jump) in a real SQLite store."""
    reg = generate_register(tmp_path / "reg", persons=60, deltas=0)
    st = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(st, reg)
    try:
        yield st, reg, tmp_path
    finally:
        st.close()


def _start_on(lab: tuple[SnapshotStore, Register, Path], n: int, start: date) -> list[str]:
    """A delta making ``n`` live people's policies start on ``start``; their ENPs."""
    st, reg, path = lab
    info = st.info()
    assert info.sequence is not None and info.created_at is not None
    records = []
    for row in reg.live[:n]:
        rec = st.lookup_enp(row["enp"])
        assert rec is not None, f"{row['enp']} is in the register"
        records.append(dataclasses.replace(rec, status=PolicyStatus.ACTIVE, start=start, end=None))
    target = delta_on(st, records, path / "delta-start.omssnap")
    st.import_file(target, reg.check)
    return [r.enp for r in records]


def _pipeline(st: SnapshotStore, now: datetime) -> Pipeline:
    return Pipeline(
        status=SnapshotStatusChecker(st),
        revocation=SnapshotRevocationChecker(st),
        clock=lambda: now,
    )


@pytest.mark.parametrize("mode", [LookupMode.OFFLINE, LookupMode.AUTO])  # by group, in full
def test_a_policy_starting_tomorrow_is_not_valid_in_the_last_hour_of_today(
    lab: tuple[SnapshotStore, Register, Path], zone: type[object], mode: LookupMode
) -> None:
    """A lookup after the jump (01:30, 11 March), then the clock set back an hour (23:30,
    10 March): a policy that starts on 11 March is not in force yet."""
    _set(zone, MIDNIGHT_JUMP)
    enps = _start_on(lab, 4, JUMP_DAY)
    item = CredentialInput(enps[0].encode(), source="api:test", manual=True)
    after = _pipeline(lab[0], AFTER_JUMP).verify(item, mode=mode)
    assert after.outcome is Outcome.VALID  # in force on 11 March
    back = _pipeline(lab[0], LAST_HOUR).verify(item, mode=mode)
    assert back.outcome is not Outcome.VALID, "a policy starting tomorrow, valid today"


# -- what held -------------------------------------------------------------------------------

_ZONES = ["Etc/GMT-14", "Etc/GMT+12", "Europe/Moscow", "Asia/Kamchatka", "UTC", MIDNIGHT_JUMP]


@pytest.mark.parametrize("tz", _ZONES)
def test_the_remembered_day_is_astimezones_forward_and_back(zone: type[object], tz: str) -> None:
    """Every 7 minutes over three days around local midnights, forward, backward and
    shuffled: the remembered day is always ``astimezone().date()``."""
    _set(zone, tz)
    base = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    moments = [base + timedelta(minutes=7 * i) for i in range(3 * 24 * 60 // 7)]
    import random

    shuffled = moments[:]
    random.Random(21).shuffle(shuffled)
    for order in (moments, moments[::-1], shuffled):
        for m in order:
            assert local_date(m) == m.astimezone().date(), (tz, m)


def test_a_new_zone_set_with_tzset_is_seen_at_once(zone: type[object]) -> None:
    moment = datetime(2026, 3, 11, 10, 30, tzinfo=UTC)
    _set(zone, "Etc/GMT+12")  # 22:30 on 10 March
    assert local_date(moment) == date(2026, 3, 10)
    _set(zone, "Etc/GMT-14")  # 00:30 on 12 March
    assert local_date(moment) == date(2026, 3, 12)
    _set(zone, "UTC")
    assert local_date(moment) == date(2026, 3, 11)
    _set(zone, "Etc/GMT+12")  # the same zone again: a new tzname, asked anew
    assert local_date(moment) == date(2026, 3, 10)


def test_midnight_in_utc_plus_14_and_utc_minus_12(zone: type[object]) -> None:
    _set(zone, "Etc/GMT-14")
    before = datetime(2026, 3, 11, 9, 59, 59, 999999, tzinfo=UTC)  # 23:59:59.999999 local
    at = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)  # 00:00 local, 12 March
    for _ in range(2):
        assert local_date(before) == date(2026, 3, 11)
        assert local_date(at) == date(2026, 3, 12)
    _set(zone, "Etc/GMT+12")
    before = datetime(2026, 3, 12, 11, 59, 59, 999999, tzinfo=UTC)  # 23:59:59.999999, 11 March
    at = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
    for _ in range(2):
        assert local_date(before) == date(2026, 3, 11)
        assert local_date(at) == date(2026, 3, 12)


def test_a_naive_moment_is_its_own_wall_date(zone: type[object]) -> None:
    _set(zone, "Etc/GMT-14")
    local_date(datetime(2026, 3, 11, 10, 0, tzinfo=UTC))  # something remembered
    for naive in (datetime(2026, 3, 11, 23, 59), datetime(2026, 3, 12, 0, 0), datetime(2001, 1, 1)):
        assert local_date(naive) == naive.date() == naive.astimezone().date()


def test_two_threads_on_two_days_each_see_their_own(zone: type[object]) -> None:
    """Two threads asking for moments of two local days in turn (each replacing what the
    other remembered): never the other's day."""
    _set(zone, "Etc/GMT-14")
    days = {
        datetime(2026, 3, 11, 9, 59, 59, tzinfo=UTC): date(2026, 3, 11),
        datetime(2026, 3, 11, 10, 0, 1, tzinfo=UTC): date(2026, 3, 12),
    }
    wrong: list[tuple[datetime, date]] = []
    start = threading.Barrier(2)

    def ask(moments: list[datetime]) -> None:
        start.wait()
        for _ in range(20000):
            for m in moments:
                got = local_date(m)
                if got != days[m]:
                    wrong.append((m, got))

    a, b = list(days), list(days)[::-1]
    threads = [threading.Thread(target=ask, args=(a,)), threading.Thread(target=ask, args=(b,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, wrong[:3]
    assert context._local_day  # the day is remembered (what is pinned here is its use)
