"""The MIS path and the batch route, next to baselines measured in the same run.

    python bench/api_bench.py [--duration 8] [--batches 20] [--rounds 3]

1. ``GET /v1/policies/{enp}?mode=offline`` with a MIS token, driven by ``wrk`` (C, one
   thread; Debian's ``wrk`` package) at 32 connections and at 1 connection, next to a bare
   ASGI JSON endpoint on the daemon's own uvicorn setup (same socket binding, same server
   class; its body framed by ``content-length`` as ours is: a chunked body is one more write,
   and on uvicorn's own protocol one more ``send()``, which slowed the baseline until the
   sixth round, docs/daemon.md). Each server runs in its own process; wrk is the load, so the client's cost is not
   what is measured (a Python client caps both sides at a few hundred requests per second).
   The daemon runs with audit (group commit) and INFO logging on, its JSON lines going to a
   file as they would to the journal. Targets: >= 0.5x the bare app at 32 connections,
   p50 <= 0.5 ms at 1 connection. The 32-connection runs go round the servers ``--rounds``
   times (each round's ratio from its own runs; the median printed with every round's).
2. ``POST /v1/policies:batch`` of 1,000 distinct ENPs offline: ENPs/s through HTTP, driven by
   ``wrk`` on one connection (one batch at a time, each answer ~2 MB), next to the same ENPs
   through the store's own lookup, through the pipeline in a loop and through
   ``Pipeline.verify_many`` in this process (the floor and the per-item cost the batch is
   made of), and through a Python client in series (what a Python MIS would see: its own
   reading of the answer included). Target: >= 50,000 ENPs/s.
3. The bare app runs twice: on uvicorn's own h11 protocol (the baseline) and on the daemon's
   protocol class (deadlines, connection cap, one send per response), so the daemon's own
   server-side savings are shown apart from its app's cost.

A missing ``wrk`` is an error, not a skip: ``apt-get install -y wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-mis-token-0123456789abcdef"


def serve_bare(port: int, protocol: str = "h11") -> None:
    """The baseline: a bare ASGI callable answering JSON, on the daemon's own uvicorn setup.

    ``protocol="h11"``: uvicorn's own h11 protocol (the issue's baseline). ``"daemon"``: the
    daemon's protocol class (header/body deadlines, connection cap, one send per response;
    verifier/http/transport.py), so the bare app gets every server-side saving ours gets."""
    import uvicorn

    from verifier.http.transport import Limits, guarded_protocol
    from verifier.service.daemon import _Uvicorn, bind

    body = json.dumps({"outcome": "valid", "reasons": [], "message": "ok"}).encode()

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        await send(  # type: ignore[operator]
            {
                "type": "http.response.start",
                "status": 200,
                # Framed by its length, as ours and any JSON response is: without it h11
                # sends the body chunked, one more write (and one more send() on uvicorn's
                # own protocol) that would slow the baseline down, not the app.
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    sock = bind("127.0.0.1", port)
    print(f"serving on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    extra: dict[str, object] = {}
    if protocol == "daemon":
        extra["http"] = guarded_protocol(
            Limits(header_timeout_s=10.0, body_timeout_s=30.0, max_connections=1000)
        )
        extra["proxy_headers"] = False  # as the daemon runs it (no proxy in front) ...
        extra["server_header"] = False  # ... and without the "server: uvicorn" banner
    server = _Uvicorn(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", **extra)  # type: ignore[arg-type]
    )
    asyncio.run(server.serve(sockets=[sock]))


def start(cmd: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        m = re.search(r"serving on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.1)
    raise SystemExit("server did not start")


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise SystemExit(f"wrk latency not understood: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, script: Path, conns: int, duration: int) -> WrkResult:
    """One wrk run (one thread); its --latency percentiles and req/s."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    cmd = [exe, "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for m in re.finditer(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out):
        if m.group(1):
            errors += int(m.group(1))
        else:
            errors += sum(int(n) for n in re.findall(r"\d+", m.group(2)))
    return WrkResult(rps, p50, p99, errors)


def wrk_script(path: Path, paths: list[str], headers: dict[str, str]) -> Path:
    """A Lua script cycling through ``paths`` (distinct ENPs), with ``headers``."""
    lua_paths = ",".join(json.dumps(p) for p in paths)
    lua_headers = "".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()
    )
    path.write_text(
        f"local paths = {{{lua_paths}}}\nlocal i = 0\n{lua_headers}"
        "request = function()\n  i = i + 1\n"
        '  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n',
        encoding="utf-8",
    )
    return path


def batch_figures(
    api_url: str, state: Path, enps: list[str], batches: int, duration: int = 8
) -> None:
    """ENPs/s through the batch route, next to the store and the pipeline in a loop here."""
    from cache.snapshot_store import SnapshotStore
    from verifier.checks.context import LookupMode
    from verifier.config import load
    from verifier.credential import CredentialInput
    from verifier.devkit import demo
    from verifier.service.assembly import assemble

    chunk = enps[:1000]
    body = json.dumps({"enps": chunk, "mode": "offline"}).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as c:
        for _ in range(2):
            c.post("/v1/policies:batch", content=body).raise_for_status()
        t0 = time.perf_counter()
        for _ in range(batches):
            r = c.post("/v1/policies:batch", content=body)
            r.raise_for_status()
        http_s = time.perf_counter() - t0
    assert len(r.json()["results"]) == len(chunk)
    httpx_rate = batches * len(chunk) / http_s
    # The figure: wrk (C) posting the same batch, one connection (one batch at a time), so
    # what is measured is the server, not a Python client reading 2 MB per answer.
    script = state.parent / "batch.lua"
    lua_headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = [==[{body.decode()}]==]\n{lua_headers}',
        encoding="utf-8",
    )
    url = api_url.rstrip("/") + "/v1/policies:batch"
    wrk(url, script, 1, 2)  # warm-up
    one = wrk(url, script, 1, duration)
    http_rate = one.rps * len(chunk)
    assert one.errors == 0, one

    cfg = demo.demo_config(load(None, state))
    parts = assemble(cfg)
    try:
        store = parts.store
        assert isinstance(store, SnapshotStore)
        for e in chunk:
            store.lookup_enp(e)
        t0 = time.perf_counter()
        for _ in range(batches):
            for e in chunk:
                store.lookup_enp(e)
        store_rate = batches * len(chunk) / (time.perf_counter() - t0)
        items = [CredentialInput.from_text(e, source="bench", manual=True) for e in chunk]
        t0 = time.perf_counter()
        for it in items:
            parts.pipeline.verify(it, mode=LookupMode.OFFLINE)
        pipe_rate = len(items) / (time.perf_counter() - t0)
        parts.pipeline.verify_many(items, mode=LookupMode.OFFLINE, register=store)
        t0 = time.perf_counter()
        for _ in range(3):
            parts.pipeline.verify_many(items, mode=LookupMode.OFFLINE, register=store)
        many_rate = 3 * len(items) / (time.perf_counter() - t0)
    finally:
        parts.close()
    print(f"\n{'batch, 1,000 distinct ENPs offline':44} {'ENPs/s':>9}")
    print(f"{'store.lookup_enp in a loop (floor)':44} {store_rate:9.0f}")
    print(f"{'pipeline.verify in a loop (in process)':44} {pipe_rate:9.0f}")
    print(f"{'pipeline.verify_many (in process)':44} {many_rate:9.0f}")
    print(f"{'POST /v1/policies:batch, wrk, 1 connection':44} {http_rate:9.0f}")
    print(f"{'same, Python client (httpx) in series':44} {httpx_rate:9.0f}")
    print(f"\nbatch = {http_rate / pipe_rate:.2f}x the pipeline loop (target >= 50,000 ENPs/s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the 32-connection runs")
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--bare-protocol", default="h11", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare, args.bare_protocol)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        env = {**os.environ, "OMS_VERIFIER_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
        conf = Path(tmp) / "c.toml"
        conf.write_text(
            '[log]\nlevel = "INFO"\n\n[[http.tokens]]\nname = "mis-bench"\n'
            f'token = "{TOKEN}"\nrole = "mis"\n',
            encoding="utf-8",
        )
        api, api_url = start(
            [
                *(sys.executable, "-m", "verifier.cli", "--config", str(conf)),
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
        bare_d, bare_d_url = start(
            [sys.executable, __file__, "--serve-bare", "0", "--bare-protocol", "daemon"],
            env,
            Path(tmp) / "bare-daemon.log",
        )
        try:
            persons = next((state / "demo").rglob("persons.csv"))  # the demo register's people
            with persons.open(encoding="utf-8") as f:
                enps = [r["enp"] for r in csv.DictReader(f) if not r["deleted"]][:2000]
            api_script = wrk_script(
                Path(tmp) / "api.lua",
                [f"/v1/policies/{e}?mode=offline" for e in enps],
                {"Authorization": f"Bearer {TOKEN}"},
            )
            bare_script = wrk_script(Path(tmp) / "bare.lua", ["/"], {})
            # The batch first, on a daemon that has just started: the GET rounds' hundred
            # thousand audit rows and their WAL checkpoints are not what a nightly
            # reconciliation runs into.
            batch_figures(api_url, state, enps, args.batches, args.duration)
            for url, script in (
                (api_url, api_script),
                (bare_url, bare_script),
                (bare_d_url, bare_script),
            ):
                wrk(url, script, 8, 2)  # warm-up: caches, first connections
            rows: list[tuple[str, int, int, WrkResult]] = []
            servers = (
                ("bare ASGI JSON", bare_url, bare_script),
                ("bare, daemon's protocol", bare_d_url, bare_script),
                ("GET /v1/policies/{enp}", api_url, api_script),
            )
            # 32 connections: the three servers in turn, ``rounds`` times, each round's
            # ratio from its own runs (the machine's noise moves a server's figure by up to
            # a quarter between runs); 1 connection: one round.
            for conns, rounds in ((32, args.rounds), (1, 1)):
                for n in range(1, rounds + 1):
                    for name, url, script in servers:
                        rows.append((name, conns, n, wrk(url, script, conns, args.duration)))
            log_lines = (Path(tmp) / "api.log").read_text(errors="replace").count('"verified"')
        finally:
            for p in (api, bare, bare_d):
                p.send_signal(signal.SIGTERM)
                p.wait(30)
    print(
        f"\n{'endpoint (wrk, 1 thread)':28} {'conns':>5} {'round':>5} {'req/s':>8} {'p50 ms':>8}"
        f" {'p99 ms':>8} {'errors':>6}"
    )
    for name, conns, n, r in rows:
        print(
            f"{name:28} {conns:5d} {n:5d} {r.rps:8.0f} {r.p50_ms:8.3f} {r.p99_ms:8.3f}"
            f" {r.errors:6d}"
        )
    by = {(name, c, n): r for name, c, n, r in rows}
    ratios, ratios_d = [], []
    for n in range(1, args.rounds + 1):
        ours = by[("GET /v1/policies/{enp}", 32, n)].rps
        ratios.append(ours / by[("bare ASGI JSON", 32, n)].rps)
        ratios_d.append(ours / by[("bare, daemon's protocol", 32, n)].rps)
    print(
        f"\nratio at 32 connections = {statistics.median(ratios):.2f} (median of rounds: "
        f"{', '.join(f'{x:.2f}' for x in ratios)})  (target >= 0.5)"
    )
    print(
        "ratio against the bare app on the daemon's protocol = "
        f"{statistics.median(ratios_d):.2f} ({', '.join(f'{x:.2f}' for x in ratios_d)})"
    )
    print(
        f"p50 at 1 connection = {by[('GET /v1/policies/{enp}', 1, 1)].p50_ms:.3f} ms"
        "  (target <= 0.5 ms)"
    )
    print(f"'verified' log lines written by the daemon: {log_lines}")


if __name__ == "__main__":
    main()
