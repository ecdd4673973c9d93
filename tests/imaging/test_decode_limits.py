"""Decode budget from the header, bounded concurrency, bounded memory (issue 10, finding 9).

Hostile files are built at test time (``bombs``); the memory claims are measured in a
subprocess's own peak RSS (VmHWM), never timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from verifier.errors import ImageError
from verifier.imaging import (
    ImageBusy,
    ImageTooLarge,
    NoBarcodeFound,
    Symbology,
    decode_image,
    decode_image_bytes,
    limits,
    load_image_bytes,
)
from verifier.imaging.decode import plan_decode
from verifier.imaging.header import read_header

from . import bombs, synth

ROOT = Path(__file__).resolve().parents[2]
ZXING = ROOT / ".." / "shared" / "testdata" / "zxing"


@pytest.fixture(autouse=True)
def _restore_limits() -> Iterator[None]:
    before = limits.current()
    yield
    limits.configure(
        max_decode_bytes=before.max_decode_bytes,
        max_concurrent=before.max_concurrent,
        wait_timeout_s=before.wait_timeout_s,
    )


def _code(data: bytes) -> str:
    with pytest.raises(ImageError) as exc:
        decode_image_bytes(data)
    return exc.value.code


# --- the header decides, before any pixel is decoded -----------------------------------


def test_16bit_rgba_6320_is_refused_from_its_header() -> None:
    data = bombs.png_bomb(6320, 6320, 16, 6)
    assert len(data) < 400_000  # the reported 324 KB file
    hdr = read_header(data)
    assert (hdr.width, hdr.height, hdr.channels, hdr.bytes_per_sample) == (6320, 6320, 4, 2)
    assert hdr.alpha and not hdr.interlaced
    # full-depth image + gray copy + reader working set
    assert hdr.budget() == 6320 * 6320 * (8 + 1 + 4)
    with pytest.raises(ImageTooLarge) as exc:
        plan_decode(data)
    assert exc.value.code == "image_too_large"
    assert _code(data) == "image_too_large"


@pytest.mark.parametrize(
    ("depth", "ctype", "channels", "bps"),
    [
        (1, 0, 1, 1),
        (8, 0, 1, 1),
        (16, 0, 1, 2),
        (8, 2, 3, 1),
        (16, 2, 3, 2),
        (8, 4, 4, 1),
        (8, 6, 4, 1),
    ],
)
def test_png_header_fields(depth: int, ctype: int, channels: int, bps: int) -> None:
    hdr = read_header(bombs.png_bomb(100, 50, depth, ctype))
    assert (hdr.kind, hdr.width, hdr.height) == ("png", 100, 50)
    assert (hdr.channels, hdr.bytes_per_sample) == (channels, bps)


def test_interlaced_png_header() -> None:
    hdr = read_header(bombs.png_bomb(333, 77, 16, 2, interlace=1))
    assert hdr.interlaced and hdr.channels == 3


def test_jpeg_header_fields_and_progressive_coefficients() -> None:
    img = np.full((64, 80, 3), 128, np.uint8)
    _ok, base = cv2.imencode(".jpg", img)
    _ok, prog = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    b, p = read_header(base.tobytes()), read_header(prog.tobytes())
    assert (b.kind, b.width, b.height, b.channels) == ("jpeg", 80, 64, 3)
    assert not b.interlaced and b.coder_bytes == 0
    assert p.interlaced and p.coder_bytes >= 80 * 64 * 2  # at least the luma coefficients


def test_budget_cap_is_configurable() -> None:
    data = cv2.imencode(".png", synth.make_symbol(Symbology.QR, b"budget"))[1].tobytes()
    need = read_header(data).budget()
    with pytest.raises(ImageTooLarge):
        decode_image_bytes(data, max_decode_bytes=need - 1)
    assert decode_image_bytes(data, max_decode_bytes=need)[0].payload == b"budget"
    limits.configure(max_decode_bytes=need - 1)
    with pytest.raises(ImageTooLarge):
        decode_image_bytes(data)
    with pytest.raises(ImageTooLarge):
        load_image_bytes(data)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("zero width", bombs.png_bomb(0, 10)),
        ("zero height", bombs.png_bomb(10, 0)),
        ("width over 2^31", bombs.png_bomb(1, 1)[:16] + b"\x80\x00\x00\x00" + b"\0" * 40),
        ("bad depth", bombs.png_bomb(10, 10, 3, 0)),
        ("rgb depth 4", bombs.png_bomb(10, 10, 4, 2)),
        ("palette without PLTE", bombs.png_bomb(10, 10, 8, 3)),
        ("IHDR cut", bombs.png_bomb(100, 100)[:20]),
        ("CRC error", bombs.png_bomb(100, 100)[:29] + b"\0\0\0\0" + bombs.png_bomb(100, 100)[33:]),
        ("no IEND", bombs.png_bomb(100, 100)[:-12]),
        ("unknown critical chunk", bombs.png_bomb(20, 20, before_idat=bombs.chunk(b"ABCD", b""))),
        ("IDAT far too short (bomb)", bombs.png_bomb(5000, 5000, idat_cut=200)),
        ("no IDAT", bombs.png_bomb(20, 20)[:33] + bombs.chunk(b"IEND", b"")),
    ],
)
def test_malformed_png_headers_are_typed(name: str, data: bytes) -> None:
    assert _code(data) == "bad_image", name


def test_idat_short_of_the_deflate_bound_is_refused_before_decoding() -> None:
    """5000x5000 gray needs >= 25 MB / 1032 of deflate data; 2000 bytes cannot be it."""
    with pytest.raises(ImageError) as exc:
        plan_decode(bombs.png_bomb(5000, 5000, idat_cut=2000))
    assert exc.value.code == "bad_image" and "truncated" in exc.value.message


def test_huge_metadata_chunks_are_refused() -> None:
    for extra in (bombs.iccp_chunk(2 << 20), bombs.chunk(b"zTXt", b"k\0\0" + b"x" * (2 << 20))):
        assert _code(bombs.png_bomb(64, 64, before_idat=extra)) == "image_too_large"


def test_compressed_metadata_is_stripped_not_inflated() -> None:
    """A 600 MB zTXt bomb under the chunk limit never reaches libpng."""
    qr = synth.make_symbol(Symbology.QR, b"with metadata")
    png = cv2.imencode(".png", qr)[1].tobytes()
    bomb = bombs.ztxt_bomb(600 << 20)
    data = png[:33] + bomb + png[33:]  # right after IHDR
    hdr = read_header(data)
    assert b"zTXt" not in hdr.decode_data and len(hdr.decode_data) == len(png)
    assert decode_image_bytes(data)[0].payload == b"with metadata"


def _jpeg(img: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, list(params))
    assert ok
    return buf.tobytes()


def test_jpeg_with_huge_declared_size_but_tiny_data() -> None:
    small = _jpeg(np.full((64, 64, 3), 200, np.uint8))
    for w, h in ((6000, 6000), (4000, 3000), (1000, 1000)):
        data = bombs.jpeg_with_size(small, w, h)
        with pytest.raises(ImageError) as exc:
            plan_decode(data)
        assert exc.value.code == "bad_image" and "truncated" in exc.value.message
    gray_prog = _jpeg(np.full((64, 64), 200, np.uint8), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert _code(bombs.jpeg_with_size(gray_prog, 5000, 5000)) == "bad_image"


@pytest.mark.parametrize("marker", [0xC3, 0xC5, 0xC9, 0xCA, 0xCB, 0xCD, 0xCF])
def test_jpeg_coding_processes_we_do_not_read(marker: int) -> None:
    """Lossless, hierarchical and arithmetic-coded JPEG (arithmetic coding can squeeze a
    huge frame into a few bytes, defeating the data-size bound) are refused."""
    data = bombs.jpeg_with_sof(_jpeg(np.full((16, 16), 255, np.uint8)), marker)
    assert _code(data) == "bad_image"


def test_jpeg_zero_size_and_12_bit() -> None:
    small = _jpeg(np.full((16, 16), 255, np.uint8))
    assert _code(bombs.jpeg_with_size(small, 0, 16)) == "bad_image"
    twelve = bytearray(small)
    twelve[twelve.index(b"\xff\xc0") + 4] = 12
    assert _code(bytes(twelve)) == "bad_image"


def test_large_jpeg_is_read_reduced_when_full_size_is_over_budget() -> None:
    """6000x4000 colour needs 6000*4000*8 = 192 MB (> 160 MiB): read at 1/2 by libjpeg."""
    qr = synth.make_symbol(Symbology.QR, b"big photo", scale=16)
    canvas = np.full((4000, 6000, 3), 255, np.uint8)
    canvas[1000 : 1000 + qr.shape[0], 2000 : 2000 + qr.shape[1]] = qr[:, :, None]
    data = _jpeg(canvas, cv2.IMWRITE_JPEG_QUALITY, 90)
    hdr, reduce = plan_decode(data)
    assert hdr.budget() > limits.current().max_decode_bytes and reduce == 2
    assert load_image_bytes(data).shape == (2000, 3000)
    (found,) = decode_image_bytes(data)
    assert found.payload == b"big photo"
    xs = [p[0] for p in found.position]
    assert 1900 < min(xs) < 2300  # positions in the file's pixels, not the reduced ones


# --- concurrency cap ------------------------------------------------------------------


def _hold_slots(n: int) -> tuple[threading.Event, list[threading.Thread]]:
    held = threading.Barrier(n + 1)
    release = threading.Event()

    def hold() -> None:
        with limits.decode_slot():
            held.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(n)]
    for t in threads:
        t.start()
    held.wait()
    return release, threads


def test_callers_beyond_the_cap_get_a_typed_busy_error() -> None:
    limits.configure(max_concurrent=2, wait_timeout_s=0.0)
    data = cv2.imencode(".png", synth.make_symbol(Symbology.QR, b"busy"))[1].tobytes()
    release, threads = _hold_slots(2)
    try:
        for call in (
            lambda: decode_image_bytes(data),
            lambda: load_image_bytes(data),
            lambda: decode_image(synth.make_symbol(Symbology.QR, b"busy")),
        ):
            with pytest.raises(ImageBusy) as exc:
                call()
            assert exc.value.code == "image_busy"
            assert isinstance(exc.value, ImageError)
    finally:
        release.set()
        for t in threads:
            t.join()
    assert decode_image_bytes(data)[0].payload == b"busy"


def test_a_free_slot_is_used_and_nesting_takes_one_slot() -> None:
    limits.configure(max_concurrent=2, wait_timeout_s=0.0)
    data = cv2.imencode(".png", synth.make_symbol(Symbology.QR, b"one left"))[1].tobytes()
    release, threads = _hold_slots(1)
    try:  # decode_image_bytes -> decode_image -> try_decode_image hold one slot, not three
        assert decode_image_bytes(data)[0].payload == b"one left"
    finally:
        release.set()
        for t in threads:
            t.join()


def test_limits_reject_nonsense() -> None:
    for kwargs in ({"max_concurrent": 0}, {"max_decode_bytes": 0}, {"wait_timeout_s": -1.0}):
        with pytest.raises(ValueError, match=f"^{next(iter(kwargs))} must be >= "):
            limits.configure(**kwargs)  # type: ignore[arg-type]


# --- measured memory (subprocess) ----------------------------------------------------


def _run_child(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_concurrent_hostile_images_stay_under_400_mb() -> None:
    """8 hostile files at once (4 would be 4.9 GB before the fix); peak RSS of the process
    doing the decoding stays under 400 MB and each gets its typed code."""
    result = _run_child("from tests.imaging import rss_child; rss_child.main()")
    assert result["codes"] == {
        "rgba16_6320": "image_too_large",
        "rgba16_6320_interlaced": "image_too_large",
        "gray_5000": "no_barcode",  # fits the budget: decoded, within it
        "gray_5000_b": "no_barcode",
        "idat_truncated": "bad_image",
        "ztxt_600mb": "no_barcode",  # metadata stripped, pixels decoded
        "iccp_2mb": "image_too_large",
        "jpeg_6000x6000_tiny": "bad_image",
    }
    hwm_kib = result["vm_hwm_kib"]
    assert isinstance(hwm_kib, int) and hwm_kib < 400 * 1024, f"peak RSS {hwm_kib} KiB"


_FULL_DEPTH_CHILD = """
import json
from tests.imaging import bombs, rss_child
from verifier.imaging import load_image_bytes
data = bombs.png_bomb(3000, 3000, 16, 2, fill=255)  # 16-bit RGB: 54 MB at full depth
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
with open("/proc/self/status") as fh:
    base = next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:"))
img = load_image_bytes(data)
assert img.shape == (3000, 3000) and img.dtype.name == "uint8" and int(img.min()) == 255
print(json.dumps({"delta_kib": rss_child.vm_hwm_kib() - base}))
"""


def test_16bit_png_is_decoded_straight_to_8bit_gray() -> None:
    """Decoding 3000x3000 16-bit RGB never holds the 54 MB full-depth image: the peak is
    OpenCV's 8-bit gray output plus one temporary of the same size (9 MB each)."""
    delta = _run_child(_FULL_DEPTH_CHILD)["delta_kib"]
    full_depth_kib = 3000 * 3000 * 3 * 2 // 1024
    assert isinstance(delta, int) and delta < full_depth_kib // 2, f"peak grew {delta} KiB"


# --- legitimate images still decode ---------------------------------------------------


def _expected(path: Path) -> bytes:
    return path.with_suffix(".txt").read_bytes()


def test_legit_1280x720_png_decodes() -> None:
    src = ZXING / "pdf417-3" / "04.png"
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    assert img is not None and img.size > 0  # the real photo read
    canvas = np.full((720, 1280, 3), 255, np.uint8)
    h, w = img.shape[:2]
    canvas[50 : 50 + h, 70 : 70 + w] = img
    data = cv2.imencode(".png", canvas)[1].tobytes()
    found = decode_image_bytes(data, {Symbology.PDF417})
    assert [b.payload for b in found] == [_expected(src)]


def test_legit_4000x3000_photo_decodes_at_full_size() -> None:
    src = ZXING / "qrcode-2" / "6.png"
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[:2] == (960, 1280)
    photo = cv2.resize(img, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    data = _jpeg(photo, cv2.IMWRITE_JPEG_QUALITY, 92)
    hdr, reduce = plan_decode(data)
    assert (hdr.width, hdr.height, hdr.channels, reduce) == (4000, 3000, 3, 1)
    assert load_image_bytes(data).shape == (3000, 4000)
    assert [b.payload for b in decode_image_bytes(data)] == [_expected(src)]


def test_no_barcode_in_a_legit_photo_is_still_no_barcode() -> None:
    data = _jpeg(synth.noisy_background(1280, 720, 5))
    with pytest.raises(NoBarcodeFound):
        decode_image_bytes(data)
