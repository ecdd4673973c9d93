"""The daemon core: drivers feed the pipeline, verdicts become scan events, audit and screens.

Runs on one asyncio loop. The pipeline is synchronous (SQLite, GOST arithmetic) and runs in a
small thread pool so the loop stays responsive; drivers run as supervised tasks that are
restarted (with backoff) if they ever crash; the snapshot sync runs as a background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from cache import name_hash
from cache.freshness import PartFreshness
from cache.snapshot_store import SnapshotStore, StoreInfo
from drivers.base import Driver, DriverHealth, DriverState
from verifier.backoff import Backoff
from verifier.checks.context import LookupMode
from verifier.checks.holder import HolderMatcher
from verifier.config import Config
from verifier.credential import CredentialInput, ReadSymbology
from verifier.errors import InputError, OmsError, RecognitionError
from verifier.log import HotLine, get_logger
from verifier.pipeline import Pipeline, unrecognized_verdict
from verifier.registry.client import RegistryAdapter
from verifier.service.assembly import Assembly, assemble, store_status
from verifier.service.audit import AuditLog
from verifier.service.events import Channel, EventBus, ScanEvent
from verifier.service.readings import (
    DriverReading,
    LatencyBuckets,
    Readings,
    RegistryReading,
    SnapshotReading,
    SyncReading,
    package_version,
)
from verifier.service.search import PersonQuery, SearchResult, search
from verifier.service.sync import SnapshotSync, describe
from verifier.verdict import AnswerSource, Outcome, Reason, Verdict, action_ru, message_ru

log = get_logger("oms.service")
_VERIFIED = HotLine(  # every verification's line
    "oms.service", "verified", ("channel", "who", "outcome", "kind", "source")
)

# Offline lookups of a typed ENP run on the event loop, not the pool (see Service.verify);
# False sends every verification to the pool.
INLINE_OFFLINE_ENP = True
BATCH_MAX = 1000  # items in one POST /v1/policies:batch
BATCH_CONCURRENCY = 8  # online lookups of one batch in flight at once
_NO_INPUT = CredentialInput(b"", source="batch")


@dataclass
class Counters:
    verifications: int = 0
    by_outcome: dict[str, int] | None = None
    unrecognized: int = 0
    errors: int = 0

    def count(self, verdict: Verdict) -> None:
        self.verifications += 1
        if self.by_outcome is None:
            self.by_outcome = {}
        outcome = verdict.outcome._value_  # the enum's .value is a slow descriptor
        self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + 1


class LoopStep:
    """A step of the event loop, as the snapshot store's lookups share a read transaction
    for (:class:`~cache.snapshot_store.ReadHolder`): callbacks scheduled now run once the
    step is over, before the next step's I/O callbacks."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def holding(self) -> bool:
        # This thread runs this loop (not merely: it runs somewhere), so at_end's callback
        # will run here after this step.
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def at_end(self, release: Callable[[], None]) -> None:
        self.loop.call_soon(release)


class Service:
    def __init__(self, cfg: Config, *, drivers: list[Driver] | None = None) -> None:
        self.cfg = cfg
        self.parts: Assembly = assemble(cfg)
        self.bus = EventBus(history=cfg.http.history_size)
        self.audit = AuditLog(
            cfg.state_dir / "audit.sqlite3", timedelta(days=cfg.service.audit_retention_days)
        )
        self.drivers: list[Driver] = list(drivers) if drivers is not None else []
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oms-verify")
        # Uploaded images decode apart: the imaging module admits two at a time and makes the
        # rest wait, which must never stall verifications on the pool above.
        self.image_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="oms-image")
        self._batch_executor: ThreadPoolExecutor | None = None  # online batches, on first use
        self.sync: SnapshotSync | None = None
        if self.parts.client is not None:
            self.sync = self._make_sync(self.parts, self.parts.client)
        self.started_at = datetime.now(UTC)
        self.counters = Counters()
        self.verify_latency = LatencyBuckets()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._sync_now = asyncio.Event()
        self.ready = False

    def _make_sync(self, parts: Assembly, client: RegistryAdapter) -> SnapshotSync | None:
        """Delta sync of the regional store; for a national store, the national manifest
        with resumable part/delta downloads (verifier/service/national_sync_loop.py)."""
        if not isinstance(parts.store, SnapshotStore):
            from verifier.service.national_sync_loop import NationalSync

            return NationalSync(
                client,
                parts.store,
                parts.trust,
                interval_s=self.cfg.registry.sync_interval_s,
                download_dir=self.cfg.state_dir,
            )
        return SnapshotSync(
            client,
            parts.store,
            parts.trust,
            region=self.cfg.register.region,
            interval_s=self.cfg.registry.sync_interval_s,
            download_dir=self.cfg.state_dir,
        )

    # --- verification ----------------------------------------------------------------------

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
    ) -> Verdict:
        """Verdict for one input; raises RecognitionError for API callers (HTTP 422).

        ``publish``: the verdict goes to the screens — to the kiosk ``screen`` when given (a
        device assigned to it), else to the desk. An unrecognised scan is published as an
        ``unknown`` verdict (a read must never pass in silence); an unrecognised *typed* entry
        raises instead, so the desk form keeps the text and says what is wrong with it."""
        pipeline = self.parts.pipeline
        t0 = time.perf_counter()
        try:
            if INLINE_OFFLINE_ENP and mode is LookupMode.OFFLINE and _typed_enp(item):
                # A typed ENP, snapshot only: recognition and one indexed read of the local
                # SQLite (a WAL reader: never waits for the sync's writes), ~0.1 ms, cheaper
                # here than the trip to the pool and back, and no GIL convoy with the pool's
                # threads under load (bench/api_bench.py: +75% req/s at 32 connections).
                verdict = pipeline.verify(item, mode=mode, fresh=fresh)
            else:
                # At most one hop to the pool: the audit row is queued for the group-commit
                # writer (AuditLog.submit) on the loop afterwards, not a second trip.
                verdict = await asyncio.get_running_loop().run_in_executor(
                    self.executor, functools.partial(pipeline.verify, item, mode=mode, fresh=fresh)
                )
        except RecognitionError as exc:
            self.counters.unrecognized += 1
            if not publish or item.manual:
                raise
            verdict = unrecognized_verdict(item, exc, datetime.now(UTC))
        if publish:
            channel_ = Channel.KIOSK if screen is not None else Channel.DESK
            self.bus.publish(ScanEvent.of(verdict, item.source, channel=channel_, screen=screen))
        self._settle(verdict, t0, who=who, channel=channel)
        return verdict

    async def verify_enp(
        self,
        enp: str,
        *,
        source: str,
        who: str,
        channel: str,
        mode: LookupMode = LookupMode.AUTO,
        fresh: bool = False,
    ) -> Verdict:
        """:meth:`verify` of a typed ENP (16 ASCII digits) from the API, never published:
        the MIS's lookup, without an input to make and read first. Raises ``ValueError`` for
        anything but 16 ASCII digits (the caller has checked; this is no parser)."""
        if INLINE_OFFLINE_ENP and mode is LookupMode.OFFLINE:  # it checks the digits itself
            return self.verify_enp_now(enp, source=source, who=who, channel=channel, fresh=fresh)
        if not (len(enp) == 16 and enp.isascii() and enp.isdigit()):
            raise ValueError("verify_enp takes 16 ASCII digits")
        pipeline = self.parts.pipeline
        t0 = time.perf_counter()
        verdict = await asyncio.get_running_loop().run_in_executor(
            self.executor,
            functools.partial(pipeline.verify_typed, enp, source, mode=mode, fresh=fresh),
        )
        self._settle(verdict, t0, who=who, channel=channel)
        return verdict

    def verify_enp_now(
        self, enp: str, *, source: str, who: str, channel: str, fresh: bool = False
    ) -> Verdict:
        """:meth:`verify_enp` offline, on the calling thread: it reads only the local
        snapshot, so the daemon's protocol can answer the MIS's offline lookup at once, with
        no task (verifier/http/transport.py). Raises ``ValueError`` as verify_enp does."""
        if not (len(enp) == 16 and enp.isascii() and enp.isdigit()):
            raise ValueError("verify_enp takes 16 ASCII digits")
        t0 = time.perf_counter()
        pipeline = self.parts.pipeline
        verdict = pipeline.verify_typed(enp, source, mode=LookupMode.OFFLINE, fresh=fresh)
        self._settle(verdict, t0, who=who, channel=channel)
        return verdict

    def _settle(self, verdict: Verdict, t0: float, *, who: str, channel: str) -> None:
        """What every verification leaves behind: its latency, its count, its audit row and
        its log line."""
        self.verify_latency.observe(time.perf_counter() - t0)
        self.counters.count(verdict)
        self.audit.submit(verdict, who=who, channel=channel)
        # Only codes and the caller's token name: short values, nothing personal to mask.
        credential = verdict.credential
        _VERIFIED.codes(
            channel,
            who,
            verdict.outcome._value_,
            credential.kind._value_ if credential else None,
            verdict.source._value_,
        )

    async def verify_batch(
        self,
        items: Sequence[CredentialInput | InputError],
        *,
        who: str,
        channel: str = "batch",
        mode: LookupMode = LookupMode.AUTO,
    ) -> list[Verdict]:
        """Verdicts for many inputs, in input order: the MIS's nightly reconciliation.

        An item that is no credential (or that the route could not even read, given here as
        its :class:`InputError`) gets an ``unknown``/``unrecognized`` verdict in its place: one
        bad row never fails the batch. Offline, the whole batch is one trip to the pool.
        Otherwise at most ``BATCH_CONCURRENCY`` lookups run at once (each may ask the
        registry), and whatever has not started when the registry budget runs out is answered
        ``unknown``/``registry_unavailable``. One audit row stands for the batch."""
        pipeline = self.parts.pipeline
        loop = asyncio.get_running_loop()

        def one(entry: CredentialInput | InputError, m: LookupMode) -> Verdict:
            if isinstance(entry, InputError):
                return unrecognized_verdict(_NO_INPUT, entry, datetime.now(UTC))
            try:
                return pipeline.verify(entry, mode=m)
            except RecognitionError as exc:
                return unrecognized_verdict(entry, exc, datetime.now(UTC))

        if mode is LookupMode.OFFLINE:
            verdicts = await loop.run_in_executor(
                self.executor, self._batch_offline, pipeline, self.parts.store, items
            )
        else:
            verdicts = await self._batch_online(items, mode, one)
        # Not in verify_latency: one batch is not one verification's latency.
        _count_batch(self.counters, verdicts)
        self.audit.submit(_batch_row(verdicts, mode), who=who, channel=channel, count=len(items))
        log.info("verified batch", channel=channel, who=who, mode=mode.value, n=len(items))
        return verdicts

    @staticmethod
    def _batch_offline(
        pipeline: Pipeline, store: object, items: Sequence[CredentialInput | InputError]
    ) -> list[Verdict]:
        """An offline batch in one pass (Pipeline.verify_many: one moment, one read of the
        snapshot's meta and the typed ENPs' records for the whole batch, each item's answer
        what Pipeline.verify gives at that moment)."""
        inputs = [e for e in items if isinstance(e, CredentialInput)]
        verified = pipeline.verify_many(inputs, mode=LookupMode.OFFLINE, register=store)
        # The batch's one moment (verify_many reads the clock once) for the unreadable too.
        moment = next((a.checked_at for a in verified if isinstance(a, Verdict)), None)
        now = moment or datetime.now(UTC)
        answers = iter(verified)
        out: list[Verdict] = []
        for entry in items:
            if isinstance(entry, InputError):
                out.append(unrecognized_verdict(_NO_INPUT, entry, now))
                continue
            answer = next(answers)
            if isinstance(answer, RecognitionError):
                answer = unrecognized_verdict(entry, answer, now)
            out.append(answer)
        return out

    async def _batch_online(
        self,
        items: Sequence[CredentialInput | InputError],
        mode: LookupMode,
        one: Callable[[CredentialInput | InputError, LookupMode], Verdict],
    ) -> list[Verdict]:
        """Bounded concurrency inside the registry budget (see :meth:`verify_batch`)."""
        loop = asyncio.get_running_loop()
        if self._batch_executor is None:
            self._batch_executor = ThreadPoolExecutor(
                max_workers=BATCH_CONCURRENCY, thread_name_prefix="oms-batch"
            )
        pool = self._batch_executor
        sem = asyncio.Semaphore(BATCH_CONCURRENCY)
        # The budget of one online lookup, times the rounds a full batch needs at this width.
        rounds = -(-len(items) // BATCH_CONCURRENCY)
        deadline = loop.time() + self.cfg.registry.budget_s * max(1, rounds)

        async def run(entry: CredentialInput | InputError) -> Verdict:
            async with sem:
                if loop.time() >= deadline:
                    return _out_of_budget(entry)
                return await loop.run_in_executor(pool, one, entry, mode)

        return list(await asyncio.gather(*(run(e) for e in items)))

    async def search(self, query: PersonQuery, *, who: str, mode: LookupMode) -> SearchResult:
        """A person search (verifier/service/search.py) on the pool, audited: one row per
        candidate, and one row for a search that found nobody (the route is a name oracle)."""
        loop = asyncio.get_running_loop()
        parts = self.parts
        result = await loop.run_in_executor(self.executor, lambda: search(parts, query, mode))
        rows = list(result.candidates) or [_nobody(result)]

        for verdict in rows:
            self.audit.submit(verdict, who=who, channel="search")
        log.info(
            "searched",
            who=who,
            mode=mode.value,
            source=AnswerSource(result.source.value),
            candidates=len(result.candidates),
        )
        return result

    async def on_credential(self, item: CredentialInput) -> None:
        """What drivers call: verify, publish to screens, never raise into the driver."""
        screen = self.cfg.screens.screen_of(item.source)
        try:
            await self.verify(item, who=item.source, channel="driver", publish=True, screen=screen)
        except Exception:  # a driver read must never take the driver down
            self.counters.errors += 1
            log.exception("verification of a driver read failed", source=item.source)

    async def decode_image(self, body: bytes, source: str) -> CredentialInput:
        """The first barcode in an uploaded PNG/JPEG as an input; raises ImageError (ImageBusy
        when every decode slot stayed taken). Own pool: an upload waiting for a decode slot
        never holds a verification worker."""
        from verifier.imaging import decode_image_bytes

        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self.image_executor, decode_image_bytes, body)
        first = found[0]
        return CredentialInput(
            first.payload, source=source, symbology=ReadSymbology(first.symbology.value)
        )

    async def match(
        self, enp: str, surname: str, given_name: str, patronymic: str | None, birth_date: date
    ) -> MatchAnswer:
        """Does the register's keyed name hash for ``enp`` match this person? Only the local
        snapshot is asked; without the register's key nothing can be compared."""
        key = self.match_key()
        if key is None:
            return MatchAnswer(MatchOutcome.NO_KEY)
        store = self.parts.store
        record = await asyncio.get_running_loop().run_in_executor(
            self.executor, store.lookup_enp, enp
        )
        if record is None:
            return MatchAnswer(MatchOutcome.NOT_IN_REGISTER)
        ok = name_hash.matches(key, record.name_hash, surname, given_name, patronymic, birth_date)
        return MatchAnswer(MatchOutcome.COMPARED, ok)

    # --- screens' events -------------------------------------------------------------------

    def recent_events(self, limit: int, *, channel: Channel, screen: str | None) -> list[ScanEvent]:
        return self.bus.recent(limit, channel=channel, screen=screen)

    def subscribe_events(self, channel: Channel, screen: str | None) -> asyncio.Queue[ScanEvent]:
        """A queue of the events ``channel``/``screen`` shows; :meth:`unsubscribe_events` it."""
        return self.bus.subscribe(lambda e: e.visible_on(channel, screen))

    def unsubscribe_events(self, queue: asyncio.Queue[ScanEvent]) -> None:
        self.bus.unsubscribe(queue)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._stop.clear()
        self._hold_reads()
        for d in self.drivers:
            self._tasks.append(asyncio.create_task(self._supervise(d), name=f"driver {d.name}"))
        if self.sync is not None:
            self._tasks.append(asyncio.create_task(self._sync_supervisor(), name="snapshot sync"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        await asyncio.get_running_loop().run_in_executor(self.executor, self.parts.close)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.image_executor.shutdown(wait=False, cancel_futures=True)
        if self._batch_executor is not None:
            self._batch_executor.shutdown(wait=False, cancel_futures=True)
        self.audit.close()

    async def _supervise(self, driver: Driver) -> None:
        restarts = Backoff(1.0, 60.0)
        while not self._stop.is_set():
            try:
                await driver.run(self.on_credential, self._stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = restarts.next()
                log.exception("driver crashed; restarting", driver=driver.name, in_s=delay)
                await asyncio.sleep(delay)

    async def _sync_supervisor(self) -> None:
        """Keep the sync loop alive: if it ever dies, log one line and restart it with backoff.

        Rounds catch their own errors (SnapshotSync.run_once); this is the second fence, for
        whatever escapes the loop itself, so a refresh request always has a loop to wake.
        """
        restarts = Backoff(1.0, 300.0)
        while not self._stop.is_set():
            try:
                await self._sync_loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the second fence: whatever escapes the loop is recorded and the loop restarted
                delay = restarts.next()
                if self.sync is not None:
                    st = self.sync.status
                    st.task_restarts += 1
                    st.last_error = describe(exc)
                    st.next_attempt = datetime.now(UTC) + timedelta(seconds=delay)
                log.error(
                    "snapshot sync task died; restarting", error=type(exc).__name__, in_s=delay
                )
                self._sync_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)

    async def _sync_loop(self) -> None:
        while not self._stop.is_set():
            sync = self.sync
            client, loop = self.parts.client, self.parts.loop
            if sync is None or client is None or loop is None:
                return
            await self._sync_round(sync, loop.loop)
            nxt = sync.status.next_attempt or datetime.now(UTC) + timedelta(seconds=60)
            wait = max(1.0, (nxt - datetime.now(UTC)).total_seconds())
            self._sync_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sync_now.wait(), timeout=wait)

    async def _sync_round(self, sync: SnapshotSync, loop: asyncio.AbstractEventLoop) -> None:
        """One round on the client's own loop thread (see registry/blocking.py).

        run_once records every failure in ``sync.status`` and raises only typed errors; any
        exception from here on is caught too, so the round boundary is the failure boundary.
        """
        fut = asyncio.run_coroutine_threadsafe(sync.run_once(), loop)
        try:
            await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except (OmsError, OSError):
            pass  # recorded in sync.status by run_once
        except Exception as exc:  # noqa: BLE001 - e.g. the client loop closed under us: record, back off
            sync.record_failure(exc)

    def request_sync(self) -> bool:
        if self.sync is None:
            return False
        self._sync_now.set()
        return True

    async def _housekeeping(self) -> None:
        while not self._stop.is_set():
            loop = asyncio.get_running_loop()
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self.executor, self.audit.prune)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=3600)

    async def reload(self, cfg: Config) -> None:
        """SIGHUP: new config, trust store and pipeline swapped in; connections are kept."""
        parts = await asyncio.get_running_loop().run_in_executor(self.executor, assemble, cfg)
        # Both at once, after the new parts are made: a reload that fails keeps the running
        # configuration whole (its HTTP checks too), and no request sees the new tokens or
        # hosts beside the old pipeline.
        old = self.parts
        self.cfg, self.parts = cfg, parts
        self._hold_reads()
        if self.parts.client is not None:
            self.sync = self._make_sync(self.parts, self.parts.client)
        await asyncio.get_running_loop().run_in_executor(self.executor, old.close)
        log.info("configuration reloaded")

    def _hold_reads(self) -> None:
        """The loop's lookups share one read of the snapshot per step of the loop
        (SnapshotStore.hold_reads); on the loop's thread, where the offline lookups run."""
        store = self.parts.store
        if isinstance(store, SnapshotStore):
            store.hold_reads(LoopStep(asyncio.get_running_loop()))

    def match_key(self) -> bytes | None:
        """The register's name-hash key (``[register] match_key_file``), as the pipeline uses it."""
        key = self.parts.pipeline.holder
        return key.key.key if isinstance(key, HolderMatcher) and key.key is not None else None

    # --- health ------------------------------------------------------------------------------

    def driver_health(self) -> list[DriverHealth]:
        return [d.health() for d in self.drivers]

    def healthy(self) -> bool:
        """For the systemd watchdog: no driver has given up."""
        return self.ready and all(h.state is not DriverState.FAILED for h in self.driver_health())

    def _freshness(self) -> tuple[StoreInfo, PartFreshness, PartFreshness]:
        """The store's info and how fresh its register and revocation parts are now."""
        st = store_status(self.cfg, self.parts.store)
        return st.info, st.register, st.revocations

    def readings(self) -> Readings:
        """What /metrics exposes, typed (no personal data: counts, states, driver names)."""
        parts = self.parts
        info, reg, rev = self._freshness()
        client = parts.client
        registry = RegistryReading(configured=False)
        if client is not None:
            stats = client.stats
            registry = RegistryReading(
                configured=True,
                breaker=client.breaker.state.value,
                breaker_opened=client.breaker.opened_count,
                requests=stats.get("requests", 0),
                retries=stats.get("retries", 0),
                failures=stats.get("failures", 0),
                breaker_rejections=stats.get("breaker_rejections", 0),
                refused=stats.get("refused", 0),
                bytes_read=stats.get("bytes_read", 0),
            )
        sync = None
        if self.sync is not None:
            st = self.sync.status
            sync = SyncReading(
                last_success=st.last_success,
                last_attempt=st.last_attempt,
                failures_total=st.failures_total,
                consecutive_failures=st.consecutive_failures,
                trust_list_failures_total=st.trust_list_failures_total,
                task_restarts=st.task_restarts,
            )
        return Readings(
            version=package_version(),
            started_at=self.started_at,
            ready=self.ready,
            verifications_by_outcome=dict(self.counters.by_outcome or {}),
            unrecognized=self.counters.unrecognized,
            driver_errors=self.counters.errors,
            verify_latency=self.verify_latency.snapshot(),
            snapshot=SnapshotReading(
                state=reg.state.value,
                revocations=rev.state.value,
                sequence=info.sequence,
                records=info.records,
                age_s=reg.age_s,
                clock_skew_s=info.clock_skew_s,
            ),
            registry=registry,
            sync=sync,
            drivers=tuple(
                DriverReading(
                    name=h.name,
                    kind=h.kind,
                    state=h.state.value,
                    up=h.state is DriverState.OK,
                    reads=h.reads,
                    errors=h.errors,
                )
                for h in self.driver_health()
            ),
            trust_keys=len(parts.trust.keys()),
            events_published=self.bus.published,
            sse_subscribers=self.bus.subscribers,
        )

    def status(self) -> dict[str, Any]:
        parts = self.parts
        st = store_status(self.cfg, parts.store)
        info, reg, rev = st.info, st.register, st.revocations
        registry: dict[str, Any] = {"configured": parts.client is not None}
        if parts.client is not None:
            registry.update(
                url=self.cfg.registry.url,
                breaker=parts.client.breaker.state.value,
                stats=dict(parts.client.stats),
            )
        return {
            "version": package_version(),
            "started_at": self.started_at.isoformat(),
            "ready": self.ready,
            "drivers": [h.to_dict() for h in self.driver_health()],
            "snapshot": {
                "state": reg.state.value,
                "region": info.region,
                "sequence": info.sequence,
                "records": info.records,
                "age_s": reg.age_s,
                "register_valid_until": _iso(info.register_valid_until),
                "revocations": rev.state.value,
                "revocations_valid_until": _iso(info.revocations_valid_until),
                "clock_skew_s": info.clock_skew_s,
                "clock_skewed": st.clock_skewed,
            },
            "registry": registry,
            "sync": self.sync.status.to_dict() if self.sync else None,
            "trust": {"keys": len(parts.trust.keys()), "list_version": parts.trust.list_version},
            "events": {"published": self.bus.published, "subscribers": self.bus.subscribers},
            "verifications": self.counters.verifications,
        }


class MatchOutcome(StrEnum):
    NO_KEY = "no_key"  # [register] match_key_file is not set: nothing to compare with
    NOT_IN_REGISTER = "not_in_register"  # the ENP is not in the local snapshot
    COMPARED = "compared"


@dataclass(frozen=True, slots=True)
class MatchAnswer:
    """``match`` is ``None`` unless the name hash was compared."""

    outcome: MatchOutcome
    match: bool | None = None


def _nobody(result: SearchResult) -> Verdict:
    """The audit row of a search without candidates: no ENP, outcome unknown, who answered."""
    now = datetime.now(UTC)
    return Verdict(
        outcome=Outcome.UNKNOWN,
        reasons=(),
        message="поиск по ФИО и дате рождения: никого не найдено",
        credential=None,
        checks=(),
        source=AnswerSource(result.source.value),
        checked_at=now,
        input_source="search",
    )


def _typed_enp(item: CredentialInput) -> bool:
    """Exactly a typed 16-digit ENP: nothing to decode, no signature, no document."""
    p = item.payload
    return item.manual and len(p) == 16 and p.isdigit() and p.isascii()


def _out_of_budget(entry: CredentialInput | InputError) -> Verdict:
    """A batch item the registry budget left no time for: unknown, never a guess."""
    reasons = (Reason.REGISTRY_UNAVAILABLE,)
    return Verdict(
        outcome=Outcome.UNKNOWN,
        reasons=reasons,
        message=message_ru(Outcome.UNKNOWN, reasons),
        action=action_ru(Outcome.UNKNOWN, reasons),
        credential=None,
        checks=(),
        source=AnswerSource.NONE,
        checked_at=datetime.now(UTC),
        input_source=entry.source if isinstance(entry, CredentialInput) else "batch",
    )


def _count_batch(counters: Counters, verdicts: Sequence[Verdict]) -> None:
    """``counters.count`` of every verdict, and the unrecognised ones, in one pass."""
    from collections import Counter  # here: this helper's own import

    by_outcome = Counter(v.outcome for v in verdicts)
    counters.verifications += len(verdicts)
    if counters.by_outcome is None:
        counters.by_outcome = {}
    for outcome, n in by_outcome.items():
        counters.by_outcome[outcome.value] = counters.by_outcome.get(outcome.value, 0) + n
    shared = {id(v.reasons): v.reasons for v in verdicts}
    counted = {k: Reason.UNRECOGNIZED in rs for k, rs in shared.items()}
    counters.unrecognized += sum(1 for v in verdicts if counted[id(v.reasons)])


def _batch_row(verdicts: Sequence[Verdict], mode: LookupMode) -> Verdict:
    """The one audit row of a batch: no ENP (the row stands for many), the worst outcome,
    the outcome when all agree (else ``unknown``), every reason seen; the count goes in
    the row's reasons (``batch:N``)."""
    outcomes = {v.outcome for v in verdicts}
    worst = outcomes.pop() if len(outcomes) == 1 else Outcome.UNKNOWN
    # A batch's verdicts share their reason tuples (one per group): each folded once, in
    # the order first seen.
    shared = {id(v.reasons): v.reasons for v in verdicts}
    reasons = tuple(dict.fromkeys(r for rs in shared.values() for r in rs))
    sources = {v.source for v in verdicts}
    return Verdict(
        outcome=worst,
        reasons=reasons,
        message=f"пакетная проверка ({mode.value}): {len(verdicts)}",
        credential=None,
        checks=(),
        source=sources.pop() if len(sources) == 1 else AnswerSource.NONE,
        checked_at=datetime.now(UTC),
        input_source="batch",
    )


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None
