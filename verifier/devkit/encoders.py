"""Test encoders of the scanner protocols: what a device would send, for tests and replays.

Kept out of the drivers, which only ever decode: a driver has no use for its own encoder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from drivers.hid_pos import POS_LAYOUT, ReportLayout
from drivers.keyboard_wedge import (
    EV_KEY,
    EV_SYN,
    EVENT_NATIVE,
    KEY_PRESS,
    KEY_RELEASE,
    SYN_REPORT,
    InputEvent,
)
from drivers.keymaps import Keymap, keystrokes


def build_reports(
    data: bytes, aim: str | None = None, layout: ReportLayout = POS_LAYOUT
) -> list[bytes]:
    """The reports a scanner with ``layout`` sends for ``data`` (for tests and replays)."""
    chunks = [data[i : i + layout.data_max] for i in range(0, len(data), layout.data_max)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        rep = bytearray(layout.size)
        if layout.report_id is not None:
            rep[0] = layout.report_id
        rep[layout.length_offset] = len(chunk)
        if layout.aim_offset is not None and aim:
            rep[layout.aim_offset : layout.aim_offset + 3] = aim.encode("ascii")
        rep[layout.data_offset : layout.data_offset + len(chunk)] = chunk
        if layout.more_offset is not None and i < len(chunks) - 1:
            rep[layout.more_offset] |= layout.more_mask
        out.append(bytes(rep))
    return out


def pack_events(events: Iterable[InputEvent], fmt: struct.Struct = EVENT_NATIVE) -> bytes:
    return b"".join(fmt.pack(e.sec, e.usec, e.type, e.code, e.value) for e in events)


def type_events(
    text: str, keymap: Keymap, *, start: float = 0.0, step: float = 0.002, enter: bool = True
) -> list[InputEvent]:
    """The events a wedge scanner produces for ``text`` (MSC_SCAN omitted), for recordings."""
    from drivers.keymaps import KEY_ENTER, KEY_LEFTSHIFT

    t = start
    out: list[InputEvent] = []

    def ev(type_: int, code: int, value: int) -> None:
        sec = int(t)
        out.append(InputEvent(sec, round((t - sec) * 1e6), type_, code, value))

    strokes = keystrokes(text, keymap) + ([(KEY_ENTER, False)] if enter else [])
    for code, shift in strokes:
        if shift:
            ev(EV_KEY, KEY_LEFTSHIFT, KEY_PRESS)
            ev(EV_SYN, SYN_REPORT, 0)
        ev(EV_KEY, code, KEY_PRESS)
        ev(EV_SYN, SYN_REPORT, 0)
        t += step / 2
        ev(EV_KEY, code, KEY_RELEASE)
        ev(EV_SYN, SYN_REPORT, 0)
        if shift:
            ev(EV_KEY, KEY_LEFTSHIFT, KEY_RELEASE)
            ev(EV_SYN, SYN_REPORT, 0)
        t += step / 2
    return out
