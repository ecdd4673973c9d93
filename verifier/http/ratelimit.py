"""Token buckets per caller, for routes that must not become an oracle.

``/v1/match`` answers "does this ENP belong to this person?": unlimited, it lets a caller guess
names and birth dates for an ENP. Each caller (token name, or the client address when
token-less) gets ``burst`` calls at once and ``per_minute`` calls a minute after that.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Bounded memory: at most ``max_callers`` buckets, the least recently used dropped."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_callers: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_callers = max_callers
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, who: str) -> float | None:
        """Spend one call for ``who``: ``None`` if allowed, else seconds until the next one."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                allowed = True
            else:
                self._buckets[who] = (tokens, now)
                allowed = False
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        if allowed:
            return None
        return (1.0 - tokens) / self.rate if self.rate > 0 else math.inf
