"""What every driver is: a source of :class:`CredentialInput` with a health report.

Drivers turn hardware into bytes; they never verify and never touch the store. Protocol logic
(framing, key maps, APDU sequences) lives in pure functions next to each driver; the I/O part is
thin, runs off the event loop (threads or non-blocking fds), survives unplugging, and reports
its state through :meth:`Driver.health`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from verifier.credential import CredentialInput
from verifier.errors import InputError


class DriverState(StrEnum):
    STARTING = "starting"
    OK = "ok"  # device present and reading
    WAITING = "waiting"  # device absent (unplugged, no card reader): retrying with backoff
    FAILED = "failed"  # gave up (bad configuration); needs an operator
    STOPPED = "stopped"


@dataclass
class DriverHealth:
    name: str
    kind: str  # "camera", "serial", "hidraw", "evdev", "pcsc", "video"
    state: DriverState = DriverState.STARTING
    detail: str = ""
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    reads: int = 0
    errors: int = 0
    last_read_at: datetime | None = None

    def set(self, state: DriverState, detail: str = "") -> None:
        if state is not self.state:
            self.since = datetime.now(UTC)
        self.state, self.detail = state, detail

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "detail": self.detail,
            "since": self.since.isoformat(),
            "reads": self.reads,
            "errors": self.errors,
            "last_read_at": self.last_read_at.isoformat() if self.last_read_at else None,
        }


# What a driver calls for each credential it reads (the daemon feeds the pipeline from it).
Emit = Callable[[CredentialInput], Awaitable[None]]


class Driver(Protocol):
    name: str

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set; reconnect on its own; never raise for device trouble."""
        ...

    def health(self) -> DriverHealth: ...


class SourceSpecError(InputError):
    code = "bad_source"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """``camera:INDEX|PATH``, ``video:PATH``, ``serial:PATH``, ``hidraw:PATH``, ``evdev:PATH``,
    ``pcsc[:READER NAME]`` (first reader when no name)."""

    kind: str
    target: str | None

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        kind, _, target = text.partition(":")
        kind = kind.strip().lower()
        if kind not in ("camera", "video", "serial", "hidraw", "evdev", "pcsc"):
            raise SourceSpecError(
                f"unknown source {kind!r}: use camera:, video:, serial:, hidraw:, evdev: or pcsc"
            )
        if kind != "pcsc" and not target:
            raise SourceSpecError(f"source {kind}: needs a device, index or path after the colon")
        return cls(kind, target or None)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind
