"""Regenerate the recorded driver streams in this directory.

    python -m tests.data.drivers.make_recordings

*.evdev   raw ``struct input_event`` records, 64-bit little-endian layout (24 bytes each),
          as ``cat /dev/input/eventN > file`` captures on x86_64/aarch64; ``*.evdev32`` the
          16-byte 32-bit layout.
*.hidpos  raw hidraw input reports, 64 bytes each, HID POS layout (drivers.hid_pos).
*.json    what each recording must decode to.
"""

from __future__ import annotations

import json
from pathlib import Path

from drivers.hid_pos import MICROSCAN_LAYOUT, POS_LAYOUT
from drivers.keyboard_wedge import EV_MSC, EVENT_32, EVENT_64, InputEvent
from drivers.keymaps import get_keymap
from tests.drivers.helpers import TRICKY_POLICY
from verifier.devkit.encoders import build_reports, pack_events, type_events

HERE = Path(__file__).resolve().parent


def _with_msc_scan(events: list[InputEvent]) -> list[InputEvent]:
    """Real keyboards send MSC_SCAN before each key event; the decoder must skip it."""
    out = []
    for e in events:
        if e.type == 1:
            out.append(InputEvent(e.sec, e.usec, EV_MSC, 4, 0x70000 + e.code))
        out.append(e)
    return out


def main() -> None:
    us, ru = get_keymap("us"), get_keymap("ru")
    expected: dict[str, list[str]] = {}

    def wedge(name: str, lines: list[str], keymap_name: str, fmt: str = "64") -> None:
        km = get_keymap(keymap_name)
        events: list[InputEvent] = []
        t = 1_700_000_000.0
        for line in lines:
            events += type_events(line, km, start=t)
            t += 2.0
        struct_ = EVENT_64 if fmt == "64" else EVENT_32
        suffix = ".evdev" if fmt == "64" else ".evdev32"
        (HERE / f"{name}{suffix}").write_bytes(pack_events(_with_msc_scan(events), struct_))
        expected[f"{name}{suffix}"] = lines

    wedge("wedge_us_enp", ["5056410834001235", "]Q15056410834001235"], "us")
    wedge("wedge_us_shift", ["AbC-12/x:Y", "TEST_01 {ok}"], "us")
    wedge("wedge_ru_temp_cert", ["ВС 123456789"], "ru")
    wedge("wedge_ru_mixed", ["Иванов И.И., №5; ёЁ"], "ru")
    wedge("wedge_us_enp", ["5056410834001235"], "us", fmt="32")
    del us, ru

    (HERE / "hidpos_paper_policy.hidpos").write_bytes(
        b"".join(build_reports(TRICKY_POLICY, "]L2", POS_LAYOUT))
    )
    (HERE / "hidpos_qr_enp.hidpos").write_bytes(
        b"".join(build_reports(b"5056410834001235", "]Q1", POS_LAYOUT))
    )
    (HERE / "microscan_paper_policy.hidpos").write_bytes(
        b"".join(build_reports(TRICKY_POLICY, None, MICROSCAN_LAYOUT))
    )
    expected["hidpos_paper_policy.hidpos"] = [TRICKY_POLICY.hex()]
    expected["hidpos_qr_enp.hidpos"] = [b"5056410834001235".hex()]
    expected["microscan_paper_policy.hidpos"] = [TRICKY_POLICY.hex()]
    (HERE / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    main()
