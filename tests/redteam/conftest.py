"""The red team's lab: a generated register in a real SQLite store, real GOST keys, real trust.

Built once per session from the project's own builders: the registry generator's signed
register (``tests.cache.helpers``), imported into a :class:`SnapshotStore`; fresh random GOST
keys and an issuer that signs paper barcodes and card insurer records with them
(``tests.adversarial.world``); a trust directory written as ``trust add`` writes it. Pipelines
are put together from the same checkers the daemon's ``assemble`` uses, with the clock injected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cache.snapshot_store import SnapshotStore
from tests.adversarial.world import Issuer, Keys, Mint, Person, Truth, make_keys, trust_dir
from tests.cache.helpers import Register, demo_key, generate_register, import_all
from tests.trust_helpers import write_key
from verifier.checks.holder import HolderMatcher, MatchKey
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.checks.signature import TrustSignatureChecker
from verifier.credential import CredentialInput
from verifier.formats import goznak_card
from verifier.pipeline import Pipeline
from verifier.trust import TrustStore
from verifier.verdict import CheckResult, Verdict

# The register is generated as of an hour ago and the pipeline's clock is an hour ahead, so
# the lab's snapshot is fresh and certificates made during the run (the documents' PKI,
# valid from the moment openssl makes them) are valid at the pipeline's clock.
CREATED_AT = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
FRESH = CREATED_AT + timedelta(hours=2)


@dataclass
class Lab:
    reg: Register
    truth: Truth
    store: SnapshotStore
    keys: Keys
    issuer: Issuer
    trust_path: Path
    base: Path

    def trust(self) -> TrustStore:
        return TrustStore.from_directory(self.trust_path)

    def pipeline(
        self,
        *,
        now: datetime = FRESH,
        trust: TrustStore | None = None,
        match: bool = True,
        status: object | None = None,
    ) -> Pipeline:
        key = MatchKey.of(self.reg.match_key) if match else None
        store = self.store
        return Pipeline(
            signature=TrustSignatureChecker(trust or self.trust()),
            revocation=SnapshotRevocationChecker(store),
            status=status or SnapshotStatusChecker(store),  # type: ignore[arg-type]
            holder=HolderMatcher(key, lambda: store.info().name_key_id),
            clock=lambda: now,
        )

    def person(self, where: Callable[[Person], bool] = lambda p: True) -> Person:
        """An insured person in force now, with no revoked document, matching ``where``."""
        return next(
            p
            for p in self.truth.persons
            if p.active_on(FRESH.date()) and not p.revoked_carrier and where(p)
        )


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    base = tmp_path_factory.mktemp("redteam")
    reg = generate_register(base / "register", persons=400, deltas=0, created_at=CREATED_AT)
    store = SnapshotStore(base / "db" / "register.sqlite3")
    import_all(store, reg)
    keys = make_keys()
    tdir = trust_dir(base / "trust", keys)
    # the generator signs with its demo key: that is this register's snapshot key
    write_key(tdir, "generator", "snapshot", demo_key().public_key().to_pem())
    truth = Truth.from_csv(reg.gen.out_dir / "persons.csv")
    return Lab(reg, truth, store, keys, Issuer(keys, Mint()), tdir, base)


def check(v: Verdict, name: str) -> CheckResult:
    return next(c for c in v.checks if c.name == name)


def card_input(raw: bytes) -> CredentialInput:
    return CredentialInput(raw, source="pcsc:test", symbology="card")


def holder_template(**fields: bytes) -> bytes:
    """A ``62`` template from raw TLV values keyed by tag name (``T_SURNAME=b"..."``)."""
    from verifier.formats import tlv

    body = b"".join(tlv.encode(getattr(goznak_card, k), v) for k, v in fields.items())
    return tlv.encode(goznak_card.HOLDER_TAG, body)


def bcd(d: date) -> bytes:
    return goznak_card.encode_bcd_date(d)
