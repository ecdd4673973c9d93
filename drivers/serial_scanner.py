"""USB-CDC (virtual COM port) desk scanners, and the fd-reading loop all byte scanners share.

:class:`StreamDriver` is the thin I/O part: it opens a device node non-blocking, watches it
with the event loop's fd reader (no threads, nothing blocks the loop), hands bytes to pure
protocol code, and reconnects with exponential backoff when the device disappears.  The serial,
HID POS and keyboard-wedge drivers only say how to find, open and interpret their device.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from drivers.aim import AimMode, AimRead, split_aim
from drivers.base import DriverHealth, DriverState, Emit, SourceSpecError
from drivers.discovery import UsbId, find_tty
from drivers.framing import Framer, FramingConfig
from verifier.backoff import Backoff
from verifier.credential import CredentialInput, ReadSymbology

_READ_SIZE = 4096


def symbology_of(name: str | None) -> str | None:
    """A configured default symbology, checked when the driver is built (not at the first
    read): an unknown name is a typed configuration error."""
    if name is None:
        return None
    try:
        return ReadSymbology(name).value
    except ValueError:
        choices = ", ".join(s.value for s in ReadSymbology)
        raise SourceSpecError(f"unknown symbology {name!r} (one of {choices})") from None


class _Closed:
    def __init__(self, reason: str) -> None:
        self.reason = reason


class StreamDriver:
    """Base of the byte-stream scanner drivers (subclasses fill in the device specifics)."""

    kind = "stream"

    def __init__(self, name: str, *, backoff: Backoff | None = None) -> None:
        self.name = name
        self.backoff = backoff or Backoff()
        self._health = DriverHealth(name=name, kind=self.kind)
        self.counters: dict[str, int] = {
            "bytes": 0,
            "reads": 0,
            "dropped": 0,
            "errors": 0,
            "connects": 0,
            "disconnects": 0,
        }
        self.device_path: str | None = None

    # -- what subclasses provide -------------------------------------------------------------

    def resolve(self) -> str | None:
        """The device node to open now, ``None`` when absent."""
        raise NotImplementedError

    def open_device(self, path: str) -> tuple[int, Callable[[], None]]:
        """Open ``path`` non-blocking: (fd, close)."""
        raise NotImplementedError

    def on_data(self, data: bytes, now: float) -> list[CredentialInput]:
        raise NotImplementedError

    def on_idle(self, now: float) -> list[CredentialInput]:
        return []

    def deadline(self) -> float | None:
        return None

    def on_disconnect(self) -> list[CredentialInput]:
        return []

    def describe_absent(self) -> str:
        return "device not found"

    # -- shared ------------------------------------------------------------------------------

    def health(self) -> DriverHealth:
        self._health.errors = self.counters["errors"] + self.counters["dropped"]
        return self._health

    def make_input(self, read: AimRead, default_symbology: str | None) -> CredentialInput:
        name = read.symbology.value if read.symbology is not None else default_symbology
        sym = ReadSymbology(name) if name else None  # a configured name is checked at start
        self.counters["reads"] += 1
        self._health.reads += 1
        self._health.last_read_at = datetime.now(UTC)
        return CredentialInput(payload=read.payload, source=self.name, symbology=sym)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        delay = 0.0
        try:
            while not stop.is_set():
                if delay:
                    await _sleep_or_stop(stop, delay)
                    if stop.is_set():
                        break
                path = self.resolve()
                if path is None:
                    self._health.set(DriverState.WAITING, self.describe_absent())
                    delay = self.backoff.next(delay)
                    continue
                try:
                    fd, close = self.open_device(path)
                except OSError as exc:
                    why = exc.strerror or str(exc)
                    if isinstance(exc, PermissionError):
                        why += " (is the service in the device's group? see docs/drivers.md)"
                    self._health.set(DriverState.WAITING, f"{path}: {why}")
                    delay = self.backoff.next(delay)
                    continue
                self.device_path = path
                self.counters["connects"] += 1
                self._health.set(DriverState.OK, path)
                delay = 0.0
                try:
                    reason = await self._pump(fd, emit, stop)
                finally:
                    with contextlib.suppress(OSError):
                        close()
                for item in self.on_disconnect():
                    await emit(item)
                if reason is not None:
                    self.counters["disconnects"] += 1
                    self._health.set(DriverState.WAITING, f"{path}: {reason}")
                    delay = self.backoff.initial
        finally:
            self._health.set(DriverState.STOPPED)

    async def _pump(self, fd: int, emit: Emit, stop: asyncio.Event) -> str | None:
        """Read until the device goes away (returns why) or ``stop`` (returns ``None``)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | _Closed | None] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                loop.remove_reader(fd)
                queue.put_nowait(_Closed(exc.strerror or str(exc)))
                return
            if not data:
                loop.remove_reader(fd)
                queue.put_nowait(_Closed("end of stream (unplugged)"))
                return
            queue.put_nowait(data)

        async def watch_stop() -> None:
            await stop.wait()
            queue.put_nowait(None)

        loop.add_reader(fd, readable)
        stopper = asyncio.create_task(watch_stop())
        try:
            while True:
                deadline = self.deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    for read in self.on_idle(time.monotonic()):
                        await emit(read)
                    continue
                if item is None:
                    return None
                if isinstance(item, _Closed):
                    return item.reason
                self.counters["bytes"] += len(item)
                for read in self.on_data(item, time.monotonic()):
                    await emit(read)
        finally:
            loop.remove_reader(fd)
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class FramedStreamDriver(StreamDriver):
    """A stream driver whose bytes are cut into reads by a :class:`Framer` + AIM stripping."""

    def __init__(
        self,
        name: str,
        *,
        framing: FramingConfig | str | None = None,
        aim: AimMode = "auto",
        symbology: str | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, backoff=backoff)
        if isinstance(framing, str):
            framing = FramingConfig.parse(framing)
        self.framer = Framer(framing)
        self.aim: AimMode = aim
        self.symbology = symbology_of(symbology)

    def _frames_to_inputs(self, frames: list[bytes]) -> list[CredentialInput]:
        out: list[CredentialInput] = []
        for frame in frames:
            try:
                read = split_aim(frame, self.aim)
            except ValueError:
                self.counters["errors"] += 1
                continue
            if read.payload:
                out.append(self.make_input(read, self.symbology))
        self.counters["dropped"] = self.framer.dropped
        return out

    def on_data(self, data: bytes, now: float) -> list[CredentialInput]:
        return self._frames_to_inputs(self.framer.feed(data, now))

    def on_idle(self, now: float) -> list[CredentialInput]:
        return self._frames_to_inputs(self.framer.poll(now))

    def deadline(self) -> float | None:
        return self.framer.deadline()

    def on_disconnect(self) -> list[CredentialInput]:
        return self._frames_to_inputs(self.framer.flush())


class SerialScannerDriver(FramedStreamDriver):
    """A scanner on a (USB-CDC) serial port.

    ``device``: a path (``/dev/ttyACM0``, ``/dev/oms-scanner-tty-0c2e-0b61``) or ``None`` with
    ``usb`` = a :class:`UsbId` / ``"0c2e:0b61"`` to find the port by vendor:product id (first
    match, looked up again on every reconnect, so re-enumeration as another ttyACM is fine).
    Framing defaults to idle-gap (binary-safe); see :mod:`drivers.framing`.
    """

    kind = "serial"

    def __init__(
        self,
        device: str | None = None,
        *,
        usb: UsbId | str | None = None,
        baudrate: int = 9600,
        framing: FramingConfig | str | None = None,
        aim: AimMode = "auto",
        symbology: str | None = None,
        exclusive: bool = True,
        name: str | None = None,
        backoff: Backoff | None = None,
        sys_root: str = "/sys",
    ) -> None:
        if device is None and usb is None:
            raise ValueError("serial scanner needs a device path or a usb vendor:product id")
        self.usb = UsbId.parse(usb) if isinstance(usb, str) else usb
        self.device = device
        self.baudrate = baudrate
        self.exclusive = exclusive
        self.sys_root = sys_root
        label = device if device is not None else f"usb:{self.usb}"
        super().__init__(
            name or f"serial:{label}",
            framing=framing,
            aim=aim,
            symbology=symbology,
            backoff=backoff,
        )

    def resolve(self) -> str | None:
        if self.device is not None:
            return self.device
        assert self.usb is not None  # noqa: S101 - __init__ refuses neither device nor usb
        found = find_tty(self.usb, sys_root=self.sys_root)
        return found[0] if found else None

    def describe_absent(self) -> str:
        return f"no serial port for usb {self.usb}"

    def open_device(self, path: str) -> tuple[int, Callable[[], None]]:
        import serial  # pyserial; imported here so the pure parts need no serial package

        try:
            port: Any = serial.Serial(
                path, baudrate=self.baudrate, timeout=0, exclusive=self.exclusive
            )
        except serial.SerialException as exc:
            errno = getattr(exc, "errno", None)
            raise OSError(errno or 0, str(exc)) from exc
        fd = port.fileno()
        os.set_blocking(fd, False)
        with contextlib.suppress(Exception):
            port.reset_input_buffer()
        return int(fd), port.close
