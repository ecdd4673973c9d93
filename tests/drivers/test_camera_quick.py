"""The camera's two decode passes: a quick one (PDF417+QR as the frame is) on every frame at
once, the full one (all formats, turns, inversion, deskew) on the latest frame it missed.

The scan-to-screen tail came from a code's first frame waiting behind the full read of the
previous, empty frame and then taking a full read itself (~45 ms on 1280x720, several times
that on a loaded machine).  These tests pin the behaviour, not the timing.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from drivers.base import DriverState
from drivers.camera import CameraDriver, FrameProcessor
from tests.drivers import videos
from tests.drivers.helpers import Harness
from tests.imaging import synth
from verifier.imaging import DecodedBarcode, Symbology

QR_TEXT = "5056410834001235"


def _frame(symbol: np.ndarray, angle: float = 0.0) -> np.ndarray:
    return videos.render(
        videos.Shot(symbol, angle=angle, x=60, y=50), synth.noisy_background(640, 480, 5)
    )


def test_quick_pass_first_full_pass_only_when_it_misses() -> None:
    payload = synth.random_payload(130, 21)
    p = FrameProcessor()
    (qr,) = p.decode(_frame(videos.qr(QR_TEXT)))
    assert qr.payload == QR_TEXT.encode()
    assert (p.frames, p.quick_hits, p.full_passes) == (1, 1, 0)
    (pdf,) = p.decode(_frame(videos.pdf417(payload), 18.0))  # needs the deskew: full pass
    assert pdf.payload == payload and pdf.deskewed
    assert (p.frames, p.quick_hits, p.full_passes, p.frames_with_code) == (2, 1, 1, 2)
    assert p.decode(synth.noisy_background(640, 480, 6)) == []
    assert (p.frames, p.full_passes, p.frames_with_code) == (3, 2, 2)


def test_no_quick_pass_without_pdf417_or_qr() -> None:
    p = FrameProcessor([Symbology.DATAMATRIX])
    assert p.quick_formats == frozenset()
    assert p.decode(synth.noisy_background(320, 240, 1)) == []
    assert (p.frames, p.quick_hits, p.full_passes) == (1, 0, 1)


def test_late_full_pass_does_not_report_a_code_again() -> None:
    """The quick pass reported the QR from frame k+1; the full pass then finishes frame k
    (an older time) with the same QR: not a new code.  After a media restart (time far
    back) or once out of view past the hold-off it is new again."""
    (qr,) = FrameProcessor().decode(_frame(videos.qr(QR_TEXT)))
    p = FrameProcessor(hold_off=3.0)
    assert p.report([qr], 2.0) == [qr]
    assert p.report([qr], 1.9, late=True) == []
    assert p.report([qr], 2.1) == []  # still in view
    assert p.report([qr], 0.0, late=True) == []  # within the hold-off before the last sighting
    assert p.report([qr], 10.0, late=True) == [qr]  # away 7.9 s > 3 s
    assert p.report([qr], 0.5) == [qr]  # not late: a restarted video


def test_split_passes_for_live_and_realtime_sources_only(tmp_path: Path) -> None:
    path = str(tmp_path / "x.avi")
    assert CameraDriver(path, video=True, realtime=True).split_passes
    assert not CameraDriver(path, video=True, realtime=False).split_passes
    assert CameraDriver(0).split_passes


def test_quick_pass_reports_while_the_full_pass_is_busy(tmp_path: Path) -> None:
    """The full pass is held on the first empty frame it gets; the QR that follows is still
    reported, by the quick pass, while that full read has not returned."""
    shots = [videos.Shot()] * 8 + [videos.Shot(videos.qr(QR_TEXT), x=80 + i) for i in range(12)]
    path = videos.write_video(tmp_path / "busy.avi", shots, 25.0)
    driver = CameraDriver(str(path), video=True, loop=False, realtime=True, hold_off=5.0)
    entered, release = threading.Event(), threading.Event()
    real_full = driver.processor.decode_full

    def held_full(image: np.ndarray) -> list[DecodedBarcode]:
        entered.set()
        release.wait(20.0)
        return real_full(image)

    driver.processor.decode_full = held_full  # type: ignore[method-assign]

    async def main() -> None:
        async with Harness(driver) as h:
            try:
                item = await h.next(15.0)
                assert item.payload == QR_TEXT.encode() and item.symbology == "qr"
                assert entered.is_set() and not release.is_set()  # full read still held
            finally:
                release.set()

    asyncio.run(main())
    assert driver.processor.quick_hits >= 1
    assert [e.payload for e in driver.events] == [QR_TEXT.encode()]
    assert driver.stats()["frames_full_skipped"] > 0  # the held pass saw only the latest miss
    assert driver.health().state is DriverState.STOPPED


def test_realtime_split_passes_report_every_code_once(tmp_path: Path) -> None:
    """A QR (quick pass) then a rotated PDF417 (full pass, deskew) in realtime playback: both
    reported once, in order, and the driver ends cleanly at the end of the file."""
    payload = synth.random_payload(130, 33)
    shots = [videos.Shot()] * 5
    shots += videos.moving(videos.qr(QR_TEXT), 10, (0.0, 0.0))
    shots += [videos.Shot()] * 5
    shots += videos.moving(videos.pdf417(payload), 12, (16.0, 20.0))
    shots += [videos.Shot()] * 3
    path = videos.write_video(tmp_path / "two.avi", shots, 20.0)
    driver = CameraDriver(str(path), video=True, loop=False, realtime=True, hold_off=5.0)

    async def main() -> Harness:
        h = Harness(driver)
        async with h:
            assert h.task is not None
            await asyncio.wait_for(asyncio.shield(h.task), 30.0)
        return h

    h = asyncio.run(main())
    assert [i.payload for i in h.items] == [QR_TEXT.encode(), payload]
    p = driver.processor
    assert p.quick_hits >= 1 and p.full_passes >= 1
    assert driver.health().state is DriverState.STOPPED
