"""Real video files for the camera tests, written with OpenCV's VideoWriter (MJPG in .avi).

A scene is a list of per-frame contents; each frame is a noisy 640x480 page with at most one
symbol pasted at a position and angle (moving and rotating across frames), optionally blurred.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.imaging import synth
from verifier.imaging import Symbology

W, H = 640, 480


@dataclass(frozen=True)
class Shot:
    symbol: np.ndarray | None = None  # grayscale symbol image (synth.make_symbol)
    angle: float = 0.0
    x: int = 40
    y: int = 40
    blur: float = 0.0


def render(shot: Shot, background: np.ndarray) -> np.ndarray:
    frame = background.copy()
    if shot.symbol is not None:
        img = synth.rotate(shot.symbol, shot.angle) if shot.angle else shot.symbol
        h, w = img.shape[:2]
        x, y = min(max(0, shot.x), W - w), min(max(0, shot.y), H - h)
        patch = img.astype(np.float32) * (225.0 / 255.0) + 15.0
        frame[y : y + h, x : x + w] = patch.astype(np.uint8)
    if shot.blur:
        frame = synth.blur(frame, shot.blur)
    return frame


def write_video(path: Path, shots: list[Shot], fps: float = 10.0, seed: int = 5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H), False)
    assert writer.isOpened(), "MJPG VideoWriter not available"
    background = synth.noisy_background(W, H, seed)
    for shot in shots:
        writer.write(render(shot, background))
    writer.release()
    return path


def pdf417(payload: bytes, scale: int = 2) -> np.ndarray:
    return synth.make_symbol(Symbology.PDF417, payload, scale=scale, margin=8)


def qr(payload: bytes | str, scale: int = 4) -> np.ndarray:
    return synth.make_symbol(Symbology.QR, payload, scale=scale, margin=8)


def moving(symbol: np.ndarray, n: int, angles: tuple[float, float], *, x0: int = 20,
           y0: int = 30, dx: int = 4, dy: int = 2, blur: float = 0.0) -> list[Shot]:  # fmt: skip
    """``n`` frames of ``symbol`` sliding by (dx, dy) per frame, angle interpolated."""
    a0, a1 = angles
    return [
        Shot(symbol, a0 + (a1 - a0) * i / max(1, n - 1), x0 + dx * i, y0 + dy * i, blur)
        for i in range(n)
    ]
