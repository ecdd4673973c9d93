"""Files that hold secrets or personal data, created owner-only in code whatever the umask.

systemd's ``UMask=`` covers the service, but the CLI, the demo, the generator and tests run under
a login umask (usually 022: world-readable files). ``open()`` applies the umask to the mode it
is given, so every helper here also ``fchmod``s the descriptor; an existing file with a looser
mode (made by an older version) is tightened the same way.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

PRIVATE_MODE = 0o600


def private_opener(path: str, flags: int) -> int:
    """An ``opener=`` for :func:`open`: the file is ``PRIVATE_MODE`` from its first byte."""
    fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by its owner only."""
    with open(path, "wb", opener=private_opener) as f:
        f.write(data)


def write_private_text(path: Path, text: str) -> None:
    write_private(path, text.encode("utf-8"))


def create_private(path: Path) -> None:
    """Make sure ``path`` exists owner-only without touching its content — before SQLite opens
    a database: SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file.

    An existing file is never opened for reading or writing: closing any such descriptor of
    a file drops every POSIX lock this process holds on it, SQLite's too. A reload opens the
    register again while the old store's readers are open; another process would then take
    itself for the file's last user and delete ``-wal``/``-shm`` under them, and the daemon
    would no longer see its imports (tests/redteam/test_session21_store_locks.py). It is
    tightened through an ``O_PATH`` descriptor (:func:`_tighten_regular`), whose close drops
    no lock."""
    while True:
        try:
            os.close(private_opener(str(path), os.O_RDWR | os.O_CREAT | os.O_EXCL))
            return
        except FileExistsError:
            pass
        try:
            _tighten_regular(path)
        except FileNotFoundError:
            continue  # removed between the two: create it again
        return


def _tighten_regular(path: Path) -> None:
    """``chmod`` the regular file at ``path`` to owner-only, never through a symlink, even
    one swapped in meanwhile: the file is pinned by an ``O_PATH``/``O_NOFOLLOW`` descriptor
    (which opens no FIFO and, closed, drops no POSIX lock), checked by ``fstat`` and changed
    through ``/proc/self/fd``. A symlink, a directory or another non-regular file raises."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):  # as O_NOFOLLOW refuses it
            raise OSError(errno.ELOOP, "a symlink, not a private file", str(path))
        if stat.S_ISDIR(st.st_mode):  # as open(O_RDWR) refuses it: its mode left alone
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", str(path))
        if not stat.S_ISREG(st.st_mode):  # a FIFO, socket or device: never handed to SQLite
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_nlink > 1 and st.st_uid != os.geteuid():  # another owner's file, linked here
            raise OSError(errno.EINVAL, "a hard link to another owner's file", str(path))
        if stat.S_IMODE(st.st_mode) != PRIVATE_MODE:
            try:
                os.chmod(f"/proc/self/fd/{fd}", PRIVATE_MODE)
            except (FileNotFoundError, NotADirectoryError) as exc:  # no /proc: never ENOENT,
                raise OSError(  # which the callers take for a file that is not there
                    errno.EOPNOTSUPP, "/proc/self/fd is missing: mode not changed", str(path)
                ) from exc
    finally:
        os.close(fd)


_NOT_REGULAR = (errno.ELOOP, errno.EISDIR, errno.EINVAL)


def tighten(path: Path) -> None:
    """``chmod`` an existing regular file to owner-only (never through a symlink); a missing
    file, a symlink, a directory or a FIFO is left as it is."""
    try:
        _tighten_regular(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in _NOT_REGULAR:
            raise


def open_private_database(
    path: Path, unusable: Callable[[str | None], Exception]
) -> sqlite3.Connection:
    """A connection to the owner-only SQLite file at ``path`` (:func:`claim_database_file`),
    for any thread, in autocommit. What stands at the path or beside it and is no private
    file (a directory, a symlink, a FIFO; no permission), or cannot be opened, raises
    ``unusable(why)``, the store's typed error."""
    try:
        claim_database_file(path)
    except OSError as exc:
        raise unusable(exc.strerror) from exc
    try:
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise unusable(str(exc)) from exc


def claim_database_file(path: Path) -> None:
    """Everything a store does before SQLite opens its file: the directory made, the file
    owner-only (:func:`create_private`) and the files beside it checked
    (:func:`check_side_files`). Raises ``OSError`` (the state directory is a file, something
    other than a regular file stands at the path or beside it, no permission)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private(path)
    check_side_files(path)


SIDE_SUFFIXES = ("-journal", "-wal", "-shm")


def check_side_files(path: Path) -> None:
    """SQLite's files beside a database (``-journal``, ``-wal``, ``-shm``), when present, are
    regular files, tightened owner-only: SQLite's hot-journal check opens ``-journal``
    read-only, which blocks forever on a FIFO. Raises ``OSError`` like :func:`create_private`."""
    for suffix in SIDE_SUFFIXES:
        side = Path(f"{path}{suffix}")
        try:
            _tighten_regular(side)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno not in _NOT_REGULAR:
                raise
            raise OSError(errno.EINVAL, f"{side.name} is not a regular file", str(side)) from exc
