"""The registry service's files with names and birth dates: 0600, and gone after a crash.

Issue 10, finding 13: a killed service left ``names.sqlite`` (names, birth dates) behind. The
files are now created 0600 in a 0700 work dir held under an flock; the next start removes a
dir whose lock is free, a clean stop removes its own. Tested with a real subprocess and SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.registry.server.stores import WORK_PREFIX, remove_stale_work_dirs

from .conftest import Register

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(register: Register, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "verifier.registry.server", "--data", str(register.data_dir),
           "--port", str(port), "--work-dir", str(work), "--insecure-no-auth",
           "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/ping").status_code == 200:
                return proc, port
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "the service exited during start"
        assert time.monotonic() < deadline, "the service did not come up"
        time.sleep(0.1)


def _work_dirs(work: Path) -> list[Path]:
    return sorted(p for p in work.iterdir() if p.name.startswith(WORK_PREFIX))


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_killed_service_leaves_nothing_after_the_next_start(
    register: Register, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    proc, _ = _start(register, work)
    try:
        (crashed,) = _work_dirs(work)
        assert _mode(crashed) == 0o700
        for name in ("names.sqlite", "register.sqlite"):
            assert _mode(crashed / name) == 0o600, name
        for f in crashed.iterdir():  # journals and WAL too; only empty lock files aside
            assert _mode(f) == 0o600 or (f.name.endswith("lock") and f.stat().st_size == 0), f
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)
    assert (crashed / "names.sqlite").exists()  # what a crash leaves: names and birth dates
    proc, port = _start(register, work)
    try:
        (live,) = _work_dirs(work)
        assert live != crashed and not crashed.exists()
        assert remove_stale_work_dirs(work) == []  # a live service's dir is never removed
        assert live.exists()
        resp = httpx.get(f"http://127.0.0.1:{port}/v1/persons/{register.live[0]['enp']}",
                         params={"nonce": "ab" * 16})  # fmt: skip
        assert resp.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    assert _work_dirs(work) == []  # a clean stop removes its own


def test_in_process_store_files_are_private(register: Register, tmp_path: Path) -> None:
    os.umask(0o022)  # the usual default: without care, files would be 0644
    cfg = ServerConfig(
        data_dir=register.data_dir,
        port=0,
        insecure_no_auth=True,
        state_dir=tmp_path / "state",
        log_level="warning",
    )
    with ThreadedServer(create_app(cfg), cfg):
        (d,) = _work_dirs(tmp_path / "state")
        assert _mode(d) == 0o700
        assert _mode(d / "names.sqlite") == 0o600
        assert _mode(d / "register.sqlite") == 0o600
    assert _work_dirs(tmp_path / "state") == []
