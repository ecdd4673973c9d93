"""Scan to screen: from the first video frame that holds the code to the verdict on the kiosk.

Real parts throughout: ``serve --demo`` daemons (offline: the demo snapshot) whose camera driver
plays a real 1280x720 MJPG video file (OpenCV VideoWriter) of the demo's paper-policy PDF417 and
digital-policy QR in realtime; the kiosk page in Debian's headless Chromium (Playwright); an
injected MutationObserver stamps each verdict with the page's performance clock
(``performance.timeOrigin + performance.now()``). The first frame of each appearance maps to
wall-clock time through the driver's playback start (``since`` when it turned ``ok``) plus its
index times the frame period (see tests/browser/scan_video.py). Two figures per appearance:
``changed`` (the verdict element's data-outcome set) and ``drawn`` (the next animation frame).

    .venv/bin/python bench/scan_to_screen_bench.py --daemons 3 --runs 8 [--nice -5] [--json out]

Where the time goes: the kiosk page keeps, on ``#verdict``, the moment the event arrived
(``data-arrived``, page clock) and the verdict's ``checked_at`` (``data-checked-at``, the
service's clock: the same machine's wall clock). So each appearance splits into ``server``
(first code frame -> checked: waiting for and decoding the frame, hand-over to the event loop),
``wire`` (checked -> arrived: verification, publish, the event stream, JSON parse) and ``page``
(arrived -> data-outcome set).  ``--nice N`` renices every thread of each daemon (a negative N
needs root) to show how much of the tail is other processes' CPU.

The frame period bounds what the camera can do: a code that enters the view between two frames
waits up to one period before any decoder sees it; this bench starts the clock at the first
frame that holds it, so that wait is not counted (at 15 fps it is up to 67 ms more for a real
camera, at 30 fps 33 ms).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, KIOSK_TOKEN, VIEWPORT  # noqa: E402
from tests.browser.scan_video import (  # noqa: E402
    FPS,
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

# The shared observer (tests/browser/scan_video.py) plus the kiosk page's own stamps.
OBSERVER_JS = """
() => {
  window.__verdicts = [];
  const box = document.getElementById("verdict");
  const stamp = () => performance.timeOrigin + performance.now();
  let last = box.dataset.outcome;
  new MutationObserver(() => {
    const outcome = box.dataset.outcome;
    if (outcome && !last) {
      const rec = { t: stamp(), drawn: null, outcome: outcome,
                    enp: document.getElementById("enp").textContent,
                    fresh: document.getElementById("fresh").textContent,
                    arrived: Number(box.dataset.arrived || "NaN"),
                    checked: box.dataset.checkedAt || "" };
      window.__verdicts.push(rec);
      requestAnimationFrame(() => { rec.drawn = stamp(); });
    }
    last = outcome;
  }).observe(box, { attributes: true, attributeFilter: ["data-outcome"] });
  return stamp();
}
"""


def split(
    video: object, start_s: float, watching_ms: float, verdicts: list[dict[str, object]]
) -> list[tuple[float, float, float] | None]:
    """Per appearance (as :func:`match`): (server, wire, page) milliseconds."""
    t0 = start_s * 1000.0
    period_ms = 1000.0 / video.fps  # type: ignore[attr-defined]
    starts = [t0 + a.first_frame * period_ms for a in video.appearances]  # type: ignore[attr-defined]
    ends = [*starts[1:], float("inf")]
    out: list[tuple[float, float, float] | None] = []
    for begin, end in zip(starts, ends, strict=True):
        if begin < watching_ms:
            continue
        hit = next((v for v in verdicts if begin <= float(str(v["t"])) < end), None)
        if hit is None or not hit.get("checked"):
            out.append(None)
            continue
        checked = datetime.fromisoformat(str(hit["checked"])).timestamp() * 1000.0
        arrived = float(str(hit["arrived"]))
        out.append((checked - begin, arrived - checked, float(str(hit["t"])) - arrived))
    return out


def renice(pid: int, nice: int) -> None:
    """Every thread of ``pid`` (Linux: a thread keeps its own nice value)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.setpriority(os.PRIO_PROCESS, int(tid), nice)


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
    ap.add_argument("--nice", type=int, default=None, help="renice each daemon's threads")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is absent", file=sys.stderr)
        return 1
    results: list[Latency] = []
    parts: list[tuple[float, float, float]] = []
    load: list[float] = []
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
                    if args.nice is not None and daemon.proc is not None:
                        renice(daemon.proc.pid, args.nice)
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
                        load.append(os.getloadavg()[0])
                    finally:
                        daemon.stop()
                    got = match(video, start, watching, verdicts)
                    parts += [p for p in split(video, start, watching, verdicts) if p is not None]
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
    if parts:
        for k, name in enumerate(("server (frame -> checked)", "wire (checked -> page)", "page")):
            vals = [p[k] for p in parts]
            print(
                f"  {name:30} p50 {pct(vals, 50):6.1f} ms  p95 {pct(vals, 95):6.1f} ms  "
                f"max {max(vals):6.1f} ms"
            )
    print(
        f"  load average (1 min) after each daemon: {' '.join(f'{x:.2f}' for x in load)}; "
        f"nice {args.nice if args.nice is not None else 'unchanged'}"
    )
    print(
        "  every run (changed, ms): "
        + " ".join(f"{v:.0f}" for v in sorted(r.changed_ms for r in results))
    )
    if args.json:
        changed = [r.changed_ms for r in results]
        args.json.write_text(
            json.dumps(
                {
                    "n": len(results),
                    "missed": missed,
                    "p50_ms": pct(changed, 50),
                    "p95_ms": pct(changed, 95),
                    "max_ms": max(changed),
                    "parts_ms": parts,
                    "load": load,
                    "nice": args.nice,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
