"""Run in a subprocess by test_decode_limits: decode hostile images concurrently and report
each one's error code and this process's peak RSS (VmHWM) as JSON on stdout."""

from __future__ import annotations

import json
import sys
import threading

from verifier.errors import ImageError
from verifier.imaging import decode_image_bytes, limits

from . import bombs


def hostile() -> dict[str, bytes]:
    """Each a few hundred KB; decoded naively they would need 0.1-2 GB."""
    import cv2
    import numpy as np

    _ok, small = cv2.imencode(".jpg", np.full((64, 64, 3), 200, np.uint8))
    return {
        "rgba16_6320": bombs.png_bomb(6320, 6320, 16, 6),
        "rgba16_6320_interlaced": bombs.png_bomb(6320, 6320, 16, 6, interlace=1),
        "gray_5000": bombs.png_bomb(5000, 5000, 8, 0, fill=255),
        "gray_5000_b": bombs.png_bomb(5000, 5000, 8, 0, fill=0),
        "idat_truncated": bombs.png_bomb(5000, 5000, 8, 0, idat_cut=2000),
        "ztxt_600mb": bombs.png_bomb(256, 256, before_idat=bombs.ztxt_bomb(600 << 20)),
        "iccp_2mb": bombs.png_bomb(256, 256, before_idat=bombs.iccp_chunk(2 << 20)),
        "jpeg_6000x6000_tiny": bombs.jpeg_with_size(small.tobytes(), 6000, 6000),
    }


def vm_hwm_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    images = hostile()
    limits.configure(max_concurrent=2, wait_timeout_s=600.0)
    codes: dict[str, str] = {}
    start = threading.Barrier(len(images))

    def run(name: str, data: bytes) -> None:
        start.wait()
        try:
            decode_image_bytes(data)
            codes[name] = "decoded"
        except ImageError as exc:
            codes[name] = exc.code

    threads = [threading.Thread(target=run, args=item) for item in images.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump({"codes": codes, "vm_hwm_kib": vm_hwm_kib()}, sys.stdout)


if __name__ == "__main__":
    main()
