"""The audit log at rest: no full ENP (or other personal number) in the database or its WAL, the
registry's signed answer still kept as proof, and the files owner-only whatever the umask."""

from __future__ import annotations

import csv
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from verifier import config
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.service.assembly import assemble
from verifier.service.audit import AuditLog, mask_proof
from verifier.verdict import Verdict


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[config.Config, Path]]:
    """The demo register, served by the reference registry on loopback (as ``serve --demo``)."""
    base = tmp_path_factory.mktemp("audit")
    st = demo.ensure_demo(config.load(None, base), persons=1000)
    token = secrets.token_urlsafe(24)
    scfg = ServerConfig(
        data_dir=st.registry_dir,
        port=0,
        tokens=(token,),
        state_dir=base / "registry-service",
        log_level="warning",
    )
    server = ThreadedServer(create_app(scfg), scfg).start()
    try:
        yield (
            replace(st.cfg, registry=config.RegistryConfig(url=server.url, token=token)),
            (st.registry_dir),
        )
    finally:
        server.stop()


def _rows(registry_dir: Path) -> list[dict[str, str]]:
    with (registry_dir / "persons.csv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if not r["deleted"]]


def _online_verdicts(cfg: config.Config, registry_dir: Path) -> tuple[list[Verdict], set[str]]:
    """Online verdicts for typed ENPs and a temporary certificate; and every number asked."""
    rows = _rows(registry_dir)
    picks = [next(r for r in rows if r["status"] == s) for s in ("active", "suspended")]
    temp = next(r for r in rows if r["temp_cert_number"] and r["status"] == "active")
    items = [CredentialInput.from_text(r["enp"], source="test", manual=True) for r in picks]
    items.append(CredentialInput.from_text(temp["temp_cert_number"], source="test", manual=True))
    parts = assemble(cfg)
    try:
        verdicts = [parts.pipeline.verify(i, mode=LookupMode.ONLINE) for i in items]
    finally:
        parts.close()
    numbers = {r["enp"] for r in (*picks, temp)} | {temp["temp_cert_number"]}
    return verdicts, numbers


def test_no_full_enp_in_the_audit_db_or_its_wal(
    online: tuple[config.Config, Path], tmp_path: Path
) -> None:
    cfg, registry_dir = online
    verdicts, numbers = _online_verdicts(cfg, registry_dir)
    proofs = [v.proof for v in verdicts if v.proof is not None]
    assert proofs, [v.to_dict() for v in verdicts]
    # What the registry answered does name the person: the test would see a leak.
    assert any(n.encode() in p for p in proofs for n in numbers)
    db = tmp_path / "audit.sqlite3"
    log = AuditLog(db)
    ids = [log.record(v, who="desk-1", channel="api") for v in verdicts]
    wal = Path(f"{db}-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the rows are in the WAL right now
    for path in (db, wal):
        raw = path.read_bytes()
        leaked = sorted(n for n in numbers if n.encode() in raw)
        assert not leaked, (path.name, leaked)
    # The proof is still there: signed answer with the registry's signature, ENP masked.
    kept = [log.proof(i) for i in ids]
    assert any(k is not None for k in kept)
    for v, k in zip(verdicts, kept, strict=True):
        if v.proof is None:
            assert k is None
            continue
        assert k is not None and len(k) > 0  # a proof was kept for this online answer
        original, stored = json.loads(v.proof), json.loads(k)
        assert stored["signature"] == original["signature"]
        assert stored["answered_at"] == original["answered_at"]
        assert stored["record"]["status"] == original["record"]["status"]
        enp = original["record"]["enp"]
        assert stored["record"]["enp"] == enp[:2] + "*" * 10 + enp[-4:]
    log.close()  # checkpoints the WAL into the database file
    raw = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert not [n for n in numbers if n.encode() in raw]


def test_mask_proof_hides_every_personal_number_and_keeps_the_crypto() -> None:
    answer = {
        "record": {"enp": "5047000818001962", "smo_ogrn": "1027739008440", "okato": "46000"},
        "query": {"kind": "temporary", "number": "123456789"},
        "answered_at": "2026-01-01T00:00:00+00:00",
        "nonce": "12345678901234567890",
        "key_id": "1234567890123456",
        "signature": "0123456789012345" + "ab" * 56,
        "note": "asked for ENP 5047000818001962",
        "old": 5047000818001962,
    }
    out = mask_proof(json.dumps(answer).encode())
    doc = json.loads(out)
    assert b"5047000818001962" not in out and b'"123456789"' not in out
    assert doc["record"]["enp"] == "50**********1962"
    assert doc["query"]["number"] == "*****6789"
    assert doc["note"] == "asked for ENP 50**********1962"
    assert doc["old"] == "50**********1962"
    for k in ("nonce", "key_id", "signature", "answered_at"):
        assert doc[k] == answer[k]
    assert doc["record"]["smo_ogrn"] == "1027739008440"
    assert mask_proof(b"not json 5047000818001962") == b"not json ************1962"


def test_audit_files_are_owner_only_whatever_the_umask(
    online: tuple[config.Config, Path], tmp_path: Path
) -> None:
    cfg, registry_dir = online
    verdicts, _ = _online_verdicts(cfg, registry_dir)
    old = os.umask(0o022)
    try:
        db = tmp_path / "audit.sqlite3"
        log = AuditLog(db, timedelta(days=1))
        for v in verdicts:
            log.record(v, who="desk-1", channel="api")
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        log.close()
        # A database left world-readable by an older version is tightened when opened.
        legacy = tmp_path / "legacy.sqlite3"
        AuditLog(legacy).close()
        for p in tmp_path.glob("legacy.sqlite3*"):
            p.chmod(0o644)
        log = AuditLog(legacy)
        log.record(verdicts[0], who="desk-1", channel="api")
        for p in tmp_path.glob("legacy.sqlite3*"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        log.close()
    finally:
        os.umask(old)
