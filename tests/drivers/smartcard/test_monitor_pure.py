"""The monitor's pure decisions, and the driver's behaviour without pyscard."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest

from drivers.base import DriverState, SourceSpec
from drivers.smartcard.monitor import (
    PNP_NOTIFICATION,
    InsertionTracker,
    PcscDriver,
    pick_reader,
)
from verifier.backoff import Backoff


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(initial=0.1, maximum=0.5)
    assert [round(b.next(), 2) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next() == 0.1


def test_pick_reader() -> None:
    readers = ["ACS ACR38U 00 00", "Virtual PCD 00 00", "Virtual PCD 00 01"]
    assert pick_reader(readers, None) == "ACS ACR38U 00 00"
    assert pick_reader(readers, "") == "ACS ACR38U 00 00"
    assert pick_reader(readers, "virtual pcd") == "Virtual PCD 00 00"
    assert pick_reader(readers, "PCD 00 01") == "Virtual PCD 00 01"
    assert pick_reader(readers, "Gemalto") is None
    assert pick_reader([], None) is None
    assert pick_reader([PNP_NOTIFICATION], None) is None


def test_tracker_reads_each_insertion_once() -> None:
    t = InsertionTracker()
    assert not t.observe(False, 0)
    assert t.observe(True, 1)
    t.handled()
    assert not t.observe(True, 1)  # same insertion, state flags changed (in use, …)
    assert not t.observe(False, 2)
    assert t.observe(True, 3)
    t.handled()
    assert t.observe(True, 5)  # removed and reinserted between two polls
    t.handled()
    t.forget()
    assert t.observe(True, 5)  # after a service restart we cannot know: read again


def test_tracker_card_present_at_start_is_read() -> None:
    t = InsertionTracker()
    assert t.observe(True, 0)


def test_driver_names_and_spec() -> None:
    assert PcscDriver().name == "pcsc"
    d = PcscDriver.from_spec("pcsc:Virtual PCD")
    assert (d.name, d.reader) == ("pcsc:Virtual PCD", "Virtual PCD")
    assert PcscDriver.from_spec(SourceSpec("pcsc", None)).reader is None
    with pytest.raises(ValueError, match="needs a pcsc source"):
        PcscDriver.from_spec("serial:/dev/ttyACM0")
    h = d.health()
    assert (h.kind, h.state) == ("pcsc", DriverState.STARTING)


def test_driver_without_pyscard_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyscard(name: str, *args: Any, **kw: Any) -> Any:
        if name == "smartcard" or name.startswith("smartcard."):
            raise ImportError("No module named 'smartcard'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pyscard)

    async def scenario() -> None:
        d = PcscDriver()
        stop = asyncio.Event()

        async def emit(_: object) -> None:
            raise AssertionError("nothing to emit")

        task = asyncio.create_task(d.run(emit, stop))
        await asyncio.sleep(0.05)
        assert d.health().state is DriverState.FAILED
        assert "pyscard" in d.health().detail
        stop.set()
        await asyncio.wait_for(task, 5)
        assert d.health().state is DriverState.STOPPED

    asyncio.run(scenario())
