"""``oms-verifier serve --demo --port 0`` as a subprocess: prints its URL, serves, stops on
SIGTERM with exit status 0."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.http.helpers import ROOT


def test_serve_subprocess(tmp_path: Path, demo_template: tuple[Path, object]) -> None:
    state = tmp_path / "state"
    shutil.copytree(demo_template[0], state)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMS_VERIFIER_CONFIG", None)
    (tmp_path / "none.toml").write_text("[http]\n", encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verifier.cli",
            "--config",
            str(tmp_path / "none.toml"),
            "--state-dir",
            str(state),
            "serve",
            "--demo",
            "--port",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            m = re.search(r"oms-verifier: serving on (http://127\.0\.0\.1:\d+)", line)
            url = m.group(1) if m else None
        assert url, "no 'serving on' line"
        with httpx.Client(base_url=url, timeout=10) as c:
            assert c.get("/healthz").json() == {"ok": True}
            assert c.get("/readyz").json() == {"ready": True}
            r = c.get("/v1/policies/5047000818001962", params={"mode": "offline"})
            v = r.json()
            assert r.status_code == 200
            # a decisive answer from the demo snapshot, or its honest "not in the local copy"
            assert v["outcome"] in ("valid", "suspended", "annulled", "expired", "invalid") or (
                v["outcome"],
                v["reasons"],
            ) == ("unknown", ["not_in_snapshot"]), v
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
