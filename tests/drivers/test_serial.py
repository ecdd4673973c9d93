"""The serial driver through a real pseudo-terminal: pyserial opens the slave side."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from drivers.base import DriverState
from drivers.serial_scanner import SerialScannerDriver
from tests.drivers.helpers import TRICKY_POLICY, FakeDevice, Harness, signed_policy_with_crlf
from verifier.backoff import Backoff
from verifier.credential import CredentialKind
from verifier.pipeline import Pipeline

ENP = b"5056410834001235"
Scenario = Callable[[FakeDevice, SerialScannerDriver, Harness], Awaitable[None]]


def run_serial(tmp_path: Path, scenario: Scenario, **options: object) -> SerialScannerDriver:
    dev = FakeDevice(tmp_path / "oms-scanner-tty", raw=False)  # pyserial makes it raw itself
    driver = SerialScannerDriver(str(dev.link), backoff=Backoff(0.05, 0.2), **options)  # type: ignore[arg-type]

    async def main() -> None:
        async with Harness(driver) as h:
            await h.wait_state(DriverState.OK)
            await scenario(dev, driver, h)

    try:
        asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        dev.close()
    return driver


@pytest.mark.parametrize("framing", ["suffix:crlf", "suffix:eol", "suffix:cr", "idle:50ms+crlf"])
def test_text_enp_with_line_suffix(tmp_path: Path, framing: str) -> None:
    async def scenario(dev: FakeDevice, driver: SerialScannerDriver, h: Harness) -> None:
        dev.write(ENP + b"\r\n")
        item = await h.next()
        await asyncio.sleep(0.1)
        dev.write(b"]Q1" + ENP[:8])  # split read
        await asyncio.sleep(0.01)
        dev.write(ENP[8:] + b"\r\n")
        item2 = await h.next()
        assert item.payload == ENP and item.symbology is None
        assert item2.payload == ENP and item2.symbology == "qr"
        verdict = Pipeline().verify(item)
        assert verdict.credential is not None
        assert verdict.credential.kind is CredentialKind.DIGITAL_POLICY

    suffix = "cr" in framing and "crlf" not in framing
    if suffix:  # CR-framed: the LF left over starts the next read and must not break it
        framing = "suffix:cr"
    run_serial(tmp_path, scenario, framing=framing)


def test_binary_policy_idle_gap(tmp_path: Path) -> None:
    payload, enp = signed_policy_with_crlf()

    async def scenario(dev: FakeDevice, driver: SerialScannerDriver, h: Harness) -> None:
        for i in range(0, 130, 32):  # USB-CDC packets a few ms apart
            dev.write(payload[i : i + 32])
            await asyncio.sleep(0.005)
        item = await h.next()
        assert item.payload == payload
        await asyncio.sleep(0.1)
        dev.write(TRICKY_POLICY)
        assert (await h.next()).payload == TRICKY_POLICY
        verdict = Pipeline().verify(item)
        assert verdict.credential is not None
        assert verdict.credential.kind is CredentialKind.PAPER_POLICY
        assert verdict.credential.enp == enp

    driver = run_serial(tmp_path, scenario)  # default framing: idle 50 ms, no suffix
    assert driver.health().reads == 2 and driver.counters["bytes"] == 260


@pytest.mark.parametrize("framing", ["idle:50ms+cr", "suffix:cr", "suffix:crlf"])
def test_binary_policy_with_aim_prefix(tmp_path: Path, framing: str) -> None:
    sfx = b"\r\n" if framing.endswith("crlf") else b"\r"

    async def scenario(dev: FakeDevice, driver: SerialScannerDriver, h: Harness) -> None:
        dev.write(b"]L2" + TRICKY_POLICY + sfx)
        item = await h.next()
        assert item.payload == TRICKY_POLICY and item.symbology == "pdf417"
        await asyncio.sleep(0.1)
        dev.write(ENP + sfx)
        assert (await h.next()).payload == ENP
        verdict = Pipeline().verify(item)
        assert verdict.credential is not None
        assert verdict.credential.kind is CredentialKind.PAPER_POLICY

    run_serial(tmp_path, scenario, framing=framing)


def test_unplug_and_replug(tmp_path: Path) -> None:
    async def scenario(dev: FakeDevice, driver: SerialScannerDriver, h: Harness) -> None:
        dev.write(ENP + b"\r")
        assert (await h.next()).payload == ENP
        dev.write(b"half a re")  # a read cut by the unplug is still delivered (idle framing)
        await asyncio.sleep(0.01)
        dev.unplug()
        await h.wait_state(DriverState.WAITING)
        assert (await h.next()).payload == b"half a re"
        await asyncio.sleep(0.3)  # absent for a while: retries with backoff
        assert driver.health().state is DriverState.WAITING
        dev.plug()
        await h.wait_state(DriverState.OK)
        await asyncio.sleep(0.05)
        dev.write(TRICKY_POLICY + b"\r")
        assert (await h.next()).payload == TRICKY_POLICY
        assert driver.counters["connects"] == 2 and driver.counters["disconnects"] == 1

    run_serial(tmp_path, scenario, framing="idle:50ms+cr")


def test_usb_id_lookup_waits_when_absent(tmp_path: Path) -> None:
    driver = SerialScannerDriver(
        usb="0c2e:0b61", sys_root=str(tmp_path), backoff=Backoff(0.05, 0.1)
    )

    async def main() -> None:
        async with Harness(driver) as h:
            await h.wait_state(DriverState.WAITING)
            assert "0c2e:0b61" in driver.health().detail

    asyncio.run(asyncio.wait_for(main(), 10))
    assert driver.health().state is DriverState.STOPPED
    with pytest.raises(ValueError, match="needs a device path or a usb vendor:product id"):
        SerialScannerDriver()
