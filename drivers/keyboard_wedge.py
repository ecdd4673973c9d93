"""Keyboard-wedge scanners through evdev (``/dev/input/eventN``), grabbed exclusively.

The scanner "types" its read; the driver grabs the device (``EVIOCGRAB``) so the keystrokes
never reach the desktop, and translates key codes with its own :mod:`drivers.keymaps` map
(``us`` or ``ru``), whatever layout the desktop is in.  Enter ends a read.  Text only: a
wedge cannot carry the binary paper-policy record (use serial or HID POS for that).

The event parsing is pure: :func:`parse_events` reads raw ``struct input_event`` records
(``struct timeval`` + ``__u16 type`` + ``__u16 code`` + ``__s32 value``; 24 bytes on 64-bit
Linux, 16 on 32-bit), so recorded streams replay in tests without any device or library.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from drivers.aim import AimMode, split_aim
from drivers.discovery import UsbId, find_evdev
from drivers.keymaps import (
    ENTER_KEYS,
    KEY_CAPSLOCK,
    KEY_LEFTALT,
    KEY_LEFTCTRL,
    KEY_RIGHTALT,
    KEY_RIGHTCTRL,
    SHIFT_KEYS,
    Keymap,
    get_keymap,
)
from drivers.serial_scanner import StreamDriver
from verifier.backoff import Backoff
from verifier.credential import CredentialInput

EV_SYN, EV_KEY, EV_MSC = 0x00, 0x01, 0x04
SYN_REPORT, SYN_DROPPED = 0, 3
KEY_RELEASE, KEY_PRESS, KEY_REPEAT = 0, 1, 2

EVENT_64 = struct.Struct("<qqHHi")  # x86_64, aarch64 (little-endian, 64-bit time_t)
EVENT_32 = struct.Struct("<iiHHi")  # 32-bit ARM/x86 with 32-bit time_t
EVENT_NATIVE = struct.Struct("@llHHi")

EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)

_MODIFIER_BLOCK = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT})


@dataclass(frozen=True, slots=True)
class InputEvent:
    sec: int
    usec: int
    type: int
    code: int
    value: int

    @property
    def time(self) -> float:
        return self.sec + self.usec / 1e6


class EventParser:
    """Incremental ``struct input_event`` parser (a read may end mid-record)."""

    def __init__(self, fmt: struct.Struct = EVENT_NATIVE) -> None:
        self.fmt = fmt
        self._buf = b""

    def feed(self, data: bytes) -> list[InputEvent]:
        buf = self._buf + data
        n = len(buf) // self.fmt.size * self.fmt.size
        self._buf = buf[n:]
        return [InputEvent(*rec) for rec in self.fmt.iter_unpack(buf[:n])]


def parse_events(data: bytes, fmt: struct.Struct = EVENT_NATIVE) -> list[InputEvent]:
    if len(data) % fmt.size:
        raise ValueError(f"{len(data)} bytes is not a whole number of {fmt.size}-byte events")
    return EventParser(fmt).feed(data)


class WedgeDecoder:
    """Key events → text lines (pure).  ``feed`` returns a line when Enter is pressed."""

    def __init__(self, keymap: Keymap | str = "us", *, max_len: int = 4096) -> None:
        self.keymap = get_keymap(keymap) if isinstance(keymap, str) else keymap
        self.max_len = max_len
        self._chars: list[str] = []
        self._held: set[int] = set()
        self._caps = False
        self.unknown_keys = 0
        self.dropped = 0  # reads lost to SYN_DROPPED or overlength

    @property
    def pending(self) -> bool:
        return bool(self._chars)

    def feed(self, event: InputEvent) -> str | None:
        if event.type == EV_SYN and event.code == SYN_DROPPED:
            if self._chars:
                self.dropped += 1
            self.reset()  # the kernel lost events: this read cannot be trusted
            return None
        if event.type != EV_KEY:
            return None
        code, value = event.code, event.value
        if value == KEY_RELEASE:
            self._held.discard(code)
            return None
        if value != KEY_PRESS:  # autorepeat: scanners do not hold keys, ignore
            return None
        self._held.add(code)
        if code in ENTER_KEYS:
            line = "".join(self._chars)
            self._chars.clear()
            return line
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in SHIFT_KEYS or code in _MODIFIER_BLOCK:
            return None
        if self._held & _MODIFIER_BLOCK:  # Ctrl/Alt combinations are commands, not text
            return None
        ch = self.keymap.char(code, bool(self._held & SHIFT_KEYS), self._caps)
        if ch is None:
            self.unknown_keys += 1
            return None
        if len(self._chars) >= self.max_len:
            self.dropped += 1
            self._chars.clear()
        self._chars.append(ch)
        return None

    def feed_all(self, events: Iterable[InputEvent]) -> Iterator[str]:
        for e in events:
            line = self.feed(e)
            if line is not None:
                yield line

    def reset(self) -> None:
        self._chars.clear()
        self._held.clear()


def decode_recording(
    data: bytes, keymap: Keymap | str = "us", fmt: struct.Struct = EVENT_64
) -> list[str]:
    """Lines typed in a recorded event stream (non-empty ones)."""
    return [line for line in WedgeDecoder(keymap).feed_all(parse_events(data, fmt)) if line]


class KeyboardWedgeDriver(StreamDriver):
    """A wedge scanner on ``/dev/input/eventN`` (or found by ``usb`` vendor:product id).

    ``keymap``: ``"us"`` or ``"ru"`` (the layout the scanner is programmed for); ``grab``: take
    the device exclusively (default; without it every read is also typed into the desktop).
    Reads are text, encoded UTF-8, with ``symbology`` from an AIM prefix or ``"keyboard"``.
    """

    kind = "evdev"

    def __init__(
        self,
        device: str | None = None,
        *,
        usb: UsbId | str | None = None,
        keymap: Keymap | str = "us",
        grab: bool = True,
        aim: AimMode = "auto",
        idle: float = 1.0,
        event_format: struct.Struct = EVENT_NATIVE,
        name: str | None = None,
        backoff: Backoff | None = None,
        sys_root: str = "/sys",
    ) -> None:
        if device is None and usb is None:
            raise ValueError("evdev scanner needs a device path or a usb vendor:product id")
        self.device = device
        self.usb = UsbId.parse(usb) if isinstance(usb, str) else usb
        self.decoder = WedgeDecoder(keymap)
        self.grab = grab
        self.aim: AimMode = aim
        self.idle = idle  # a read with no Enter for this long is dropped
        self.event_format = event_format
        self.sys_root = sys_root
        self._parser = EventParser(event_format)
        self._last = 0.0
        super().__init__(name or f"evdev:{device or f'usb:{self.usb}'}", backoff=backoff)

    def resolve(self) -> str | None:
        if self.device is not None:
            return self.device
        assert self.usb is not None  # noqa: S101 - __init__ refuses neither device nor usb
        found = find_evdev(self.usb, sys_root=self.sys_root)
        return found[0] if found else None

    def describe_absent(self) -> str:
        return f"no input device for usb {self.usb}"

    def open_device(self, path: str) -> tuple[int, Callable[[], None]]:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if self.grab:
            try:
                fcntl.ioctl(fd, EVIOCGRAB, 1)
            except OSError:
                os.close(fd)
                raise
        self._parser = EventParser(self.event_format)
        self.decoder.reset()

        def close() -> None:
            if self.grab:
                with contextlib.suppress(OSError):
                    fcntl.ioctl(fd, EVIOCGRAB, 0)
            os.close(fd)

        return fd, close

    def on_data(self, data: bytes, now: float) -> list[CredentialInput]:
        self._last = now
        out: list[CredentialInput] = []
        for line in self.decoder.feed_all(self._parser.feed(data)):
            if not line:
                continue
            try:
                read = split_aim(line.encode("utf-8"), self.aim)
            except ValueError:
                self.counters["errors"] += 1
                continue
            if read.payload:
                out.append(self.make_input(read, "keyboard"))
        self.counters["dropped"] = self.decoder.dropped
        return out

    def deadline(self) -> float | None:
        return self._last + self.idle if self.decoder.pending else None

    def on_idle(self, now: float) -> list[CredentialInput]:
        self.decoder.dropped += 1  # typed but never finished with Enter
        self.decoder.reset()
        self.counters["dropped"] = self.decoder.dropped
        return []
