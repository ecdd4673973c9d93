"""How fresh an offline answer is: fresh / stale / expired / absent.

* fresh   — now is before the part's valid-until;
* stale   — past valid-until but within ``stale_grace`` of it: still answers, and says so;
* expired — past the grace, or the snapshot is older than ``hard_offline_limit`` (counted from
  its creation by the registry): it never yields ``valid`` (REFERENCE §7: a hard offline limit
  beats silently trusting old data);
* absent  — no snapshot held.

Also flags device-clock skew recorded at the last sync, because a wrong clock makes every
freshness judgement wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class FreshnessPolicy:
    stale_grace: timedelta = timedelta(hours=24)
    hard_offline_limit: timedelta = timedelta(days=7)
    max_clock_skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PartFreshness:
    state: Freshness
    age_s: float | None  # since the registry created the snapshot
    valid_until: datetime | None


def assess(
    created_at: datetime | None,
    valid_until: datetime | None,
    now: datetime,
    policy: FreshnessPolicy,
) -> PartFreshness:
    if created_at is None or valid_until is None:
        return PartFreshness(Freshness.ABSENT, None, None)
    age = (now - created_at).total_seconds()
    if now <= valid_until and age <= policy.hard_offline_limit.total_seconds():
        state = Freshness.FRESH
    elif (
        now <= valid_until + policy.stale_grace and age <= policy.hard_offline_limit.total_seconds()
    ):
        state = Freshness.STALE
    else:
        state = Freshness.EXPIRED
    return PartFreshness(state, max(age, 0.0), valid_until)


def from_the_future(stated_at: datetime | None, now: datetime, policy: FreshnessPolicy) -> bool:
    """Data dated after now + the allowed skew: the device clock is behind (or the data lies).

    Such data would count as brand new for as long as the clock stays wrong, so it never
    vouches for anything (a snapshot made "tomorrow" is not fresh today).
    """
    return stated_at is not None and stated_at > now + policy.max_clock_skew


def clock_skewed(skew_s: float | None, policy: FreshnessPolicy) -> bool:
    return skew_s is not None and abs(skew_s) > policy.max_clock_skew.total_seconds()
