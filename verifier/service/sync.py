"""Keep the local snapshot current: pull deltas on a schedule, a full snapshot when needed.

Each round: read the registry's clock (recorded for skew), fetch the snapshot index, download
what the store lacks — the deltas from the held sequence on, or the latest full snapshot when no
delta chain reaches (or a delta is refused for its base) — and import each through the store,
which verifies before anything becomes visible. Failures back off exponentially (with jitter)
up to ``max_backoff_s``; the status says when it last worked, when it tries next and why it
last failed. Also refreshes the signed trust list when the registry publishes one.

A round is supervised at its boundary: *any* exception in it (a typed refusal or a bug) is
recorded and backed off, so hostile registry data can delay a sync but never end it. A trust
list that is refused does not fail the round (the snapshot's freshness matters more); the
status carries it as ``trust_list_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cache.national_store import NationalStore
from cache.snapshot_chain import Link
from cache.snapshot_chain import plan as chain_plan
from cache.snapshot_store import ImportResult, SnapshotRefused, SnapshotStore
from verifier.backoff import Backoff, Jitter
from verifier.errors import OmsError
from verifier.log import get_logger
from verifier.registry.client import RegistryAdapter
from verifier.registry.protocol import SnapshotIndex
from verifier.trust import TrustError, TrustStore

log = get_logger("oms.sync")

MAX_ERROR_TEXT = 200
_LONG_NUMBER = re.compile(r"\d{9,}")  # ENP (16), СНИЛС (11), temporary certificate (9)


class SyncError(OmsError):
    """A sync round failed for a reason that is not a typed refusal (a bug, most likely)."""

    code = "sync_internal_error"


def describe(exc: BaseException) -> str:
    """``code: short message`` for the status and logs, without personal data.

    Typed errors keep their message (cut short, long digit runs masked: an ENP must not end
    up in /v1/status); anything else shows only its type, since its text is uncontrolled.
    """
    if isinstance(exc, OmsError):
        text = _LONG_NUMBER.sub("…", exc.message)
        if len(text) > MAX_ERROR_TEXT:
            text = text[: MAX_ERROR_TEXT - 1] + "…"
        return f"{exc.code}: {text}"
    if isinstance(exc, OSError):
        return f"os_error: {type(exc).__name__} errno {exc.errno}"
    return f"{SyncError.code}: {type(exc).__name__}"


@dataclass
class SyncStatus:
    """What /v1/status and /metrics show about the sync.

    Counters for metrics: ``failures_total`` (rounds that failed since start),
    ``consecutive_failures`` (since the last good round), ``trust_list_failures_total``
    (trust lists refused) and ``task_restarts`` (times the supervisor restarted the loop).
    """

    last_success: datetime | None = None
    last_attempt: datetime | None = None
    next_attempt: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    failures_total: int = 0
    trust_list_error: str | None = None
    trust_list_failures_total: int = 0
    task_restarts: int = 0
    sequence: int | None = None
    clock_skew_s: float | None = None
    imported: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "last_success": iso(self.last_success),
            "last_attempt": iso(self.last_attempt),
            "next_attempt": iso(self.next_attempt),
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "failures_total": self.failures_total,
            "trust_list_error": self.trust_list_error,
            "trust_list_failures_total": self.trust_list_failures_total,
            "task_restarts": self.task_restarts,
            "sequence": self.sequence,
            "clock_skew_s": self.clock_skew_s,
        }


def plan(index: SnapshotIndex, held: int | None) -> list[str]:
    """Files to import, in order, to bring a store at ``held`` to ``index.latest_sequence``."""
    full = Link(index.full_name, index.full_sequence)
    deltas = (Link(d.name, d.sequence, d.base_sequence) for d in index.deltas)
    return [link.name for link in chain_plan(full, deltas, held, index.latest_sequence)]


SYNC_RETRY_S = 30.0  # the first retry after a failed round; doubling up to max_backoff_s


class SnapshotSync:
    def __init__(
        self,
        client: RegistryAdapter,
        store: SnapshotStore | NationalStore,
        trust: TrustStore,
        *,
        region: str | None = None,
        interval_s: float = 900.0,
        max_backoff_s: float = 3600.0,
        download_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.store = store
        self.trust = trust
        self.region = region
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.download_dir = download_dir
        self.clock = clock
        self.status = SyncStatus()

    async def _import(self, path: Path) -> ImportResult:
        return await asyncio.to_thread(
            self.store.import_file,
            path,
            self.trust.snapshot_checker(self.clock),
            region=self.region,
        )

    async def run_once(self) -> list[ImportResult]:
        """One round; on failure updates the status and raises an OmsError or OSError.

        Every exception is caught here, at the round boundary (CancelledError is no Exception
        and passes): an unexpected one becomes :class:`SyncError`, so callers that handle
        typed errors handle everything and the loop never dies of a registry's bytes.
        """
        now = self.clock()
        self.status.last_attempt = now
        try:
            results = await self._round()
        except Exception as exc:
            self.record_failure(exc)
            if isinstance(exc, OmsError | OSError):
                raise
            raise SyncError(f"sync round failed: {type(exc).__name__}") from exc
        self.status.consecutive_failures = 0
        self.status.last_error = None
        self.status.last_success = self.clock()
        self.status.next_attempt = self.status.last_success + timedelta(seconds=self.interval_s)
        self.status.sequence = self.store.info().sequence
        return results

    def record_failure(self, exc: Exception) -> None:
        """Count a failed round, say why (no personal data) and schedule the retry."""
        self.status.consecutive_failures += 1
        self.status.failures_total += 1
        self.status.last_error = describe(exc)
        retry = Backoff(SYNC_RETRY_S, self.max_backoff_s, jitter=Jitter.EQUAL)
        delay = retry.delay(self.status.consecutive_failures - 1)
        self.status.next_attempt = self.clock() + timedelta(seconds=delay)
        with contextlib.suppress(Exception):  # the store itself may be what failed
            self.status.sequence = self.store.info().sequence
        if isinstance(exc, OmsError | OSError):
            log.warning("sync failed", error=self.status.last_error, retry_in_s=round(delay))
        else:  # a bug: keep the traceback in the log (its text is not shown in the status)
            log.error(
                "sync failed unexpectedly",
                error=self.status.last_error,
                retry_in_s=round(delay),
                exc_info=exc,
            )

    async def _round(self) -> list[ImportResult]:
        registry_now = await self.client.server_time()
        self.status.clock_skew_s = await asyncio.to_thread(
            self.store.record_sync, registry_now, self.clock()
        )
        await self._refresh_trust_list()
        index = await self.client.snapshot_index()
        held = self.store.info().sequence
        files = plan(index, held)
        results: list[ImportResult] = []
        with tempfile.TemporaryDirectory(dir=self.download_dir) as tmp:
            for name in files:
                path = Path(tmp) / name
                await self.client.download(name, path)
                try:
                    results.append(await self._import(path))
                except SnapshotRefused as exc:
                    if exc.code not in ("delta_base_mismatch", "delta_no_base"):
                        raise
                    log.warning("delta does not apply; falling back to the full snapshot")
                    return results + await self._full_then_deltas(index, Path(tmp))
                finally:
                    path.unlink(missing_ok=True)
        if results:
            log.info("snapshot synced", sequence=results[-1].sequence, files=len(results))
        return results

    async def _full_then_deltas(self, index: SnapshotIndex, tmp: Path) -> list[ImportResult]:
        results = []
        for name in plan(index, None):
            path = tmp / name
            await self.client.download(name, path)
            try:
                results.append(await self._import(path))
            except SnapshotRefused as exc:
                if exc.code != "snapshot_old":
                    raise
            finally:
                path.unlink(missing_ok=True)
        return results

    async def _refresh_trust_list(self) -> None:
        published = await self.client.trust_list()
        if published is None:
            return
        doc, sig = published
        try:
            await asyncio.to_thread(self.trust.apply_trust_list, doc, sig)
        except TrustError as exc:
            if exc.code == "trust_list_old":  # the one we hold: nothing to do
                self.status.trust_list_error = None
                return
            self.status.trust_list_error = describe(exc)
            self.status.trust_list_failures_total += 1
            log.warning(
                "trust list refused; keeping the current one",
                code=exc.code,
                error=self.status.trust_list_error,
            )
        else:
            self.status.trust_list_error = None

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OmsError, OSError):  # recorded in self.status
                await self.run_once()  # raises nothing else (see run_once)
            wait = (self.status.next_attempt or self.clock()) - self.clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(1.0, wait.total_seconds()))
