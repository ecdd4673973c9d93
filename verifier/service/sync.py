"""Keep the local snapshot current: pull deltas on a schedule, a full snapshot when needed.

Each round: read the registry's clock (recorded for skew), fetch the snapshot index, download
what the store lacks — the deltas from the held sequence on, or the latest full snapshot when no
delta chain reaches (or a delta is refused for its base) — and import each through the store,
which verifies before anything becomes visible. Failures back off exponentially (with jitter)
up to ``max_backoff_s``; the status says when it last worked, when it tries next and why it
last failed. Also refreshes the signed trust list when the registry publishes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cache.snapshot_store import ImportResult, SnapshotRefused, SnapshotStore
from verifier.errors import OmsError
from verifier.log import get_logger
from verifier.registry.client import RegistryAdapter
from verifier.registry.protocol import SnapshotIndex
from verifier.trust import TrustError, TrustStore

log = get_logger("oms.sync")


@dataclass
class SyncStatus:
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    next_attempt: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
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
            "sequence": self.sequence,
            "clock_skew_s": self.clock_skew_s,
        }


def plan(index: SnapshotIndex, held: int | None) -> list[str]:
    """Files to import, in order, to bring a store at ``held`` to ``index.latest_sequence``."""
    if held is not None and held >= index.latest_sequence:
        return []
    chain: list[str] = []
    seq = held
    by_base = {d.base_sequence: d for d in index.deltas}
    if seq is not None:
        while seq in by_base and seq < index.latest_sequence:
            d = by_base[seq]
            chain.append(d.name)
            seq = d.sequence
        if seq == index.latest_sequence:
            return chain
    # No delta chain from what we hold: the full snapshot, then its deltas.
    chain = [index.full_name]
    seq = index.full_sequence
    while seq in by_base:
        d = by_base[seq]
        chain.append(d.name)
        seq = d.sequence
    return chain


class SnapshotSync:
    def __init__(
        self,
        client: RegistryAdapter,
        store: SnapshotStore,
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

    def _check(self, key_id: str, digest: bytes, signature: bytes) -> bool:
        return self.trust.check_snapshot_signature(key_id, digest, signature, self.clock())

    async def _import(self, path: Path) -> ImportResult:
        return await asyncio.to_thread(
            self.store.import_file, path, self._check, region=self.region
        )

    async def run_once(self) -> list[ImportResult]:
        """One round; raises on failure (after updating the status)."""
        now = self.clock()
        self.status.last_attempt = now
        try:
            results = await self._round()
        except (OmsError, OSError) as exc:
            self.status.consecutive_failures += 1
            self.status.last_error = f"{getattr(exc, 'code', type(exc).__name__)}: {exc}"
            delay = min(self.max_backoff_s, 30.0 * 2 ** (self.status.consecutive_failures - 1))
            delay = random.uniform(delay / 2, delay)
            self.status.next_attempt = self.clock() + timedelta(seconds=delay)
            log.warning("sync failed", error=self.status.last_error, retry_in_s=round(delay))
            raise
        self.status.consecutive_failures = 0
        self.status.last_error = None
        self.status.last_success = self.clock()
        self.status.next_attempt = self.status.last_success + timedelta(seconds=self.interval_s)
        self.status.sequence = self.store.info().sequence
        return results

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
            self.trust.apply_trust_list(doc, sig)
        except TrustError as exc:
            if exc.code != "trust_list_old":
                log.warning("trust list refused; keeping the current one", code=exc.code)

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OmsError, OSError):  # recorded in self.status
                await self.run_once()
            wait = (self.status.next_attempt or self.clock()) - self.clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(1.0, wait.total_seconds()))
