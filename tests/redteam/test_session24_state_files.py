"""What sits at a state file's path is refused with a typed error, never a traceback.

The register, the directories and the audit log live in the state directory. A directory, a
FIFO, a symlink or a file that is no database at one of their paths (a slip of the admin, a
restore gone wrong) used to end ``serve`` with a raw ``IsADirectoryError`` or
``sqlite3.OperationalError`` traceback for the directories and the audit log (and a FIFO was
handed to SQLite). Each store now refuses with its own stable code, naming the path and what
to do, and the CLI prints that one line and exits 2.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cache.snapshot_store import SnapshotStore
from verifier.directories import Directories
from verifier.errors import OmsError
from verifier.service.audit import AuditLog

ROOT = Path(__file__).resolve().parents[2]

STORES: dict[str, tuple[str, str, Callable[[Path], Any]]] = {
    # name: (file in the state directory, stable code, opener)
    "register": ("register.sqlite3", "store_unusable", SnapshotStore),
    "directories": ("directories.sqlite3", "directory_store", Directories),
    "audit": ("audit.sqlite3", "audit_unusable", AuditLog),
}


def _plant(path: Path, kind: str) -> None:
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "symlink":
        aim = path.parent / "aim"
        aim.write_bytes(b"not yours")
        path.symlink_to(aim)
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 32)  # 8 KiB, no SQLite header
    else:  # pragma: no cover - the parameters below
        raise AssertionError(kind)


KINDS = ["directory", "fifo", "symlink", "garbage"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(STORES))
def test_each_store_refuses_with_its_code(tmp_path: Path, name: str, kind: str) -> None:
    filename, code, opener = STORES[name]
    path = tmp_path / filename
    _plant(path, kind)
    with pytest.raises(OmsError) as caught:
        opener(path)
    assert caught.value.code == code
    assert str(path) in caught.value.message
    if kind == "symlink":
        assert (tmp_path / "aim").read_bytes() == b"not yours"  # nothing written through it
        assert path.is_symlink()
    if kind == "fifo":
        assert path.exists() and not path.is_file()  # left as it was


@pytest.mark.parametrize(("name", "kind"), [("audit", "fifo"), ("directories", "directory")])
def test_serve_says_one_line_and_exits_2(tmp_path: Path, name: str, kind: str) -> None:
    filename, code, _ = STORES[name]
    state = tmp_path / "state"
    state.mkdir()
    _plant(state / filename, kind)
    conf = tmp_path / "c.toml"
    conf.write_text('[log]\nlevel = "INFO"\n', encoding="utf-8")
    env = {**os.environ, "OMS_VERIFIER_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "--config", str(conf), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert f"error [{code}]" in out.stderr
    assert str(state / filename) in out.stderr


def test_a_symlink_swapped_in_after_the_check_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file at the path looked at, then replaced by a symlink before its mode is changed
    (whoever writes the state directory can time that): the chmod never reaches the link's
    target. It used to ``lstat`` and then ``chmod`` by name, which follows the new link — as
    root, any file of the machine made 0600."""
    from verifier.private_files import create_private

    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    os.chmod(victim, 0o644)
    path = tmp_path / "register.sqlite3"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    real_lstat, real_fstat = os.lstat, os.fstat

    def swap() -> None:
        if not stat.S_ISLNK(real_lstat(path).st_mode):
            path.unlink()
            path.symlink_to(victim)

    def lstat(p: Any, *args: Any, **kw: Any) -> os.stat_result:
        found = real_lstat(p, *args, **kw)
        if Path(p) == path:
            swap()  # after the look, before the chmod
        return found

    def fstat(fd: int) -> os.stat_result:
        found = real_fstat(fd)
        swap()
        return found

    monkeypatch.setattr(os, "lstat", lstat)
    monkeypatch.setattr(os, "fstat", fstat)
    create_private(path)
    monkeypatch.undo()
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o644
    assert victim.read_bytes() == b"not yours"


def test_a_hard_link_to_another_owners_file_is_not_chmodded(tmp_path: Path) -> None:
    """Whoever writes the state directory links another owner's file in at a store's path
    (``fs.protected_hardlinks`` off): the mode of that file is left alone, and the store is
    refused. Run as root (CI is), so the other owner can be made."""
    assert os.geteuid() == 0, "this test makes a file of another owner: run it as root"
    other = tmp_path / "theirs"
    other.write_bytes(b"not yours")
    os.chmod(other, 0o644)
    os.chown(other, 65534, 65534)
    path = tmp_path / "audit.sqlite3"
    os.link(other, path)
    with pytest.raises(OmsError) as caught:
        AuditLog(path)
    assert caught.value.code == "audit_unusable"
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o644
