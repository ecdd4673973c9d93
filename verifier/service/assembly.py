"""Build the verification pipeline from configuration: trust store, snapshot store, checks.

Kept apart from the CLI and the daemon so both assemble exactly the same pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cache.freshness import FreshnessPolicy
from cache.snapshot_store import ImportResult, SnapshotStore
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.checks.signature import TrustSignatureChecker
from verifier.config import Config
from verifier.pipeline import Pipeline
from verifier.trust import TrustStore


def freshness_policy(cfg: Config) -> FreshnessPolicy:
    r = cfg.register
    return FreshnessPolicy(
        stale_grace=timedelta(hours=r.stale_grace_hours),
        hard_offline_limit=timedelta(hours=r.hard_offline_limit_hours),
        max_clock_skew=timedelta(seconds=r.max_clock_skew_s),
    )


def load_trust(cfg: Config, store: SnapshotStore | None = None) -> TrustStore:
    """The configured trust store; empty (every signature 'not checked') when none is set up."""
    d = cfg.effective_trust_dir
    trust = TrustStore.from_directory(d) if d.is_dir() else TrustStore()
    if store is not None:
        trust.externally_revoked = store.key_revoked
    return trust


def open_store(cfg: Config) -> SnapshotStore:
    return SnapshotStore(cfg.register_db)


@dataclass
class Assembly:
    pipeline: Pipeline
    store: SnapshotStore
    trust: TrustStore


def assemble(cfg: Config) -> Assembly:
    store = open_store(cfg)
    trust = load_trust(cfg, store)
    policy = freshness_policy(cfg)
    pipeline = Pipeline(
        signature=TrustSignatureChecker(trust),
        revocation=SnapshotRevocationChecker(store, policy),
        status=SnapshotStatusChecker(store, policy),
    )
    return Assembly(pipeline, store, trust)


def import_snapshot(cfg: Config, store: SnapshotStore, trust: TrustStore, path: str) -> ImportResult:
    def check(key_id: str, digest: bytes, signature: bytes) -> bool:
        return trust.check_snapshot_signature(key_id, digest, signature, datetime.now(UTC))

    return store.import_file(path, check, region=cfg.register.region)
