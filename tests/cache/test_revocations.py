"""Revoked keys (REVK) and revoked documents (REVP) arriving in deltas."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cache.register_model import Carrier, DocumentRevocation, RevocationReason
from cache.snapshot_format import SnapshotKind
from cache.snapshot_store import SignatureCheck, SnapshotRefused, SnapshotStore
from verifier.config import Config
from verifier.crypto.keys import PrivateKey
from verifier.service.assembly import load_trust
from verifier.trust import KeyState, Purpose

from .helpers import Register, demo_key, import_all, record, snapshot_bytes, stage_tables

ROTATED = demo_key("rotated-out registry key")


def _trust_dir(root: Path, **keys: PrivateKey) -> Path:
    d = root / "trust"
    d.mkdir()
    for name, key in keys.items():
        (d / f"{name}.pem").write_bytes(key.public_key().to_pem())
        (d / f"{name}.toml").write_text(f'purpose = "snapshot"\npublic_key = "{name}.pem"\n')
    return d


def _delta(key: PrivateKey, seq: int, **kw: Any) -> io.BytesIO:
    return io.BytesIO(
        snapshot_bytes(key=key, kind=SnapshotKind.DELTA, sequence=seq, base=seq - 1, **kw)
    )


@dataclass
class Wired:
    store: SnapshotStore
    check: SignatureCheck
    reg: Register


@pytest.fixture
def wired(small_register: Register, tmp_path: Path) -> Wired:
    """A store at sequence 4, checked through the trust store the CLI and daemon assemble."""
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, small_register)
    registry = demo_key(small_register.seed)
    cfg = Config(
        state_dir=tmp_path, trust_dir=_trust_dir(tmp_path, registry=registry, rotated=ROTATED)
    )
    trust = load_trust(cfg, store)

    check = trust.snapshot_checker()

    return Wired(store, check, small_register)


def test_revoked_key_ids_in_a_delta(wired: Wired) -> None:
    store, check, reg = wired.store, wired.check, wired.reg
    registry = demo_key(reg.seed)
    paper_kid, rotated_kid = "0123456789abcdef" * 2, ROTATED.public_key().key_id()
    assert not store.key_revoked(paper_kid) and not store.key_revoked(rotated_kid)

    store.import_stream(_delta(registry, 5, revoked_keys=[paper_kid, rotated_kid]), check)
    assert store.key_revoked(paper_kid)
    assert store.key_revoked(rotated_kid)
    assert not store.key_revoked(registry.public_key().key_id())
    assert not store.key_revoked(paper_kid.upper())  # ids are compared exactly

    # The trust store sees it: the rotated key is revoked and can no longer sign snapshots.
    trust = load_trust(
        Config(state_dir=store.path.parent, trust_dir=store.path.parent / "trust"), store
    )
    k = trust.get(Purpose.SNAPSHOT, rotated_kid)
    assert k is not None and k.state is KeyState.REVOKED
    before = store.info()
    with pytest.raises(SnapshotRefused) as err:
        store.import_stream(_delta(ROTATED, 6, records=[record(5000000000000001)]), check)
    assert err.value.code == "snapshot_key_revoked"
    assert store.info() == before
    assert store.lookup_enp("5000000000000001") is None
    assert stage_tables(store.path) == []
    # The registry's current key still works, and revocations accumulate across deltas.
    store.import_stream(_delta(registry, 6, revoked_keys=["fe" * 16]), check)
    assert store.info().sequence == 6
    assert all(store.key_revoked(kid) for kid in (paper_kid, rotated_kid, "fe" * 16))


def test_a_delta_can_revoke_the_key_that_signed_it(wired: Wired) -> None:
    """Applied (the key was good when it signed); everything it signs afterwards is refused."""
    store, check, reg = wired.store, wired.check, wired.reg
    registry = demo_key(reg.seed)
    store.import_stream(_delta(registry, 5, revoked_keys=[registry.public_key().key_id()]), check)
    assert store.key_revoked(registry.public_key().key_id())
    with pytest.raises(SnapshotRefused) as err:
        store.import_stream(_delta(registry, 6), check)
    assert err.value.code == "snapshot_key_revoked"
    assert store.info().sequence == 5


def test_revoked_document_arrives_in_a_delta(small_register: Register, tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, small_register)
    row = small_register.first(status="active", revoked_carrier="")
    assert store.document_revocation(row["enp"], Carrier.PAPER) is None
    revocation = DocumentRevocation(
        row["enp"], Carrier.PAPER, date(2026, 3, 9), RevocationReason.STOLEN
    )
    store.import_stream(
        _delta(demo_key(small_register.seed), 5, revoked_docs=[revocation]),
        small_register.check,
    )
    assert store.document_revocation(row["enp"], Carrier.PAPER) == revocation
    assert store.document_revocation(row["enp"], Carrier.CARD) is None
    rec = store.lookup_enp(row["enp"])  # the person's record itself is untouched
    assert rec is not None and rec.status.name.lower() == "active"
