"""How long ``oms-verifier serve --demo`` takes to exit on SIGTERM with screens connected.

    python bench/shutdown_bench.py [--clients 2] [--runs 5]

Each run starts the daemon on a fresh copy of a small demo state, connects ``--clients``
raw-socket SSE clients to ``/v1/events`` (as the desk pages are), sends SIGTERM and measures
until the process has exited. Target (issue 13): under 1 s; before the fix it was ~3.4 s (uvicorn
waited its whole 3 s grace period for the endless streams, then cancelled them with tracebacks).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "desk-token-0123456789abcdef"
BANNER = re.compile(r"oms-verifier: serving on http://127\.0\.0\.1:(\d+)")


def one_run(template: Path, work: Path, clients: int) -> float:
    state = work / "state"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(template, state)
    conf = work / "config.toml"
    conf.write_text(
        '[log]\njson = true\n[http]\nport = 0\n[[http.tokens]]\nname = "desk-1"\n'
        f'token = "{TOKEN}"\nrole = "desk"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMS_VERIFIER_CONFIG", None)
    argv = ["-m", "verifier.cli", "--config", str(conf), "--state-dir", str(state)]
    proc = subprocess.Popen(
        [sys.executable, *argv, "serve", "--demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        while port is None:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("the daemon exited before serving")
            m = BANNER.search(line)
            port = int(m.group(1)) if m else None
        socks = []
        for _ in range(clients):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(
                f"GET /v1/events?access_token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            )
            data = b""
            while b"event: hello" not in data:
                data += s.recv(4096)
            socks.append(s)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
        took = time.monotonic() - began
        if rc != 0:
            raise RuntimeError(f"exit status {rc}")
        for s in socks:
            s.close()
        return took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from verifier.config import Config
    from verifier.devkit import demo

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        demo.ensure_demo(Config(state_dir=template), persons=3000)
        times = [one_run(template, Path(tmp), args.clients) for _ in range(args.runs)]
    print(
        f"SIGTERM -> exit with {args.clients} SSE clients, {args.runs} runs: "
        f"median {statistics.median(times):.3f} s, max {max(times):.3f} s "
        f"({', '.join(f'{t:.3f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
