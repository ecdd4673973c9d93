"""kill -9 of a real importing process at several points: the previous data keeps serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache.national_store import NationalStore
from tests.national.helpers import check, part, sample
from tests.national.test_refusals import _newer
from verifier.devkit.national_generator import NationalRegister

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from cache.national_store import NationalStore
from tests.national.helpers import check
store = NationalStore(sys.argv[1])
if sys.argv[2] == "at-switch":
    # Stop right before the manifest rename: everything else (copy, signature, validation,
    # side database) has been done for real; the parent kills -9 here.
    import time
    real = store._atomic_write

    def hold(path, data):
        if path.name == "MANIFEST.json":
            print("at-switch", flush=True)
            time.sleep(60)
        real(path, data)

    store._atomic_write = hold
print("ready", flush=True)
store.import_part(sys.stdin.buffer, check)
print("done", flush=True)
"""


def _answers(store: NationalStore, rows: list[dict[str, str]]) -> list[object]:
    return [store.lookup_enp(r["enp"]) for r in rows if r["enp"][:2] == "50"]


@pytest.mark.parametrize("fraction", [0.3, 1.0])
def test_kill_during_import_leaves_previous_part(
    small: NationalRegister, tmp_path: Path, fraction: float
) -> None:
    root = tmp_path / "store"
    store = NationalStore(root)
    store.import_file(part(small.out_dir, "50"), check)
    rows = sample(small.out_dir)
    before = _answers(store, rows)
    assert any(before)
    newer = _newer(part(small.out_dir, "50"), tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), "at-switch" if fraction == 1.0 else "copy"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    cut = int(len(newer) * fraction)
    proc.stdin.write(newer[:cut])
    proc.stdin.flush()
    if fraction == 1.0:
        proc.stdin.close()
        assert proc.stdout.readline().strip() == b"at-switch"
        assert (root / "part-50-000002.sqlite3").exists()
    else:
        # The child is blocked reading the rest of the stream, mid-copy.
        deadline = time.monotonic() + 30
        data = root / "part-50-000002.omsnat"
        while not data.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # A reader opened afterwards and the one that stayed open both serve sequence 1.
    after = NationalStore(root)
    assert after.region_info("50").sequence == 1
    assert _answers(after, rows) == before
    store._refresh(force=True)
    assert _answers(store, rows) == before
    # The next import sweeps the leftovers and succeeds.
    after.import_part(__import__("io").BytesIO(newer), check)
    assert after.region_info("50").sequence == 2
    assert _answers(after, rows) == before
    assert not list(root.glob("*.tmp"))
    assert sorted(p.name for p in root.glob("part-*") if not p.name.endswith(("-wal", "-shm"))) == [
        "part-50-000002.omsnat", "part-50-000002.sqlite3"]  # fmt: skip
    store.close()
    after.close()
