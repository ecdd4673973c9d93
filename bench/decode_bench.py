"""Decoder choice, measured: ours vs plain zxing-cpp vs pyzbar vs OpenCV on the same frames.

    python bench/decode_bench.py [--step 15] [--sets compact,real,qr,phone] [--json out.json]

Sets (all deterministic, see ``tests/imaging/camera_media.py``):

* ``compact``: 1280x720 webcam frames of the paper policy's official symbol (Compact PDF417,
  15x10, EC 4, written by zint) at every ``--step`` degrees x 2.2/2.6/3.0/3.5 px per module.
* ``real``: the zxing project's real PDF417 photos (pdf417-1, pdf417-3) turned every ``--step``.
* ``qr``: the zxing project's real QR photos (qrcode-2/5/6) turned every ``--step``.
* ``phone``: the digital policy's QR on a phone screen (moiré, glare, low contrast, dark mode).

Per decoder: frames read with the exact bytes, per-angle rates, false reads (a result whose
bytes differ from the expected ones), and median/mean milliseconds per frame.  The process
is pinned to one CPU and OpenCV to one thread, so "ms per frame" is one core's time; the
ratio to plain zxing-cpp is taken in the same run.  pyzbar cannot read PDF417 (zbar has no
PDF417 decoder) and OpenCV's reader is QR only: they appear as "n/a" there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zxingcpp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.imaging import camera_media as cm
from verifier.imaging import Symbology, try_decode_image

Reads = list[tuple[bytes, str]]
Decoder = Callable[[np.ndarray], Reads]


def ours(fmt: Symbology) -> Decoder:
    return lambda img: [(b.payload, b.text) for b in try_decode_image(img, {fmt})]


def plain(fmt: zxingcpp.BarcodeFormat) -> Decoder:
    """zxing-cpp with its defaults: try_rotate, try_downscale and try_invert on."""
    return lambda img: [
        (bytes(b.bytes), b.text) for b in zxingcpp.read_barcodes(img, formats=fmt) if b.valid
    ]


def pyzbar_reader(symbol: str) -> Decoder | None:
    try:
        from pyzbar import pyzbar
    except ImportError as exc:  # a missing baseline is a failure of the bench, not a skip
        raise SystemExit(
            f"pyzbar not importable ({exc}): pip install pyzbar, apt libzbar0"
        ) from exc
    sym = getattr(pyzbar.ZBarSymbol, symbol)
    return lambda img: [
        (r.data, r.data.decode("utf-8", "replace")) for r in pyzbar.decode(img, symbols=[sym])
    ]


def opencv_qr() -> Decoder:
    det = cv2.QRCodeDetector()

    def read(img: np.ndarray) -> Reads:
        try:
            ok, texts, _, _ = det.detectAndDecodeMulti(img)
        except (UnicodeDecodeError, cv2.error):
            # OpenCV's binding cannot hand back non-UTF-8 content, and its decoder raises on
            # some modes (e.g. Hanzi mode 13): both count as "not read"
            return []
        if not ok:
            return []
        # OpenCV returns str; its bytes were decoded as UTF-8/Latin-1 by OpenCV itself
        return [(t.encode("utf-8"), t) for t in texts if t]

    return read


@dataclass
class Item:
    name: str
    image: np.ndarray
    angle: float
    right: Callable[[bytes, str], bool]


@dataclass
class Tally:
    n: int = 0
    ok: int = 0
    false_reads: int = 0
    ms: list[float] = field(default_factory=list)
    per_angle: dict[float, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))


def rotated_photos(sets: Any, angles: tuple[float, ...]) -> list[Item]:
    """Every real photo of ``sets`` turned to every angle, with its expected content."""
    return [
        Item(
            f"{p.name}@{a:g}",
            cm.rotate_photo(p.image, a),
            a,
            lambda b, s, p=p: cm.matches(p, b, s),
        )
        for p in cm.real_photos(sets)
        for a in angles
    ]


def run(items: list[Item], decoders: dict[str, Decoder | None]) -> dict[str, Tally | None]:
    out: dict[str, Tally | None] = {}
    for name, dec in decoders.items():
        if dec is None:
            out[name] = None
            continue
        t = Tally()
        for it in items:
            t0 = time.perf_counter()
            reads = dec(it.image)
            t.ms.append((time.perf_counter() - t0) * 1000)
            hit = any(it.right(p, s) for p, s in reads)
            t.n += 1
            t.ok += hit
            t.false_reads += sum(not it.right(p, s) for p, s in reads)
            pa = t.per_angle[it.angle % 360]
            pa[0] += hit
            pa[1] += 1
        out[name] = t
    return out


def report(title: str, res: dict[str, Tally | None]) -> dict[str, Any]:
    print(f"\n## {title}")
    print(f"{'decoder':<10} {'read':>9} {'rate':>6} {'false':>5} {'ms med':>7} {'ms mean':>8}")
    summary: dict[str, Any] = {}
    base = res.get("zxing-cpp")
    for name, t in res.items():
        if t is None:
            print(f"{name:<10} {'n/a':>9}")
            summary[name] = None
            continue
        med, mean = statistics.median(t.ms), statistics.fmean(t.ms)
        ratio = (
            f"  x{mean / statistics.fmean(base.ms):.2f} of zxing-cpp"
            if base and name != "zxing-cpp"
            else ""
        )
        print(
            f"{name:<10} {t.ok:>4}/{t.n:<4} {t.ok / t.n:>6.1%} {t.false_reads:>5} {med:>7.1f} {mean:>8.1f}{ratio}"
        )
        summary[name] = {
            "read": t.ok,
            "n": t.n,
            "false_reads": t.false_reads,
            "ms_median": round(med, 2),
            "ms_mean": round(mean, 2),
            "per_angle": {str(a): v[0] / v[1] for a, v in sorted(t.per_angle.items())},
        }
    angles = sorted({a for t in res.values() if t for a in t.per_angle})
    if len(angles) > 1:
        print("per angle (rate): " + " ".join(f"{a:g}" for a in angles))
        for name, t in res.items():
            if t is not None:
                cells = " ".join(f"{t.per_angle[a][0] / t.per_angle[a][1]:.2f}" for a in angles)
                print(f"  {name:<10} {cells}")
    return summary


def binary_qr_check() -> dict[str, bool]:
    """Does each reader return a binary QR's exact bytes (a 130-byte record, all 256 values)?"""
    payload = bytes(range(256))
    bc = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode)
    img = np.pad(
        np.asarray(bc.to_image(scale=4, add_quiet_zones=True), np.uint8), 16, constant_values=255
    )
    pz = pyzbar_reader("QRCODE")
    res = {
        "ours": any(p == payload for p, _ in ours(Symbology.QR)(img)),
        "zxing-cpp": any(p == payload for p, _ in plain(zxingcpp.BarcodeFormat.QRCode)(img)),
        "pyzbar": bool(pz and any(p == payload for p, _ in pz(img))),
        "opencv": any(p == payload for p, _ in opencv_qr()(img)),
    }
    print(
        "\n## binary QR (all 256 byte values): exact bytes back? "
        + ", ".join(f"{k}: {v}" for k, v in res.items())
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", type=int, default=15)
    ap.add_argument("--sets", default="compact,real,qr,phone")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    angles = tuple(float(a) for a in range(0, 360, args.step))
    sets = args.sets.split(",")
    from importlib.metadata import version

    out: dict[str, Any] = {"zxing_cpp": version("zxing-cpp"), "opencv": cv2.__version__}
    pdf = {
        "ours": ours(Symbology.PDF417),
        "zxing-cpp": plain(zxingcpp.BarcodeFormat.PDF417),
        "pyzbar": pyzbar_reader("PDF417"),
        "opencv": None,
    }
    qr = {
        "ours": ours(Symbology.QR),
        "zxing-cpp": plain(zxingcpp.BarcodeFormat.QRCode),
        "pyzbar": pyzbar_reader("QRCODE"),
        "opencv": opencv_qr(),
    }
    if "compact" in sets:
        frames = cm.compact_frames(angles)
        items = [Item(f.name, f.image, f.angle, lambda p, s, e=f.payload: p == e) for f in frames]
        out["compact"] = report(
            f"Compact PDF417 (rules' symbol), 1280x720, {len(items)} frames", run(items, pdf)
        )
    if "real" in sets:
        items = rotated_photos(cm.PDF417_PHOTO_SETS, angles)
        out["real_pdf417"] = report(
            f"real PDF417 photos x {len(angles)} angles, {len(items)} frames", run(items, pdf)
        )
    if "qr" in sets:
        items = rotated_photos(cm.QR_PHOTO_SETS, angles)
        out["real_qr"] = report(
            f"real QR photos x {len(angles)} angles, {len(items)} frames", run(items, qr)
        )
    if "phone" in sets:
        frames = cm.phone_frames()
        items = [Item(f.name, f.image, f.angle, lambda p, s, e=f.payload: p == e) for f in frames]
        res = run(items, qr)
        out["phone"] = report(f"phone screen QR, 1280x720, {len(items)} frames", res)
        for mode in ("plain", "moire", "glare", "low_contrast", "dark"):
            sub = [it for it in items if f"/{mode}/" in it.name]
            out[f"phone_{mode}"] = report(f"phone screen: {mode}", run(sub, qr))
    out["binary_qr"] = binary_qr_check()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
