"""Red team, session 21: the register opened a second time in the process (found while
attacking 5c1af77's kept single-lookup context; the cause predates it).

Finding: ``SnapshotStore.__init__`` calls ``create_private(path)``, which opens the database
file and closes it again. Closing any descriptor of a file drops every POSIX (fcntl) lock
this process holds on it — SQLite's own locks of the connections already open on it
included, while SQLite's per-process bookkeeping still believes it holds them. That happens
on every SIGHUP reload: ``assemble`` opens ``SnapshotStore(cfg.register_db)`` again while the
old store's readers (one per pool thread; ``close()`` closes only the calling thread's) are
open. From then on no lock of this process guards the file: the next ``snapshot import`` in
another process, closing its connection, takes itself for the last user, checkpoints and
deletes ``-wal`` and ``-shm`` under the daemon. The daemon's connections keep the deleted
wal-index: ``PRAGMA data_version`` never moves again, ``info()`` keeps the old meta, and the
records read are the old file's — a policy the new snapshot annuls stays ``valid``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from cache.register_model import PolicyStatus
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import (
    CREATED,
    delta_on,
    generate_register,
    import_all,
)
from verifier.checks.context import LookupMode
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.credential import CredentialInput
from verifier.pipeline import Pipeline
from verifier.verdict import Outcome

ROOT = Path(__file__).resolve().parents[2]
NOW = CREATED + timedelta(hours=1)


def _import_elsewhere(db: Path, snapshot: Path) -> None:
    """``snapshot import`` in another process (the CLI, a timer's sync)."""
    code = (
        "import sys\n"
        "from cache.snapshot_store import SnapshotStore\n"
        "from tests.cache.helpers import SEED, demo_key, key_checker\n"
        "s = SnapshotStore(sys.argv[1])\n"
        "s.import_file(sys.argv[2], key_checker(demo_key(SEED).public_key()))\n"
        "s.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db), str(snapshot)], cwd=ROOT, check=True)


def _sequence_elsewhere(db: Path) -> int:
    """The file's sequence as another process reads it (read-only, no lock of ours)."""
    code = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n"
        "print(c.execute(\"SELECT v FROM meta WHERE k = 'sequence'\").fetchone()[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(db)], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def _pipeline(store: SnapshotStore) -> Pipeline:
    return Pipeline(
        status=SnapshotStatusChecker(store),
        revocation=SnapshotRevocationChecker(store),
        clock=lambda: NOW,
    )


def test_an_import_by_another_process_after_a_reopen_is_seen(tmp_path: Path) -> None:
    reg = generate_register(tmp_path / "reg", persons=40, deltas=0)
    db = tmp_path / "register.sqlite3"
    old = SnapshotStore(db)
    import_all(old, reg)
    old.info()
    pool = threading.Thread(target=old.info)  # a pool thread's reader of the old store
    pool.start()
    pool.join()
    new = SnapshotStore(db)  # the reload's assemble(): the register opened again
    old.close()  # closes this thread's reader only, as Service.reload's old.close() does
    p = _pipeline(new)
    enp = reg.live[0]["enp"]
    item = CredentialInput(enp.encode(), source="api:test", manual=True)
    info = new.info()
    assert info.sequence is not None and info.created_at is not None
    rec = new.lookup_enp(enp)
    assert rec is not None and rec.status is PolicyStatus.ACTIVE and rec.end is None
    annulled = [dataclasses.replace(rec, status=PolicyStatus.ANNULLED)]
    delta = delta_on(new, annulled, tmp_path / "annul.omssnap")
    _import_elsewhere(db, delta)
    assert _sequence_elsewhere(db) == info.sequence + 1  # not vacuous: the import took
    for mode in (LookupMode.OFFLINE, LookupMode.AUTO):
        v = p.verify(item, mode=mode)
        assert v.outcome is not Outcome.VALID, f"annulled by the import, still valid ({mode})"
    assert new.info().sequence == info.sequence + 1, "the daemon still holds the old meta"
    new.close()
