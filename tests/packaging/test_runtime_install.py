"""``scripts/install.sh --runtime``: only what the service needs (issue 13): no test tools, no
PostgreSQL driver, no browser, nothing editable — and the daemon's command still works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install.sh"


def test_install_lists_keep_test_services_out_of_the_runtime() -> None:
    text = INSTALL.read_text()
    runtime = text.split("RUNTIME_PACKAGES=(", 1)[1].split(")\n", 1)[0]
    for dev_only in ("postgresql", "chromium", "vsmartcard", "zint", "lintian", "xmlsec1"):
        assert dev_only not in runtime, dev_only
    for needed in ("libengine-gost-openssl", "pcscd"):
        assert needed in runtime, needed


@pytest.mark.slow
def test_runtime_install_brings_no_test_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    proc = subprocess.run(
        ["bash", str(INSTALL), "--runtime", "--venv", str(venv)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "apt-get install" not in proc.stdout  # the dev install already brought them all
    listed = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.lower()
    names = {line.split("==")[0] for line in listed.splitlines()}
    assert "oms-verifier" in names
    for tool in ("pytest", "hypothesis", "mypy", "ruff", "playwright", "schemathesis", "atheris"):
        assert tool not in names, tool
    assert not any(n.startswith("psycopg") for n in names)
    assert (
        "editable project location"
        not in subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "show", "oms-verifier"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.lower()
    )
    enp = subprocess.run(
        [str(venv / "bin/oms-verifier"), "enp", "5056410834001235", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert enp.returncode in (0, 1) and enp.stdout.startswith("{"), enp.stderr
