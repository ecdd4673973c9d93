from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from drivers.base import DriverState
from drivers.hid_pos import (
    MICROSCAN_LAYOUT,
    POS_LAYOUT,
    HidPosDriver,
    ReportAssembler,
    ReportError,
    parse_report,
    split_reports,
)
from tests.drivers.helpers import DATA, TRICKY_POLICY, FakeDevice, Harness
from verifier.backoff import Backoff
from verifier.devkit.encoders import build_reports
from verifier.imaging import Symbology
from verifier.pipeline import Pipeline

EXPECTED: dict[str, list[str]] = json.loads((DATA / "expected.json").read_text())


def test_recorded_paper_policy_reports() -> None:
    data = (DATA / "hidpos_paper_policy.hidpos").read_bytes()
    reports = split_reports(data, 64)
    assert len(reports) == 3  # 56 + 56 + 18 bytes
    first = parse_report(reports[0])
    assert first.more and len(first.data) == 56 and first.aim is not None
    assert first.aim.text == "]L2"
    last = parse_report(reports[2])
    assert not last.more and len(last.data) == 130 - 112
    asm = ReportAssembler()
    reads = [r for r in (asm.feed(rep) for rep in reports) if r is not None]
    assert len(reads) == 1
    assert reads[0].payload.hex() == EXPECTED["hidpos_paper_policy.hidpos"][0]
    assert reads[0].payload == TRICKY_POLICY and reads[0].symbology is Symbology.PDF417


def test_recorded_single_report_and_microscan() -> None:
    asm = ReportAssembler()
    read = asm.feed((DATA / "hidpos_qr_enp.hidpos").read_bytes())
    assert read is not None and read.payload == b"5056410834001235"
    assert read.symbology is Symbology.QR
    ms = ReportAssembler(MICROSCAN_LAYOUT)
    reads = [
        ms.feed(r) for r in split_reports((DATA / "microscan_paper_policy.hidpos").read_bytes(), 64)
    ]
    assert reads[:2] == [None, None] and reads[2] is not None
    assert reads[2].payload == TRICKY_POLICY and reads[2].aim is None


def test_aim_inside_data_and_bad_reports() -> None:
    asm = ReportAssembler()
    (rep,) = build_reports(b"]d2ABC", None)
    read = asm.feed(rep)
    assert read is not None and read.payload == b"ABC" and read.symbology is Symbology.DATAMATRIX
    for bad in (b"\x02", b"\x03" + bytes(63), b"\x02\x39" + bytes(62)):
        with pytest.raises(ReportError):
            parse_report(bad)
        assert asm.feed(bad) is None
    assert asm.errors == 3
    # a lost final report: the read is closed by finish() (the driver calls it when idle)
    reps = build_reports(TRICKY_POLICY, "]L2")
    assert asm.feed(reps[0]) is None and asm.pending
    partial = asm.finish()
    assert partial is not None and partial.payload == TRICKY_POLICY[:56]
    assert POS_LAYOUT.size == 64


def test_driver_on_pty(tmp_path: Path) -> None:
    dev = FakeDevice(tmp_path / "oms-scanner-hidraw")

    async def scenario() -> None:
        driver = HidPosDriver(str(dev.link), backoff=Backoff(0.05, 0.2))
        async with Harness(driver) as h:
            await h.wait_state(DriverState.OK)
            for rep in split_reports((DATA / "hidpos_paper_policy.hidpos").read_bytes(), 64):
                dev.write(rep)
                await asyncio.sleep(0.005)
            item = await h.next()
            assert item.payload == TRICKY_POLICY and item.symbology == "pdf417"
            verdict = Pipeline().verify(item)
            assert verdict.credential is not None
            assert verdict.credential.kind.value == "paper_policy"
            dev.write((DATA / "hidpos_qr_enp.hidpos").read_bytes())
            item = await h.next()
            assert item.payload == b"5056410834001235" and item.symbology == "qr"
            dev.unplug()
            await h.wait_state(DriverState.WAITING)
        assert driver.health().reads == 2

    try:
        asyncio.run(asyncio.wait_for(scenario(), 15))
    finally:
        dev.close()
