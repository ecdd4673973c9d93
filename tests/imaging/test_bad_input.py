"""Bad input is a typed error, never a crash."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from verifier.errors import ImageError, InputError
from verifier.imaging import (
    ImageTooLarge,
    NoBarcodeFound,
    Symbology,
    decode_image,
    decode_image_bytes,
    decode_image_file,
    try_decode_image,
)

from . import synth


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_error_codes_are_stable() -> None:
    assert issubclass(NoBarcodeFound, ImageError) and issubclass(ImageError, InputError)
    assert NoBarcodeFound("x").code == "no_barcode"
    assert ImageTooLarge("x").code == "image_too_large"
    assert issubclass(ImageTooLarge, ImageError)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"GIF89a\x01\x00\x01\x00",
        b"\x89PNG\r\n\x1a\n",  # signature only
        b"\xff\xd8\xff",  # JPEG SOI only
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",  # no frame
    ],
)
def test_non_images(data: bytes) -> None:
    with pytest.raises(ImageError) as exc:
        decode_image_bytes(data)
    assert exc.value.code == "bad_image"


def test_truncated_png() -> None:
    data = _png(synth.make_symbol(Symbology.QR, b"x" * 40))
    for cut in (30, 60, len(data) // 2, len(data) - 13):
        with pytest.raises(ImageError) as exc:
            decode_image_bytes(data[:cut])
        assert exc.value.code in ("bad_image", "no_barcode")


def test_truncated_jpeg_does_not_crash() -> None:
    _ok, buf = cv2.imencode(".jpg", synth.make_symbol(Symbology.QR, b"x" * 40))
    data = buf.tobytes()
    for cut in (4, 30, len(data) // 3):
        with pytest.raises(ImageError):
            decode_image_bytes(data[:cut])


def test_huge_declared_png_rejected_before_decoding() -> None:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
    with pytest.raises(ImageTooLarge) as exc:
        decode_image_bytes(data)
    assert exc.value.code == "image_too_large"


def test_huge_declared_jpeg_rejected() -> None:
    _ok, buf = cv2.imencode(".jpg", np.full((16, 16), 255, np.uint8))
    data = bytearray(buf.tobytes())
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", 60_000, 60_000)
    with pytest.raises(ImageTooLarge):
        decode_image_bytes(bytes(data))


def test_file_size_limit() -> None:
    data = _png(synth.make_symbol(Symbology.QR, b"x" * 40))
    with pytest.raises(ImageTooLarge):
        decode_image_bytes(data, max_bytes=len(data) - 1)


def test_file_size_limit_on_path(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 2048)
    with pytest.raises(ImageTooLarge):
        decode_image_file(p, max_bytes=1024)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as exc:
        decode_image_file(tmp_path / "nope.png")
    assert exc.value.code == "bad_image"


def test_one_pixel_image() -> None:
    with pytest.raises(ImageError):
        decode_image_bytes(_png(np.zeros((1, 1), np.uint8)))
    with pytest.raises(ImageError):
        decode_image(np.zeros((1, 1), np.uint8))


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((0, 0), np.uint8),
        np.zeros((100, 100), np.float32),
        np.zeros((100, 100, 2), np.uint8),
        np.zeros((4, 100, 100, 3), np.uint8),
    ],
)
def test_bad_arrays(arr: np.ndarray) -> None:
    with pytest.raises(ImageError):
        decode_image(arr)


def test_not_an_array() -> None:
    with pytest.raises(ImageError):
        decode_image([[0, 1], [1, 0]])  # type: ignore[arg-type]


def test_no_barcode() -> None:
    bg = synth.noisy_background(640, 480, 3)
    with pytest.raises(NoBarcodeFound) as exc:
        decode_image(bg)
    assert exc.value.code == "no_barcode"
    assert try_decode_image(bg) == []
    with pytest.raises(NoBarcodeFound):
        decode_image_bytes(_png(bg))


@pytest.mark.parametrize("value", [0, 255])
def test_uniform_images(value: int) -> None:
    with pytest.raises(NoBarcodeFound):
        decode_image(np.full((480, 640), value, np.uint8))


def test_formats_restrict_the_search() -> None:
    qr = synth.make_symbol(Symbology.QR, b"only a QR code here")
    with pytest.raises(NoBarcodeFound):
        decode_image(qr, {Symbology.PDF417})
    with pytest.raises(NoBarcodeFound):
        decode_image(qr, {Symbology.DATAMATRIX, Symbology.AZTEC, Symbology.PDF417})
    assert decode_image(qr, {Symbology.QR})[0].payload == b"only a QR code here"


def test_formats_restrict_mixed_image() -> None:
    """A frame holding a QR code and a PDF417 returns only what was asked for."""
    pdf_payload = synth.random_payload(130, 99)
    pdf = synth.make_symbol(Symbology.PDF417, pdf_payload, scale=2)
    qr = synth.make_symbol(Symbology.QR, b"qr!", scale=4)
    canvas = np.full(
        (max(pdf.shape[0], qr.shape[0]) + 20, pdf.shape[1] + qr.shape[1] + 40), 255, np.uint8
    )
    canvas[10 : 10 + pdf.shape[0], 10 : 10 + pdf.shape[1]] = pdf
    canvas[10 : 10 + qr.shape[0], 30 + pdf.shape[1] : 30 + pdf.shape[1] + qr.shape[1]] = qr
    both = decode_image(canvas)
    assert {b.symbology for b in both} == {Symbology.QR, Symbology.PDF417}
    only_pdf = decode_image(canvas, [Symbology.PDF417])
    assert [b.payload for b in only_pdf] == [pdf_payload]
    only_qr = decode_image(canvas, (Symbology.QR,))
    assert [b.payload for b in only_qr] == [b"qr!"]
    assert len(decode_image(canvas, max_results=1)) == 1


def test_empty_formats_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="formats must name at least one symbology"):
        decode_image(synth.make_symbol(Symbology.QR, b"x"), set())


def test_color_inputs() -> None:
    gray = synth.make_symbol(Symbology.QR, b"colour")
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    for img in (bgr, bgra, gray[:, :, None], np.asfortranarray(gray), gray[::1, ::1]):
        assert decode_image(img)[0].payload == b"colour"


def test_transparent_png_composited_on_white() -> None:
    gray = synth.make_symbol(Symbology.QR, b"alpha")
    bgra = np.zeros((*gray.shape, 4), np.uint8)  # black where transparent
    bgra[:, :, 3] = 255 - gray  # only the dark modules are opaque
    assert decode_image_bytes(_png(bgra))[0].payload == b"alpha"
