"""Read PNG/JPEG headers without decoding pixels, and price the decode from them.

A hostile file is small and declares a lot (a 324 KB PNG declaring 6320x6320 16-bit RGBA
inflates to 320 MB), so everything that decides whether to decode at all is read here from
the headers: size, depth, channels, and whether the data present can even hold the pixels
it declares.  Nothing here allocates more than a copy of the file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final

from verifier.errors import ImageError


class ImageTooLarge(ImageError):
    """The image file, its declared pixel size or its decode budget is over the limit."""

    code = "image_too_large"


PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"

MAX_PNG_CHUNKS: Final = 100_000
"""More chunks than this is no real encoder's output (libpng writes 8 KiB IDATs: 2,560 for
a 20 MiB file) and only makes the header walk slow."""

MAX_ANCILLARY_CHUNK: Final = 1024 * 1024
"""Largest single metadata chunk (zTXt, iTXt, iCCP, eXIf, ...).  Metadata is stripped before
decoding anyway; a chunk this big is no barcode image."""

DEFLATE_MAX_RATIO: Final = 1032
"""Deflate cannot expand more than 1032:1 (a 258-byte match in two 1-bit codes), so IDAT
data shorter than raw/1032 cannot hold the declared image: it is truncated."""

PROCESSING_BYTES_PER_PIXEL: Final = 4
"""Working memory of zxing-cpp plus the PDF417 deskew fallback per gray pixel (measured on
OpenCV 5.0 / zxing-cpp 3.1: at most 3.95 bytes, on 40 MP noise)."""

_PNG_CHANNELS: Final[dict[int, int]] = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS: Final[dict[int, frozenset[int]]] = {
    0: frozenset({1, 2, 4, 8, 16}),
    2: frozenset({8, 16}),
    3: frozenset({1, 2, 4, 8}),
    4: frozenset({8, 16}),
    6: frozenset({8, 16}),
}
_ADAM7: Final = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)

_JPEG_SOF_ALL: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SOF_OK: Final = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive (Huffman)
_JPEG_PROGRESSIVE: Final = 0xC2


@dataclass(frozen=True)
class ImageHeader:
    """What the header declares, and what decoding it would cost.

    ``channels`` and ``bytes_per_sample`` describe the full-depth image a decoder would
    produce (palette expanded, any transparency as a 4th channel); ``coder_bytes`` is decoder
    state that scales with the image (a progressive JPEG keeps every DCT coefficient).
    """

    kind: str  # "png" or "jpeg"
    width: int
    height: int
    channels: int
    bytes_per_sample: int
    alpha: bool = False
    interlaced: bool = False  # Adam7 PNG or progressive JPEG
    coder_bytes: int = 0
    decode_data: bytes = b""  # what to hand to the decoder (PNG: metadata chunks removed)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def budget(self, reduce: int = 1) -> int:
        """Bytes a decode may need: the full-depth image, the 8-bit gray copy and the
        barcode reader's working set, at ``1/reduce`` scale (JPEG only), plus coder state."""
        w = _ceil_div(self.width, reduce)
        h = _ceil_div(self.height, reduce)
        px = w * h
        full = px * self.channels * self.bytes_per_sample
        return full + px + PROCESSING_BYTES_PER_PIXEL * px + self.coder_bytes


def read_header(data: bytes, max_pixels: int | None = None) -> ImageHeader:
    """Parse and check the PNG or JPEG structure up to the pixel data.

    Raises :class:`ImageError` (``bad_image``) for anything that is not a well-formed PNG or
    baseline/progressive JPEG, for zero or absurd sizes, and for pixel data too short to
    hold the declared image; :class:`ImageTooLarge` for more than ``max_pixels`` (checked as
    soon as the size is read) or an oversized metadata chunk.
    """
    if data.startswith(PNG_SIGNATURE):
        return _read_png(data, max_pixels)
    if data.startswith(b"\xff\xd8"):
        return _read_jpeg(data, max_pixels)
    raise ImageError("not a PNG or JPEG image")


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(f"image declares {width}x{height} pixels, limit {max_pixels}")


def _read_png(data: bytes, max_pixels: int | None) -> ImageHeader:  # noqa: C901 - one pass over the chunks; each branch is one PNG rule
    n = len(data)
    mv = memoryview(data)
    pos = len(PNG_SIGNATURE)
    keep: list[tuple[int, int]] = []  # (start, end) of chunks handed to the decoder
    ihdr: tuple[int, int, int, int, int] | None = None
    idat_total = 0
    idat_done = False
    has_plte = has_trns = has_iend = False
    count = 0
    while pos < n:
        count += 1
        if count > MAX_PNG_CHUNKS:
            raise ImageError(f"PNG has more than {MAX_PNG_CHUNKS} chunks")
        if pos + 12 > n:
            raise ImageError("truncated PNG (chunk header cut off)")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > n:
            raise ImageError("truncated PNG (chunk runs past the end of the file)")
        if not kind.isalpha() or not kind.isascii():
            raise ImageError("malformed PNG (bad chunk type)")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(mv[pos + 4 : end - 4]) != crc:
            raise ImageError(f"corrupt PNG (CRC error in {kind.decode('ascii')} chunk)")
        body = mv[pos + 8 : end - 4]
        if ihdr is None:
            if kind != b"IHDR" or length != 13:
                raise ImageError("malformed PNG (IHDR is not the first chunk)")
            ihdr = _check_ihdr(bytes(body))
            _check_pixels(ihdr[0], ihdr[1], max_pixels)
            keep.append((pos, end))
        elif kind == b"IHDR":
            raise ImageError("malformed PNG (second IHDR)")
        elif kind == b"IDAT":
            if idat_done:
                raise ImageError("malformed PNG (IDAT chunks not consecutive)")
            idat_total += length
            keep.append((pos, end))
        elif kind == b"IEND":
            has_iend = True
            keep.append((pos, end))
            break
        else:
            if idat_total:
                idat_done = True
            if kind == b"PLTE":
                if idat_total or has_plte or length == 0 or length % 3 or length > 768:
                    raise ImageError("malformed PNG (bad PLTE chunk)")
                has_plte = True
                if ihdr[3] == 3:
                    keep.append((pos, end))
            elif kind == b"tRNS":
                if ihdr[3] in (0, 2, 3) and not idat_total:
                    has_trns = True
                    keep.append((pos, end))
            elif 0x41 <= kind[0] <= 0x5A:  # upper case first letter: critical
                raise ImageError(f"PNG has an unknown critical chunk {kind.decode('ascii')}")
            elif length > MAX_ANCILLARY_CHUNK:
                raise ImageTooLarge(
                    f"PNG metadata chunk {kind.decode('ascii')} is {length} bytes, "
                    f"limit {MAX_ANCILLARY_CHUNK}"
                )
        pos = end
    if ihdr is None:
        raise ImageError("truncated PNG (no IHDR)")
    if not has_iend:
        raise ImageError("truncated PNG (no IEND chunk)")
    width, height, depth, ctype, interlace = ihdr
    if idat_total == 0:
        raise ImageError("PNG holds no image data")
    if ctype == 3 and not has_plte:
        raise ImageError("malformed PNG (palette image without PLTE)")
    raw = _png_raw_size(width, height, depth, _PNG_CHANNELS[ctype], interlace)
    if idat_total < raw // DEFLATE_MAX_RATIO:
        raise ImageError(
            f"truncated PNG: {idat_total} bytes of image data cannot hold {width}x{height} pixels"
        )
    alpha = ctype in (4, 6) or has_trns
    channels = 4 if alpha else 3 if ctype in (2, 3) else 1
    stripped = len(keep) != count
    decode_data = PNG_SIGNATURE + b"".join(data[a:b] for a, b in keep) if stripped else data
    return ImageHeader(
        kind="png",
        width=width,
        height=height,
        channels=channels,
        bytes_per_sample=2 if depth == 16 else 1,
        alpha=alpha,
        interlaced=interlace == 1,
        decode_data=decode_data,
    )


def _check_ihdr(body: bytes) -> tuple[int, int, int, int, int]:
    width, height, depth, ctype, compression, filt, interlace = struct.unpack(">IIBBBBB", body)
    if width == 0 or height == 0:
        raise ImageError(f"image declares zero size {width}x{height}")
    if width > 0x7FFFFFFF or height > 0x7FFFFFFF:
        raise ImageError(f"PNG declares an impossible size {width}x{height}")
    if ctype not in _PNG_DEPTHS or depth not in _PNG_DEPTHS[ctype]:
        raise ImageError(f"PNG has an invalid colour type/bit depth {ctype}/{depth}")
    if compression != 0 or filt != 0 or interlace not in (0, 1):
        raise ImageError("PNG uses an unknown compression, filter or interlace method")
    return width, height, depth, ctype, interlace


def _png_raw_size(width: int, height: int, depth: int, samples: int, interlace: int) -> int:
    """Bytes of filtered scanlines the IDAT stream must inflate to."""

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * samples * depth + 7) // 8)

    if interlace == 0:
        return rows(width, height)
    return sum(
        rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7
    )


def _read_jpeg(data: bytes, max_pixels: int | None) -> ImageHeader:
    n = len(data)
    i = 2
    frame: tuple[int, int, int, list[tuple[int, int]], bool] | None = None
    scan_start = -1
    while i < n:
        if data[i] != 0xFF:
            raise ImageError("malformed JPEG header")
        if i + 1 >= n:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if marker in (0x00, 0xD8, 0xD9):
            raise ImageError("malformed JPEG header (unexpected marker before the scan)")
        if i + 4 > n:
            break
        (seglen,) = struct.unpack(">H", data[i + 2 : i + 4])
        if seglen < 2:
            raise ImageError("malformed JPEG header (bad segment length)")
        if i + 2 + seglen > n:
            break
        if marker in _JPEG_SOF_ALL:
            if frame is not None and marker in _JPEG_SOF_OK:
                raise ImageError("malformed JPEG header (two frame headers)")
            frame = _frame(marker, data[i + 4 : i + 2 + seglen], max_pixels)
        elif marker == 0xDA:
            if frame is None:
                raise ImageError("malformed JPEG header (scan before the frame header)")
            scan_start = i + 2 + seglen
            break
        i += 2 + seglen
    if frame is None or scan_start < 0:
        raise ImageError("truncated or malformed JPEG header")
    return _jpeg_header(data, frame, scan_start)


def _frame(
    marker: int, seg: bytes, max_pixels: int | None
) -> tuple[int, int, int, list[tuple[int, int]], bool]:
    """A frame header (SOFn) of a coding process this reader handles, within the pixel limit."""
    if marker not in _JPEG_SOF_OK:
        raise ImageError(
            f"unsupported JPEG coding process (SOF{marker - 0xC0}); only baseline, "
            "extended and progressive Huffman JPEG are read"
        )
    frame = _parse_sof(seg, marker == _JPEG_PROGRESSIVE)
    _check_pixels(frame[0], frame[1], max_pixels)
    return frame


def _jpeg_header(
    data: bytes, frame: tuple[int, int, int, list[tuple[int, int]], bool], scan_start: int
) -> ImageHeader:
    """The frame header judged against the scan data that follows it."""
    n = len(data)
    width, height, ncomp, sampling, progressive = frame
    hmax = max(h for h, _ in sampling)
    vmax = max(v for _, v in sampling)
    # blocks across and down of each component (its size is ceil(X * H / Hmax))
    dims = [
        (_ceil_div(_ceil_div(width * h, hmax), 8), _ceil_div(_ceil_div(height * v, vmax), 8))
        for h, v in sampling
    ]
    blocks = [bw * bh for bw, bh in dims]
    # Every block of a scanned component costs at least one bit of entropy-coded data.
    if (n - scan_start) * 8 < min(blocks):
        raise ImageError(
            f"truncated JPEG: {n - scan_start} bytes of scan data cannot hold "
            f"{width}x{height} pixels"
        )
    coef = 0
    if progressive:  # libjpeg keeps all coefficients (64 x int16 per block, MCU-padded)
        coef = sum(
            (bw + h) * (bh + v) * 128 for (bw, bh), (h, v) in zip(dims, sampling, strict=True)
        )
    return ImageHeader(
        kind="jpeg",
        width=width,
        height=height,
        channels=ncomp,
        bytes_per_sample=1,
        interlaced=progressive,
        coder_bytes=coef,
        decode_data=data,
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _parse_sof(seg: bytes, progressive: bool) -> tuple[int, int, int, list[tuple[int, int]], bool]:
    if len(seg) < 6:
        raise ImageError("malformed JPEG frame header")
    precision, height, width, ncomp = struct.unpack(">BHHB", seg[:6])
    if precision != 8:
        raise ImageError(f"unsupported JPEG sample precision {precision} bits")
    if width == 0 or height == 0:
        raise ImageError(f"image declares zero size {width}x{height}")
    if ncomp not in (1, 3, 4) or len(seg) != 6 + 3 * ncomp:
        raise ImageError(f"malformed JPEG frame header ({ncomp} components)")
    sampling: list[tuple[int, int]] = []
    for k in range(ncomp):
        hv = seg[6 + 3 * k + 1]
        h, v = hv >> 4, hv & 0x0F
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise ImageError("malformed JPEG frame header (sampling factors)")
        sampling.append((h, v))
    return width, height, ncomp, sampling, progressive
