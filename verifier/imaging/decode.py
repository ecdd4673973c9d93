"""Decode 2-D barcodes from images, returning the exact bytes of each symbol.

Decoder: zxing-cpp (reads QR, PDF417, DataMatrix and Aztec; returns the symbol's bytes
unchanged).  ``payload`` is ``zxingcpp.Barcode.bytes``: the concatenated data bytes of the
symbol with ECI designators removed and no character-set conversion at all, so a 130-byte
binary policy record comes back as exactly those 130 bytes.  The symbol is read with
``TextMode.HexECI`` so that the AIM identifier (with its ECI modifier) and the
ECI-escaped transmission form are known as well; ``text`` is derived from those.

PDF417 beyond ~3° rotation is not found by zxing-cpp; when PDF417 is requested and the plain
read found none, :mod:`verifier.imaging.deskew` cuts out upright crops of the bar-dense
regions and they are read again.

zxing-cpp sometimes "decodes" a badly skewed PDF417 into wrong bytes with every error
correction codeword used up (unused-EC fraction 0.0; measured: every one of the wrong reads
in the test sweep, versus <0.5% of correct ones).  Such PDF417 reads are dropped by default
(``reject_exhausted_ec``), which also lets the deskew fallback try for a sound read.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from verifier.errors import ImageError
from verifier.imaging import limits
from verifier.imaging.deskew import candidate_crops
from verifier.imaging.header import ImageHeader, read_header
from verifier.imaging.header import ImageTooLarge as ImageTooLarge
from verifier.imaging.symbology import ALL_SYMBOLOGIES, Symbology

DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
"""Largest image file accepted by :func:`decode_image_bytes` (20 MiB)."""

DEFAULT_MAX_PIXELS: Final = 40_000_000
"""Largest image (width x height) accepted, checked on the file header before decoding."""

DEFAULT_MAX_RESULTS: Final = 8

MIN_SIDE: Final = 8
"""Images narrower or lower than this cannot hold a readable symbol."""

Point = tuple[float, float]


class NoBarcodeFound(ImageError):
    """The image was read but no requested barcode decoded."""

    code = "no_barcode"


_TO_ZX: Final[dict[Symbology, zxingcpp.BarcodeFormat]] = {
    Symbology.QR: zxingcpp.BarcodeFormat.QRCode,
    Symbology.PDF417: zxingcpp.BarcodeFormat.PDF417,
    Symbology.DATAMATRIX: zxingcpp.BarcodeFormat.DataMatrix,
    Symbology.AZTEC: zxingcpp.BarcodeFormat.Aztec,
}

# ECI number -> Python codec, for the best-effort ``text`` property.
_ECI_CODECS: Final[dict[int, str]] = {
    0: "cp437",
    1: "latin-1",
    2: "cp437",
    3: "latin-1",
    4: "iso8859-2",
    5: "iso8859-3",
    6: "iso8859-4",
    7: "iso8859-5",
    8: "iso8859-6",
    9: "iso8859-7",
    10: "iso8859-8",
    11: "iso8859-9",
    12: "iso8859-10",
    13: "iso8859-11",
    15: "iso8859-13",
    16: "iso8859-14",
    17: "iso8859-15",
    18: "iso8859-16",
    20: "shift_jis",
    21: "cp1250",
    22: "cp1251",
    23: "cp1252",
    24: "cp1256",
    25: "utf-16-be",
    26: "utf-8",
    27: "ascii",
    28: "big5",
    29: "gb18030",
    30: "euc-kr",
    31: "gbk",
    32: "gb18030",
    33: "utf-16-le",
    34: "utf-32-be",
    35: "utf-32-le",
    899: "latin-1",
}


@dataclass(frozen=True)
class DecodedBarcode:
    """One decoded symbol.

    ``payload`` is the exact byte content of the symbol (ECI designators removed, nothing
    transcoded).  ``eci_payload`` is the same data as an AIM-compliant reader would transmit
    it after ``aim_id``: ECI designators as ``\\NNNNNN`` and backslashes doubled when the
    symbol uses ECI, otherwise identical to ``payload``.
    """

    symbology: Symbology
    payload: bytes = field(repr=False)
    aim_id: str  # e.g. "]L2"; the modifier says whether ECI is in use (]Q2, ]L1, ]d4, ]z3)
    position: tuple[Point, Point, Point, Point]  # TL, TR, BR, BL in the input image's pixels
    deskewed: bool = False  # found only after the PDF417 deskew fallback
    rotation: float = 0.0  # degrees the crop was rotated by (cv2 convention) when deskewed
    has_eci: bool = False
    eci_payload: bytes = field(default=b"", repr=False)
    content_type: str = "binary"  # zxing's guess: text, binary, mixed, gs1, iso15434, ...
    ec_level: str = ""
    unused_ec: float | None = None  # fraction of error correction capacity left (zxing "UEC")

    @property
    def text(self) -> str:
        """Best-effort text: ECI segments decoded by their charset, others as UTF-8 or
        ISO-8859-1.  Use ``payload`` for anything that must be exact."""
        if not self.has_eci:
            return _decode_plain(self.payload)
        return _decode_eci_stream(self.eci_payload)


def _decode_plain(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_eci_stream(stream: bytes) -> str:
    """Decode an ECI-escaped stream (``\\NNNNNN`` switches charset, ``\\\\`` is a backslash)."""
    parts: list[str] = []
    codec: str | None = None
    buf = bytearray()

    def flush() -> None:
        if buf:
            chunk = bytes(buf)
            parts.append(chunk.decode(codec, "replace") if codec else _decode_plain(chunk))
            buf.clear()

    i, n = 0, len(stream)
    while i < n:
        b = stream[i]
        if b == 0x5C and i + 1 < n and stream[i + 1] == 0x5C:
            buf.append(0x5C)
            i += 2
        elif b == 0x5C and i + 7 <= n and stream[i + 1 : i + 7].isdigit():
            flush()
            codec = _ECI_CODECS.get(int(stream[i + 1 : i + 7]), "latin-1")
            i += 7
        else:
            buf.append(b)
            i += 1
    flush()
    return "".join(parts)


def _formats_flag(formats: Iterable[Symbology]) -> zxingcpp.BarcodeFormats:
    zx = sorted({_TO_ZX[Symbology(s)] for s in formats}, key=int)
    if not zx:
        raise ValueError("formats must name at least one symbology")
    return zxingcpp.BarcodeFormats(zx)


def _as_gray(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Validate an image array and return it as contiguous 2-D uint8 (BGR/BGRA -> gray)."""
    if not isinstance(image, np.ndarray):
        raise ImageError("image must be a numpy array")
    if image.dtype != np.uint8:
        raise ImageError(f"image must be 8-bit (dtype uint8), got {image.dtype}")
    gray: npt.NDArray[np.uint8]
    if image.ndim == 3 and image.shape[2] == 1:
        gray = np.asarray(image[:, :, 0], dtype=np.uint8)
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        gray = np.asarray(cv2.cvtColor(np.ascontiguousarray(image), code), dtype=np.uint8)
    elif image.ndim == 2:
        gray = np.asarray(image, dtype=np.uint8)
    else:
        raise ImageError(f"image must be gray, BGR or BGRA, got shape {image.shape}")
    h, w = gray.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ImageError(f"image too small to hold a barcode: {w}x{h}")
    return np.ascontiguousarray(gray, dtype=np.uint8)


def _convert(
    bc: zxingcpp.Barcode,
    *,
    deskewed: bool = False,
    rotation: float = 0.0,
    to_original: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
) -> DecodedBarcode | None:
    sym = _FROM_ZX.get(int(bc.format))
    if sym is None:
        return None
    transmitted = bytes.fromhex(bc.text) if bc.text else b""
    aim_id = (
        transmitted[:3].decode("latin-1")
        if transmitted.startswith(b"]")
        else str(bc.symbology_identifier)
    )
    body = transmitted[3:] if transmitted.startswith(b"]") else bytes(bc.bytes)
    payload = bytes(bc.bytes)
    has_eci = _has_eci_modifier(sym, aim_id)
    p = bc.position
    pts = np.array(
        [
            [p.top_left.x, p.top_left.y],
            [p.top_right.x, p.top_right.y],
            [p.bottom_right.x, p.bottom_right.y],
            [p.bottom_left.x, p.bottom_left.y],
        ],
        dtype=np.float64,
    )
    if to_original is not None:
        pts = np.asarray(to_original(pts), dtype=np.float64)
    corners = tuple((round(float(x), 1), round(float(y), 1)) for x, y in pts)
    uec = bc.extra.get("UEC") if isinstance(bc.extra, dict) else None
    return DecodedBarcode(
        symbology=sym,
        payload=payload,
        aim_id=aim_id,
        position=(corners[0], corners[1], corners[2], corners[3]),
        deskewed=deskewed,
        rotation=round(rotation, 2),
        has_eci=has_eci,
        eci_payload=body,
        content_type=str(bc.content_type.name).lower(),
        ec_level=str(bc.ec_level),
        unused_ec=float(uec) if isinstance(uec, int | float) else None,
    )


_FROM_ZX: Final[dict[int, Symbology]] = {int(v): k for k, v in _TO_ZX.items()}

# AIM modifier characters that signal "ECI protocol in use" (ISO/IEC 15424 and the
# symbology specifications, as zxing-cpp reports them): QR 2/4/6, PDF417 1,
# DataMatrix 4/5/6 and A (zxing-cpp reports rectangular DMRE symbols as ]d7, ]dA with ECI),
# Aztec 3/4/5/9/A/B.
_ECI_MODIFIERS: Final[dict[Symbology, frozenset[str]]] = {
    Symbology.QR: frozenset("246"),
    Symbology.PDF417: frozenset("1"),
    Symbology.DATAMATRIX: frozenset("456A"),
    Symbology.AZTEC: frozenset("345B9A"),
}


def _has_eci_modifier(sym: Symbology, aim_id: str) -> bool:
    return len(aim_id) == 3 and aim_id[2] in _ECI_MODIFIERS[sym]


def _sound(b: DecodedBarcode, reject_exhausted_ec: bool) -> bool:
    return not (
        reject_exhausted_ec
        and b.symbology is Symbology.PDF417
        and b.unused_ec is not None
        and b.unused_ec <= 0.0
    )


def _read(
    gray: npt.NDArray[np.uint8], flag: zxingcpp.BarcodeFormats, *, quick: bool = False
) -> list[zxingcpp.Barcode]:
    return [
        bc
        for bc in zxingcpp.read_barcodes(
            gray,
            formats=flag,
            text_mode=zxingcpp.TextMode.HexECI,
            try_rotate=not quick,
            try_invert=not quick,
        )
        if bc.valid
    ]


def try_decode_image(
    image: npt.NDArray[np.generic],
    formats: Collection[Symbology] = ALL_SYMBOLOGIES,
    *,
    deskew: bool = True,
    max_results: int = DEFAULT_MAX_RESULTS,
    reject_exhausted_ec: bool = True,
    quick: bool = False,
) -> list[DecodedBarcode]:
    """Like :func:`decode_image` but returns ``[]`` when nothing decodes (camera frames).

    ``quick``: one zxing-cpp pass as the image is (no 90° turns, no inverted image, no deskew
    fallback): a camera loop's first look, about a quarter of the full read's time on a
    1280x720 frame with PDF417+QR.  It only tries what the full read also tries first, so it
    finds a subset of the full read's results.

    Still raises :class:`ImageError` for an array that is no usable image, and
    :class:`ImageBusy` when no decode slot frees up in time (the reader's working set,
    ~4 bytes per pixel, counts against the process-wide concurrency cap).
    """
    with limits.decode_slot():
        return _try_decode(
            image,
            formats,
            deskew=deskew and not quick,
            max_results=max_results,
            reject_exhausted_ec=reject_exhausted_ec,
            quick=quick,
        )


def _try_decode(
    image: npt.NDArray[np.generic],
    formats: Collection[Symbology],
    *,
    deskew: bool,
    max_results: int,
    reject_exhausted_ec: bool,
    quick: bool = False,
) -> list[DecodedBarcode]:
    if max_results < 1:
        raise ValueError("max_results must be >= 1")
    wanted = frozenset(Symbology(s) for s in formats)
    flag = _formats_flag(wanted)
    gray = _as_gray(image)

    found: list[DecodedBarcode] = []
    seen: set[tuple[Symbology, bytes]] = set()

    def add(b: DecodedBarcode | None) -> None:
        if b is None or b.symbology not in wanted or not _sound(b, reject_exhausted_ec):
            return
        key = (b.symbology, b.payload)
        if key not in seen and len(found) < max_results:
            seen.add(key)
            found.append(b)

    for bc in _read(gray, flag, quick=quick):
        add(_convert(bc))

    if (
        deskew
        and Symbology.PDF417 in wanted
        and len(found) < max_results
        and not any(b.symbology is Symbology.PDF417 for b in found)
    ):
        pdf_flag = zxingcpp.BarcodeFormats(_TO_ZX[Symbology.PDF417])
        for crop in candidate_crops(gray):
            before = len(found)
            for bc in _read(crop.image, pdf_flag):
                add(_convert(bc, deskewed=True, rotation=crop.angle, to_original=crop.to_original))
            if len(found) > before:
                break
    return found


def decode_image(
    image: npt.NDArray[np.generic],
    formats: Collection[Symbology] = ALL_SYMBOLOGIES,
    *,
    deskew: bool = True,
    max_results: int = DEFAULT_MAX_RESULTS,
    reject_exhausted_ec: bool = True,
) -> list[DecodedBarcode]:
    """Decode the requested symbologies in a gray (H, W), BGR or BGRA uint8 image.

    Only ``formats`` are handed to zxing-cpp.  With ``deskew`` (default), if PDF417 is
    requested and the plain read finds none, upright crops of skewed bar regions are tried
    (results then have ``deskewed=True``).  At most ``max_results`` distinct symbols
    (by symbology and payload) are returned, in the decoder's order.

    Raises :class:`NoBarcodeFound` when nothing decodes and :class:`ImageError` for an array
    that is no usable image.
    """
    found = try_decode_image(
        image,
        formats,
        deskew=deskew,
        max_results=max_results,
        reject_exhausted_ec=reject_exhausted_ec,
    )
    if not found:
        names = ", ".join(sorted(Symbology(s).value for s in formats))
        raise NoBarcodeFound(f"no barcode found (looked for: {names})")
    return found


# --- image files ------------------------------------------------------------------------

_JPEG_REDUCE: Final[dict[int, int]] = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}

_COMPOSITE_ROWS: Final = 256
"""Rows composited at a time, so alpha blending needs no full-size float copies."""


def image_dimensions(data: bytes) -> tuple[str, int, int]:
    """(kind, width, height) from a PNG or JPEG header, without decoding pixels.

    Raises :class:`ImageError` for anything else or a header that does not parse.
    """
    hdr = read_header(bytes(data))
    return hdr.kind, hdr.width, hdr.height


def plan_decode(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_bytes: int | None = None,
) -> tuple[ImageHeader, int]:
    """Check the file against every limit from its header alone; (header, reduce factor).

    The budget is the full-depth image the header declares (pixels x channels x bytes per
    sample) plus the 8-bit gray copy plus the barcode reader's working set.  A JPEG over it
    is read at 1/2, 1/4 or 1/8 scale (libjpeg scales while decoding) when that fits; a PNG
    cannot be scaled while decoding and is refused.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageError("image data must be bytes")
    if not data:
        raise ImageError("empty image data")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image file is {len(data)} bytes, limit {max_bytes}")
    hdr = read_header(bytes(data), max_pixels)
    cap = limits.current().max_decode_bytes if max_decode_bytes is None else max_decode_bytes
    for reduce in (1, 2, 4, 8) if hdr.kind == "jpeg" else (1,):
        if hdr.budget(reduce) <= cap:
            return hdr, reduce
    raise ImageTooLarge(
        f"decoding {hdr.width}x{hdr.height} x{hdr.channels}x{hdr.bytes_per_sample * 8}-bit "
        f"{hdr.kind} needs {hdr.budget()} bytes, limit {cap}"
    )


def _composite_on_white(bgra: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """BGRA -> gray with transparent pixels on white, a band of rows at a time."""
    h, w = bgra.shape[:2]
    out = np.empty((h, w), np.uint8)
    for y in range(0, h, _COMPOSITE_ROWS):
        band = bgra[y : y + _COMPOSITE_ROWS]
        gray = cv2.cvtColor(np.ascontiguousarray(band[:, :, :3]), cv2.COLOR_BGR2GRAY)
        a = band[:, :, 3].astype(np.uint16)
        mixed = (gray.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
        out[y : y + _COMPOSITE_ROWS] = mixed.astype(np.uint8)
    return out


def _load(hdr: ImageHeader, reduce: int) -> npt.NDArray[np.uint8]:
    """Decode straight to 8-bit gray: no full-depth colour buffer is ever allocated, except
    the 8-bit BGRA an alpha PNG needs for compositing (covered by the budget)."""
    buf = np.frombuffer(hdr.decode_data, dtype=np.uint8)
    composite = hdr.kind == "png" and hdr.alpha and hdr.bytes_per_sample == 1
    flags = cv2.IMREAD_UNCHANGED if composite else _JPEG_REDUCE[reduce]
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageError(f"undecodable {hdr.kind} image: {exc}") from exc
    if img is None or img.size == 0 or img.dtype != np.uint8:
        raise ImageError(f"undecodable or truncated {hdr.kind} image")
    if img.ndim == 3 and img.shape[2] == 4:
        img = _composite_on_white(np.asarray(img, dtype=np.uint8))
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif img.ndim != 2:
        raise ImageError(f"unsupported decoded image shape {img.shape}")
    return np.ascontiguousarray(img, dtype=np.uint8)


def load_image_bytes(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_bytes: int | None = None,
) -> npt.NDArray[np.uint8]:
    """Decode PNG/JPEG file contents into a 2-D uint8 gray image, within the limits.

    Transparent 8-bit PNG pixels are composited onto white; 16-bit PNGs are reduced to
    8 bits while decoding (their alpha is dropped, not composited).  A large JPEG may come
    back at 1/2, 1/4 or 1/8 scale (see :func:`plan_decode`).
    """
    hdr, reduce = plan_decode(
        data, max_bytes=max_bytes, max_pixels=max_pixels, max_decode_bytes=max_decode_bytes
    )
    with limits.decode_slot():
        return _load(hdr, reduce)


def _scaled(found: list[DecodedBarcode], factor: int) -> list[DecodedBarcode]:
    if factor == 1:
        return found
    return [
        dataclasses.replace(
            b,
            position=(
                (b.position[0][0] * factor, b.position[0][1] * factor),
                (b.position[1][0] * factor, b.position[1][1] * factor),
                (b.position[2][0] * factor, b.position[2][1] * factor),
                (b.position[3][0] * factor, b.position[3][1] * factor),
            ),
        )
        for b in found
    ]


def decode_image_bytes(
    data: bytes,
    formats: Collection[Symbology] = ALL_SYMBOLOGIES,
    *,
    deskew: bool = True,
    max_results: int = DEFAULT_MAX_RESULTS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_bytes: int | None = None,
    reject_exhausted_ec: bool = True,
) -> list[DecodedBarcode]:
    """Decode barcodes from PNG or JPEG file contents (see :func:`decode_image`).

    Every limit is checked on the header before any pixel is decoded: :class:`ImageTooLarge`
    over ``max_bytes``, ``max_pixels`` or the decode budget (``max_decode_bytes``, default
    :func:`verifier.imaging.limits.configure`); :class:`ImageError` for data that is no
    well-formed PNG/JPEG; :class:`ImageBusy` when no decode slot frees up in time;
    :class:`NoBarcodeFound` when nothing decodes.  Positions are in the file's pixels.
    """
    hdr, reduce = plan_decode(
        data, max_bytes=max_bytes, max_pixels=max_pixels, max_decode_bytes=max_decode_bytes
    )
    with limits.decode_slot():
        img = _load(hdr, reduce)
        found = decode_image(
            img,
            formats,
            deskew=deskew,
            max_results=max_results,
            reject_exhausted_ec=reject_exhausted_ec,
        )
    return _scaled(found, reduce)


def decode_image_file(
    path: str | os.PathLike[str],
    formats: Collection[Symbology] = ALL_SYMBOLOGIES,
    *,
    deskew: bool = True,
    max_results: int = DEFAULT_MAX_RESULTS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_bytes: int | None = None,
    reject_exhausted_ec: bool = True,
) -> list[DecodedBarcode]:
    """Read an image file (size-checked before reading it whole) and decode it."""
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise ImageTooLarge(f"image file is {size} bytes, limit {max_bytes}")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"cannot read image file: {exc.strerror or exc}") from exc
    return decode_image_bytes(
        data,
        formats,
        deskew=deskew,
        max_results=max_results,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        max_decode_bytes=max_decode_bytes,
        reject_exhausted_ec=reject_exhausted_ec,
    )
