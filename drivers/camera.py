"""Cameras and video files as barcode sources (OpenCV capture + zxing-cpp decoding).

Three threads per driver, nothing on the event loop but the hand-over:

* the **capture** thread reads frames (``cv2.VideoCapture``: a device index, a V4L2 path, an
  RTSP/HTTP URL, or a video file) into a one-slot :class:`LatestFrame` mailbox.  A new frame
  replaces an undecoded one, so decoding never lags behind the camera (drop, don't queue);
* the **decode** thread takes the latest frame and gives it the quick pass (PDF417 and QR as
  the frame is, :func:`verifier.imaging.try_decode_image` with ``quick=True``, ~9 ms at
  1280x720); a frame it finds nothing in goes to a second one-slot mailbox;
* the **decode-full** thread gives the latest such frame the full read (every asked format,
  90° turns, inverted image, PDF417 deskew fallback, ~40 ms), so a code's first frame is never
  kept waiting behind the full read of an empty frame (see :class:`FrameProcessor`).
  Lossless offline playback (``realtime=False``) does both passes in the decode thread.

Codes pass through :class:`HoldOff`: a code is reported at once when it first appears and
not again while it stays in view, nor until it has been out of view for ``hold_off`` seconds.

Device cameras and streams reconnect with backoff when they disappear.  A ``video`` source
plays a file at its native frame rate (``realtime=True``) or frame by frame as fast as the
decoder goes without dropping any (``realtime=False``, deterministic, for tests and benches);
at its end it loops (``loop=True``) or the driver stops cleanly.  For video files hold-off
time is the position in the media, for live sources the monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from drivers.base import DriverHealth, DriverState, Emit
from verifier.backoff import Backoff
from verifier.credential import CredentialInput, ReadSymbology
from verifier.imaging import DecodedBarcode, Symbology, try_decode_image

DEFAULT_FORMATS: tuple[Symbology, ...] = (
    Symbology.PDF417,
    Symbology.QR,
    Symbology.DATAMATRIX,
    Symbology.AZTEC,
)

SourceKind = Literal["device", "path", "url", "video"]
Image = npt.NDArray[np.uint8]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CameraSource:
    kind: SourceKind
    target: int | str

    @classmethod
    def parse(cls, source: int | str, *, video: bool = False) -> CameraSource:
        """``0`` / ``"0"`` (device index), ``/dev/video0``, ``rtsp://...`` / ``http(s)://...``;
        ``video=True``: a file path."""
        if isinstance(source, int):
            return cls("device", source)
        text = source.strip()
        if not text:
            raise ValueError("empty camera source")
        if video:
            return cls("video", text)
        if text.isdigit():
            return cls("device", int(text))
        if "://" in text:
            return cls("url", text)
        return cls("path", text)

    @property
    def live(self) -> bool:
        return self.kind != "video"


# --- pure parts ------------------------------------------------------------------------------


class HoldOff(Generic[K]):
    """Report a key when it appears; again only after it was unseen for ``seconds``."""

    def __init__(self, seconds: float = 3.0) -> None:
        if seconds < 0:
            raise ValueError("hold-off must be >= 0")
        self.seconds = seconds
        self._last_seen: dict[K, float] = {}

    def update(self, keys: Iterable[K], now: float, *, late: bool = False) -> list[K]:
        """The keys that are new at ``now``.  ``late``: ``now`` is an older frame's time than
        some already reported (the full pass finishing after the quick pass read a newer
        frame): a key seen at or after ``now``, within the hold-off, is not new again.  A
        time before the last one otherwise means the media restarted: the key is new."""
        new = []
        for key in keys:
            prev = self._last_seen.get(key)
            if late and prev is not None and 0.0 <= prev - now <= max(self.seconds, 1.0):
                continue  # already reported from a newer frame; keep the newer time
            if prev is None or now - prev > self.seconds or now < prev:
                new.append(key)
            self._last_seen[key] = now
        if len(self._last_seen) > 64:
            self._last_seen = {k: t for k, t in self._last_seen.items() if now - t <= self.seconds}
        return new

    def clear(self) -> None:
        self._last_seen.clear()


QUICK_FORMATS: frozenset[Symbology] = frozenset({Symbology.PDF417, Symbology.QR})
"""The policies' symbologies: looked for first, in one cheap pass (see FrameProcessor)."""


class FrameProcessor:
    """Decode one frame, then filter through :class:`HoldOff` (no capture).

    Two passes.  The **quick** one reads only the policies' symbologies (PDF417, QR), in one
    zxing-cpp pass as the frame is (no 90° turns, no inverted image, no deskew): ~9 ms on a
    1280x720 frame against ~40 ms for the **full** one (every asked format, turns, inversion,
    the PDF417 deskew fallback).  The full pass runs only when the quick one found nothing.
    A live driver runs them in two threads (:meth:`decode_quick` on every frame at once,
    :meth:`decode_full` on the latest frame the quick pass missed), so a code that the quick
    pass reads is never kept waiting behind a full pass of the previous, empty frame: that
    wait plus the full read was the scan-to-screen tail under CPU load.  :meth:`decode` does
    both in turn (offline playback, benches).  Thread-safe.

    A frame the quick pass reads a code in skips the full read: a second code in the same
    frame that only the full read finds (a skewed PDF417 next to an upright QR) waits until
    the first one leaves the view.
    """

    def __init__(
        self,
        formats: Collection[Symbology] = DEFAULT_FORMATS,
        *,
        deskew: bool = True,
        hold_off: float = 3.0,
        max_results: int = 4,
    ) -> None:
        self.formats = frozenset(Symbology(f) for f in formats)
        if not self.formats:
            raise ValueError("no barcode formats to decode")
        self.quick_formats = self.formats & QUICK_FORMATS
        self.deskew = deskew
        self.max_results = max_results
        self.hold_off: HoldOff[tuple[Symbology, bytes]] = HoldOff(hold_off)
        self.frames = 0
        self.frames_with_code = 0
        self.quick_hits = 0  # frames whose code the quick pass read
        self.full_passes = 0
        self.decode_seconds = 0.0
        self.errors = 0
        self._lock = threading.Lock()

    def _read(self, image: npt.NDArray[np.generic], *, quick: bool) -> list[DecodedBarcode]:
        t0 = time.perf_counter()
        error = False
        try:
            found = try_decode_image(
                image,
                self.quick_formats if quick else self.formats,
                deskew=self.deskew,
                max_results=self.max_results,
                quick=quick,
            )
        except Exception:  # noqa: BLE001 - a broken frame must not stop the camera
            error = True
            found = []
        with self._lock:
            self.errors += error
            self.decode_seconds += time.perf_counter() - t0
        return found

    def decode_quick(self, image: npt.NDArray[np.generic]) -> list[DecodedBarcode]:
        """The quick pass; counts the frame (``[]``: the full pass should look at it)."""
        found = self._read(image, quick=True) if self.quick_formats else []
        with self._lock:
            self.frames += 1
            if found:
                self.frames_with_code += 1
                self.quick_hits += 1
        return found

    def decode_full(self, image: npt.NDArray[np.generic]) -> list[DecodedBarcode]:
        """The full pass over a frame :meth:`decode_quick` already counted."""
        found = self._read(image, quick=False)
        with self._lock:
            self.full_passes += 1
            if found:
                self.frames_with_code += 1
        return found

    def decode(self, image: npt.NDArray[np.generic]) -> list[DecodedBarcode]:
        """Both passes in turn: the quick one, the full one if it found nothing."""
        return self.decode_quick(image) or self.decode_full(image)

    def report(
        self, found: list[DecodedBarcode], now: float, *, late: bool = False
    ) -> list[DecodedBarcode]:
        """The codes of ``found`` that are new at time ``now`` (seconds); ``late`` for the
        full pass, whose frame may be older than one the quick pass already reported."""
        by_key = {(b.symbology, b.payload): b for b in found}
        with self._lock:
            new = self.hold_off.update(list(by_key), now, late=late)
        return [by_key[k] for k in new]

    def process(self, image: npt.NDArray[np.generic], now: float) -> list[DecodedBarcode]:
        """The codes in ``image`` that are new at time ``now`` (seconds)."""
        return self.report(self.decode(image), now)

    @property
    def decode_rate(self) -> float:
        return self.frames_with_code / self.frames if self.frames else 0.0


@dataclass(frozen=True, slots=True)
class Frame:
    image: Image
    index: int  # frame number since the driver started (across reconnects and loops)
    media_time: float  # seconds: position in the video file, or monotonic clock when live
    captured: float  # time.monotonic() when read


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces an unread frame (counted as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def put_wait(self, frame: Frame, stop: threading.Event) -> None:
        """Lossless hand-over: wait until the previous frame was taken (offline playback)."""
        with self._cond:
            while self._frame is not None and not self._closed and not stop.is_set():
                self._cond.wait(0.1)
            self._frame = frame
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """The latest frame, or ``None`` on timeout / when closed and empty."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and self._frame is None


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()

    def rate(self, now: float) -> float:
        with self._lock:
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()
            n = len(self._times)
            if n < 2:
                return 0.0
            span = max(now - self._times[0], self._times[-1] - self._times[0])
            return (n - 1) / span if span > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """One reported code, with timings (kept in :attr:`CameraDriver.events`)."""

    symbology: Symbology
    payload: bytes
    frame_index: int
    media_time: float
    captured: float  # monotonic time the frame was read
    decoded: float  # monotonic time decoding finished
    deskewed: bool


# --- camera controls (V4L2 through OpenCV) ---------------------------------------------------

log = logging.getLogger("drivers.camera")

# V4L2's exposure menu as OpenCV's V4L2 backend passes it through: 1 manual, 3 aperture priority.
AUTO_EXPOSURE_MANUAL = 1.0
AUTO_EXPOSURE_AUTO = 3.0
# (option name, OpenCV property name) in the order they are applied: modes before values, so a
# focus distance is set after autofocus is off and an exposure after auto exposure is off.
CONTROL_PROPS: tuple[tuple[str, str], ...] = (
    ("width", "CAP_PROP_FRAME_WIDTH"),
    ("height", "CAP_PROP_FRAME_HEIGHT"),
    ("fps", "CAP_PROP_FPS"),
    ("autofocus", "CAP_PROP_AUTOFOCUS"),
    ("focus", "CAP_PROP_FOCUS"),
    ("auto_exposure", "CAP_PROP_AUTO_EXPOSURE"),
    ("exposure", "CAP_PROP_EXPOSURE"),
)
_ON = {"1": True, "true": True, "yes": True, "on": True}
_OFF = {"0": False, "false": False, "no": False, "off": False}


def _flag(name: str, value: bool | str | float | None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _ON or text in _OFF:
        return _ON.get(text, False)
    raise ValueError(f"camera option {name}={value!r}: use yes or no")


def _number(name: str, value: float | str | None, *, positive: bool = False) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"camera option {name}={value!r}: not a number") from None
    if number != number or number in (float("inf"), float("-inf")) or (positive and number <= 0):
        raise ValueError(f"camera option {name}={value!r}: out of range")
    return number


@dataclass(frozen=True, slots=True)
class CameraControls:
    """What the config asks of a live camera; ``None`` leaves the device's own setting.

    ``focus`` and ``exposure`` are in the driver's own units (V4L2 ``focus_absolute``,
    ``exposure_time_absolute`` in 100 µs): the same numbers ``v4l2-ctl --list-ctrls`` shows.
    A focus distance implies ``autofocus=no``, an exposure ``auto_exposure=no``."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    autofocus: bool | None = None
    focus: float | None = None
    auto_exposure: bool | None = None
    exposure: float | None = None

    @classmethod
    def from_options(
        cls,
        *,
        width: int | str | None = None,
        height: int | str | None = None,
        fps: float | str | None = None,
        autofocus: bool | str | None = None,
        focus: float | str | None = None,
        auto_exposure: bool | str | None = None,
        exposure: float | str | None = None,
    ) -> CameraControls:
        """From source options (``camera:/dev/video0?autofocus=no&focus=30``: strings)."""
        w = _number("width", width, positive=True)
        h = _number("height", height, positive=True)
        af = _flag("autofocus", autofocus)
        ae = _flag("auto_exposure", auto_exposure)
        f = _number("focus", focus)
        e = _number("exposure", exposure, positive=True)
        if f is not None and af:
            raise ValueError("camera options: a focus distance needs autofocus=no")
        if e is not None and ae:
            raise ValueError("camera options: an exposure needs auto_exposure=no")
        return cls(
            width=int(w) if w is not None else None,
            height=int(h) if h is not None else None,
            fps=_number("fps", fps, positive=True),
            autofocus=False if f is not None and af is None else af,
            focus=f,
            auto_exposure=False if e is not None and ae is None else ae,
            exposure=e,
        )

    def wanted(self) -> list[tuple[str, float]]:
        """(option, value as OpenCV takes it) for every control asked for, in apply order."""
        out: list[tuple[str, float]] = []
        for name, _ in CONTROL_PROPS:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "autofocus":
                out.append((name, 1.0 if value else 0.0))
            elif name == "auto_exposure":
                out.append((name, AUTO_EXPOSURE_AUTO if value else AUTO_EXPOSURE_MANUAL))
            else:
                out.append((name, float(value)))
        return out

    @property
    def empty(self) -> bool:
        return not self.wanted()


@dataclass(frozen=True, slots=True)
class ControlResult:
    """One control: what was asked, what the device reports after the set."""

    name: str
    wanted: float
    accepted: bool  # set() said yes
    actual: float | None  # read back; None when the device does not report it

    @property
    def ok(self) -> bool:
        return (
            self.accepted
            and self.actual is not None
            and _close(self.name, self.wanted, self.actual)
        )

    def warning(self, source: str) -> str:
        """One line for the log and the driver's health detail."""
        if not self.accepted:
            return f"{source}: the camera refused {self.name}={_fmt(self.wanted)} (not offered)"
        if self.actual is None:
            return (
                f"{source}: {self.name}={_fmt(self.wanted)} set but the camera does not report it"
            )
        return (
            f"{source}: {self.name}={_fmt(self.wanted)} asked, the camera keeps {_fmt(self.actual)}"
        )


def _fmt(value: float) -> str:
    return f"{value:g}"


def _close(name: str, wanted: float, actual: float) -> bool:
    if name == "fps":  # devices round frame intervals: 30 asked, 29.97 given is fine
        return abs(actual - wanted) <= max(0.5, 0.02 * wanted)
    if name == "autofocus":
        return (actual != 0) == (wanted != 0)
    if name == "auto_exposure":  # the V4L2 menu (1, 3) or OpenCV's old scale (0.25, 0.75)
        return (actual in (AUTO_EXPOSURE_MANUAL, 0.25)) == (wanted == AUTO_EXPOSURE_MANUAL)
    return abs(actual - wanted) < 1e-6 * max(1.0, abs(wanted)) + 1e-9


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the controls use."""

    def set(self, prop: int, value: float) -> bool: ...

    def get(self, prop: int) -> float: ...


def _prop(cv2_name: str) -> int:
    import cv2

    value: int = getattr(cv2, cv2_name)
    return value


def apply_controls(cap: Capture, controls: CameraControls, source: str) -> list[ControlResult]:
    """Set each asked control, read it back, log one warning line per refused one.

    Never raises: a camera that lacks a control still reads barcodes."""
    props = dict(CONTROL_PROPS)
    results = []
    for name, value in controls.wanted():
        prop = _prop(props[name])
        try:
            accepted = bool(cap.set(prop, value))
        except Exception:  # noqa: BLE001 - a backend that throws on a property is a refusal
            accepted = False
        try:
            read = float(cap.get(prop))
        except Exception:  # noqa: BLE001 - nor may a read-back stop the camera
            read = -1.0
        # OpenCV reports -1 (some backends 0) for a property the device lacks.
        actual = None if read == -1.0 else read
        result = ControlResult(name, value, accepted, actual)
        if not result.ok:
            log.warning(result.warning(source))
        results.append(result)
    return results


def probe_controls(cap: Capture) -> dict[str, float | None]:
    """What a camera reports for each control (``None``: not offered): ``devices --json``."""
    out: dict[str, float | None] = {}
    for name, cv2_name in CONTROL_PROPS:
        try:
            read = float(cap.get(_prop(cv2_name)))
        except Exception:  # noqa: BLE001 - a backend that throws on a property lacks it
            read = -1.0
        out[name] = None if read == -1.0 else read
    return out


VIDEO_CONTROLS_NOTE = "a video file: camera controls do not apply"


# --- the driver ------------------------------------------------------------------------------


class CameraDriver:
    """A camera, stream or video file as a :class:`drivers.base.Driver`.

    Options: ``formats`` (symbologies to look for, default PDF417+QR+DataMatrix+Aztec),
    ``hold_off`` (seconds, default 3), ``deskew`` (PDF417 rotation fallback, default on),
    ``video`` (source is a file), ``loop`` / ``realtime`` (video playback), ``width`` /
    ``height`` / ``fps`` / ``autofocus`` / ``focus`` / ``auto_exposure`` / ``exposure``
    (camera controls, see :class:`CameraControls`: set on every open of a device, read back,
    one warning line each the device refuses; they do not apply to video files),
    ``max_decode_fps`` (CPU cap, default none: decode as fast as frames come), ``backoff``
    (reconnect delays).

    A video file's frame ``k`` is handed over at ``health().since`` (the moment it turned
    ``ok``) plus ``k`` frame periods in realtime playback: the scan-to-screen bench maps frame
    indices to wall-clock time through it.
    """

    def __init__(
        self,
        source: int | str,
        *,
        video: bool = False,
        name: str | None = None,
        formats: Collection[Symbology | str] = DEFAULT_FORMATS,
        hold_off: float = 3.0,
        deskew: bool = True,
        loop: bool = True,
        realtime: bool = True,
        width: int | str | None = None,
        height: int | str | None = None,
        fps: float | str | None = None,
        autofocus: bool | str | None = None,
        focus: float | str | None = None,
        auto_exposure: bool | str | None = None,
        exposure: float | str | None = None,
        max_decode_fps: float | None = None,
        backoff: Backoff | None = None,
        keep_events: int = 256,
    ) -> None:
        self.source = CameraSource.parse(source, video=video)
        prefix = "video" if self.source.kind == "video" else "camera"
        self.name = name or f"{prefix}:{self.source.target}"
        self.processor = FrameProcessor(
            [Symbology(f) for f in formats], deskew=deskew, hold_off=hold_off
        )
        self.loop = loop
        self.realtime = realtime
        self.controls = CameraControls.from_options(
            width=width,
            height=height,
            fps=fps,
            autofocus=autofocus,
            focus=focus,
            auto_exposure=auto_exposure,
            exposure=exposure,
        )
        self.width, self.height, self.fps = (
            self.controls.width,
            self.controls.height,
            self.controls.fps,
        )
        self.control_results: list[ControlResult] = []
        self.control_warnings: list[str] = []
        if not self.source.live and not self.controls.empty:
            asked = ", ".join(name for name, _ in self.controls.wanted())
            self.control_warnings.append(f"{self.name}: {VIDEO_CONTROLS_NOTE} ({asked} ignored)")
            log.warning(self.control_warnings[-1])
        self.max_decode_fps = max_decode_fps
        self.backoff = backoff or Backoff(0.5, 10.0)
        self.events: deque[CameraEvent] = deque(maxlen=keep_events)
        self.mailbox = LatestFrame()
        self.full_mailbox = LatestFrame()  # frames the quick pass missed, for the full pass
        self._health = DriverHealth(name=self.name, kind=prefix)
        self._captured = _Rate()
        self._decoded = _Rate()
        self.frames_captured = 0
        self.reconnects = 0
        self.native_fps: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- health ------------------------------------------------------------------------------

    def stats(self) -> dict[str, float | int | None]:
        now = time.monotonic()
        p = self.processor
        return {
            "fps_captured": round(self._captured.rate(now), 2),
            "fps_decoded": round(self._decoded.rate(now), 2),
            "frames_captured": self.frames_captured,
            "frames_decoded": p.frames,
            "frames_dropped": self.mailbox.dropped,
            "frames_full_skipped": self.full_mailbox.dropped,
            "frames_with_code": p.frames_with_code,
            "quick_hits": p.quick_hits,
            "full_passes": p.full_passes,
            "decode_rate": round(p.decode_rate, 4),
            "mean_decode_ms": round(1000 * p.decode_seconds / p.frames, 2) if p.frames else None,
            "native_fps": self.native_fps,
            "reconnects": self.reconnects,
            "events": len(self.events),
        }

    def health(self) -> DriverHealth:
        s = self.stats()
        h = self._health
        h.errors = self.processor.errors
        if h.state in (DriverState.OK, DriverState.STOPPED):
            base = h.detail.split(" | ")[0]
            h.detail = (
                f"{base} | {s['fps_captured']} fps captured, {s['fps_decoded']} fps decoded, "
                f"decode rate {s['decode_rate']:.0%}"
            )
            if self.control_warnings:
                h.detail += f" | {len(self.control_warnings)} camera control(s) not applied"

        return h

    def _set(self, state: DriverState, detail: str = "") -> None:
        with self._lock:
            self._health.set(state, detail)

    # -- capture thread ----------------------------------------------------------------------

    def _open(self) -> Any:
        import cv2

        src = self.source
        if src.kind == "device":
            cap = cv2.VideoCapture(int(src.target))
        elif src.kind == "path":
            cap = cv2.VideoCapture(str(src.target), cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(str(src.target))
        if src.live and cap.isOpened():
            self.control_results = apply_controls(cap, self.controls, self.name)
            self.control_warnings = [r.warning(self.name) for r in self.control_results if not r.ok]
            with contextlib.suppress(Exception):
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver's queue short too
        return cap

    def _capture(self) -> None:
        import cv2

        delay = 0.0
        index = 0
        media_offset = 0.0  # seconds of video played in earlier loops
        try:
            while not self._stop.is_set():
                if delay and self._stop.wait(delay):
                    break
                cap = self._open()
                if not cap.isOpened():
                    cap.release()
                    self._set(DriverState.WAITING, f"cannot open {self.source.target}")
                    delay = self.backoff.next(delay)
                    continue
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                self.native_fps = fps if fps > 0 else None
                frame_period = 1.0 / fps if 0 < fps < 1000 else 1.0 / 25.0
                self._set(DriverState.OK, str(self.source.target))
                delay = 0.0
                start = time.monotonic()
                local = 0  # frames read since this open
                try:
                    while not self._stop.is_set():
                        ok, image = cap.read()
                        now = time.monotonic()
                        if not ok or image is None:
                            break
                        if self.source.kind == "video":
                            media = media_offset + local * frame_period
                            if self.realtime:
                                ahead = start + local * frame_period - now
                                if ahead > 0 and self._stop.wait(ahead):
                                    break
                                now = time.monotonic()
                        else:
                            media = now
                        frame = Frame(image, index, media, now)
                        index += 1
                        local += 1
                        self.frames_captured += 1
                        self._captured.tick(now)
                        if self.source.kind == "video" and not self.realtime:
                            self.mailbox.put_wait(frame, self._stop)
                        else:
                            self.mailbox.put(frame)
                finally:
                    cap.release()
                if self._stop.is_set():
                    break
                if self.source.kind == "video":
                    if local == 0:  # opened but no frames: broken file
                        self._set(DriverState.WAITING, f"no frames in {self.source.target}")
                        delay = self.backoff.next(delay)
                        continue
                    if self.loop:
                        media_offset += local * frame_period
                        continue
                    break  # end of the file: stop cleanly
                self.reconnects += 1
                self._set(DriverState.WAITING, f"{self.source.target}: no frames, reconnecting")
                delay = self.backoff.initial
        except Exception as exc:  # noqa: BLE001 - keep the driver's contract: never die silently
            self._set(DriverState.FAILED, f"capture crashed: {exc!r}")
        finally:
            self.mailbox.close()

    # -- decode thread -----------------------------------------------------------------------

    @property
    def split_passes(self) -> bool:
        """Quick and full pass in two threads: live sources and realtime video.  Lossless
        offline playback keeps one thread (both passes in turn), so it stays deterministic."""
        return self.source.kind != "video" or self.realtime

    def _emit(
        self, post: Any, frame: Frame, found: list[DecodedBarcode], *, late: bool = False
    ) -> None:
        new = self.processor.report(found, frame.media_time, late=late)
        done = time.monotonic()
        for b in new:
            ev = CameraEvent(
                b.symbology,
                b.payload,
                frame.index,
                frame.media_time,
                frame.captured,
                done,
                b.deskewed,
            )
            self.events.append(ev)
            post(ev)

    def _frames(self, box: LatestFrame, limit: bool) -> Iterable[Frame]:
        """Frames from ``box`` until it is closed and empty (or the driver stops), at most
        ``max_decode_fps`` when ``limit``."""
        min_period = 1.0 / self.max_decode_fps if self.max_decode_fps and limit else 0.0
        last = 0.0
        while True:
            frame = box.get(0.2)
            if frame is None:
                if box.closed or self._stop.is_set():
                    return
                continue
            if min_period:
                wait = last + min_period - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
            last = time.monotonic()
            yield frame

    def _decode(self, post: Any) -> None:
        """Every frame: the quick pass (and, in one thread, the full one when it missed)."""
        split = self.split_passes
        try:
            for frame in self._frames(self.mailbox, True):
                p = self.processor
                found = p.decode_quick(frame.image)
                if not found and not split:
                    found = p.decode_full(frame.image)
                self._decoded.tick(time.monotonic())
                if found or not split:
                    self._emit(post, frame, found)
                else:
                    self.full_mailbox.put(frame)  # the latest miss replaces an older one
        finally:
            self.full_mailbox.close()
            if not split:
                post(None)

    def _decode_full(self, post: Any) -> None:
        """The full pass on the latest frame the quick pass missed (split passes only)."""
        try:
            for frame in self._frames(self.full_mailbox, False):
                self._emit(post, frame, self.processor.decode_full(frame.image), late=True)
        finally:
            post(None)

    # -- asyncio side ------------------------------------------------------------------------

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[CameraEvent | None] = asyncio.Queue()

        def post(item: CameraEvent | None) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(queue.put_nowait, item)

        self._stop.clear()
        self.mailbox = LatestFrame()
        self.full_mailbox = LatestFrame()
        self._set(DriverState.STARTING, str(self.source.target))
        capture = threading.Thread(target=self._capture, name=f"{self.name} capture", daemon=True)
        threads = [
            threading.Thread(
                target=self._decode, args=(post,), name=f"{self.name} decode", daemon=True
            )
        ]
        if self.split_passes:
            threads.append(
                threading.Thread(
                    target=self._decode_full,
                    args=(post,),
                    name=f"{self.name} decode-full",
                    daemon=True,
                )
            )
        capture.start()
        for t in threads:
            t.start()

        async def watch_stop() -> None:
            await stop.wait()
            self._stop.set()
            self.mailbox.close()
            self.full_mailbox.close()

        stopper = asyncio.create_task(watch_stop())
        try:
            while True:
                ev = await queue.get()
                if ev is None:
                    break
                self._health.reads += 1
                self._health.last_read_at = datetime.now(UTC)
                await emit(
                    CredentialInput(
                        payload=ev.payload,
                        source=self.name,
                        symbology=ReadSymbology(ev.symbology.value),
                    )
                )
        finally:
            self._stop.set()
            self.mailbox.close()
            self.full_mailbox.close()
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            await asyncio.to_thread(capture.join, 5.0)
            for t in threads:
                await asyncio.to_thread(t.join, 5.0)
            if self._health.state is not DriverState.FAILED:
                self._set(DriverState.STOPPED, "end of video" if not stop.is_set() else "")
