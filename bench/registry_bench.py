"""The online registry client's own cost: its lookups next to C load on the same server.

    python bench/registry_bench.py [--persons 5000] [--requests 2000] [--concurrency 16]

The reference registry service runs in its own process (``oms-verifier registry serve``), so
its signing does not share this process's GIL. Against it, in the same run:

1. ``wrk`` (C, one thread) on the bare ``/v1/ping`` route: what the server's HTTP stack
   does with no work behind it;
2. ``wrk`` on ``/v1/persons/{enp}`` (distinct ENPs, a nonce each): the signed lookup with no
   client cost at all — the ceiling for any client;
3. this process's :class:`HttpRegistryClient` doing the same lookups (nonce, JSON
   validation, GOST verification of every signed answer) at the same concurrency.

The client's cost is what separates 3 from 2. Target: client lookups >= 0.5x wrk's. A
missing ``wrk`` is an error, not a skip: ``apt-get install -y wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from verifier.crypto.keys import load_public_key
from verifier.devkit.generator import generate
from verifier.registry import protocol
from verifier.registry.client import ClientConfig, HttpRegistryClient
from verifier.service.assembly import answer_verifier
from verifier.trust import Purpose, TrustedKey, TrustStore

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789abcdef"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise SystemExit(f"wrk latency not understood: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(
    url: str, paths: list[str], conns: int, duration: int, tmp: Path
) -> tuple[float, float, float]:
    """req/s, p50 and p99 (ms) of one wrk run cycling through ``paths`` with the token."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    script = tmp / f"wrk-{len(paths)}.lua"
    script.write_text(
        "local paths = {" + ",".join(json.dumps(p) for p in paths) + "}\nlocal i = 0\n"
        f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
        'request = function()\n  i = i + 1\n  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n',
        encoding="utf-8",
    )
    cmd = [exe, "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return rps, p50, p99


CPU: dict[str, float] = {}  # this process's CPU seconds per lookup, by run label


async def run_load(
    n: int, conc: int, call: Callable[[int], Awaitable[None]], label: str = ""
) -> tuple[float, list[float]]:
    lat: list[float] = []
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            await call(i)
            lat.append(time.perf_counter() - t0)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    if label:
        CPU[label] = (time.process_time() - c0) / n
    return n / (time.perf_counter() - t0), lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000


async def client_load(
    args: argparse.Namespace, url: str, enps: list[str], pub_pem: bytes, label: str
) -> tuple[float, list[float]]:
    pub = load_public_key(pub_pem)
    # The daemon's own answer check (trust store lookup by key id, state, window, GOST verify)
    trust = TrustStore([TrustedKey(pub.key_id(), Purpose.SNAPSHOT, pub)])
    client = HttpRegistryClient(
        ClientConfig(url, TOKEN, budget_s=10, max_connections=args.concurrency),
        verify_answer=answer_verifier(trust),
    )

    async def lookup(i: int) -> None:
        answer = await client.lookup_enp(enps[i % len(enps)])
        assert answer is not None

    try:
        await run_load(100, args.concurrency, lookup)
        return await run_load(args.requests, args.concurrency, lookup, label)
    finally:
        await client.aclose()


def start_server(data: Path, work: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [sys.executable, "-m", "verifier.cli", "registry", "serve", "--data", str(data)]
    cmd += ["--port", "0", "--token", TOKEN, "--work-dir", str(work), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        m = re.search(r"serving on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if m:
            url = m.group(1)
            with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                while time.monotonic() < deadline:
                    try:
                        if c.get(f"{url}/v1/ping").status_code == 200:
                            return proc, url
                    except httpx.TransportError:
                        pass
                    time.sleep(0.1)
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("registry server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        g = generate(tmp / "reg", persons=args.persons, region="50", seed=11)
        with (g.out_dir / "persons.csv").open(encoding="utf-8") as f:
            enps = [r["enp"] for r in csv.DictReader(f) if not r["deleted"]]
        random.Random(1).shuffle(enps)
        proc, url = start_server(g.out_dir, tmp / "work", tmp / "server.log")
        try:
            lookups = [
                f"/v1/persons/{e}?{protocol.NONCE_PARAM}={protocol.new_nonce()}"
                for e in enps[:2000]
            ]
            wrk(url, lookups, 4, 2, tmp)  # warm-up
            ping = wrk(url, ["/v1/ping"], args.concurrency, args.duration, tmp)
            signed = wrk(url, lookups, args.concurrency, args.duration, tmp)
            pem = g.public_key_pem.read_bytes()
            # Same run, the client as it was before issue 17.4's fix: httpcore's
            # ``import sniffio`` searching sys.path again on every lock set-up.
            recorded = sys.modules.pop("sniffio", "absent")
            old_rps, old_lat = asyncio.run(client_load(args, url, enps, pem, "before"))
            if recorded != "absent":
                sys.modules["sniffio"] = recorded  # type: ignore[assignment]
            ours_rps, ours_lat = asyncio.run(client_load(args, url, enps, pem, "after"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    c = args.concurrency
    print(f"{'path':44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(
        f"{f'wrk GET /v1/ping, {c} conns (bare route)':44} {ping[0]:9.0f} {ping[1]:8.2f} {ping[2]:8.2f}"
    )
    print(
        f"{f'wrk GET /v1/persons/{{enp}}, {c} conns':44} {signed[0]:9.0f} {signed[1]:8.2f} {signed[2]:8.2f}"
    )
    print(
        f"{'client, before (sniffio searched per lock)':44} {old_rps:9.0f}"
        f" {statistics.median(old_lat) * 1000:8.2f} {pct(old_lat, 0.99):8.2f}"
    )
    print(
        f"{f'client lookup (verified), {c} at once':44} {ours_rps:9.0f}"
        f" {statistics.median(ours_lat) * 1000:8.2f} {pct(ours_lat, 0.99):8.2f}"
    )
    print(
        f"\nclient / wrk on the same signed lookups = {ours_rps / signed[0]:.2f}  (target >= 0.5;"
        f" before: {old_rps / signed[0]:.2f})"
    )
    print(
        f"client process CPU per lookup: {CPU['after'] * 1000:.2f} ms"
        f" (before: {CPU['before'] * 1000:.2f} ms); wrk's signed rate is"
        f" {1000 / signed[0]:.2f} ms of server time per lookup"
    )
    print(f"signed lookup / bare route (server's own cost) = {signed[0] / ping[0]:.2f}")


if __name__ == "__main__":
    main()
