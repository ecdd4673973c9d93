from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

import pytest

from drivers.base import DriverState
from drivers.keyboard_wedge import (
    EV_KEY,
    EV_SYN,
    EVENT_32,
    EVENT_64,
    EVENT_NATIVE,
    SYN_DROPPED,
    EventParser,
    InputEvent,
    KeyboardWedgeDriver,
    WedgeDecoder,
    decode_recording,
    parse_events,
)
from drivers.keymaps import KEY_CAPSLOCK, get_keymap, keystrokes
from tests.drivers.helpers import DATA, FakeDevice, Harness
from verifier.backoff import Backoff
from verifier.devkit.encoders import pack_events, type_events
from verifier.pipeline import Pipeline

EXPECTED: dict[str, list[str]] = json.loads((DATA / "expected.json").read_text())


@pytest.mark.parametrize(
    ("name", "keymap"),
    [
        ("wedge_us_enp.evdev", "us"),
        ("wedge_us_shift.evdev", "us"),
        ("wedge_ru_temp_cert.evdev", "ru"),
        ("wedge_ru_mixed.evdev", "ru"),
    ],
)
def test_recorded_streams(name: str, keymap: str) -> None:
    assert decode_recording((DATA / name).read_bytes(), keymap) == EXPECTED[name]


def test_32bit_layout() -> None:
    data = (DATA / "wedge_us_enp.evdev32").read_bytes()
    assert len(data) % 16 == 0
    assert decode_recording(data, "us", EVENT_32) == ["5056410834001235"]


def test_russian_scanner_keycodes_mean_cyrillic() -> None:
    """ "ВС 123456789" typed by a scanner set to ЙЦУКЕН is Shift+D, Shift+C, space, digits; the
    same key codes through the US map would be "DC 123456789"."""
    data = (DATA / "wedge_ru_temp_cert.evdev").read_bytes()
    presses = [e.code for e in parse_events(data, EVENT_64) if e.type == EV_KEY and e.value == 1]
    assert presses[:4] == [42, 32, 42, 46]  # LEFTSHIFT, KEY_D, LEFTSHIFT, KEY_C
    assert decode_recording(data, "us") == ["DC 123456789"]
    assert decode_recording(data, "ru") == ["ВС 123456789"]


def test_keymaps_roundtrip() -> None:
    us, ru = get_keymap("us"), get_keymap("ru")
    for km, text in (
        (us, "Hello, World! 0-9 ~`|\\"),
        (ru, "Съешь же ещё этих мягких булок, да выпей чаю."),
    ):
        events = type_events(text, km)
        assert list(WedgeDecoder(km).feed_all(events)) == [text]
    assert ru.char(40, False) == "э" and ru.char(41, True) == "Ё" and ru.char(53, True) == ","
    assert us.char(4, True) == "#" and ru.char(4, True) == "№"
    with pytest.raises(ValueError, match="cannot be typed in keymap us"):
        keystrokes("ж", us)
    with pytest.raises(ValueError, match="unknown keymap 'de'"):
        get_keymap("de")


def test_caps_lock_and_modifiers() -> None:
    dec = WedgeDecoder("us")

    def press(code: int) -> list[InputEvent]:
        return [InputEvent(0, 0, EV_KEY, code, 1), InputEvent(0, 0, EV_KEY, code, 0)]

    events = press(KEY_CAPSLOCK) + press(30)  # caps, a → "A"
    events += [InputEvent(0, 0, EV_KEY, 42, 1), *press(30), InputEvent(0, 0, EV_KEY, 42, 0)]
    events += press(KEY_CAPSLOCK) + press(2)  # caps off, "1"
    events += [InputEvent(0, 0, EV_KEY, 29, 1), *press(46), InputEvent(0, 0, EV_KEY, 29, 0)]
    events += [InputEvent(0, 0, EV_KEY, 30, 2)]  # autorepeat ignored
    events += press(28)
    assert list(dec.feed_all(events)) == ["Aa1"]


def test_syn_dropped_discards_the_read() -> None:
    km = get_keymap("us")
    events = type_events("12345", km, enter=False)
    events.append(InputEvent(0, 0, EV_SYN, SYN_DROPPED, 0))
    events += type_events("678", km)
    dec = WedgeDecoder(km)
    assert list(dec.feed_all(events)) == ["678"]
    assert dec.dropped == 1


def test_parser_handles_split_records() -> None:
    data = (DATA / "wedge_us_enp.evdev").read_bytes()
    parser = EventParser(EVENT_64)
    events: list[InputEvent] = []
    for i in range(0, len(data), 7):
        events += parser.feed(data[i : i + 7])
    assert events == parse_events(data, EVENT_64)
    assert pack_events(events, EVENT_64) == data
    with pytest.raises(ValueError, match="not a whole number of 24-byte events"):
        parse_events(data[:-1], EVENT_64)
    assert EVENT_NATIVE.size == struct.calcsize("@llHHi")


def test_driver_replays_recording_with_replug(tmp_path: Path) -> None:
    """The real I/O path on a pseudo-terminal (no grab: a pty is no input device): a recorded
    stream in, text reads out, then the device is unplugged and comes back."""
    data = (DATA / "wedge_ru_temp_cert.evdev").read_bytes()
    dev = FakeDevice(tmp_path / "oms-scanner-evdev")

    async def scenario() -> None:
        driver = KeyboardWedgeDriver(
            str(dev.link), keymap="ru", grab=False, event_format=EVENT_64,
            backoff=Backoff(0.05, 0.2),
        )  # fmt: skip
        async with Harness(driver) as h:
            await h.wait_state(DriverState.OK)
            dev.write(data[:100])  # a read split mid-record
            await asyncio.sleep(0.02)
            dev.write(data[100:])
            item = await h.next()
            assert item.payload == "ВС 123456789".encode()
            assert item.symbology == "keyboard" and not item.manual
            verdict = Pipeline().verify(item)
            assert verdict.credential is not None
            assert verdict.credential.kind.value == "temporary_certificate"
            dev.unplug()
            await h.wait_state(DriverState.WAITING)
            await asyncio.sleep(0.1)
            dev.plug()
            await h.wait_state(DriverState.OK)
            dev.write((DATA / "wedge_us_enp.evdev").read_bytes())  # decoded with the ru map
            first = await h.next()
            assert first.payload == b"5056410834001235"
            second = await h.next()  # "]Q1" typed on a scanner set to US, read as ЙЦУКЕН
            assert second.symbology == "keyboard" and second.payload.startswith("ъЙ1".encode())
        assert driver.health().state is DriverState.STOPPED
        assert driver.counters["connects"] == 2 and driver.counters["disconnects"] == 1

    try:
        asyncio.run(asyncio.wait_for(scenario(), 20))
    finally:
        dev.close()


def test_driver_missing_device_waits(tmp_path: Path) -> None:
    async def scenario() -> None:
        driver = KeyboardWedgeDriver(str(tmp_path / "nope"), backoff=Backoff(0.05, 0.1))
        async with Harness(driver) as h:
            await h.wait_state(DriverState.WAITING)
            assert "No such file" in driver.health().detail

    asyncio.run(asyncio.wait_for(scenario(), 10))
