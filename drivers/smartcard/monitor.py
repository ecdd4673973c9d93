"""PC/SC reader and card monitoring with pyscard, and :class:`PcscDriver` on top of it.

pyscard's calls block, so all of PC/SC lives in one worker thread (:class:`CardMonitor`): it
holds a PC/SC context, waits in ``SCardGetStatusChange`` (with a short timeout, so it notices
``stop`` and new readers), and reads each inserted card once with
:func:`drivers.smartcard.goznak.read_card`. The event loop only receives finished reads through
``call_soon_threadsafe``. Whatever happens to pcscd, the readers or the card, the worker logs it,
updates the health and carries on: pcscd gone → release the context and re-establish with
backoff; reader gone → pick again; card pulled mid-read / unknown card / garbage → one clean
event and an ``errors`` increment, and the next insertion is read normally.

The decisions (which reader, whether this insertion was read already, how long to back off) are
pure helpers next to the loop so they are tested without a reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from drivers.base import DriverHealth, DriverState, Emit, SourceSpec
from drivers.smartcard import goznak
from drivers.smartcard.apdu import CardError, CardRemoved
from verifier.backoff import Backoff
from verifier.credential import CredentialInput, ReadSymbology

log = structlog.get_logger(__name__)

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"  # pcsc-lite's pseudo reader for reader hot-plug
_U32 = 0xFFFFFFFF


# --- pure helpers -------------------------------------------------------------------------


def pick_reader(readers: Sequence[str], wanted: str | None) -> str | None:
    """First reader when ``wanted`` is empty, else the first whose name contains it (any case)."""
    usable = [r for r in readers if r and r != PNP_NOTIFICATION]
    if not wanted:
        return usable[0] if usable else None
    w = wanted.casefold()
    return next((r for r in usable if w in r.casefold()), None)


@dataclass
class InsertionTracker:
    """Reads each insertion once. pcsc-lite counts insertions/removals in the high 16 bits of
    the reader's event state, so a quick remove + insert between two polls is still new."""

    present: bool = False
    counter: int | None = None
    done: bool = False

    def observe(self, present: bool, counter: int) -> bool:
        """Feed the reader's state; True when a card is there that was not handled yet."""
        if not present:
            self.present, self.done = False, False
            self.counter = counter
            return False
        if not self.present or counter != self.counter:
            self.done = False
        self.present, self.counter = True, counter
        return not self.done

    def handled(self) -> None:
        self.done = True

    def forget(self) -> None:
        """Reader or service gone: the next card seen is a new one."""
        self.present, self.counter, self.done = False, None, False


@dataclass(frozen=True, slots=True)
class CardEvent:
    """One thing that happened, for logs, tests and the health page."""

    kind: str  # "read", "read_failed", "service", "reader"
    reader: str | None = None
    code: str = ""
    detail: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


# --- the PC/SC worker ---------------------------------------------------------------------


def load_scard() -> Any:
    """pyscard's low-level module (untyped); ImportError when pyscard is not installed."""
    from smartcard import scard  # type: ignore[import-untyped]

    return scard


class _ServiceGone(Exception):
    """pcscd went away: drop the context and start over (internal control flow)."""


class CardMonitor:
    """The blocking PC/SC loop; run it in a thread with :meth:`run`, stop with :meth:`stop`."""

    def __init__(
        self,
        on_read: Callable[[str, bytes], None],
        on_event: Callable[[CardEvent], None],
        health: DriverHealth,
        health_lock: threading.Lock,
        *,
        reader: str | None = None,
        poll_interval: float = 0.5,
        backoff: Backoff | None = None,
        chunk: int = goznak.CHUNK,
        scard: Any = None,
    ) -> None:
        self.on_read, self.on_event = on_read, on_event
        self.health, self._hlock = health, health_lock
        self.wanted = reader
        self.poll_ms = max(10, int(poll_interval * 1000))
        self.backoff = backoff or Backoff(initial=0.2)
        self.chunk = chunk
        self.s = scard if scard is not None else load_scard()
        self._stop = threading.Event()
        self._ctx: Any = None
        self._ctx_lock = threading.Lock()
        self._tracker = InsertionTracker()
        self._reader: str | None = None

    # constants are compared unsigned: pyscard gives some results as negative ints
    def _is(self, hr: int, *names: str) -> bool:
        return any((hr & _U32) == (getattr(self.s, n, -1) & _U32) for n in names)

    def _err(self, hr: int) -> str:
        try:
            return f"{self.s.SCardGetErrorMessage(hr)} (0x{hr & _U32:08X})"
        except Exception:  # noqa: BLE001 - message lookup is best effort  # pragma: no cover
            return f"0x{hr & _U32:08X}"

    def _set(self, state: DriverState, detail: str) -> None:
        with self._hlock:
            changed = state is not self.health.state or detail != self.health.detail
            self.health.set(state, detail)
        if changed:
            log.info("pcsc_state", driver=self.health.name, state=state.value, detail=detail)

    def stop(self) -> None:
        self._stop.set()
        with self._ctx_lock:
            ctx = self._ctx
        if ctx is not None:
            with contextlib.suppress(Exception):
                self.s.SCardCancel(ctx)  # wakes a blocked SCardGetStatusChange

    # --- main loop -----------------------------------------------------------------------

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                hr, ctx = self.s.SCardEstablishContext(self.s.SCARD_SCOPE_USER)
            except Exception as exc:  # noqa: BLE001 - defensive: never let the thread die
                hr, ctx = -1, None
                log.warning("pcsc_establish_crashed", error=repr(exc))
            if hr != 0 or ctx is None:
                self._event("service", None, "pcsc_unavailable", self._err(hr))
                self._set(DriverState.WAITING, "PC/SC service (pcscd) not reachable")
                self._stop.wait(self.backoff.next())
                continue
            with self._ctx_lock:
                self._ctx = ctx
            try:
                self._watch(ctx)
            except _ServiceGone as exc:
                self._event("service", self._reader, "pcsc_lost", str(exc))
                self._set(DriverState.WAITING, f"PC/SC service lost: {exc}")
                self._stop.wait(self.backoff.next())
            except Exception as exc:  # a bug or a pyscard surprise: log, back off, go on
                log.exception("pcsc_monitor_error")
                self._event("service", self._reader, "pcsc_error", repr(exc))
                self._set(DriverState.WAITING, f"PC/SC error: {exc!r}")
                self._stop.wait(self.backoff.next())
            finally:
                with self._ctx_lock:
                    self._ctx = None
                with contextlib.suppress(Exception):
                    self.s.SCardReleaseContext(ctx)
                self._tracker.forget()
                self._reader = None
        self._set(DriverState.STOPPED, "stopped")

    def _list_readers(self, ctx: Any) -> list[str]:
        hr, readers = self.s.SCardListReaders(ctx, [])
        if hr == 0:
            return [str(r) for r in readers]
        if self._is(hr, "SCARD_E_NO_READERS_AVAILABLE"):
            return []
        raise _ServiceGone(self._err(hr))

    def _watch(self, ctx: Any) -> None:
        pnp_state = self.s.SCARD_STATE_UNAWARE
        reader_state = self.s.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            reader = pick_reader(self._list_readers(ctx), self.wanted)
            if reader != self._reader:
                if self._reader is not None:
                    self._event("reader", self._reader, "reader_gone", "")
                self._tracker.forget()
                reader_state = self.s.SCARD_STATE_UNAWARE
                self._reader = reader
                if reader is not None:
                    self._event("reader", reader, "reader_found", "")
            if reader is None:
                want = f" matching {self.wanted!r}" if self.wanted else ""
                self._set(DriverState.WAITING, f"no card reader{want}")
            self.backoff.reset()
            states = [(PNP_NOTIFICATION, pnp_state)]
            if reader is not None:
                states.insert(0, (reader, reader_state))
            hr, out = self.s.SCardGetStatusChange(ctx, self.poll_ms, states)
            if self._is(hr, "SCARD_E_TIMEOUT", "SCARD_E_CANCELLED"):
                continue
            if self._is(hr, "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE"):
                reader_state = self.s.SCARD_STATE_UNAWARE
                self._stop.wait(0.05)
                continue
            if hr != 0:
                raise _ServiceGone(self._err(hr))
            for name, event_state, atr in out:
                if name == PNP_NOTIFICATION:
                    pnp_state = event_state & ~self.s.SCARD_STATE_CHANGED
                elif reader is not None and name == reader:
                    reader_state = event_state & ~self.s.SCARD_STATE_CHANGED
                    self._on_reader_state(ctx, reader, event_state, bytes(atr))

    def _on_reader_state(self, ctx: Any, reader: str, state: int, atr: bytes) -> None:
        s = self.s
        if state & (s.SCARD_STATE_UNAVAILABLE | s.SCARD_STATE_UNKNOWN | s.SCARD_STATE_IGNORE):
            self._tracker.forget()
            self._set(DriverState.WAITING, f"reader {reader} unavailable")
            return
        present = bool(state & s.SCARD_STATE_PRESENT)
        counter = (state >> 16) & 0xFFFF
        if not self._tracker.observe(present, counter):
            if not present:
                self._set(DriverState.OK, f"{reader}: waiting for a card")
            return
        self._tracker.handled()
        if state & s.SCARD_STATE_MUTE:
            self._failed(reader, "card_mute", "card does not answer reset (mute)")
            return
        self._set(DriverState.OK, f"{reader}: reading card")
        self._read(ctx, reader, atr)
        self._set(DriverState.OK, f"{reader}: card read, waiting for the next")

    # --- one card ------------------------------------------------------------------------

    def _read(self, ctx: Any, reader: str, atr_seen: bytes) -> None:
        s = self.s
        try:
            goznak.check_atr(atr_seen)  # before connecting: other cards are not touched at all
        except CardError as exc:
            self._failed(reader, exc.code, exc.message)
            return
        hr, card, protocol = s.SCardConnect(
            ctx, reader, s.SCARD_SHARE_SHARED, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1
        )
        if hr != 0:
            if self._is(hr, "SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED"):
                raise _ServiceGone(self._err(hr))
            self._failed(reader, "card_connect_failed", self._err(hr))
            return
        try:
            hr, _name, _state, _proto, atr = s.SCardStatus(card)
            if hr != 0:
                raise CardRemoved(f"card status: {self._err(hr)}")
            pci = protocol

            def transmit(command: bytes) -> bytes:
                rc, response = s.SCardTransmit(card, pci, list(command))
                if rc != 0:
                    raise CardRemoved(f"transmit: {self._err(rc)}")
                if not response:  # vpcd (and some readers) when the card leaves mid-APDU
                    raise CardRemoved("reader returned no response: card pulled?")
                return bytes(response)

            result = goznak.read_card(bytes(atr), transmit, chunk=self.chunk)
        except CardError as exc:
            self._failed(reader, exc.code, exc.message)
            return
        finally:
            with contextlib.suppress(Exception):
                s.SCardDisconnect(card, s.SCARD_LEAVE_CARD)
        with self._hlock:
            self.health.reads += 1
            self.health.last_read_at = datetime.now(UTC)
        self._event("read", reader, "ok", f"{len(result.dump)} bytes")
        self.on_read(reader, result.dump)

    def _failed(self, reader: str, code: str, detail: str) -> None:
        with self._hlock:
            self.health.errors += 1
        self._event("read_failed", reader, code, detail)

    def _event(self, kind: str, reader: str | None, code: str, detail: str) -> None:
        ev = CardEvent(kind, reader, code, detail)
        level = log.warning if kind == "read_failed" or code.startswith("pcsc_") else log.info
        level("pcsc_" + kind, reader=reader, code=code, detail=detail)
        with contextlib.suppress(Exception):
            self.on_event(ev)


# --- the driver ---------------------------------------------------------------------------


class PcscDriver:
    """:class:`drivers.base.Driver` for contact card readers through PC/SC (``pcsc[:NAME]``).

    ``reader``: a substring of the reader name (case-insensitive); None → the first reader.
    Emits one ``CredentialInput(payload=<card dump>, source="pcsc:<reader>", symbology="card")``
    per inserted Goznak card.
    """

    kind = "pcsc"

    def __init__(
        self,
        reader: str | None = None,
        *,
        name: str | None = None,
        poll_interval: float = 0.5,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        chunk: int = goznak.CHUNK,
        on_event: Callable[[CardEvent], None] | None = None,
        max_events: int = 200,
    ) -> None:
        self.reader = reader or None
        self.name = name or str(SourceSpec("pcsc", self.reader))
        self.poll_interval = poll_interval
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.chunk = chunk
        self.events: deque[CardEvent] = deque(maxlen=max_events)
        self._on_event = on_event
        self._health = DriverHealth(self.name, self.kind)
        self._hlock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: SourceSpec | str, **kw: Any) -> PcscDriver:
        s = SourceSpec.parse(spec) if isinstance(spec, str) else spec
        if s.kind != "pcsc":
            raise ValueError(f"PcscDriver needs a pcsc source, got {s}")
        return cls(s.target, **kw)

    def health(self) -> DriverHealth:
        with self._hlock:
            return dataclasses.replace(self._health)

    def _record(self, ev: CardEvent) -> None:
        self.events.append(ev)
        if self._on_event is not None:
            self._on_event(ev)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[CredentialInput] = asyncio.Queue()

        def on_read(reader: str, dump: bytes) -> None:
            item = CredentialInput(
                payload=dump, source=f"pcsc:{reader}", symbology=ReadSymbology.CARD
            )
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, item)

        try:
            monitor = CardMonitor(
                on_read,
                self._record,
                self._health,
                self._hlock,
                reader=self.reader,
                poll_interval=self.poll_interval,
                backoff=Backoff(self.backoff_initial, self.backoff_max),
                chunk=self.chunk,
            )
        except ImportError as exc:
            with self._hlock:
                self._health.set(DriverState.FAILED, f"pyscard is not installed: {exc}")
            log.error("pcsc_unavailable", driver=self.name, error=str(exc))
            await stop.wait()
            with self._hlock:
                self._health.set(DriverState.STOPPED, "stopped")
            return
        worker = threading.Thread(target=monitor.run, name=f"pcsc-{self.name}", daemon=True)
        worker.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {getting, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in done:
                    getting.cancel()
                    break
                item = getting.result()
                try:
                    await emit(item)
                except Exception:  # the consumer's trouble must not stop the reader
                    log.exception("pcsc_emit_failed", driver=self.name)
        finally:
            stopping.cancel()
            monitor.stop()
            await asyncio.to_thread(worker.join, self.poll_interval + 5.0)
