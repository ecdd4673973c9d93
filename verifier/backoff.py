"""Retry delays: one rule for drivers, the sync loop, its supervisors and the registry client.

Exponential from ``initial`` by ``factor`` up to ``maximum``, with optional jitter so that many
desks restarted together do not retry in step: ``equal`` draws from the upper half of the
delay (a retry is never much sooner than planned), ``full`` from all of it (AWS's "full
jitter", for short retries inside a request's budget).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum


class Jitter(StrEnum):
    NONE = "none"
    EQUAL = "equal"  # uniform in [delay/2, delay]
    FULL = "full"  # uniform in [0, delay]


@dataclass
class Backoff:
    """Delays ``initial``, then ``factor`` times the last, up to ``maximum``.

    Stateless callers pass the delay they waited last (``next(current)``) or the attempt
    number (``delay(attempt)``); stateful ones call ``next()`` and ``reset()`` after a success.
    """

    initial: float = 0.25
    maximum: float = 5.0
    factor: float = 2.0
    jitter: Jitter = Jitter.NONE
    _current: float = field(default=0.0, init=False, repr=False)

    def next(self, current: float | None = None) -> float:
        """The next delay after ``current`` (or the last one returned), before jitter."""
        base = self._current if current is None else current
        self._current = (
            self.initial if base <= 0 else min(self.maximum, max(self.initial, base * self.factor))
        )
        return self._current

    def reset(self) -> None:
        self._current = 0.0

    def delay(self, attempt: int) -> float:
        """The delay before retry ``attempt`` (0 = the first retry), jittered."""
        exponent = min(max(attempt, 0), 64)  # 2**64 × anything is past every maximum
        return self.jittered(min(self.maximum, self.initial * self.factor**exponent))

    def jittered(self, delay: float) -> float:
        if self.jitter is Jitter.EQUAL:
            return random.uniform(delay / 2, delay)  # noqa: S311 - retry spreading, not a secret
        if self.jitter is Jitter.FULL:
            return random.uniform(0, delay)  # noqa: S311 - retry spreading, not a secret
        return delay
