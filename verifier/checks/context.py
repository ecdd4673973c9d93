"""What every check sees: the credential and the moment of the check (injected, never read
from the wall clock inside a check, so tests and replays are deterministic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from verifier.credential import Credential


@dataclass(frozen=True, slots=True)
class CheckContext:
    credential: Credential
    now: datetime  # timezone-aware

    @property
    def today(self) -> date:
        """The local calendar date: policies expire by the clinic's calendar."""
        return self.now.astimezone().date()
