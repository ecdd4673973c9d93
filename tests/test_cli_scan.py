"""`oms-verifier devices` and `oms-verifier scan` end to end (a real video file as the camera)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from verifier.cli import main
from verifier.devkit.demo import demo_person_enp


def qr_video(path: Path, text: str) -> None:
    img = np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=6))
    frame = np.full((480, 640), 255, np.uint8)
    frame[80 : 80 + img.shape[0], 120 : 120 + img.shape[1]] = img
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(15):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_scan_reads_one_credential_from_a_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "desk.avi"
    qr_video(video, f"https://www.gosuslugi.ru/oms?enp={demo_person_enp()}")
    rc = main(["--state-dir", str(tmp_path), "scan", "--source", f"video:{video}", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["credential"]["kind"] == "digital_policy"
    assert out["credential"]["enp"] == demo_person_enp()
    assert out["input_source"].startswith("video:")


def test_scan_without_a_read_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "--state-dir",
            str(tmp_path),
            "scan",
            "--source",
            "serial:/dev/nonexistent-tty",
            "--timeout",
            "0.5",
        ]
    )
    assert rc == 2
    assert "[no_read]" in capsys.readouterr().err


def test_scan_refuses_a_bad_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--state-dir", str(tmp_path), "scan", "--source", "floppy:0"])
    assert rc == 2 and "[bad_source]" in capsys.readouterr().err


def test_devices_lists_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path), "devices", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert isinstance(found, list)
    assert all({"kind", "path"} <= set(d) for d in found)
