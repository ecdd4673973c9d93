"""Deterministic synthetic barcode images for the imaging tests.

Everything here is pure numpy/OpenCV over grayscale ``uint8`` arrays, seeded explicitly, so
the same call always returns the same pixels.  Camera-driver tests reuse these helpers to feed
fake frames through the decoder.

Symbols are made with ``zxingcpp.create_barcode``: ``bytes`` content is written as binary
(byte compaction, ECI 899), ``str`` content as text (the writer picks the smallest ECI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from verifier.imaging import Symbology

Gray = np.ndarray  # 2-D uint8

_ZX_FORMAT = {
    Symbology.QR: zxingcpp.BarcodeFormat.QRCode,
    Symbology.PDF417: zxingcpp.BarcodeFormat.PDF417,
    Symbology.DATAMATRIX: zxingcpp.BarcodeFormat.DataMatrix,
    Symbology.AZTEC: zxingcpp.BarcodeFormat.Aztec,
}


def random_payload(n: int, seed: int) -> bytes:
    """``n`` random bytes from a fixed seed (stands in for a paper-policy 130-byte record)."""
    return np.random.default_rng(seed).bytes(n)


def make_symbol(
    symbology: Symbology, content: bytes | str, *, scale: int = 3, margin: int = 24
) -> Gray:
    """Render one symbol, black on white, with ``margin`` white pixels around it."""
    barcode = zxingcpp.create_barcode(content, _ZX_FORMAT[symbology])
    img = np.asarray(barcode.to_image(scale=scale, add_quiet_zones=True), dtype=np.uint8)
    img = np.ascontiguousarray(img)
    return cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def rotate(img: Gray, degrees: float, *, bg: int = 255) -> Gray:
    """Rotate counter-clockwise by ``degrees`` onto a canvas big enough to hold the result."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=bg)


def blur(img: Gray, sigma: float = 1.2) -> Gray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def jpeg(img: Gray, quality: int = 40) -> Gray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if out is None:
        raise ValueError("OpenCV could not decode its own JPEG")
    return out


def noisy_background(width: int, height: int, seed: int) -> Gray:
    """A grey, unevenly lit, noisy page with some text-like clutter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 170 + 40 * (xx / max(width, 1)) + 20 * (yy / max(height, 1))
    bg = light + rng.normal(0, 9, (height, width)).astype(np.float32)
    img = np.clip(bg, 0, 255).astype(np.uint8)
    for _ in range(6):  # text-ish lines
        x = int(rng.integers(0, max(1, width - 200)))
        y = int(rng.integers(10, max(11, height - 10)))
        text = "".join(chr(int(c)) for c in rng.integers(65, 91, 12))
        cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 60, 1, cv2.LINE_AA)
    return np.asarray(img, dtype=np.uint8)


def place(img: Gray, bg: Gray, seed: int) -> Gray:
    """Paste ``img`` at a seeded random position inside ``bg`` (scaled down if it does not fit).

    The symbol keeps its own white quiet zone, like a policy printed on white paper.
    """
    rng = np.random.default_rng(seed)
    out = bg.copy()
    bh, bw = bg.shape[:2]
    h, w = img.shape[:2]
    if h > bh or w > bw:
        f = min(bh / h, bw / w) * 0.95
        img = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    y = int(rng.integers(0, bh - h + 1))
    x = int(rng.integers(0, bw - w + 1))
    # Blend the white of the symbol's canvas with the paper tone so edges are not razor-sharp.
    patch = img.astype(np.float32) * (225.0 / 255.0) + 15.0
    out[y : y + h, x : x + w] = patch.astype(np.uint8)
    return out


def perspective(img: Gray, strength: float, seed: int, *, bg: int = 255) -> Gray:
    """Move each corner inward by up to ``strength`` x size (seeded): a slight camera tilt."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    pad = int(max(h, w) * strength) + 2
    canvas = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=bg)
    ch, cw = canvas.shape[:2]
    src = np.array(
        [[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]], dtype=np.float32
    )
    jitter = rng.uniform(-strength, strength, (4, 2)).astype(np.float32) * np.array(
        [w, h], dtype=np.float32
    )
    dst = src + jitter
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(canvas, m, (cw, ch), flags=cv2.INTER_LINEAR, borderValue=bg)


@dataclass(frozen=True)
class Case:
    """One generated test image and what it must decode to."""

    name: str  # e.g. "pdf417/rot+15"
    condition: str  # e.g. "rot+15"
    symbology: Symbology
    payload: bytes
    image: Gray


Transform = Callable[[Gray, int], Gray]

ROTATIONS: tuple[int, ...] = (10, 15, 20, 25, -10, -15, -20, -25)


def conditions() -> dict[str, Transform]:
    """Named transforms; each takes (image, seed)."""
    conds: dict[str, Transform] = {
        "clean": lambda im, s: im,
        "blur": lambda im, s: blur(im, 1.2),
        "jpeg40": lambda im, s: jpeg(im, 40),
        "background": lambda im, s: place(im, noisy_background(1280, 720, s), s + 1),
        "perspective": lambda im, s: perspective(im, 0.04, s),
    }
    for a in ROTATIONS:
        conds[f"rot{a:+d}"] = _rotated(a)
    for a in ROTATIONS:
        conds[f"rot{a:+d}_blur_jpeg"] = _rotated_blur_jpeg(a)
    for a in (15, -20):
        conds[f"webcam_rot{a:+d}"] = _webcam(a)
    return conds


def _rotated(a: int) -> Transform:
    return lambda im, s: rotate(im, float(a))


def _rotated_blur_jpeg(a: int) -> Transform:
    return lambda im, s: jpeg(blur(rotate(im, float(a)), 1.0), 40)


def _webcam(a: int) -> Transform:
    """Rotated, placed on a 1280x720 noisy frame, slightly blurred, JPEG-compressed."""
    return lambda im, s: jpeg(
        blur(place(rotate(im, float(a)), noisy_background(1280, 720, s), s + 1), 0.9), 45
    )


def payloads(symbology: Symbology, seed: int) -> list[bytes | str]:
    """Contents for one symbology: PDF417 carries 130-byte binary policy-like records."""
    if symbology is Symbology.PDF417:
        return [random_payload(130, seed + i) for i in range(4)]
    return [
        random_payload(64, seed),
        "ЕНП 5056410834001235 https://example.org/p?x=1",
    ]


def expected_bytes(symbology: Symbology, content: bytes | str) -> bytes:
    """What ``payload`` must be: bytes as given; text as the writer encoded it.

    zxing-cpp's writer picks the smallest character set for text (ISO-8859-5 for pure
    Cyrillic in PDF417, Shift_JIS/Kanji in QR, UTF-8 for mixed scripts) and the decoder
    returns those raw bytes, so take the writer's own bytes as the expectation.
    """
    if isinstance(content, bytes):
        return content
    return bytes(zxingcpp.create_barcode(content, _ZX_FORMAT[symbology]).bytes)


def build_cases(
    symbologies: tuple[Symbology, ...] = tuple(Symbology),
    names: tuple[str, ...] | None = None,
    seed: int = 20240,
) -> list[Case]:
    conds = conditions()
    out: list[Case] = []
    for si, sym in enumerate(symbologies):
        for pi, content in enumerate(payloads(sym, seed + 10 * si)):
            # PDF417 at two module sizes (3 px and 2 px), the others at 4 px
            scale = (3 if pi % 2 == 0 else 2) if sym is Symbology.PDF417 else 4
            base = make_symbol(sym, content, scale=scale)
            expected = expected_bytes(sym, content)
            for ci, (cname, fn) in enumerate(conds.items()):
                if names is not None and cname not in names:
                    continue
                s = seed + 1000 * si + 100 * pi + ci
                out.append(Case(f"{sym.value}/{pi}/{cname}", cname, sym, expected, fn(base, s)))
    return out
