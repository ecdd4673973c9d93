"""Importing national parts: ``snapshot import DIR`` of a national directory.

The pipeline over a national store is the ordinary one (``assembly.assemble`` opens the
national store when the state directory holds one); the checkers judge freshness by the
answering ENP's own region part (``info_for``), so one stale region never darkens another.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cache.national_store import NationalStore
from cache.snapshot_store import ImportResult
from verifier.config import Config
from verifier.service.assembly import (
    has_national,
    load_trust,
    national_dir,
)

__all__ = ["has_national", "import_national", "national_dir"]


def import_national(cfg: Config, path: str | Path) -> list[ImportResult]:
    """``snapshot import DIR`` for a national directory (or one part / regional delta file)."""
    store = NationalStore(national_dir(cfg))
    trust = load_trust(cfg)

    def check(key_id: str, digest: bytes, signature: bytes) -> bool:
        return trust.check_snapshot_signature(key_id, digest, signature, datetime.now(UTC))

    try:
        p = Path(path)
        if p.is_dir():
            return store.import_dir(p, check)
        return [store.import_file(p, check)]
    finally:
        store.close()
