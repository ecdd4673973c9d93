"""Scan to screen in real Chromium: a ``serve --demo`` daemon whose camera driver plays a real
video file (OpenCV VideoWriter, 1280x720 MJPG) of the demo's paper-policy PDF417 and
digital-policy QR; the kiosk page shows a verdict for each code in the video, masked.

Behaviour only: the timings this setup yields are bench/scan_to_screen_bench.py's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from tests.browser.helpers import KIOSK_TOKEN, DaemonProcess, open_screen
from tests.browser.scan_video import (
    OBSERVER_JS,
    ScanVideo,
    demo_codes,
    match,
    new_video_daemon,
    playback_start,
    video_source,
    write_scan_video,
)
from verifier.devkit import demo
from verifier.identifiers import mask_enp


@pytest.fixture(scope="module")
def scan_video(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, demo.DemoState]
) -> ScanVideo:
    codes = demo_codes(demo_template[1])
    assert len(codes) == 2
    return write_scan_video(tmp_path_factory.mktemp("scan-video") / "desk.avi", codes, runs=2)


@pytest.fixture
def video_daemon(
    tmp_path_factory: pytest.TempPathFactory,
    demo_template: tuple[Path, demo.DemoState],
    scan_video: ScanVideo,
    chromium: BrowserContext,
) -> Iterator[DaemonProcess]:
    d = new_video_daemon(demo_template[0], tmp_path_factory.mktemp("scan-daemon"), scan_video)
    d.start()
    yield d
    d.stop()


def test_kiosk_shows_the_verdict_for_each_code_in_the_video(
    chromium: BrowserContext,
    video_daemon: DaemonProcess,
    scan_video: ScanVideo,
    demo_template: tuple[Path, demo.DemoState],
) -> None:
    _, name = video_source(scan_video)
    start = playback_start(video_daemon, name)
    screen = open_screen(chromium, f"{video_daemon.url}/kiosk?token={KIOSK_TOKEN}")
    try:
        page = screen.page
        watching = page.evaluate(OBSERVER_JS)
        assert watching < (start + scan_video.appearances[0].first_frame / scan_video.fps) * 1000, (
            "the page opened after the first code was shown: lengthen the video's lead-in"
        )
        page.wait_for_function(
            "n => window.__verdicts.length >= n",
            arg=len(scan_video.appearances),
            timeout=(scan_video.frames / scan_video.fps + 10) * 1000,
        )
        verdicts = page.evaluate("window.__verdicts")
    finally:
        screen.close()
    enps = _sample_enps(demo_template[1])
    assert [v["outcome"] for v in verdicts] == ["valid", "valid"], verdicts
    # Each appearance got its own verdict, in order, for the person whose code it was (masked).
    shown = [v["enp"] for v in verdicts]
    expected = [mask_enp(enps[a.label]) for a in scan_video.appearances]
    assert shown == expected
    latencies = match(scan_video, start, watching, verdicts)
    assert [lat.label if lat else None for lat in latencies] == [
        a.label for a in scan_video.appearances
    ]


def _sample_enps(state: demo.DemoState) -> dict[str, str]:
    """The ENP behind each sample, chosen as :func:`demo.demo_samples` chooses its people."""
    rows = demo._people(state.registry_dir)
    return {
        "paper policy, signed, active": demo._first(rows, status="active", policy_type="paper")[
            "enp"
        ],
        "digital policy QR": demo._first(rows, status="active", policy_type="digital")["enp"],
    }
