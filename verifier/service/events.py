"""Scan events: each verdict from a driver or the API becomes one, kept in a bounded history
and pushed to subscribers (SSE screens). Personal data is masked before it leaves here."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verifier.verdict import Verdict

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ScanEvent:
    id: int
    at: datetime
    source: str  # the device or API caller: "camera:0", "pcsc:Reader", "api:mis-main"
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """Masked: screens and logs never see a full ENP, a name or a birth date."""
        v = self.verdict.to_dict(masked=True)
        v.pop("checks", None)
        return {"id": self.id, "at": self.at.isoformat(), "source": self.source, "verdict": v}

    @classmethod
    def of(cls, verdict: Verdict, source: str) -> ScanEvent:
        return cls(next(_ids), verdict.checked_at, source, verdict)


class EventBus:
    """Bounded history + fan-out. A slow subscriber loses its oldest events, never blocks."""

    def __init__(self, history: int = 200, queue_size: int = 64) -> None:
        self._history: deque[ScanEvent] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[ScanEvent]] = set()
        self._queue_size = queue_size
        self.published = 0

    def publish(self, event: ScanEvent) -> None:
        """Call on the event loop thread."""
        self._history.append(event)
        self.published += 1
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    def recent(self, limit: int = 50) -> list[ScanEvent]:
        items = list(self._history)[-limit:]
        items.reverse()
        return items

    def subscribe(self) -> asyncio.Queue[ScanEvent]:
        q: asyncio.Queue[ScanEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[ScanEvent]) -> None:
        self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
