"""Scan to screen: from the first video frame that holds the code to the verdict on the kiosk.

Real parts throughout: ``serve --demo`` daemons (offline: the demo snapshot) whose camera driver
plays a real 1280x720 MJPG video file (OpenCV VideoWriter) of the demo's paper-policy PDF417 and
digital-policy QR in realtime; the kiosk page in Debian's headless Chromium (Playwright); an
injected MutationObserver stamps each verdict with the page's performance clock
(``performance.timeOrigin + performance.now()``). The first frame of each appearance maps to
wall-clock time through the driver's playback start (``since`` when it turned ``ok``) plus its
index times the frame period (see tests/browser/scan_video.py). Two figures per appearance:
``changed`` (the verdict element's data-outcome set) and ``drawn`` (the next animation frame).

    .venv/bin/python bench/scan_to_screen_bench.py --daemons 3 --runs 8

The frame period bounds what the camera can do: a code that enters the view between two frames
waits up to one period before any decoder sees it; this bench starts the clock at the first
frame that holds it, so that wait is not counted (at 15 fps it is up to 67 ms more for a real
camera, at 30 fps 33 ms).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, KIOSK_TOKEN, VIEWPORT  # noqa: E402
from tests.browser.scan_video import (  # noqa: E402
    FPS,
    OBSERVER_JS,
    Latency,
    demo_codes,
    match,
    new_video_daemon,
    playback_start,
    video_source,
    write_scan_video,
)
from verifier.config import Config  # noqa: E402
from verifier.devkit import demo  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a measured run)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemons", type=int, default=3, help="fresh daemons, one after another")
    ap.add_argument("--runs", type=int, default=8, help="code appearances per daemon's video")
    ap.add_argument("--fps", type=float, default=FPS)
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is absent", file=sys.stderr)
        return 1
    results: list[Latency] = []
    missed = 0
    with tempfile.TemporaryDirectory(prefix="scan-to-screen-") as tmp:
        base = Path(tmp)
        t = time.perf_counter()
        state = demo.ensure_demo(Config(state_dir=base / "template"), persons=3000)
        print(f"demo state in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        video = write_scan_video(base / "desk.avi", demo_codes(state), runs=args.runs, fps=args.fps)
        _, name = video_source(video)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                for i in range(args.daemons):
                    daemon = new_video_daemon(base / "template", base / f"d{i}", video).start()
                    try:
                        start = playback_start(daemon, name)
                        page = browser.new_page(viewport=VIEWPORT, locale="ru-RU")
                        page.goto(f"{daemon.url}/kiosk?token={KIOSK_TOKEN}")
                        page.wait_for_selector("#conn.on")
                        watching = page.evaluate(OBSERVER_JS)
                        # Wait for the whole video to play, plus the last verdict.
                        end = start + video.frames / video.fps + 2.0
                        page.wait_for_timeout(max(0.0, end - time.time()) * 1000)
                        verdicts = page.evaluate("window.__verdicts")
                        page.close()
                    finally:
                        daemon.stop()
                    got = match(video, start, watching, verdicts)
                    missed += sum(1 for g in got if g is None)
                    results += [g for g in got if g is not None]
                    order = " ".join(f"{g.changed_ms:.0f}" if g else "-" for g in got)
                    where = sorted({str(v.get("fresh", "")).split(",")[0] for v in verdicts})
                    print(
                        f"daemon {i}: {len(got)} appearances watched, "
                        f"{sum(1 for g in got if g is None)} without a verdict; in order (ms): "
                        f"{order}; verdict source: {', '.join(where)}",
                        file=sys.stderr,
                    )
            finally:
                browser.close()
    if not results:
        print("no verdicts measured", file=sys.stderr)
        return 1
    print(
        f"scan to screen, {len(results)} runs ({missed} missed), {video.fps:g} fps "
        f"1280x720 video, offline demo daemon, headless Chromium:"
    )
    groups: dict[str, list[Latency]] = {"all": results}
    for r in results:
        groups.setdefault(r.label, []).append(r)
    for label, rows in groups.items():
        changed = [r.changed_ms for r in rows]
        drawn = [r.drawn_ms for r in rows if r.drawn_ms is not None]
        line = (
            f"  {label:30} n={len(rows):3}  changed p50 {pct(changed, 50):6.1f} ms  "
            f"p95 {pct(changed, 95):6.1f} ms  max {max(changed):6.1f} ms"
        )
        if drawn:
            line += f"  | drawn p50 {pct(drawn, 50):6.1f} ms  p95 {pct(drawn, 95):6.1f} ms"
        print(line)
    print(f"  mean changed {statistics.fmean(r.changed_ms for r in results):.1f} ms")
    print(
        "  every run (changed, ms): "
        + " ".join(f"{v:.0f}" for v in sorted(r.changed_ms for r in results))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
