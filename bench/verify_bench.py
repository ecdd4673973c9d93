"""Per-credential verify time (no image) and image decode time, medians, and their ratio.

Runs against the demo state (demo register, demo keys) in a temporary directory:
    python bench/verify_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from verifier import config
from verifier.devkit import demo
from verifier.imaging import Symbology, decode_image
from verifier.service.assembly import assemble


def median_us(fn: Callable[[], object], runs: int) -> float:
    for _ in range(min(20, runs)):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def barcode_image(payload: bytes, fmt: zxingcpp.BarcodeFormat, angle: float = 0.0) -> np.ndarray:
    img = np.array(zxingcpp.create_barcode(payload, fmt).to_image(scale=3, add_quiet_zones=True))
    canvas = np.full((720, 1280), 255, np.uint8)
    y, x = (720 - img.shape[0]) // 2, (1280 - img.shape[1]) // 2
    canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
    if angle:
        m = cv2.getRotationMatrix2D((640, 360), angle, 1.0)
        canvas = cv2.warpAffine(canvas, m, (1280, 720), borderValue=255)
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.load(None, tmp)
        state = demo.ensure_demo(cfg)
        pipeline = assemble(state.cfg).pipeline
        samples = {label: item for label, _, item in demo.demo_samples(state)}
        rows: list[tuple[str, float]] = []
        for label in (
            "paper policy, signed, active",
            "digital policy QR",
            "electronic policy card",
            "not in the register",
            "ENP with a typo",
        ):
            item = samples[label]
            rows.append(
                (f"verify: {label}", median_us(lambda i=item: pipeline.verify(i), args.runs))
            )
        paper = samples["paper policy, signed, active"].payload
        qr_text = samples["digital policy QR"].payload
        pdf = barcode_image(paper, zxingcpp.BarcodeFormat.PDF417)
        pdf15 = barcode_image(paper, zxingcpp.BarcodeFormat.PDF417, 15)
        qr = barcode_image(qr_text, zxingcpp.BarcodeFormat.QRCode)
        img_runs = max(20, args.runs // 10)
        rows.append(
            (
                "decode: PDF417 1280x720 upright",
                median_us(lambda: decode_image(pdf, {Symbology.PDF417}), img_runs),
            )
        )
        rows.append(
            (
                "decode: PDF417 1280x720 at 15° (deskew)",
                median_us(lambda: decode_image(pdf15, {Symbology.PDF417}), img_runs),
            )
        )
        rows.append(
            ("decode: QR 1280x720", median_us(lambda: decode_image(qr, {Symbology.QR}), img_runs))
        )
        print(f"{'what':48} {'median':>12}")
        for what, us in rows:
            print(f"{what:48} {us:10.0f} µs")
        verify_paper = rows[0][1]
        print(
            f"\nratio decode(PDF417 upright) / verify(paper policy) = {rows[5][1] / verify_paper:.1f}"
        )
        print(
            f"ratio decode(PDF417 15°) / verify(paper policy)     = {rows[6][1] / verify_paper:.1f}"
        )
        out = Path("artifacts")
        if out.is_dir():
            (out / "verify_bench.txt").write_text(
                "\n".join(f"{w}\t{u:.0f}" for w, u in rows) + "\n"
            )


if __name__ == "__main__":
    main()
