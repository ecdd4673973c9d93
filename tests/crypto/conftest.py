"""Shared fixtures: RFC vectors and an OpenSSL GOST engine (a missing engine fails the run)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "crypto"

# (openssl algorithm, paramset, digest flag)
OPENSSL_KEYS = [
    *[("gost2001", ps, "-md_gost94") for ps in ("A", "B", "C", "XA", "XB", "TCA")],
    *[
        ("gost2012_256", ps, "-md_gost12_256")
        for ps in ("A", "B", "C", "XA", "XB", "TCA", "TCB", "TCC", "TCD")
    ],
    *[("gost2012_512", ps, "-md_gost12_512") for ps in ("A", "B", "C")],
]


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads((DATA / "vectors.json").read_text(encoding="utf-8"))


def _engine_ok() -> str | None:
    if shutil.which("openssl") is None:
        return "openssl binary not found"
    proc = subprocess.run(
        ["openssl", "engine", "gost", "-c"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or "md_gost12_256" not in proc.stdout:
        return "OpenSSL GOST engine not installed (Debian package libengine-gost-openssl)"
    return None


@pytest.fixture(scope="session")
def openssl() -> Any:
    """Run ``openssl <args> -engine gost``-style commands; fail if the engine is missing."""
    reason = _engine_ok()
    if reason:
        pytest.fail(f"{reason}: install libengine-gost-openssl (scripts/install.sh does)")

    def run(*args: str, check: bool = True, input: bytes | None = None) -> bytes:
        proc = subprocess.run(["openssl", *args], capture_output=True, check=False, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {proc.stderr.decode()}")
        return proc.stdout

    return run


@pytest.fixture(scope="session")
def openssl_keys(openssl: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One OpenSSL-generated private key per (algorithm, paramset), plus its -pubout file."""
    base = tmp_path_factory.mktemp("osslkeys")
    out: dict[str, Path] = {}
    for alg, ps, _ in OPENSSL_KEYS:
        key = base / f"{alg}-{ps}.pem"
        openssl(
            "genpkey",
            "-engine",
            "gost",
            "-algorithm",
            alg,
            "-pkeyopt",
            f"paramset:{ps}",
            "-out",
            str(key),
        )
        pub = base / f"{alg}-{ps}.pub.pem"
        openssl("pkey", "-engine", "gost", "-in", str(key), "-pubout", "-out", str(pub))
        out[f"{alg}-{ps}"] = key
    return out
