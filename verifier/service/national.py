"""The pipeline over the national store, with freshness judged per region part.

Until the lead folds this into ``assembly.py``/``checks/register.py`` (docs/national.md,
"Wiring"), the CLI uses :func:`assemble_national` when the state directory holds a national
store. The only behavioural difference from the regional checkers: an ENP's freshness is its
own region's part (sequence, valid-until), so one stale region never darkens another.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cache.freshness import Freshness, FreshnessPolicy, PartFreshness, assess, from_the_future
from cache.national_store import MANIFEST, NationalStore
from cache.snapshot_store import ImportResult, StoreInfo
from verifier.checks.context import CheckContext
from verifier.checks.holder import HolderMatcher
from verifier.checks.online import FallbackStatusChecker
from verifier.checks.register import _CARRIER, SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.checks.signature import TrustSignatureChecker
from verifier.config import Config
from verifier.pipeline import Pipeline
from verifier.service.assembly import freshness_policy, load_match_key, load_trust
from verifier.trust import TrustStore
from verifier.verdict import CheckResult, Reason, failed, passed, skipped


def national_dir(cfg: Config) -> Path:
    return cfg.register_db.parent / "national"


def has_national(cfg: Config) -> bool:
    return (national_dir(cfg) / MANIFEST).is_file()


class NationalStatusChecker(SnapshotStatusChecker):
    """``register_status`` with the credential's own region part deciding freshness."""

    store: NationalStore

    def freshness(self, ctx: CheckContext) -> tuple[StoreInfo, PartFreshness]:
        enp = ctx.credential.enp
        info = self.store.info_for(enp) if enp else self.store.info()
        return info, assess(info.created_at, info.register_valid_until, ctx.now, self.policy)


class NationalRevocationChecker(SnapshotRevocationChecker):
    store: NationalStore

    def check_revocation(self, ctx: CheckContext) -> CheckResult:
        c = ctx.credential
        carrier = _CARRIER.get(c.kind)
        if carrier is None or c.enp is None:
            return skipped("revocation", "no physical document to revoke")
        info = self.store.info_for(c.enp)
        if from_the_future(info.created_at, ctx.now, self.policy):
            return skipped(
                "revocation",
                "revocation list dated after the device clock",
                Reason.CLOCK_INCONSISTENT,
            )
        fresh = assess(info.created_at, info.revocations_valid_until, ctx.now, self.policy)
        if fresh.state in (Freshness.ABSENT, Freshness.EXPIRED):
            return skipped(
                "revocation", f"revocation list {fresh.state.value}", Reason.REVOCATION_UNKNOWN
            )
        rev = self.store.document_revocation(c.enp, carrier)
        if rev is None:
            return passed("revocation", f"not on the revocation list ({fresh.state.value})")
        since = f" since {rev.since.isoformat()}" if rev.since else ""
        return failed(
            "revocation",
            Reason.DOCUMENT_REVOKED,
            f"{carrier.name.lower()} {rev.reason.name.lower()}{since}",
        )


def national_pipeline(
    store: NationalStore, trust: TrustStore, policy: FreshnessPolicy, cfg: Config
) -> Pipeline:
    """Offline only: the online fallback stays in assembly.py's regional pipeline."""
    return Pipeline(
        signature=TrustSignatureChecker(trust),
        revocation=NationalRevocationChecker(store, policy),
        status=FallbackStatusChecker(NationalStatusChecker(store, policy), None),
        holder=HolderMatcher(load_match_key(cfg), lambda: store.info().name_key_id),
    )


class NationalAssembly:
    def __init__(self, cfg: Config) -> None:
        self.store = NationalStore(national_dir(cfg))
        self.trust = load_trust(cfg)
        self.trust.externally_revoked = self.store.key_revoked
        self.pipeline = national_pipeline(self.store, self.trust, freshness_policy(cfg), cfg)

    def close(self) -> None:
        self.store.close()


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
