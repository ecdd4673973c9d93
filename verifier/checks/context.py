"""What every check sees: the credential, the moment of the check (injected, never read from
the wall clock inside a check, so tests and replays are deterministic) and the caller's wishes
about where the answer may come from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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
        return self.now.astimezone().date()
