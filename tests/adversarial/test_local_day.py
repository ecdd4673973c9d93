"""The invariant on the calendar: a policy is never ``valid`` on a local day it is not in force.

"Today" is the clinic's calendar date (``CheckContext.today``, ``verifier.checks.context.
local_date``), which the lookups remember with the local day's bounds. A forger who cannot
touch the register can still move the clock, or meet a zone whose clocks jump at midnight
itself. Here the clock walks, out of order, across the eve and the first day of policies
that start that day, in zones from UTC+14 to UTC-12 and one whose midnight is skipped: at
every moment, offline (by group) and auto (the full checks), a policy is ``valid`` only
when the C library's own local date for that moment (``astimezone().date()``) is on or
after its first day, and is ``valid`` once it is (so the suite is not vacuous).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import Register
from tests.redteam import test_session21_localday as localday
from tests.redteam.test_session21_localday import (
    JUMP_DAY,
    MIDNIGHT_JUMP,
    _pipeline,
    _set,
    _start_on,
)
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.verdict import Outcome

lab, zone = localday.lab, localday.zone  # the red team's fixtures: a register, the zone

ZONES = ["UTC", "Europe/Moscow", "Etc/GMT-14", "Etc/GMT+12", MIDNIGHT_JUMP]
# The register is fresh from 2026-03-10 12:00 UTC for 72 hours.
FIRST = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
LAST = datetime(2026, 3, 12, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("tz", ZONES)
def test_a_policy_is_valid_only_from_its_first_local_day(
    lab: tuple[SnapshotStore, Register, Path], zone: type[object], tz: str
) -> None:
    _set(zone, tz)
    # The local day a day after the window opens: its eve and itself both in the window
    # (in the zone whose midnight is skipped, the day of the jump itself).
    first_day = (FIRST + timedelta(hours=24)).astimezone().date()
    assert tz != MIDNIGHT_JUMP or first_day == JUMP_DAY
    enps = _start_on(lab, 3, first_day)
    moments = []
    m = FIRST
    while m <= LAST:
        moments.append(m)
        m += timedelta(minutes=20)
    random.Random(f"local-day|{tz}").shuffle(moments)  # days asked out of order, and again
    wrong: list[str] = []
    seen_valid = seen_not_yet = 0
    for moment in moments:
        in_force = moment.astimezone().date() >= first_day
        pipeline = _pipeline(lab[0], moment)
        for mode in (LookupMode.OFFLINE, LookupMode.AUTO):
            for enp in enps:
                item = CredentialInput(enp.encode(), source="api:adversarial", manual=True)
                valid = pipeline.verify(item, mode=mode).outcome is Outcome.VALID
                if valid != in_force:
                    wrong.append(f"{moment.isoformat()} {mode.value} valid={valid}")
                seen_valid += valid
                seen_not_yet += not in_force
    assert not wrong, f"{tz}: {len(wrong)} wrong answers, e.g. {wrong[:3]}"
    assert seen_valid and seen_not_yet  # both sides of the first day were asked
