"""Red team of session 24: what still gets past the stores' "one line, never a traceback".

Session 24 made the register, the directories and the audit log refuse a directory, a FIFO, a
symlink or a non-database at their own path. The files SQLite and the register keep beside it
(``-journal``, ``-wal``, ``-shm``, ``.import.lock``) and the state directory itself were left
out: there the register still ends with a raw ``sqlite3.OperationalError`` / ``OSError``, its
import lock is created through a symlink, a FIFO at ``-journal`` hangs every store for good,
and one failed connection leaves the register's write lock taken, so every later sync and
import of the running daemon waits forever. Each test here fails on the session-24 code.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cache.snapshot_store import SnapshotStore
from verifier.errors import OmsError

ROOT = Path(__file__).resolve().parents[2]

# A hang is reported as a failure, not waited for: an open of a small SQLite file takes
# milliseconds, and this bound only keeps a hanging store from hanging the suite.
HANG_BOUND_S = 60

OPENERS = {
    # name: (file in the state directory, stable code, how a child process opens it)
    "register": (
        "register.sqlite3",
        "store_unusable",
        "from cache.snapshot_store import SnapshotStore as O",
    ),
    "directories": (
        "directories.sqlite3",
        "directory_store",
        "from verifier.directories import Directories as O",
    ),
    "audit": (
        "audit.sqlite3",
        "audit_unusable",
        "from verifier.service.audit import AuditLog as O",
    ),
}


def _wal_database(path: Path) -> None:
    """A small valid database in WAL mode: what a store left behind after a clean stop."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


def _refused_with(path: Path, planted: Path, kind: str) -> None:
    """A directory or a FIFO at ``planted``: the register at ``path`` refuses, typed."""
    if kind == "directory":
        planted.mkdir()
    else:
        os.mkfifo(planted, 0o600)
    with pytest.raises(OmsError) as caught:
        SnapshotStore(path)
    assert caught.value.code == "store_unusable"


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [("-shm", "directory"), ("-shm", "fifo"), ("-journal", "directory")],
)
def test_register_refuses_a_bad_sqlite_side_file_with_its_code(
    tmp_path: Path, suffix: str, kind: str
) -> None:
    """The directories and the audit log already answer these with their code; the register
    let ``sqlite3.OperationalError`` out of ``__init__`` (a traceback from ``serve``)."""
    path = tmp_path / "register.sqlite3"
    _refused_with(path, Path(f"{path}{suffix}"), kind)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_register_refuses_a_bad_import_lock_with_its_code(tmp_path: Path, kind: str) -> None:
    """``<db>.import.lock`` is opened on every open of the register: a directory gave a raw
    ``IsADirectoryError``, a FIFO a raw ``io.UnsupportedOperation``."""
    _refused_with(tmp_path / "register.sqlite3", tmp_path / "register.sqlite3.import.lock", kind)


def test_register_never_creates_a_file_through_its_import_lock_symlink(tmp_path: Path) -> None:
    """The lock was opened with ``open(..., "a+b")``: a symlink there made the register create
    (O_CREAT, umask mode) whatever file it names — as root, ``/etc/nologin`` for one."""
    aim = tmp_path / "elsewhere" / "nologin"
    aim.parent.mkdir()
    (tmp_path / "register.sqlite3.import.lock").symlink_to(aim)
    refused: OmsError | None = None
    try:
        SnapshotStore(tmp_path / "register.sqlite3").close()
    except OmsError as exc:  # refusing is fine; creating the aim is not
        refused = exc
    assert not aim.exists()
    assert refused is None or refused.code == "store_unusable"


@pytest.mark.parametrize("name", sorted(OPENERS))
def test_a_fifo_at_journal_is_refused_not_waited_on(tmp_path: Path, name: str) -> None:
    """SQLite's hot-journal check opens ``<db>-journal`` read-only when it exists beside a
    database with pages: a FIFO there blocks that open forever (``serve``, ``snapshot
    status``, ``audit list`` never return; systemd's start times out and restarts)."""
    filename, code, opener = OPENERS[name]
    path = tmp_path / filename
    _wal_database(path)
    os.mkfifo(f"{path}-journal", 0o600)
    script = (
        f"import sys\n{opener}\nfrom verifier.errors import OmsError\n"
        "try:\n    O(__import__('pathlib').Path(sys.argv[1]))\n"
        "except OmsError as exc:\n    print(exc.code)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=HANG_BOUND_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: opening the store hangs on a FIFO at {path}-journal")
    assert out.stdout.strip() == code, out.stderr


def test_a_failed_connection_leaves_the_write_lock_free(tmp_path: Path) -> None:
    """``_Writer.__enter__`` takes the lock, then connects: when the connection is refused
    (the file moved aside and something else put there) the lock was never released, and
    every later ``record_sync``/import of the running daemon waited on it forever."""
    path = tmp_path / "register.sqlite3"
    store = SnapshotStore(path)
    aside = tmp_path / "aside.sqlite3"
    path.rename(aside)
    path.write_bytes(bytes(range(256)) * 32)  # no database
    with pytest.raises(OmsError):
        store.record_sync(datetime.now(UTC))
    path.unlink()
    aside.rename(path)  # the admin puts the register back
    worker = threading.Thread(target=store.record_sync, args=(datetime.now(UTC),), daemon=True)
    worker.start()
    worker.join(HANG_BOUND_S)
    assert not worker.is_alive(), "record_sync waits forever on the write lock"
    store.close()


@pytest.mark.parametrize("command", [["snapshot", "status"], ["trust", "list"]])
def test_a_state_dir_that_is_a_file_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """``OMS_VERIFIER_STATE_DIR`` naming a file: ``mkdir(exist_ok=True)`` in the register's
    ``__init__`` raised a raw ``FileExistsError`` (``serve`` and ``trust list`` the same)."""
    state = tmp_path / "state"
    state.write_text("not a directory\n", encoding="utf-8")
    conf = tmp_path / "c.toml"
    conf.write_text('[log]\nlevel = "INFO"\n', encoding="utf-8")
    env = {**os.environ, "OMS_VERIFIER_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "--config", str(conf), *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_BOUND_S,
        check=False,
    )
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2
    assert "error [" in out.stderr
