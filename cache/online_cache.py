"""One TTL cache in front of online registry answers, shared by every caller in the process.

Positive answers live ``ttl`` seconds, negative ones ("not found") ``negative_ttl`` — shorter,
so a person registered a minute ago is found on the next try. Thread-safe; sized by config.

Only answers the client accepted go in (signature, nonce, query, record and clock checked:
``protocol.check_binding``); a refused answer raises before ``put`` and is never stored. A
cached answer was bound to its own request when it arrived and is only as fresh as its TTL:
the verdict says "registry (cached)".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TLRUCache

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Cached(Generic[V]):
    value: V | None  # None: the registry said "not found"
    stored_at: float  # monotonic seconds


class OnlineCache(Generic[V]):
    def __init__(
        self,
        *,
        maxsize: int = 10_000,
        ttl: float = 300.0,
        negative_ttl: float = 30.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.negative_ttl = ttl, negative_ttl
        self._timer = timer
        self._lock = threading.Lock()

        def ttu(_key: str, item: Cached[V], now: float) -> float:
            return now + (self.ttl if item.value is not None else self.negative_ttl)

        self._cache: TLRUCache[str, Cached[V]] = TLRUCache(maxsize=maxsize, ttu=ttu, timer=timer)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Cached[V] | None:
        with self._lock:
            item = self._cache.get(key)
            if item is None:
                self.misses += 1
            else:
                self.hits += 1
            return item

    def put(self, key: str, value: V | None) -> None:
        with self._lock:
            self._cache[key] = Cached(value, self._timer())

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)
