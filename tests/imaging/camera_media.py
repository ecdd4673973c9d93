"""Camera-realistic test media: the official Compact PDF417, real photos at any angle, phones.

Everything is deterministic (explicit seeds) and made at test time, so nothing large is
committed:

* :func:`compact_symbol` writes the paper policy's symbol with Debian's ``zint`` (an encoder
  independent of zxing-cpp) in the geometry of the 2011 barcode rules (REFERENCE §3):
  Compact PDF417, 15 rows x 10 columns, byte compaction, error correction level 4.  The
  symbol comes back at 1 pixel per module (205 x 45 modules: 50 x 11 mm at 0.244 mm).
* :func:`policy_payload` builds real 130-byte paper-policy records with
  :mod:`verifier.formats.paper_barcode` (65 data bytes + a 65-byte signature field that starts
  with the key byte 0x01).
* :func:`webcam_frame` lays the symbol on a printed form and "photographs" it into a 1280x720
  frame: any rotation, a 3-D tilt of the page seen through a pinhole camera, rendered 3x
  supersampled and area-averaged (sensor integration), defocus blur, uneven light (gradient,
  vignette, a soft shadow), sensor noise and JPEG compression.
* :func:`real_photos` / :func:`rotate_photo`: the zxing project's real camera photos
  (``../shared/testdata/zxing``), rotated onto a canvas filled with the photo's own border tone.
* :func:`phone_frame`: the digital policy's QR shown on a phone screen and filmed: the
  screen's pixel grid with RGB sub-pixel stripes (moiré against the camera's sampling), glare,
  low contrast and dark mode (light modules on a dark screen).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from verifier.formats import paper_barcode as pb
from verifier.identifiers import Sex, make_enp

Gray = np.ndarray  # 2-D uint8

ROOT = Path(__file__).resolve().parents[2]
ZXING = ROOT / ".." / "shared" / "testdata" / "zxing"
PDF417_PHOTO_SETS = ("pdf417-1", "pdf417-3")
QR_PHOTO_SETS = ("qrcode-2", "qrcode-5", "qrcode-6")
MACRO_SEGMENTS = frozenset({"pdf417-3/13", "pdf417-3/14", "pdf417-3/15"})
"""Macro PDF417: each image holds one of three segments while NAME.txt is the whole message,
so no single-image read can match (zxing-cpp reads none of them, upright or turned)."""
TEXT_QUIRKS = frozenset({"qrcode-2/16"})
"""NAME.txt differs from the symbol's bytes (a space on an otherwise empty line)."""

FRAME_W, FRAME_H = 1280, 720
SUPERSAMPLE = 3
_SRC_PX = 4  # source resolution of the printed form, pixels per module

_NAMES = (
    ("ИВАНОВА", "МАРИЯ", "ПЕТРОВНА"),
    ("АЛПАТОВА", "ВАЛЕНТИНА", "АЛЕКСАНДРОВНА"),
    ("СЕМЁНОВ", "ПЁТР", "ИЛЬИЧ"),
    ("КОНСТАНТИНОПОЛЬСКИЙ", "ВЛАДИСЛАВ", "ВЛАДИМИРОВИЧ"),
    ("ЛИ", "ЮН", "-"),
)


# --- the official symbol --------------------------------------------------------------------


def zint_path() -> str:
    """The zint binary; a missing tool is a failure (install Debian's ``zint``), not a skip."""
    path = shutil.which("zint")
    if path is None:
        raise RuntimeError("zint not installed (apt-get install zint): the test media need it")
    return path


def policy_payload(seed: int) -> bytes:
    """A real 130-byte paper-policy record (type 01 or 02), signature field seeded."""
    rng = np.random.default_rng(seed)
    surname, given, patronymic = _NAMES[seed % len(_NAMES)]
    btype = pb.BarcodeType.TYPE1 if seed % 2 == 0 else pb.BarcodeType.TYPE2
    sex = Sex.FEMALE if surname.endswith("А") else Sex.MALE
    birth = date(
        1940 + int(rng.integers(0, 80)), 1 + int(rng.integers(0, 12)), 1 + int(rng.integers(0, 28))
    )
    enp = make_enp("50", birth, sex, int(rng.integers(1, 9999)))
    data = pb.encode_data(
        barcode_type=btype,
        enp=enp,
        surname=surname,
        given_name=given,
        patronymic=patronymic,
        sex=sex,
        birth_date=birth,
        expiry=None if seed % 3 else date(2030, 12, 31),
        smo_ogrn="1027739008440" if btype is pb.BarcodeType.TYPE1 else None,
        okato="46000" if btype is pb.BarcodeType.TYPE1 else None,
    )
    return pb.assemble(data, b"\x01" + rng.bytes(64))


@lru_cache(maxsize=64)
def compact_symbol(payload: bytes) -> Gray:
    """The payload as the rules' Compact PDF417 written by zint, 1 px per module, no quiet zone."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "data.bin", Path(tmp) / "symbol.png"
        src.write_bytes(payload)
        subprocess.run(
            [
                zint_path(),
                "-b",
                "56",
                "--cols=10",
                "--rows=15",
                "--secure=4",
                "--binary",
                "--scale=0.5",
                "-i",
                str(src),
                "-o",
                str(out),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        img = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise RuntimeError("zint wrote no readable PNG")
    img = np.where(img < 128, 0, 255).astype(np.uint8)
    if img.shape[1] != 205 or img.shape[0] % 3:
        raise RuntimeError(f"zint symbol is {img.shape[1]}x{img.shape[0]} modules")
    return img


def rules_symbol(seed: int) -> tuple[bytes, Gray]:
    """A policy record and its symbol in exactly the rules' 15 x 10 geometry.

    zint optimises compaction modes even with ``--binary`` and, for about 1 record in 50,
    switches to text/numeric sub-modes that need a 16th row (pure byte compaction always fits:
    111 data + 32 EC codewords <= 150).  Such seeds are skipped, deterministically.
    """
    for s in range(seed, seed + 50):
        payload = policy_payload(s)
        sym = compact_symbol(payload)
        if sym.shape == (45, 205):
            return payload, sym
    raise RuntimeError("no 15-row symbol in 50 seeds")


# --- a printed form photographed by a webcam ------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """How one frame is taken; every field is drawn from a seed by :func:`random_shot`."""

    module_px: float  # module width in frame pixels at the symbol's centre
    angle: float  # in-plane rotation, degrees counter-clockwise on screen
    tilt_x: float  # page tilt about its horizontal axis, degrees
    tilt_y: float  # page tilt about its vertical axis, degrees
    blur: float  # Gaussian defocus sigma, frame pixels
    light_min: float  # darkest illumination factor across the frame (1.0 = even)
    noise: float  # sensor noise sigma, grey levels
    jpeg: int  # JPEG quality
    seed: int


def random_shot(seed: int, *, module_px: float, angle: float, hard: bool = False) -> Shot:
    """Desk conditions: tilt up to 12° (20° hard), blur 0.4-0.9 px (1.1), light down to 0.6
    (0.45), noise 2-5 (7), JPEG q 60-90 (45)."""
    rng = np.random.default_rng(seed)
    tilt = 20.0 if hard else 12.0
    return Shot(
        module_px=module_px,
        angle=angle,
        tilt_x=float(rng.uniform(-tilt, tilt)),
        tilt_y=float(rng.uniform(-tilt, tilt)),
        blur=float(rng.uniform(0.4, 1.1 if hard else 0.9)),
        light_min=float(rng.uniform(0.45 if hard else 0.6, 0.95)),
        noise=float(rng.uniform(2.0, 7.0 if hard else 5.0)),
        jpeg=int(rng.integers(45 if hard else 60, 91)),
        seed=seed,
    )


def _printed_form(symbol: Gray, rng: np.random.Generator) -> tuple[Gray, tuple[float, float]]:
    """The symbol with its 12-module quiet zone on a form with printed text around it.

    Returns the form at ``_SRC_PX`` px/module and the symbol's centre on it.
    """
    sh, sw = symbol.shape
    qz = 12
    fw, fh = sw + 2 * qz + 120, sh + 2 * qz + 70
    form = np.full((fh * _SRC_PX, fw * _SRC_PX), 238, np.uint8)
    x0, y0 = qz + 60, qz + 35
    big = cv2.resize(symbol, None, fx=_SRC_PX, fy=_SRC_PX, interpolation=cv2.INTER_NEAREST)
    ink = np.where(big == 0, 35, 238).astype(np.uint8)
    form[y0 * _SRC_PX : (y0 + sh) * _SRC_PX, x0 * _SRC_PX : (x0 + sw) * _SRC_PX] = ink
    for row in range(6):  # printed text lines above and below, outside the quiet zone
        y = (8 + row * 6 if row < 3 else y0 + sh + qz + 4 + (row - 3) * 7) * _SRC_PX
        words = "".join(chr(int(c)) for c in rng.integers(65, 91, 28))
        cv2.putText(
            form, words, (8 * _SRC_PX, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 40, 3, cv2.LINE_AA
        )
    centre = ((x0 + sw / 2.0) * _SRC_PX, (y0 + sh / 2.0) * _SRC_PX)
    return form, centre


def _desk(rng: np.random.Generator, w: int, h: int) -> Gray:
    """A textured desk: smooth wood-like tone with grain and a few dark objects."""
    sh, sw = h // 4, w // 4  # made at quarter size: the desk is out of focus anyway
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    base = 110 + 30 * np.sin(xx / 9.0 + float(rng.uniform(0, 6))) * np.sin(yy / 13.0)
    grain = rng.standard_normal((sh, sw), dtype=np.float32) * 12.0
    img = cv2.resize(base + grain, (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(3):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.circle(img, (cx, cy), int(rng.integers(20, 90)), float(rng.uniform(20, 80)), -1)
    return img


def _homography(
    src_centre: tuple[float, float], scale: float, shot: Shot, dst_centre: tuple[float, float]
) -> np.ndarray:
    """Page (form pixels) -> frame: scale, tilt through a pinhole camera, rotate, translate."""
    f = 1000.0 * SUPERSAMPLE  # focal length of a 1280-px-wide webcam with ~65° HFOV
    cx, cy = src_centre
    pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * 200.0
    src = (pts / scale + np.array([cx, cy])).astype(np.float32)
    ax, ay = math.radians(shot.tilt_x), math.radians(shot.tilt_y)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    p3 = np.c_[pts, np.zeros(4)] @ (ry @ rx).T + np.array([0.0, 0.0, f])
    proj = p3[:, :2] * (f / p3[:, 2:3])
    a = math.radians(shot.angle)  # counter-clockwise on screen (y down)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    dst = (proj @ rot.T + np.array(dst_centre)).astype(np.float32)
    return np.asarray(cv2.getPerspectiveTransform(src, dst), np.float64)


def _lighting(rng: np.random.Generator, w: int, h: int, light_min: float) -> np.ndarray:
    """Illumination field: linear gradient, vignette and a soft shadow edge, in [light_min, 1]."""
    full = (w, h)
    w, h = w // 8, h // 8  # smooth: computed at 1/8 size and interpolated
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = float(rng.uniform(0, 2 * math.pi))
    grad = (xx * math.cos(d) + yy * math.sin(d)) / math.hypot(w, h) + 0.5
    vign = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    e = float(rng.uniform(0, 2 * math.pi))
    off = float(rng.uniform(-0.3, 0.3)) * min(w, h)
    shadow_edge = (xx - w / 2) * math.cos(e) + (yy - h / 2) * math.sin(e) - off
    shadow = 1.0 / (1.0 + np.exp(-shadow_edge / 5.0))
    field = 1.0 - 0.45 * grad - 0.35 * vign - 0.4 * shadow
    lo, hi = float(field.min()), float(field.max())
    small = (light_min + (1.0 - light_min) * (field - lo) / max(hi - lo, 1e-6)).astype(np.float32)
    return np.asarray(cv2.resize(small, full, interpolation=cv2.INTER_LINEAR), np.float32)


def _finish(img: np.ndarray, rng: np.random.Generator, shot: Shot) -> Gray:
    """Defocus, sensor noise, 8-bit clipping, JPEG round trip."""
    img = cv2.GaussianBlur(img, (0, 0), shot.blur)
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(shot.noise)
    out = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, shot.jpeg])
    if not ok:
        raise RuntimeError("JPEG encode failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if dec is None:
        raise RuntimeError("JPEG decode failed")
    return np.asarray(dec, np.uint8)


def webcam_frame(symbol: Gray, shot: Shot) -> Gray:
    """Photograph the printed symbol into a 1280x720 gray frame (see :class:`Shot`)."""
    rng = np.random.default_rng(shot.seed)
    form, centre = _printed_form(symbol, rng)
    scale = shot.module_px * SUPERSAMPLE / _SRC_PX
    # place the symbol centre so that the symbol (rotated, tilted) stays inside the frame
    half = 0.5 * math.hypot(symbol.shape[1] + 24, symbol.shape[0] + 24) * shot.module_px * 1.3
    mx, my = max(0.0, FRAME_W / 2 - half), max(0.0, FRAME_H / 2 - half)
    dst = (
        (FRAME_W / 2 + float(rng.uniform(-mx, mx))) * SUPERSAMPLE,
        (FRAME_H / 2 + float(rng.uniform(-my, my))) * SUPERSAMPLE,
    )
    hom = _homography(centre, scale, shot, dst)
    # Warp only the bounding box of the page in the supersampled frame.
    fh, fw = form.shape
    corners = cv2.perspectiveTransform(
        np.array([[[0, 0], [fw, 0], [fw, fh], [0, fh]]], np.float32), hom
    )[0]
    sw_, sh_ = FRAME_W * SUPERSAMPLE, FRAME_H * SUPERSAMPLE
    x0 = int(max(0, math.floor(corners[:, 0].min() / SUPERSAMPLE))) * SUPERSAMPLE
    y0 = int(max(0, math.floor(corners[:, 1].min() / SUPERSAMPLE))) * SUPERSAMPLE
    x1 = int(min(sw_, math.ceil(corners[:, 0].max() / SUPERSAMPLE) * SUPERSAMPLE))
    y1 = int(min(sh_, math.ceil(corners[:, 1].max() / SUPERSAMPLE) * SUPERSAMPLE))
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    roi = (x1 - x0, y1 - y0)
    page = cv2.warpPerspective(
        form.astype(np.float32), shift @ hom, roi, flags=cv2.INTER_LINEAR, borderValue=-1.0
    )
    mask = (page >= 0).astype(np.float32)
    page = np.maximum(page, 0)
    small = (roi[0] // SUPERSAMPLE, roi[1] // SUPERSAMPLE)
    page = cv2.resize(page, small, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, small, interpolation=cv2.INTER_AREA)
    frame = _desk(rng, FRAME_W, FRAME_H)
    fx0, fy0 = x0 // SUPERSAMPLE, y0 // SUPERSAMPLE
    region = frame[fy0 : fy0 + small[1], fx0 : fx0 + small[0]]
    region[:] = region * (1 - mask) + page * mask
    frame *= _lighting(rng, FRAME_W, FRAME_H, shot.light_min)
    return _finish(frame, rng, shot)


@dataclass(frozen=True)
class Frame:
    """One test frame and the exact bytes it must decode to."""

    name: str
    image: Gray
    payload: bytes
    angle: float


def compact_frames(
    angles: tuple[float, ...],
    module_sizes: tuple[float, ...] = (2.2, 2.6, 3.0, 3.5),
    *,
    seed: int = 2011,
    hard: bool = False,
) -> list[Frame]:
    """Webcam frames of the official symbol: every angle x module size, one payload each."""
    out = []
    for i, angle in enumerate(angles):
        for j, mp in enumerate(module_sizes):
            s = seed + 97 * i + 7 * j
            payload, symbol = rules_symbol(s)
            shot = random_shot(s, module_px=mp, angle=angle, hard=hard)
            img = webcam_frame(symbol, shot)
            out.append(Frame(f"compact/{angle:g}deg/{mp:g}px/s{s}", img, payload, angle))
    return out


# --- real photos ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    name: str
    image: Gray
    expected: bytes  # exact payload bytes (NAME.bin) or the UTF-8 text (NAME.txt)
    is_text: bool


def real_photos(sets: tuple[str, ...]) -> list[Photo]:
    """The zxing blackbox images of ``sets`` with their expected content (missing = failure)."""
    out = []
    for s in sets:
        folder = ZXING / s
        pngs = sorted(folder.glob("*.png"))
        if not pngs:
            raise RuntimeError(f"no test photos in {folder}")
        for png in pngs:
            if f"{s}/{png.stem}" in MACRO_SEGMENTS | TEXT_QUIRKS:
                continue
            img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise RuntimeError(f"unreadable {png}")
            if max(img.shape) > FRAME_W:  # two 2-Mpx close-ups: as a 1280-px webcam sees them
                f = FRAME_W / max(img.shape)
                img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            txt, binf = png.with_suffix(".txt"), png.with_suffix(".bin")
            if binf.exists():
                out.append(Photo(f"{s}/{png.stem}", img, binf.read_bytes(), False))
            else:
                out.append(Photo(f"{s}/{png.stem}", img, txt.read_bytes(), True))
    return out


def rotate_photo(img: Gray, degrees: float) -> Gray:
    """Rotate counter-clockwise onto a canvas that holds the whole photo, filled with its
    paper tone (95th percentile): several images end at the symbol's edge with no quiet zone,
    so their border tone would be the bars' black."""
    if degrees % 360 == 0:
        return img
    if degrees % 90 == 0:
        return np.ascontiguousarray(np.rot90(img, int(degrees // 90) % 4))
    fill = int(np.percentile(img, 95))
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    out = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=fill)
    return np.asarray(out, np.uint8)


def matches(photo: Photo, payload: bytes, text: str) -> bool:
    """A read is right when its bytes (or, for text expectations, its text) are exact."""
    if not photo.is_text:
        return payload == photo.expected
    if text.encode("utf-8") == photo.expected or payload == photo.expected:
        return True
    # QR without ECI in Shift_JIS (the QR default charset in Japan): our ``text`` is only a
    # UTF-8/Latin-1 guess, so compare the exact bytes under the charsets a reader may assume.
    for codec in ("shift_jis", "cp932", "gb18030"):
        try:
            if payload.decode(codec).encode("utf-8") == photo.expected:
                return True
        except UnicodeDecodeError:
            pass
    return False


# --- the digital policy on a phone screen ---------------------------------------------------


@dataclass(frozen=True)
class Screen:
    """How the phone shows the QR and how it is filmed."""

    mode: str  # "plain", "moire", "glare", "low_contrast", "dark"
    angle: float
    screen_px: float  # screen pixel pitch in frame pixels (near 1: moiré)
    seed: int


def digital_payload(seed: int) -> str:
    """What the Gosuslugi app shows: the ENP bare or inside a URL (REFERENCE §1 assumption)."""
    rng = np.random.default_rng(seed)
    birth = date(
        1950 + int(rng.integers(0, 70)), 1 + int(rng.integers(0, 12)), 1 + int(rng.integers(0, 28))
    )
    enp = make_enp("77", birth, Sex.MALE if seed % 2 else Sex.FEMALE, int(rng.integers(1, 9999)))
    if seed % 3 == 0:
        return enp
    return f"https://www.gosuslugi.ru/oms/check?enp={enp}&t={int(rng.integers(10**9, 10**10))}"


def _qr_modules(text: str) -> Gray:
    """The QR at 1 px per module (zxing-cpp's writer; QR reading is not what is under test)."""
    bc = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    img = np.asarray(bc.to_image(scale=1, add_quiet_zones=False), np.uint8)
    return np.where(img < 128, 0, 255).astype(np.uint8)


def phone_frame(text: str, screen: Screen) -> Gray:
    """The QR on a phone screen, filmed at 1280x720 (see :class:`Screen`)."""
    rng = np.random.default_rng(screen.seed)
    qr = _qr_modules(text)
    mod_screen = 9  # screen pixels per module (a ~35 mm QR on a 400 ppi phone)
    qz = 4
    n = qr.shape[0] + 2 * qz
    screen_img = np.full((n * mod_screen + 300, n * mod_screen + 120), 255, np.uint8)
    big = cv2.resize(qr, None, fx=mod_screen, fy=mod_screen, interpolation=cv2.INTER_NEAREST)
    y0, x0 = 150 + qz * mod_screen, 60 + qz * mod_screen
    screen_img[y0 : y0 + big.shape[0], x0 : x0 + big.shape[1]] = big
    cv2.rectangle(screen_img, (30, 20), (screen_img.shape[1] - 30, 90), 200, -1)  # app header
    if screen.mode == "dark":
        screen_img = 255 - screen_img
    lum = screen_img.astype(np.float32) / 255.0
    if screen.mode == "low_contrast":
        black, white = 110.0, 150.0  # low brightness plus ambient reflection
    elif screen.mode == "dark":
        black, white = 18.0, 205.0
    else:
        black, white = 25.0, 235.0
    # Emitted image: each screen pixel is three vertical sub-pixel stripes with dark gaps.
    sub = 6  # samples per screen pixel
    emitted = cv2.resize(lum, None, fx=sub, fy=sub, interpolation=cv2.INTER_NEAREST)
    stripe = np.array([0.15, 1.0, 1.0, 0.15, 1.0, 1.0], np.float32)  # 2 of 3 lit, 1 dim gap
    rowmask = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.35], np.float32)
    grid = rowmask[:, None] * stripe[None, :]
    gh, gw = emitted.shape
    emitted *= np.tile(grid, (gh // sub, gw // sub))
    emitted = black + (white - black) * emitted / float(grid.mean())
    # Phone body around the screen.
    pad = 40 * sub
    body = np.full((gh + 2 * pad, gw + 2 * pad), 22.0, np.float32)
    body[pad : pad + gh, pad : pad + gw] = emitted
    scale = screen.screen_px * SUPERSAMPLE / sub
    shot = Shot(
        module_px=screen.screen_px * mod_screen,
        angle=screen.angle,
        tilt_x=float(rng.uniform(-15, 15)),
        tilt_y=float(rng.uniform(-15, 15)),
        blur=float(rng.uniform(0.5, 0.9)),
        light_min=0.85,
        noise=float(rng.uniform(2, 4)),
        jpeg=int(rng.integers(60, 90)),
        seed=screen.seed,
    )
    dst = (FRAME_W / 2 * SUPERSAMPLE, FRAME_H / 2 * SUPERSAMPLE)
    centre = (pad + (x0 + big.shape[1] / 2) * sub, pad + (y0 + big.shape[0] / 2) * sub)
    hom = _homography(centre, scale, shot, dst)
    sw_, sh_ = FRAME_W * SUPERSAMPLE, FRAME_H * SUPERSAMPLE
    desk = cv2.resize(_desk(rng, FRAME_W, FRAME_H), (sw_, sh_), interpolation=cv2.INTER_LINEAR)
    warped = cv2.warpPerspective(body, hom, (sw_, sh_), flags=cv2.INTER_LINEAR, borderValue=-1.0)
    frame = np.where(warped >= 0, warped, desk)
    frame = cv2.resize(frame, (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA)
    if screen.mode == "glare":  # a bright reflection of a ceiling lamp across the code
        yy, xx = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
        gx = FRAME_W / 2 + float(rng.uniform(-60, 60))
        gy = FRAME_H / 2 + float(rng.uniform(-60, 60))
        r2 = ((xx - gx) / 90.0) ** 2 + ((yy - gy) / 60.0) ** 2
        frame = frame + 150.0 * np.exp(-r2)
    return _finish(frame, rng, shot)


def phone_frames(
    modes: tuple[str, ...] = ("plain", "moire", "glare", "low_contrast", "dark"),
    angles: tuple[float, ...] = (0.0, 30.0, 75.0, 160.0, 250.0, 320.0),
    *,
    seed: int = 2022,
) -> list[Frame]:
    """Phone-screen frames: each mode at each angle, a different payload per frame."""
    out = []
    for i, mode in enumerate(modes):
        for j, angle in enumerate(angles):
            s = seed + 31 * i + j
            pitch = float(np.random.default_rng(s).uniform(0.9, 1.6)) if mode == "moire" else 0.45
            text = digital_payload(s)
            img = phone_frame(text, Screen(mode, angle, pitch, s))
            out.append(Frame(f"phone/{mode}/{angle:g}deg/s{s}", img, text.encode(), angle))
    return out
