"""Red team, session 24: ``_tighten_regular`` (1f4b486) changes a file's mode through
``/proc/self/fd/N``; where that is not there, the helpers must say so, not hang or skip.

Finding: with no ``/proc`` (a chroot or image build without it mounted, a ``bwrap``/namespace
sandbox without ``--proc``), ``os.chmod("/proc/self/fd/N")`` raises ``FileNotFoundError``.
``create_private`` takes that for "the file was removed between the two" and loops for ever,
at full CPU, on a database an older version left 0644 (the daemon, the CLI: no line, no exit);
``tighten`` and ``check_side_files`` take it for "no such side file" and return, leaving a
``-wal`` of ENPs world-readable. Under the unit's ``ProtectProc=invisible``/``ProcSubset=pid``
``/proc/self/fd`` works (checked by hand); this is about a ``/proc`` that is missing.

The test runs the helper in a user and mount namespace with an empty tmpfs over ``/proc``
(real kernel answers, no mock). The loop is bounded by counting ``os.open`` calls, not by time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import errno, os, stat, sys
from pathlib import Path
from verifier.private_files import check_side_files, create_private, tighten

which, db = sys.argv[1], Path(sys.argv[2])
target = db if which == "create_private" else Path(f"{db}-wal")
real_open, calls = os.open, [0]

def counted(*args, **kw):
    calls[0] += 1
    if calls[0] > 50:  # a helper opens the path once or twice; 50 is a loop
        print("looped", flush=True)
        os._exit(3)
    return real_open(*args, **kw)

os.open = counted
helper = {"create_private": create_private, "check_side_files": check_side_files,
          "tighten": tighten}[which]
try:
    helper(db if which == "check_side_files" else target)  # it looks beside the database
except OSError as exc:
    print("raised", errno.errorcode.get(exc.errno or 0, exc.errno), flush=True)
else:
    print("returned", oct(stat.S_IMODE(os.stat(target).st_mode)), flush=True)
"""


@pytest.mark.parametrize("which", ["create_private", "check_side_files", "tighten"])
def test_no_proc_is_said_never_a_hang_nor_a_silent_skip(tmp_path: Path, which: str) -> None:
    """A loose file (0644, left by an older version) and no ``/proc``: the helper either makes
    it 0600 or raises an ``OSError`` that is not ENOENT (the store's ``store_unusable``
    line); it never loops and never returns with the file still 0644."""
    db = tmp_path / "register.sqlite3"
    db.write_bytes(b"")
    os.chmod(db, 0o644)
    wal = Path(f"{db}-wal")
    wal.write_bytes(b"")
    os.chmod(wal, 0o644)
    if which != "create_private":
        os.chmod(db, 0o600)
    script = (
        "mount -t tmpfs none /proc && test ! -e /proc/self && "
        f'exec "{sys.executable}" -c "$0" "$1" "$2"'
    )
    out = subprocess.run(
        # the child's code and arguments are the script's $0, $1, $2
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            _CHILD,
            which,
            str(db),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert out.stdout, out.stderr  # the namespace, the mount or the child failed to start
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stdout.strip() != "looped", "create_private loops for ever without /proc"
    assert out.stdout.strip() == "returned 0o600" or (
        out.stdout.startswith("raised ") and out.stdout.strip() != "raised ENOENT"
    ), (out.stdout, out.stderr)
