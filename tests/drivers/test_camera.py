"""The camera driver on real video files (MJPG .avi made here): hold-off, new codes at once,
nothing from empty frames, rotated/moving/blurred PDF417, and the capture/decode plumbing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from drivers.base import DriverState
from drivers.camera import CameraDriver, CameraSource, Frame, HoldOff, LatestFrame
from tests.drivers import videos
from tests.drivers.helpers import Harness, signed_policy_with_crlf
from tests.imaging import synth
from verifier.backoff import Backoff
from verifier.credential import CredentialInput, CredentialKind
from verifier.imaging import DecodedBarcode, Symbology
from verifier.pipeline import Pipeline

FPS = 10.0
QR_TEXT = "5056410834001235"


@pytest.fixture(scope="module")
def policy() -> tuple[bytes, str]:
    return signed_policy_with_crlf(11)


@pytest.fixture(scope="module")
def scene(
    tmp_path_factory: pytest.TempPathFactory, policy: tuple[bytes, str]
) -> tuple[Path, dict[str, int]]:
    """0-9 empty; 10-39 PDF417 moving, rotating 10°→25°; 40-44 same, blurred; 45-49 empty
    (0.5 s away: within hold-off); 50-59 PDF417 back at -15°; 60-69 a QR (new code);
    70-109 empty (4 s); 110-119 PDF417 again at 20° (after the hold-off: reported again)."""
    payload, _ = policy
    pdf, code = videos.pdf417(payload), videos.qr(QR_TEXT)
    empty = videos.Shot()
    shots = [empty] * 10
    shots += videos.moving(pdf, 30, (10.0, 25.0))
    shots += videos.moving(pdf, 5, (25.0, 25.0), x0=130, y0=90, dx=0, dy=0, blur=1.1)
    shots += [empty] * 5
    shots += videos.moving(pdf, 10, (-15.0, -15.0), x0=60, y0=120, dx=3, dy=-2)
    shots += videos.moving(code, 10, (0.0, 30.0), x0=200, y0=100, dx=5, dy=3)
    shots += [empty] * 40
    shots += videos.moving(pdf, 10, (20.0, 20.0), x0=50, y0=80, dx=-2, dy=2)
    path = videos.write_video(tmp_path_factory.mktemp("video") / "scene.avi", shots, FPS)
    marks = {"pdf_first": 10, "qr_first": 60, "pdf_again": 110, "frames": len(shots),
             "pdf_frames": 30 + 5 + 10 + 10}  # fmt: skip
    return path, marks


async def _play(driver: CameraDriver, timeout: float = 30.0) -> Harness:
    h = Harness(driver)
    async with h:
        assert h.task is not None
        await asyncio.wait_for(asyncio.shield(h.task), timeout)  # loop=False: ends by itself
    return h


def test_scene_hold_off_and_new_codes(
    scene: tuple[Path, dict[str, int]], policy: tuple[bytes, str]
) -> None:
    path, marks = scene
    payload, enp = policy
    driver = CameraDriver(str(path), video=True, loop=False, realtime=False, hold_off=3.0)
    h = asyncio.run(_play(driver))
    events = list(driver.events)
    got = [(e.symbology, e.payload) for e in events]
    assert got == [
        (Symbology.PDF417, payload),
        (Symbology.QR, QR_TEXT.encode()),
        (Symbology.PDF417, payload),
    ], got
    lags = [
        events[0].frame_index - marks["pdf_first"],
        events[1].frame_index - marks["qr_first"],
        events[2].frame_index - marks["pdf_again"],
    ]
    assert all(0 <= lag <= 2 for lag in lags), lags
    stats = driver.stats()
    assert stats["frames_decoded"] == marks["frames"] and stats["frames_dropped"] == 0
    code_frames = marks["pdf_frames"] + 10
    rate = driver.processor.frames_with_code / code_frames
    print(f"\nscene: decoded {driver.processor.frames_with_code}/{code_frames} frames with a code "
          f"({rate:.0%}); first-frame lag in frames {lags}; "
          f"mean decode {stats['mean_decode_ms']} ms/frame")  # fmt: skip
    assert rate >= 0.85
    assert driver.processor.frames_with_code <= code_frames  # nothing from empty frames
    # what reached emit: CredentialInputs that verify end to end
    assert [i.payload for i in h.items] == [e.payload for e in events]
    item = h.items[0]
    assert item.source == f"video:{path}" and item.symbology == "pdf417" and not item.manual
    verdict = Pipeline().verify(item)
    assert verdict.credential is not None
    assert verdict.credential.kind is CredentialKind.PAPER_POLICY and verdict.credential.enp == enp
    assert driver.health().state is DriverState.STOPPED and driver.health().reads == 3


def test_short_hold_off_reports_again(scene: tuple[Path, dict[str, int]]) -> None:
    path, _ = scene
    driver = CameraDriver(str(path), video=True, loop=False, realtime=False, hold_off=0.3,
                          formats=["pdf417"])  # fmt: skip
    asyncio.run(_play(driver))
    # 0.5 s gap > 0.3 s hold-off: the PDF417 comes back as a new event; no QR (not in formats)
    assert [e.symbology for e in driver.events] == [Symbology.PDF417] * 3


def test_empty_video_emits_nothing(tmp_path: Path) -> None:
    path = videos.write_video(tmp_path / "empty.avi", [videos.Shot()] * 15, FPS)
    driver = CameraDriver(str(path), video=True, loop=False, realtime=False)
    h = asyncio.run(_play(driver))
    assert h.items == [] and driver.processor.frames == 15
    assert driver.processor.frames_with_code == 0 and driver.stats()["decode_rate"] == 0.0


def test_realtime_latency_and_loop(tmp_path: Path, policy: tuple[bytes, str]) -> None:
    """Native frame rate playback, looped: time from the first frame showing the code to the
    event, and the same code across loops kept quiet by the hold-off."""
    fps = 25.0
    payload, _ = policy
    pdf = videos.pdf417(payload)
    shots = [videos.Shot()] * 10 + videos.moving(pdf, 15, (15.0, 22.0))
    path = videos.write_video(tmp_path / "rt.avi", shots, fps)
    driver = CameraDriver(str(path), video=True, loop=True, realtime=True, hold_off=2.0)

    async def main() -> float:
        async with Harness(driver) as h:
            await h.wait_state(DriverState.OK)
            item = await h.next(5.0)
            assert item.payload == payload
            await asyncio.sleep(1.6)  # two more loops (1 s each): the code is "still in view"
            assert len(h.items) == 1
            stats = driver.stats()
        ev = driver.events[0]
        first_capture = ev.captured - (ev.frame_index - 10) / fps
        print(f"\nrealtime: {stats['fps_captured']} fps captured, {stats['fps_decoded']} fps "
              f"decoded, first frame→event {1000 * (ev.decoded - first_capture):.0f} ms "
              f"(frame lag {ev.frame_index - 10})")  # fmt: skip
        return ev.decoded - first_capture

    latency = asyncio.run(asyncio.wait_for(main(), 20))
    assert latency < 0.5
    assert driver.health().state is DriverState.STOPPED


def test_slow_decoder_drops_frames_instead_of_lagging(tmp_path: Path) -> None:
    shots = [videos.Shot(videos.qr(f"frame {i // 10}"), x=30 + i) for i in range(60)]
    path = videos.write_video(tmp_path / "fast.avi", shots, 60.0)
    driver = CameraDriver(str(path), video=True, loop=False, realtime=True, hold_off=0.0)
    real_quick, real_full = driver.processor.decode_quick, driver.processor.decode_full

    def slow_quick(image: np.ndarray) -> list[DecodedBarcode]:
        time.sleep(0.05)  # a 20 fps decoder behind a 60 fps camera
        return real_quick(image)

    def slow_full(image: np.ndarray) -> list[DecodedBarcode]:
        time.sleep(0.05)
        return real_full(image)

    driver.processor.decode_quick = slow_quick  # type: ignore[method-assign]
    driver.processor.decode_full = slow_full  # type: ignore[method-assign]
    asyncio.run(_play(driver))
    stats = driver.stats()
    assert stats["frames_captured"] == 60
    assert driver.mailbox.dropped > 20  # dropped, not queued
    assert driver.processor.frames < 40
    # each decoded frame was at most ~one decode old when taken: no backlog built up
    assert all(e.decoded - e.captured < 0.25 for e in driver.events)


def test_latest_frame_mailbox() -> None:
    box = LatestFrame()
    img = np.zeros((2, 2), np.uint8)
    for i in range(3):
        box.put(Frame(img, i, 0.0, 0.0))
    got = box.get(0.1)
    assert got is not None and got.index == 2 and box.dropped == 2
    assert box.get(0.01) is None
    stop = threading.Event()
    box.put(Frame(img, 3, 0.0, 0.0))
    t = threading.Thread(target=box.put_wait, args=(Frame(img, 4, 0.0, 0.0), stop))
    t.start()
    time.sleep(0.05)
    assert t.is_alive()  # lossless mode waits for the reader
    assert box.get(0.1).index == 3  # type: ignore[union-attr]
    t.join(1.0)
    assert box.get(0.1).index == 4 and box.dropped == 2  # type: ignore[union-attr]
    box.close()
    assert box.get(0.01) is None and box.closed


def test_hold_off_pure() -> None:
    ho: HoldOff[str] = HoldOff(3.0)
    assert ho.update(["a"], 0.0) == ["a"]
    assert ho.update(["a", "b"], 1.0) == ["b"]
    assert ho.update(["a"], 3.9) == []  # seen at 1.0: 2.9 s away
    assert ho.update([], 5.0) == []
    assert ho.update(["a"], 7.0) == ["a"]  # 3.1 s out of view
    assert ho.update(["a"], 6.0) == ["a"]  # clock went back (video looped): new


def test_missing_sources_wait_and_stop(tmp_path: Path) -> None:
    async def main(driver: CameraDriver) -> str:
        async with Harness(driver) as h:
            await h.wait_state(DriverState.WAITING, 10.0)
            return driver.health().detail

    for source, video in ((str(tmp_path / "missing.avi"), True), ("/dev/video-oms-absent", False)):
        driver = CameraDriver(source, video=video, backoff=Backoff(0.05, 0.1))
        detail = asyncio.run(asyncio.wait_for(main(driver), 15))
        assert "cannot open" in detail
        assert driver.health().state is DriverState.STOPPED


def test_source_parsing() -> None:
    assert CameraSource.parse(0) == CameraSource("device", 0)
    assert CameraSource.parse("2") == CameraSource("device", 2)
    assert CameraSource.parse("/dev/video0") == CameraSource("path", "/dev/video0")
    assert CameraSource.parse("rtsp://cam/1").kind == "url"
    assert CameraSource.parse("clip.avi", video=True) == CameraSource("video", "clip.avi")
    with pytest.raises(ValueError, match="empty camera source"):
        CameraSource.parse(" ")


def test_frame_processor_on_synth_rotations(policy: tuple[bytes, str]) -> None:
    """PDF417 at 10-25° in a webcam-like frame decodes through the processor."""
    payload, _ = policy
    driver = CameraDriver("0")
    sym = videos.pdf417(payload)
    for angle in (10, -15, 20, -25):
        frame = synth.place(
            synth.rotate(sym, angle), synth.noisy_background(640, 480, angle + 50), 3
        )
        found = driver.processor.decode(frame)
        assert [b.payload for b in found] == [payload], angle
    assert isinstance(CredentialInput(payload), CredentialInput)


# --- camera controls ---------------------------------------------------------------------------
# No camera here: the set/read-back logic runs against FakeCapture, a stand-in for the two
# cv2.VideoCapture calls a V4L2 device answers (set, get), which need real hardware. The video
# file side (controls do not apply) runs on a real file.


class FakeCapture:
    """A webcam that offers resolution (to 1280x720), autofocus and exposure, no focus
    distance; it keeps 1280 when asked 1920 and ignores a set exposure (stuck in auto)."""

    def __init__(self) -> None:
        import cv2

        self.values: dict[int, float] = {
            cv2.CAP_PROP_FRAME_WIDTH: 640.0,
            cv2.CAP_PROP_FRAME_HEIGHT: 480.0,
            cv2.CAP_PROP_FPS: 30.0,
            cv2.CAP_PROP_AUTOFOCUS: 1.0,
            cv2.CAP_PROP_AUTO_EXPOSURE: 3.0,
            cv2.CAP_PROP_EXPOSURE: 156.0,
        }
        self.limits = {cv2.CAP_PROP_FRAME_WIDTH: 1280.0, cv2.CAP_PROP_FRAME_HEIGHT: 720.0}
        self.stuck = {cv2.CAP_PROP_EXPOSURE}
        self.calls: list[tuple[int, float]] = []
        self.released = False

    def set(self, prop: int, value: float) -> bool:
        self.calls.append((prop, value))
        if prop not in self.values:
            return False
        if prop not in self.stuck:
            self.values[prop] = min(value, self.limits.get(prop, value))
        return True

    def get(self, prop: int) -> float:
        return self.values.get(prop, -1.0)

    def isOpened(self) -> bool:
        return True

    def release(self) -> None:
        self.released = True


def test_controls_from_source_options() -> None:
    from drivers.camera import CameraControls
    from drivers.sources import open_source

    driver = open_source("camera:/dev/video9?autofocus=no&focus=30&exposure=150&width=1280")
    assert isinstance(driver, CameraDriver)
    assert driver.controls == CameraControls(
        width=1280, autofocus=False, focus=30.0, auto_exposure=False, exposure=150.0
    )
    # Apply order: modes before the values they unlock; V4L2's exposure menu 1 = manual.
    assert driver.controls.wanted() == [
        ("width", 1280.0),
        ("autofocus", 0.0),
        ("focus", 30.0),
        ("auto_exposure", 1.0),
        ("exposure", 150.0),
    ]
    assert CameraControls.from_options(autofocus="yes").wanted() == [("autofocus", 1.0)]
    assert CameraControls.from_options().empty
    from drivers.base import SourceSpecError

    for bad in ("focus=near", "autofocus=maybe", "exposure=-3", "autofocus=yes&focus=10"):
        with pytest.raises(SourceSpecError):
            open_source(f"camera:0?{bad}")


def test_apply_controls_reads_back_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    import cv2

    from drivers.camera import CameraControls, apply_controls

    cap = FakeCapture()
    controls = CameraControls.from_options(
        width="1920", height="720", autofocus="no", focus="30", exposure="200"
    )
    with caplog.at_level("WARNING", logger="drivers.camera"):
        results = apply_controls(cap, controls, "camera:/dev/video0")
    got = {r.name: (r.accepted, r.actual, r.ok) for r in results}
    assert got == {
        "width": (True, 1280.0, False),  # clamped: the device's own maximum
        "height": (True, 720.0, True),
        "autofocus": (True, 0.0, True),
        "focus": (False, None, False),  # not offered at all
        "auto_exposure": (True, 1.0, True),
        "exposure": (True, 156.0, False),  # accepted but not taken
    }
    assert cap.get(cv2.CAP_PROP_AUTOFOCUS) == 0.0
    # autofocus off before the focus distance, manual exposure before the exposure value
    order = [p for p, _ in cap.calls]
    assert order.index(cv2.CAP_PROP_AUTOFOCUS) < order.index(cv2.CAP_PROP_FOCUS)
    assert order.index(cv2.CAP_PROP_AUTO_EXPOSURE) < order.index(cv2.CAP_PROP_EXPOSURE)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "camera:/dev/video0: width=1920 asked, the camera keeps 1280",
        "camera:/dev/video0: the camera refused focus=30 (not offered)",
        "camera:/dev/video0: exposure=200 asked, the camera keeps 156",
    ]
    assert all("\n" not in line for line in lines)


def test_probe_controls_and_devices_listing(tmp_path: Path) -> None:
    from drivers.discovery import camera_controls, list_video

    cap = FakeCapture()
    info = camera_controls("/dev/video0", opener=lambda _path: cap)
    assert info == {
        "applies": True,
        "opened": True,
        "supported": {
            "width": 640.0,
            "height": 480.0,
            "fps": 30.0,
            "autofocus": 1.0,
            "auto_exposure": 3.0,
            "exposure": 156.0,
        },
        "unsupported": ["focus"],
    }
    assert cap.released
    # A fake sysfs with one capture node whose /dev entry is a character device.
    node = tmp_path / "sys" / "class" / "video4linux" / "video0"
    node.mkdir(parents=True)
    (node / "name").write_text("USB Camera\n")
    (node / "index").write_text("0\n")
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "video0").symlink_to("/dev/null")
    seen: list[str] = []

    def probe(path: str) -> dict[str, object]:
        seen.append(path)
        return camera_controls(path, opener=lambda _p: FakeCapture())

    (cam,) = list_video(str(tmp_path / "sys"), str(dev), probe=probe)
    assert seen == [str(dev / "video0")]
    listed = cam.to_dict()["controls"]
    assert isinstance(listed, dict) and listed["unsupported"] == ["focus"]


def test_controls_do_not_apply_to_video_files(
    tmp_path: Path, policy: tuple[bytes, str], caplog: pytest.LogCaptureFixture
) -> None:
    from drivers.discovery import camera_controls

    payload, _ = policy
    shots = [videos.Shot()] * 3 + videos.moving(videos.pdf417(payload), 5, (0.0, 0.0))
    path = videos.write_video(tmp_path / "clip.avi", shots, FPS)
    with caplog.at_level("WARNING", logger="drivers.camera"):
        driver = CameraDriver(
            str(path), video=True, loop=False, realtime=False, autofocus="no", exposure="100"
        )
    assert [r.getMessage() for r in caplog.records] == [
        f"video:{path}: a video file: camera controls do not apply "
        "(autofocus, auto_exposure, exposure ignored)"
    ]
    asyncio.run(_play(driver))
    assert [e.payload for e in driver.events] == [payload]  # the file still plays and reads
    assert driver.control_results == []  # nothing was set on the file
    assert "camera control(s) not applied" in driver.health().detail
    assert camera_controls(str(path), video=True) == {
        "applies": False,
        "note": "a video file: camera controls do not apply",
    }
    # A camera that cannot be opened is reported, never raised.
    assert camera_controls(str(tmp_path / "video-absent"))["opened"] is False
