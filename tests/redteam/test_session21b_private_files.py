"""Red team, session 21b: ``create_private`` made O_CREAT|O_EXCL (676f292): an existing file is
never opened, only ``tighten``-ed; a symlink raises ELOOP.

Finding (fails on 676f292): a *directory* at the database path is no longer refused. O_EXCL
answers EEXIST for it as for a file, ``tighten`` then ``chmod``s it 0600 — a directory
without its search bit, so its own owner can no longer open anything inside it. Before, the
``open(O_RDWR)`` answered EISDIR and nothing changed. A register path that names the state
directory (``register_db = "/var/lib/oms-verifier"``, one path segment forgotten) now locks
the service user out of its whole state directory — the audit, the directories, the trust
store — on the first start, and the error it gets is SQLite's "unable to open database file"
(the snapshot store even says "move it aside and import a snapshot again").

Finding (the snapshot store; predates 676f292): the directories and the audit tighten a
``-wal``/``-shm`` left 0644 by an older version; the register store, which holds the ENPs,
does not. While another process still has the register open (the old daemon during a
package upgrade, a timer's import), the 0644 ``-wal`` it writes the new pages into stays
world-readable.

The rest pin what held, with real files and real SQLite: every caller gets 0600 under any
umask, pre-existing 0644/0666 files are tightened, symlinks (to a file, dangling, to a
directory) are refused with ELOOP and their targets left alone, a missing parent is an
error, a crowd of creators racing in threads and processes all end with one 0600 file, a
POSIX lock this process holds survives (the reason for the change), and new ``-wal``/``-shm``
files are 0600.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cache.snapshot_store import SnapshotStore
from verifier.directories import Directories
from verifier.errors import OmsError
from verifier.private_files import create_private
from verifier.service.audit import AuditLog

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o777


@pytest.fixture(params=[0o022, 0o000, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _snapshot(path: Path) -> Any:
    return SnapshotStore(path)


def _directories(path: Path) -> Any:
    return Directories(path)


def _audit(path: Path) -> Any:
    return AuditLog(path)


OPENERS: dict[str, Callable[[Path], Any]] = {
    "snapshot": _snapshot,
    "directories": _directories,
    "audit": _audit,
}


def _close(store: Any) -> None:
    store.close()


# -- findings --------------------------------------------------------------------------------


def test_a_directory_at_the_path_is_refused_and_keeps_its_mode(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "audit.sqlite3").write_bytes(b"")
    os.chmod(state, 0o750)  # noqa: S103 - a state dir's usual mode
    with pytest.raises(OSError) as caught:  # noqa: PT011 - the errno is asserted
        create_private(state)
    assert caught.value.errno == errno.EISDIR
    assert _mode(state) == 0o750
    assert (state / "audit.sqlite3").exists()  # its owner can still reach what it holds


def test_the_register_store_pointed_at_the_state_dir_leaves_the_state_dir_usable(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    os.chmod(state, 0o750)  # noqa: S103 - a state dir's usual mode
    with pytest.raises(Exception):  # noqa: B017,PT011 - a refusal; which is not the point
        SnapshotStore(state)
    assert _mode(state) == 0o750
    audit = AuditLog(state / "audit.sqlite3")  # the rest of the state dir still opens
    audit.close()


def test_the_register_stores_wal_left_0644_is_tightened(tmp_path: Path) -> None:
    """Another process has the register open (its -wal and -shm exist, 0644 as an older
    version made them); the store opened now must leave them owner-only, as Directories and
    AuditLog do."""
    old = os.umask(0o022)
    try:
        db = tmp_path / "register.sqlite3"
        SnapshotStore(db).close()
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys\n"
                "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "db.execute('PRAGMA journal_mode=WAL')\n"
                "db.execute(\"INSERT OR REPLACE INTO meta VALUES ('held', '1')\")\n"
                "print('held', flush=True)\n"
                "sys.stdin.read()\n",
                str(db),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            for p in (db, wal, shm):
                os.chmod(p, 0o644)
            store = SnapshotStore(db)
            try:
                assert {p.name: _mode(p) for p in (db, wal, shm)} == {
                    p.name: 0o600 for p in (db, wal, shm)
                }
            finally:
                store.close()
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=30)
    finally:
        os.umask(old)


# -- what held -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPENERS))
def test_every_caller_makes_a_new_store_0600_with_its_wal_and_shm(
    tmp_path: Path, umask: int, name: str
) -> None:
    db = tmp_path / "sub" / f"{name}.sqlite3"  # the parent made by the caller
    store = OPENERS[name](db)
    try:
        held = sqlite3.connect(db)  # a second connection keeps -wal/-shm in place to look at
        held.execute("PRAGMA journal_mode=WAL")
        held.execute("CREATE TABLE IF NOT EXISTS rt21b (x)")
        modes = {s: _mode(Path(f"{db}{s}")) for s in ("", "-wal", "-shm")}
        held.close()
    finally:
        _close(store)
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


@pytest.mark.parametrize("loose", [0o644, 0o666, 0o640, 0o604])
@pytest.mark.parametrize("name", sorted(OPENERS))
def test_an_existing_loose_store_is_tightened_and_keeps_its_content(
    tmp_path: Path, umask: int, name: str, loose: int
) -> None:
    db = tmp_path / f"{name}.sqlite3"
    OPENERS[name](db).close()
    before = db.read_bytes()
    os.chmod(db, loose)
    store = OPENERS[name](db)
    try:
        assert _mode(db) == 0o600
    finally:
        _close(store)
    assert db.read_bytes()[:100] == before[:100]  # the header: the same database


def test_create_private_on_a_new_path_under_any_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "new"
    create_private(path)
    assert _mode(path) == 0o600 and path.read_bytes() == b""


def test_an_existing_file_keeps_its_content(tmp_path: Path) -> None:
    path = tmp_path / "kept"
    path.write_bytes(b"SQLite format 3\x00rest")
    os.chmod(path, 0o666)  # noqa: S103 - the loose file under test
    create_private(path)
    assert _mode(path) == 0o600 and path.read_bytes() == b"SQLite format 3\x00rest"


@pytest.mark.parametrize("target", ["file", "dangling", "directory"])
def test_a_symlink_is_refused_and_its_target_left_alone(tmp_path: Path, target: str) -> None:
    aim = tmp_path / "aim"
    if target == "file":
        aim.write_bytes(b"secret")
        os.chmod(aim, 0o644)
    elif target == "directory":
        aim.mkdir()
        os.chmod(aim, 0o755)  # noqa: S103 - the target left alone
    link = tmp_path / "link"
    link.symlink_to(aim)
    with pytest.raises(OSError) as caught:  # noqa: PT011 - the errno is asserted
        create_private(link)
    assert caught.value.errno == errno.ELOOP
    assert link.is_symlink()
    if target == "dangling":
        assert not aim.exists()  # nothing created through the link
    else:
        assert _mode(aim) == (0o644 if target == "file" else 0o755)
    if target == "file":
        assert aim.read_bytes() == b"secret"


@pytest.mark.parametrize("name", sorted(OPENERS))
def test_a_symlinked_store_is_refused_by_every_caller(tmp_path: Path, name: str) -> None:
    aim = tmp_path / "aim.sqlite3"
    OPENERS[name](aim).close()
    os.chmod(aim, 0o644)
    link = tmp_path / "link.sqlite3"
    link.symlink_to(aim)
    with pytest.raises(OmsError) as caught:  # typed since session 24, the OSError its cause
        OPENERS[name](link)
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ELOOP
    assert _mode(aim) == 0o644


def test_a_fifo_at_the_register_path_is_refused_not_waited_on(tmp_path: Path) -> None:
    from verifier.errors import OmsError

    fifo = tmp_path / "register.sqlite3"
    os.mkfifo(fifo, 0o644)
    with pytest.raises((OmsError, OSError)):  # SQLite's I/O error (or a refusal), no hang
        SnapshotStore(fifo)
    assert _mode(fifo) in (0o600, 0o644)  # tightened, or refused untouched


def test_a_missing_parent_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        create_private(tmp_path / "nowhere" / "db")
    assert not (tmp_path / "nowhere").exists()


def test_creators_racing_in_threads_all_end_with_one_private_file(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        for round_ in range(20):
            path = tmp_path / f"race-{round_}"
            errors: list[BaseException] = []
            gate = threading.Barrier(8)

            def create(
                path: Path = path,
                errors: list[BaseException] = errors,
                gate: threading.Barrier = gate,
            ) -> None:
                gate.wait()
                try:
                    create_private(path)
                except BaseException as exc:  # noqa: BLE001  (collected, asserted below)
                    errors.append(exc)

            threads = [threading.Thread(target=create) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == [] and _mode(path) == 0o600
    finally:
        os.umask(old)


def test_creators_racing_in_processes_all_end_with_one_private_file(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from verifier.private_files import create_private\n"
        "os.umask(0)\n"
        "for i in range(200):\n"
        "    create_private(Path(sys.argv[1]) / f'f{i}')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT) for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert {_mode(tmp_path / f"f{i}") for i in range(200)} == {0o600}


def test_a_posix_lock_this_process_holds_survives(tmp_path: Path) -> None:
    """The reason for the change: no descriptor of the file is opened and closed."""
    path = tmp_path / "locked"
    create_private(path)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.chmod(path, 0o644)
        create_private(path)  # tightens only
        assert _mode(path) == 0o600
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys\n"
                "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                "try:\n"
                "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                "except OSError:\n"
                "    print('held')\n"
                "else:\n"
                "    print('free')\n",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stdout.strip() == "held"
    finally:
        os.close(fd)
