"""`GET /v1/policies/{enp}` requests/s and p99 next to a bare ASGI JSON endpoint served by the
same uvicorn setup (same socket binding, same server class), measured in the same run.

    python bench/api_bench.py [--requests 3000] [--concurrency 32]

Each server runs in its own process (the load generator must not share its GIL); the API is
the daemon on its demo defaults, offline mode (the snapshot answers), so the figure is the
service's own cost: routing, auth, pipeline, audit, JSON. Target: >= 0.5x the bare endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def serve_bare(port: int) -> None:
    """The baseline: a bare ASGI callable answering JSON, on the daemon's own uvicorn setup."""
    import json

    import uvicorn

    from verifier.service.daemon import _Uvicorn, bind

    body = json.dumps({"outcome": "valid", "reasons": [], "message": "ok"}).encode()

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,  # type: ignore[operator]
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    sock = bind("127.0.0.1", port)
    print(f"serving on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    server = _Uvicorn(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    asyncio.run(server.serve(sockets=[sock]))


def start(cmd: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        m = re.search(r"serving on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.1)
    raise SystemExit("server did not start")


async def load(url: str, paths: list[str], n: int, conc: int) -> tuple[float, list[float]]:
    lat: list[float] = []
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=conc)) as c:
        for p in paths[:50]:
            (await c.get(p)).raise_for_status()
        sem = asyncio.Semaphore(conc)

        async def one(i: int) -> None:
            async with sem:
                t0 = time.perf_counter()
                r = await c.get(paths[i % len(paths)])
                lat.append(time.perf_counter() - t0)
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0), lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        env = {**os.environ, "OMS_VERIFIER_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
        env["OMS_VERIFIER_LOG_LEVEL"] = "WARNING"
        (Path(tmp) / "c.toml").write_text('[log]\nlevel = "WARNING"\n')
        api, api_url = start(
            [
                sys.executable,
                "-m",
                "verifier.cli",
                "--config",
                str(Path(tmp) / "c.toml"),
                "serve",
                "--demo",
                "--port",
                "0",
            ],
            env,
            Path(tmp) / "api.log",
        )
        bare, bare_url = start(
            [sys.executable, __file__, "--serve-bare", "0"], env, Path(tmp) / "bare.log"
        )
        try:
            with (state / "demo" / "registry" / "persons.csv").open() as f:
                enps = [r["enp"] for r in csv.DictReader(f) if not r["deleted"]][:2000]
            api_paths = [f"/v1/policies/{e}?mode=offline" for e in enps]
            bare_rps, bare_lat = asyncio.run(load(bare_url, ["/"], args.requests, args.concurrency))
            api_rps, api_lat = asyncio.run(
                load(api_url, api_paths, args.requests, args.concurrency)
            )
        finally:
            for p in (api, bare):
                p.send_signal(signal.SIGTERM)
                p.wait(30)

    def p99(xs: list[float]) -> float:
        return sorted(xs)[int(len(xs) * 0.99)] * 1000

    print(f"{'endpoint':40} {'req/s':>8} {'median ms':>10} {'p99 ms':>8}")
    print(
        f"{'bare ASGI JSON (same uvicorn setup)':40} {bare_rps:8.0f} {statistics.median(bare_lat) * 1000:10.2f} {p99(bare_lat):8.2f}"
    )
    print(
        f"{'GET /v1/policies/{enp} (offline)':40} {api_rps:8.0f} {statistics.median(api_lat) * 1000:10.2f} {p99(api_lat):8.2f}"
    )
    print(f"\nratio api/bare = {api_rps / bare_rps:.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
