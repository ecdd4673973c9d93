"""Hostile image files built by hand (zlib, struct), small in memory while being built.

Shared by the in-process limit tests and the subprocess that measures peak RSS.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIG = b"\x89PNG\r\n\x1a\n"
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(
    width: int,
    height: int,
    depth: int = 8,
    ctype: int = 0,
    *,
    interlace: int = 0,
    before_idat: bytes = b"",
    idat_cut: int | None = None,
    fill: int = 0,
) -> bytes:
    """A valid PNG of uniform pixels, compressed ~1000:1 (streamed, never held raw)."""
    samples = _SAMPLES[ctype]
    passes = (
        [(width, height)]
        if interlace == 0
        else [
            ((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7
        ]
    )
    co = zlib.compressobj(9)
    parts: list[bytes] = []
    for pw, ph in passes:
        if pw == 0 or ph == 0:
            continue
        row = b"\x00" + bytes([fill]) * ((pw * samples * depth + 7) // 8)
        parts.extend(co.compress(row) for _ in range(ph))
    parts.append(co.flush())
    idat = b"".join(parts)
    if idat_cut is not None:
        idat = idat[:idat_cut]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, interlace)
    return PNG_SIG + chunk(b"IHDR", ihdr) + before_idat + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def ztxt_bomb(inflated: int) -> bytes:
    """A zTXt chunk whose text inflates to ``inflated`` bytes."""
    co = zlib.compressobj(9)
    block = b"A" * (1 << 20)
    body = b"".join(co.compress(block) for _ in range(inflated >> 20)) + co.flush()
    return chunk(b"zTXt", b"Comment\x00\x00" + body)


def iccp_chunk(size: int) -> bytes:
    """An iCCP chunk of ``size`` bytes of (incompressible) profile data."""
    body = b"icc\x00\x00" + zlib.compress(bytes(range(256)) * (size // 256 + 1))
    body = body[:5] + (body[5:] * (size // max(1, len(body) - 5) + 1))[:size]
    return chunk(b"iCCP", body)


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header claiming another size."""
    data = bytearray(jpeg)
    for sof in (b"\xff\xc0", b"\xff\xc2"):
        i = data.find(sof)
        if i >= 0:
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
    raise ValueError("no SOF0/SOF2 in the JPEG")


def jpeg_with_sof(jpeg: bytes, marker: int) -> bytes:
    """The same JPEG with its SOF0 marker replaced (e.g. 0xC9: arithmetic coding)."""
    data = bytearray(jpeg)
    i = data.index(b"\xff\xc0")
    data[i + 1] = marker
    return bytes(data)
