"""Shared bits for the directory tests: the sample files (tests/data/directories, written to the
layout of REFERENCE §6) and the console script run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "directories"
F002 = SAMPLES / "F002_sample.xml"
F003 = SAMPLES / "F003_sample.xml"
F032 = SAMPLES / "F032_sample.xml"

EXE = Path(sys.executable).parent / "oms-verifier"


def run_cli(
    state: Path, *argv: str, timeout: float = 120, tz: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``oms-verifier --state-dir STATE …`` in a subprocess, without the caller's OMS_* env
    (``tz``: the ``TZ`` it runs in)."""
    assert EXE.is_file(), f"console script missing: {EXE} (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_VERIFIER_")}
    if tz is not None:
        env["TZ"] = tz
    return subprocess.run(
        [str(EXE), "--state-dir", str(state), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def packet(body: str, *, encoding: str = "windows-1251", date: str = "01.02.2024") -> bytes:
    """A directory file around ``body`` (records), encoded as declared."""
    text = f'<?xml version="1.0" encoding="{encoding}"?>\n<packet date="{date}">{body}</packet>\n'
    return text.encode(encoding)


def zap(mcod: str = "500103", short: str = 'ГБУЗ МО "Поликлиника"') -> str:
    return f"<zap><MCOD>{mcod}</MCOD><NAM_MOP>{short}</NAM_MOP><NAM_MOK>{short}</NAM_MOK></zap>"


def ins(ogrn: str = "1027739008440", okato: str = "46000", short: str = 'АО "СОГАЗ-Мед"') -> str:
    return (
        f"<insCompany><tf_okato>{okato}</tf_okato><nam_smop>{short}</nam_smop>"
        f"<nam_smok>{short}</nam_smok><Ogrn>{ogrn}</Ogrn></insCompany>"
    )
