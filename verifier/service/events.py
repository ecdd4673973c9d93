"""Scan events: each published verdict becomes one, kept in a bounded history and pushed to
subscribers (SSE screens).

Every event belongs to one channel: ``desk`` (the clerk's screen: hand-typed checks, API
publishes, reads of devices no kiosk owns) or ``kiosk`` (a hall screen, named by ``screen``:
reads of the devices ``[[screens.kiosk]]`` assigns to it). A hand-typed desk check is never a
kiosk event. Views are masked unless the HTTP layer asks for the desk's full view.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from verifier.verdict import Verdict

_ids = itertools.count(1)


class Channel(StrEnum):
    DESK = "desk"
    KIOSK = "kiosk"


@dataclass(frozen=True, slots=True)
class ScanEvent:
    id: int
    at: datetime
    source: str  # the device or API caller: "camera:0", "pcsc:Reader", "api:mis-main"
    verdict: Verdict
    channel: Channel = Channel.DESK
    screen: str | None = None  # the kiosk screen's name for kiosk events, else None

    def to_dict(self, *, masked: bool = True) -> dict[str, Any]:
        """Masked by default: screens and logs never see a full ENP, a name or a birth date.
        ``masked=False`` is the desk role's view only (see verifier/http/views.py)."""
        v = self.verdict.to_dict(masked=masked)
        v.pop("checks", None)
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "source": self.source,
            "channel": self.channel.value,
            "screen": self.screen,
            "masked": masked,
            "verdict": v,
        }

    def visible_on(self, channel: Channel, screen: str | None) -> bool:
        """Whether a subscriber of (channel, screen) gets this event."""
        if channel is Channel.KIOSK:
            return self.channel is Channel.KIOSK and self.screen == screen
        return self.channel is Channel.DESK

    @classmethod
    def of(
        cls,
        verdict: Verdict,
        source: str,
        *,
        channel: Channel = Channel.DESK,
        screen: str | None = None,
    ) -> ScanEvent:
        return cls(next(_ids), verdict.checked_at, source, verdict, channel, screen)


class EventBus:
    """Bounded history + fan-out. A slow subscriber loses its oldest events, never blocks."""

    def __init__(self, history: int = 200, queue_size: int = 64) -> None:
        self._history: deque[ScanEvent] = deque(maxlen=history)
        # Each subscriber's queue and the events it takes: a kiosk's queue never fills up with
        # desk events it would drop anyway.
        self._subscribers: dict[asyncio.Queue[ScanEvent], Callable[[ScanEvent], bool]] = {}
        self._queue_size = queue_size
        self.published = 0

    def publish(self, event: ScanEvent) -> None:
        """Call on the event loop thread."""
        self._history.append(event)
        self.published += 1
        for q, accept in list(self._subscribers.items()):
            if not accept(event):
                continue
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    def recent(
        self, limit: int = 50, *, channel: Channel | None = None, screen: str | None = None
    ) -> list[ScanEvent]:
        """Newest first; only one channel's (and kiosk screen's) events when ``channel``."""
        items = [e for e in self._history if channel is None or e.visible_on(channel, screen)]
        items = items[-limit:]
        items.reverse()
        return items

    def subscribe(
        self, accept: Callable[[ScanEvent], bool] | None = None
    ) -> asyncio.Queue[ScanEvent]:
        """A queue of the events ``accept`` takes (default: every event)."""
        q: asyncio.Queue[ScanEvent] = asyncio.Queue(self._queue_size)
        self._subscribers[q] = accept or _every
        return q

    def unsubscribe(self, q: asyncio.Queue[ScanEvent]) -> None:
        self._subscribers.pop(q, None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def _every(event: ScanEvent) -> bool:
    return True
