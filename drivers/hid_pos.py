"""HID POS barcode scanners through ``/dev/hidraw*`` (binary-safe, no keyboard emulation).

A scanner in "HID POS" mode (USB HID usage page 0x8C, Bar Code Scanner) sends each read as one
or more fixed-size input reports.  The layout implemented is the one Honeywell, Access-IS and
other vendors document for the 64-byte scanned-data report (:data:`POS_LAYOUT`)::

    byte 0      report id (0x02)
    byte 1      number of valid data bytes in this report (0..56)
    bytes 2-4   AIM symbology identifier, e.g. "]L2" (may be zero when AIM is off)
    bytes 5-60  data, zero padded
    byte 61     vendor symbology id (ignored)
    byte 62     reserved
    byte 63     bit 0: more data follows in the next report

A read longer than 56 bytes (the 130-byte paper policy takes three reports) is the
concatenation of reports up to one whose "more" bit is clear.  :data:`MICROSCAN_LAYOUT` is the
other common form (id 0x01, length, 62 data bytes, no continuation bit: a read ends with a
report shorter than 62 bytes or after ``idle`` seconds).  Everything here except
:class:`HidPosDriver`'s device handling is pure.  **Assumed** (no device at hand to confirm):
hidraw hands over the report id as byte 0 (true for devices with numbered reports), and
the vendor's report descriptor matches the layout; a different layout is one
:class:`ReportLayout` away.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from drivers.aim import AimId, AimMode, AimRead, parse_aim, split_aim, unescape_eci
from drivers.discovery import UsbId, find_hidraw
from drivers.serial_scanner import StreamDriver, symbology_of
from verifier.backoff import Backoff
from verifier.credential import CredentialInput

HID_POS_USAGE_PAGE = 0x8C


@dataclass(frozen=True, slots=True)
class ReportLayout:
    name: str
    report_id: int | None  # expected byte 0 (None: no report id byte)
    size: int  # bytes per report as hidraw returns it (including the id byte)
    length_offset: int
    aim_offset: int | None  # 3 AIM bytes here, or None
    data_offset: int
    data_max: int
    more_offset: int | None  # byte holding the "more data follows" flag, or None
    more_mask: int = 0x01


POS_LAYOUT = ReportLayout("pos", 0x02, 64, 1, 2, 5, 56, 63)
MICROSCAN_LAYOUT = ReportLayout("microscan", 0x01, 64, 1, None, 2, 62, None)
LAYOUTS = {layout.name: layout for layout in (POS_LAYOUT, MICROSCAN_LAYOUT)}


class ReportError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class HidPosReport:
    data: bytes
    aim: AimId | None
    more: bool


def parse_report(report: bytes, layout: ReportLayout = POS_LAYOUT) -> HidPosReport:
    """One input report → its data bytes, AIM identifier and continuation flag."""
    if len(report) < layout.data_offset:
        raise ReportError(f"report too short ({len(report)} bytes)")
    if layout.report_id is not None and report[0] != layout.report_id:
        raise ReportError(f"report id 0x{report[0]:02x}, expected 0x{layout.report_id:02x}")
    length = report[layout.length_offset]
    if length > layout.data_max:
        raise ReportError(f"data length {length} > {layout.data_max}")
    end = layout.data_offset + length
    if end > len(report):
        raise ReportError(f"data length {length} runs past the {len(report)}-byte report")
    aim = None
    if layout.aim_offset is not None:
        aim = parse_aim(bytes(report[layout.aim_offset : layout.aim_offset + 3]))
    more = False
    if layout.more_offset is not None and layout.more_offset < len(report):
        more = bool(report[layout.more_offset] & layout.more_mask)
    elif layout.more_offset is None:
        more = length == layout.data_max  # a full report: more may follow
    return HidPosReport(bytes(report[layout.data_offset : end]), aim, more)


class ReportAssembler:
    """Joins continued reports into reads (pure).  ``feed`` returns a finished read or None."""

    def __init__(
        self, layout: ReportLayout = POS_LAYOUT, *, aim: AimMode = "auto", max_len: int = 8192
    ) -> None:
        self.layout = layout
        self.aim_mode: AimMode = aim
        self.max_len = max_len
        self._parts = bytearray()
        self._aim: AimId | None = None
        self._open = False
        self.errors = 0

    @property
    def pending(self) -> bool:
        return self._open

    def feed(self, report: bytes) -> AimRead | None:
        try:
            rep = parse_report(report, self.layout)
        except ReportError:
            self.errors += 1
            return None
        if not self._open:
            self._aim = rep.aim
        self._open = True
        self._parts += rep.data
        if len(self._parts) > self.max_len:
            self.errors += 1
            self.reset()
            return None
        return None if rep.more else self.finish()

    def finish(self) -> AimRead | None:
        """End the read in progress (last report seen, or the line went quiet)."""
        if not self._open:
            return None
        data, aim = bytes(self._parts), self._aim
        self.reset()
        if aim is not None:  # identifier carried in the report header
            if aim.uses_eci and self.aim_mode != "off":
                data = unescape_eci(data)
            return AimRead(data, aim if self.aim_mode != "off" else None)
        if not data:
            return None
        try:
            return split_aim(data, self.aim_mode)  # some scanners put the AIM id in the data
        except ValueError:
            self.errors += 1
            return None

    def reset(self) -> None:
        self._parts.clear()
        self._aim = None
        self._open = False


def split_reports(data: bytes, size: int) -> list[bytes]:
    """hidraw returns one report per read; a pipe or replay may join several."""
    if len(data) <= size:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


class HidPosDriver(StreamDriver):
    """A HID POS scanner on ``/dev/hidrawN`` (or found by ``usb`` vendor:product id).

    ``layout``: :data:`POS_LAYOUT` (default) or ``"microscan"``; ``idle``: seconds after which
    an unfinished multi-report read is closed anyway (a lost final report).
    """

    kind = "hidraw"

    def __init__(
        self,
        device: str | None = None,
        *,
        usb: UsbId | str | None = None,
        layout: ReportLayout | str = POS_LAYOUT,
        aim: AimMode = "auto",
        symbology: str | None = None,
        idle: float = 0.3,
        name: str | None = None,
        backoff: Backoff | None = None,
        sys_root: str = "/sys",
    ) -> None:
        if device is None and usb is None:
            raise ValueError("hidraw scanner needs a device path or a usb vendor:product id")
        self.device = device
        self.usb = UsbId.parse(usb) if isinstance(usb, str) else usb
        self.layout = LAYOUTS[layout] if isinstance(layout, str) else layout
        self.assembler = ReportAssembler(self.layout, aim=aim)
        self.symbology = symbology_of(symbology)
        self.idle = idle
        self.sys_root = sys_root
        self._last = 0.0
        super().__init__(name or f"hidraw:{device or f'usb:{self.usb}'}", backoff=backoff)

    def resolve(self) -> str | None:
        if self.device is not None:
            return self.device
        assert self.usb is not None  # noqa: S101 - __init__ refuses neither device nor usb
        found = find_hidraw(self.usb, sys_root=self.sys_root)
        return found[0] if found else None

    def describe_absent(self) -> str:
        return f"no hidraw device for usb {self.usb}"

    def open_device(self, path: str) -> tuple[int, Callable[[], None]]:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        return fd, lambda: os.close(fd)

    def _emit(self, read: AimRead | None) -> list[CredentialInput]:
        self.counters["errors"] = self.assembler.errors
        if read is None or not read.payload:
            return []
        return [self.make_input(read, self.symbology)]

    def on_data(self, data: bytes, now: float) -> list[CredentialInput]:
        self._last = now
        out: list[CredentialInput] = []
        for report in split_reports(data, self.layout.size):
            out += self._emit(self.assembler.feed(report))
        return out

    def deadline(self) -> float | None:
        return self._last + self.idle if self.assembler.pending else None

    def on_idle(self, now: float) -> list[CredentialInput]:
        return self._emit(self.assembler.finish())

    def on_disconnect(self) -> list[CredentialInput]:
        self.assembler.reset()
        return []
