"""Read rates on camera-realistic media: the official Compact PDF417 (written by zint), the
zxing project's real photos turned to any angle, and the digital policy's QR on a phone screen.

Fixed seeds, so the rates are behaviour, not luck; timings are in ``bench/decode_bench.py``.
Every read is checked for exact bytes: a wrong read counts against us (goal 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import zxingcpp

from verifier.formats import paper_barcode as pb
from verifier.imaging import Symbology, try_decode_image

from . import camera_media as cm

PDF = {Symbology.PDF417}
QR = {Symbology.QR}


def _plain(img: np.ndarray, fmt: zxingcpp.BarcodeFormat) -> list[tuple[bytes, str]]:
    """zxing-cpp with its defaults (try_rotate, try_downscale, try_invert all on)."""
    return [(bytes(b.bytes), b.text) for b in zxingcpp.read_barcodes(img, formats=fmt) if b.valid]


def _ours(img: np.ndarray, formats: set[Symbology]) -> list[tuple[bytes, str]]:
    return [(b.payload, b.text) for b in try_decode_image(img, formats)]


def _score(
    reads: list[list[tuple[bytes, str]]], right: Callable[[int, bytes, str], bool]
) -> tuple[int, int]:
    """(frames read right, wrong results) over a list of per-frame reads."""
    hits = sum(any(right(i, p, t) for p, t in r) for i, r in enumerate(reads))
    wrong = sum(not right(i, p, t) for i, r in enumerate(reads) for p, t in r)
    return hits, wrong


def test_zint_writes_the_rules_symbol() -> None:
    """The independent writer gives 15 rows x 10 columns (205 x 45 modules) for a real record,
    which plain zxing-cpp and our reader both read back exactly."""
    payload, symbol = cm.rules_symbol(7)
    assert len(payload) == 130 and pb.decode(payload).enp.isdigit()
    assert symbol.shape == (45, 205)
    img = np.pad(np.repeat(np.repeat(symbol, 3, 0), 3, 1), 36, constant_values=255)
    assert [p for p, _ in _plain(img, zxingcpp.BarcodeFormat.PDF417)] == [payload]
    assert [p for p, _ in _ours(img, PDF)] == [payload]


@pytest.fixture(scope="module")
def compact() -> list[cm.Frame]:
    return cm.compact_frames(tuple(float(a) for a in range(0, 360, 15)))


def test_compact_symbol_any_angle_down_to_2_2_px(compact: list[cm.Frame]) -> None:
    """Webcam frames of the rules' symbol: 24 angles x 2.2/2.6/3.0/3.5 px per module, tilted,
    blurred, unevenly lit, noisy, JPEG.  Goal >= 98 %, no wrong read."""
    assert len(compact) == 96
    reads = [_ours(f.image, PDF) for f in compact]
    hits, wrong = _score(reads, lambda i, p, t: p == compact[i].payload)
    assert wrong == 0
    assert hits / len(compact) >= 0.98, hits
    small = [i for i, f in enumerate(compact) if "/2.2px/" in f.name]
    assert sum(any(p == compact[i].payload for p, _ in reads[i]) for i in small) >= 23


@pytest.fixture(scope="module")
def pdf_photos() -> list[cm.Photo]:
    return cm.real_photos(cm.PDF417_PHOTO_SETS)


def test_real_pdf417_photos_at_any_angle(pdf_photos: list[cm.Photo]) -> None:
    """30 real PDF417 images at 0° and five odd angles (every 15° in the bench).  Goal 95 %:
    measured 97.2 % (was 93.6 % before the rescue crops for tiny 1-px-row images); only
    pdf417-3/19 (1 px modules, 7 % EC) stays unread when turned."""
    assert len(pdf_photos) == 30
    angles = (0, 35, 110, 165, 250, 320)
    frames = [(p, cm.rotate_photo(p.image, a)) for p in pdf_photos for a in angles]
    reads = [_ours(img, PDF) for _, img in frames]
    hits, wrong = _score(reads, lambda i, p, t: cm.matches(frames[i][0], p, t))
    assert wrong == 0
    assert hits / len(frames) >= 0.95, hits
    upright = list(range(0, len(frames), len(angles)))
    assert all(any(cm.matches(frames[i][0], p, t) for p, t in reads[i]) for i in upright)


def test_real_qr_photos_never_below_plain_zxing() -> None:
    photos = cm.real_photos(cm.QR_PHOTO_SETS)
    frames = [(p, cm.rotate_photo(p.image, a)) for p in photos for a in (0, 45, 90, 200)]
    ours = [_ours(img, QR) for _, img in frames]
    plain = [_plain(img, zxingcpp.BarcodeFormat.QRCode) for _, img in frames]
    right = lambda i, p, t: cm.matches(frames[i][0], p, t)  # noqa: E731
    ours_hits, ours_wrong = _score(ours, right)
    plain_hits, _ = _score(plain, right)
    assert ours_wrong == 0
    assert ours_hits >= plain_hits
    assert ours_hits / len(frames) >= 0.85, ours_hits


@pytest.mark.parametrize("mode", ["plain", "moire", "glare", "low_contrast", "dark"])
def test_phone_screen_qr_at_least_plain_zxing_with_invert(mode: str) -> None:
    """The digital policy's QR on a phone: moiré, glare, low contrast, dark mode (inverted)."""
    frames = cm.phone_frames((mode,))
    ours = [_ours(f.image, QR) for f in frames]
    plain = [_plain(f.image, zxingcpp.BarcodeFormat.QRCode) for f in frames]
    right = lambda i, p, t: p == frames[i].payload  # noqa: E731
    ours_hits, ours_wrong = _score(ours, right)
    plain_hits, _ = _score(plain, right)
    assert ours_wrong == 0
    assert ours_hits >= plain_hits
    assert ours_hits >= len(frames) - 1, (mode, ours_hits)
