"""What every check sees: the credential, the moment of the check (injected, never read from
the wall clock inside a check, so tests and replays are deterministic) and the caller's wishes
about where the answer may come from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from enum import StrEnum

from verifier.credential import Credential


class LookupMode(StrEnum):
    OFFLINE = "offline"  # the local snapshot only
    ONLINE = "online"  # the online registry only
    AUTO = "auto"  # snapshot first, registry when it cannot answer (registry first if fresh)


@dataclass(frozen=True, slots=True)
class CheckContext:
    credential: Credential
    now: datetime  # timezone-aware
    mode: LookupMode = LookupMode.AUTO
    fresh: bool = False  # the caller wants the registry's own, current answer

    @property
    def today(self) -> date:
        """The local calendar date: policies expire by the clinic's calendar."""
        return local_date(self.now)


_local_day: list[tuple[datetime, datetime, date, object]] = []  # [from, until), date, zone
_TICK = timedelta(microseconds=1)


def local_date(moment: datetime) -> date:
    """``moment.astimezone().date()``: the date on this machine's calendar, remembered for
    the local day it falls in (asked by every lookup; converting is a call to the C
    library's ``localtime``). The day's bounds are its local midnights as the C library
    places them, so a clock moved back or on simply asks again, and so does a new zone set
    with ``time.tzset()`` (it makes a new ``time.tzname``). A day is remembered only when
    its bounds are exactly its first instant and the next day's: a midnight inside a jump of
    the clocks (00:00 → 01:00 in some zones) is placed an hour off, and such a day is asked
    every time (tests/redteam/test_session21_localday.py)."""
    if moment.tzinfo is None:  # naive: local time as it is
        return moment.date()
    zone = time.tzname
    held = _local_day[0] if _local_day else None  # one read: another thread may replace it
    if held is not None and held[3] is zone and held[0] <= moment < held[1]:
        return held[2]
    day = moment.astimezone().date()
    try:
        # The bounds in the moment's own zone (UTC, as the pipeline's clock gives it): two
        # moments of one zone compare without asking it for their offsets.
        start = datetime.combine(day, dt_time.min).astimezone().astimezone(moment.tzinfo)
        until = datetime.combine(day + timedelta(days=1), dt_time.min).astimezone()
        until = until.astimezone(moment.tzinfo)
        exact = (start - _TICK).astimezone().date() < day == start.astimezone().date() and (
            until - _TICK
        ).astimezone().date() == day < until.astimezone().date()
    except (OverflowError, ValueError):  # the calendar's ends: astimezone's own answer
        return day
    if exact and start <= moment < until:
        _local_day[:] = [(start, until, day, zone)]
    return day
