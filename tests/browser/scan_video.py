"""Scan to screen, shared by tests/browser/test_scan_to_screen.py and
bench/scan_to_screen_bench.py: a real video file of the demo's barcodes, a ``serve --demo``
daemon playing it through its camera driver, the kiosk page in Chromium watched by an injected
MutationObserver.

Clocks. The page stamps each verdict with ``performance.timeOrigin + performance.now()``
(epoch milliseconds, monotonic within the page). The camera driver plays the file in realtime:
frame ``k`` is handed to the decoder at the moment the driver turned ``ok`` (``since`` in
``/v1/status``, wall clock) plus ``k`` frame periods. Both clocks are this machine's, so a
code's first frame maps to wall-clock time and latency is verdict stamp minus that.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import httpx
import numpy as np

from tests.browser.helpers import CONFIG_TOML, DaemonProcess, screens_toml
from tests.imaging import synth
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.imaging import Symbology

W, H = 1280, 720  # a desk webcam's usual mode
FPS = 15.0
HOLD_OFF_S = 0.5  # media seconds; the gaps below are longer, so every appearance is reported
KIOSK_RESET_S = 1.0  # back to idle between appearances: each verdict is a fresh change

# Injected into the kiosk page: one record per verdict drawn (data-outcome set non-empty),
# stamped when the element changed and again at the next animation frame (drawn).
OBSERVER_JS = """
() => {
  window.__verdicts = [];
  const box = document.getElementById("verdict");
  const stamp = () => performance.timeOrigin + performance.now();
  let last = box.dataset.outcome;
  new MutationObserver(() => {
    const outcome = box.dataset.outcome;
    if (outcome && !last) {
      const rec = { t: stamp(), drawn: null, outcome: outcome,
                    enp: document.getElementById("enp").textContent,
                    fresh: document.getElementById("fresh").textContent };
      window.__verdicts.push(rec);
      requestAnimationFrame(() => { rec.drawn = stamp(); });
    }
    last = outcome;
  }).observe(box, { attributes: true, attributeFilter: ["data-outcome"] });
  return stamp();
}
"""


@dataclass(frozen=True)
class Appearance:
    label: str  # the demo sample's label
    symbology: Symbology
    first_frame: int  # the first frame that holds the code
    frames: int


@dataclass(frozen=True)
class ScanVideo:
    path: Path
    fps: float
    appearances: tuple[Appearance, ...]
    frames: int


def demo_codes(state: demo.DemoState) -> dict[str, CredentialInput]:
    """The demo's barcode samples that verify ``valid``: the paper policy's PDF417, the
    digital policy's QR."""
    wanted = {"paper policy, signed, active", "digital policy QR"}
    return {label: item for label, expected, item in demo.demo_samples(state) if label in wanted}


def _symbol(item: CredentialInput) -> tuple[Symbology, np.ndarray]:
    if item.symbology == "pdf417":
        return Symbology.PDF417, synth.make_symbol(
            Symbology.PDF417, item.payload, scale=3, margin=8
        )
    return Symbology.QR, synth.make_symbol(Symbology.QR, item.payload, scale=5, margin=8)


def write_scan_video(
    path: Path,
    codes: dict[str, CredentialInput],
    *,
    runs: int,
    lead_s: float = 6.0,
    show_s: float = 1.0,
    gap_s: float = 1.6,
    fps: float = FPS,
    seed: int = 3,
) -> ScanVideo:
    """``lead_s`` of empty desk (the page opens meanwhile), then ``runs`` appearances
    alternating over ``codes``, each ``show_s`` long, ``gap_s`` of empty desk after each."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H), False)
    if not writer.isOpened():
        raise RuntimeError("OpenCV's MJPG VideoWriter is not available")
    background = synth.noisy_background(W, H, seed)
    labels = sorted(codes)
    symbols = {label: _symbol(codes[label]) for label in labels}
    frame = 0
    appearances = []

    def empty(seconds: float) -> None:
        nonlocal frame
        for _ in range(round(seconds * fps)):
            writer.write(background)
            frame += 1

    empty(lead_s)
    for run in range(runs):
        label = labels[run % len(labels)]
        symbology, sym = symbols[label]
        n = round(show_s * fps)
        appearances.append(Appearance(label, symbology, frame, n))
        h, w = sym.shape[:2]
        for i in range(n):  # held a little unsteadily in the middle of the view
            x, y = (W - w) // 2 + 3 * (i % 4), (H - h) // 2 + 2 * (i % 3)
            img = background.copy()
            img[y : y + h, x : x + w] = (sym.astype(np.float32) * (225.0 / 255.0) + 15.0).astype(
                np.uint8
            )
            writer.write(img)
            frame += 1
        empty(gap_s)
    writer.release()
    return ScanVideo(path, fps, tuple(appearances), frame)


def video_source(video: ScanVideo) -> tuple[str, str]:
    """(the ``--source`` spec, the driver's name as ``[[screens.kiosk]]`` lists it)."""
    name = f"video:{video.path}"
    return f"{name}?realtime=yes&loop=no&hold_off={HOLD_OFF_S}", name


def new_video_daemon(template: Path, base: Path, video: ScanVideo) -> DaemonProcess:
    """A ``serve --demo`` daemon on a copy of the demo state whose hall kiosk owns the video."""
    state_dir = base / "state"
    shutil.copytree(template, state_dir)
    spec, name = video_source(video)
    config = base / "config.toml"
    config.write_text(CONFIG_TOML + screens_toml((name,), reset_s=KIOSK_RESET_S), encoding="utf-8")
    return DaemonProcess(state_dir, config, (spec,))


def playback_start(daemon: DaemonProcess, name: str) -> float:
    """Epoch seconds of the video's frame 0: when its driver turned ``ok``."""
    drivers = httpx.get(f"{daemon.url}/v1/status", timeout=5).json()["drivers"]
    (d,) = [d for d in drivers if d["name"] == name]
    if d["state"] != "ok":
        raise RuntimeError(f"video driver not playing: {d}")
    return datetime.fromisoformat(d["since"]).timestamp()


@dataclass(frozen=True)
class Latency:
    label: str
    changed_ms: float  # first code frame → verdict element changed
    drawn_ms: float | None  # ... → next animation frame after it


def match(
    video: ScanVideo, start_s: float, watching_ms: float, verdicts: list[dict[str, object]]
) -> list[Latency | None]:
    """One entry per appearance the page was watching for: its latency, or ``None`` when no
    verdict was drawn between its first frame and the next appearance's."""
    t0 = start_s * 1000.0
    period_ms = 1000.0 / video.fps
    starts = [t0 + a.first_frame * period_ms for a in video.appearances]
    ends = [*starts[1:], float("inf")]
    out: list[Latency | None] = []
    for a, begin, end in zip(video.appearances, starts, ends, strict=True):
        if begin < watching_ms:
            continue  # shown before the observer was in place
        hit = next((v for v in verdicts if begin <= float(str(v["t"])) < end), None)
        if hit is None:
            out.append(None)
            continue
        drawn = hit.get("drawn")
        out.append(
            Latency(
                a.label,
                float(str(hit["t"])) - begin,
                float(str(drawn)) - begin if drawn is not None else None,
            )
        )
    return out
