"""The service as the HTTP layer sees it: one narrow protocol and the value types it speaks.

``verifier/http`` imports from the service layer (here) and plain types (verdict, credential,
errors, config) only — never the store, checks, registry client or drivers; the import-linter
contract "The HTTP layer talks to the service only" (pyproject.toml) keeps it so, and typing
the routes against :class:`HttpService` keeps them off the service's internals
(``parts``, ``bus``, the executors).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from cache.freshness import Freshness
from verifier.checks.context import LookupMode
from verifier.config import Config
from verifier.credential import CredentialInput
from verifier.errors import InputError
from verifier.imaging import ImageBusy
from verifier.registry.breaker import BreakerState
from verifier.service.core import BATCH_MAX, MatchAnswer, MatchOutcome
from verifier.service.events import Channel, ScanEvent
from verifier.service.readings import (
    DriverReading,
    LatencyReading,
    Readings,
    RegistryReading,
    SnapshotReading,
    SyncReading,
)
from verifier.service.search import PersonQuery, SearchError, SearchResult
from verifier.verdict import Outcome, Verdict

# The states a snapshot part and the registry breaker can be in, as /metrics enumerates them.
SNAPSHOT_STATES: tuple[str, ...] = tuple(s.value for s in Freshness)
BREAKER_STATES: tuple[str, ...] = tuple(s.value for s in BreakerState)


class HttpService(Protocol):
    """What routes may call. :class:`verifier.service.core.Service` is the implementation."""

    cfg: Config
    ready: bool

    async def verify(
        self,
        item: CredentialInput,
        *,
        who: str,
        channel: str,
        mode: LookupMode = LookupMode.AUTO,
        fresh: bool = False,
        publish: bool = False,
        screen: str | None = None,
    ) -> Verdict: ...

    async def verify_enp(
        self,
        enp: str,
        *,
        source: str,
        who: str,
        channel: str,
        mode: LookupMode = LookupMode.AUTO,
        fresh: bool = False,
    ) -> Verdict: ...

    def verify_enp_now(
        self, enp: str, *, source: str, who: str, channel: str, fresh: bool = False
    ) -> Verdict: ...

    async def verify_batch(
        self,
        items: Sequence[CredentialInput | InputError],
        *,
        who: str,
        channel: str = "batch",
        mode: LookupMode = LookupMode.AUTO,
    ) -> list[Verdict]: ...

    async def decode_image(self, body: bytes, source: str) -> CredentialInput: ...

    async def match(
        self, enp: str, surname: str, given_name: str, patronymic: str | None, birth_date: date
    ) -> MatchAnswer: ...

    async def search(self, query: PersonQuery, *, who: str, mode: LookupMode) -> SearchResult: ...

    def recent_events(
        self, limit: int, *, channel: Channel, screen: str | None
    ) -> list[ScanEvent]: ...

    def subscribe_events(
        self, channel: Channel, screen: str | None
    ) -> asyncio.Queue[ScanEvent]: ...

    def unsubscribe_events(self, queue: asyncio.Queue[ScanEvent]) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def readings(self) -> Readings: ...

    def request_sync(self) -> bool: ...


__all__ = [
    "BATCH_MAX",
    "BREAKER_STATES",
    "SNAPSHOT_STATES",
    "Channel",
    "DriverReading",
    "HttpService",
    "ImageBusy",
    "LatencyReading",
    "LookupMode",
    "MatchAnswer",
    "MatchOutcome",
    "Outcome",
    "PersonQuery",
    "Readings",
    "RegistryReading",
    "ScanEvent",
    "SearchError",
    "SearchResult",
    "SnapshotReading",
    "SyncReading",
]
