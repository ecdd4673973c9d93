"""Soak: 50 concurrent MIS clients for 60 s against /v1/policies/{enp} while the online
registry flaps (errors, latency, resets, garbage, back to normal). No HTTP errors, never a
false `valid`, no memory growth; p50/p99 reported. OMS_SOAK_SECONDS shortens it locally."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from verifier import config
from verifier.devkit import demo

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("OMS_SOAK_SECONDS", "60"))
CLIENTS = 50
TOKEN = "soak-registry-token-0123456789"
FLAPS = [
    {"error_rate": 1.0, "error_status": 503},
    {},
    {"latency_ms": 1500},
    {"reset_rate": 0.5},
    {},
    {"garbage_rate": 0.5},
    {"wrong_signature_rate": 0.5},
    {},
]


def start(
    args: list[str], env: dict[str, str], pattern: str, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a process logging to a file (a pipe nobody drains would block its logging)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "verifier.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"{args[0]} exited early: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"{args} did not start")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_soak_with_a_flapping_registry(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = config.load(None, state)
    st = demo.ensure_demo(cfg, persons=5000)
    with (st.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["deleted"]]
    status = {r["enp"]: r["status"] for r in rows}
    enps = list(status)
    # The demo's own state (its trust dir and register) for the daemon under test.
    env = {
        **os.environ,
        "OMS_VERIFIER_STATE_DIR": str(st.cfg.state_dir),
        "OMS_REGISTRY_TOKENS": TOKEN,
    }
    env.pop("OMS_VERIFIER_CONFIG", None)
    registry, reg_url = start(
        [
            "registry",
            "serve",
            "--data",
            str(st.registry_dir),
            "--port",
            "0",
            "--faults",
            "--work-dir",
            str(tmp_path / "reg"),
        ],
        env,
        r"serving on (http://127\.0\.0\.1:\d+)",
        tmp_path / "registry.log",
    )
    daemon, api = start(
        ["--registry-url", reg_url, "--registry-token", TOKEN, "serve", "--port", "0"],
        env,
        r"serving on (http://127\.0\.0\.1:\d+)",
        tmp_path / "daemon.log",
    )
    latencies: list[float] = []
    errors: list[str] = []
    false_valid: list[str] = []
    rss: list[int] = []

    async def client(i: int, stop: float, http: httpx.AsyncClient) -> None:
        rng = random.Random(i)
        while time.monotonic() < stop:
            enp = rng.choice(enps)
            mode = rng.choice(["auto", "auto", "online", "offline"])
            fresh = "true" if rng.random() < 0.3 else "false"
            t0 = time.perf_counter()
            try:
                r = await http.get(f"/v1/policies/{enp}", params={"mode": mode, "fresh": fresh})
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}")
                continue
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                continue
            if r.json()["outcome"] == "valid" and status[enp] != "active":
                false_valid.append(enp)

    async def flapper(stop: float) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=reg_url, headers=headers) as reg:
            i = 0
            while time.monotonic() < stop:
                await reg.put("/_faults", json=FLAPS[i % len(FLAPS)])
                i += 1
                await asyncio.sleep(3)
            await reg.delete("/_faults")

    async def sampler(stop: float) -> None:
        while time.monotonic() < stop:
            rss.append(rss_kb(daemon.pid))
            await asyncio.sleep(1)

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=api, timeout=15, limits=limits) as http:
            await http.get("/v1/policies/" + enps[0])  # warm up
            stop = time.monotonic() + SECONDS
            await asyncio.gather(
                flapper(stop), sampler(stop), *(client(i, stop, http) for i in range(CLIENTS))
            )

    try:
        asyncio.run(scenario())
    finally:
        daemon.send_signal(signal.SIGTERM)
        registry.send_signal(signal.SIGTERM)
        daemon.wait(30)
        registry.wait(30)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    third = max(1, len(rss) // 3)
    early, late = max(rss[third : 2 * third] or rss), max(rss[-third:])
    print(
        f"\nsoak: {len(latencies)} requests in {SECONDS:.0f} s by {CLIENTS} clients "
        f"({len(latencies) / SECONDS:.0f}/s), p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"daemon RSS {early // 1024} MB -> {late // 1024} MB, errors {len(errors)}"
    )
    assert not errors, errors[:5]
    assert not false_valid, false_valid[:5]
    assert len(latencies) > CLIENTS * 5
    assert late - early < 30 * 1024, f"RSS grew from {early} kB to {late} kB"
