"""Documents through the whole pipeline: the PDF extract and the signed XML policy get verdicts
like any scan — signature and key_trusted against ``document_signer`` roots (certificates made
by Debian's OpenSSL with the GOST engine), the holder match, and the register deciding."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cache.name_hash import name_hash
from cache.snapshot_store import SnapshotStore
from tests.cache.helpers import demo_key, key_checker, record, snapshot_bytes
from tests.trust_helpers import write_key
from verifier.checks.holder import HolderMatcher, MatchKey
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.checks.signature import TrustSignatureChecker
from verifier.credential import CredentialInput, CredentialKind
from verifier.crypto.xmldsig import sign_enveloped
from verifier.errors import RecognitionError
from verifier.pipeline import Pipeline
from verifier.trust import TrustStore
from verifier.verdict import CheckStatus, Outcome, Reason

from .conftest import Pki, qr_pdf
from .pdfsign import add_signature
from .test_pdf import _openssl_signer
from .test_xmldsig import POLICY

ENP = "5056410834001235"
MATCH_KEY = b"document-test-match-key-32-bytes"
KEY = demo_key()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SnapshotStore:
    """ENP active in the register, under ИВАНОВ ИВАН ИВАНОВИЧ born 15.03.1985."""
    nhash = name_hash(MATCH_KEY, "ИВАНОВ", "ИВАН", "ИВАНОВИЧ", date(1985, 3, 15))
    raw = snapshot_bytes(
        key=KEY,
        created=datetime.now(UTC),
        records=[record(ENP, name_hash=nhash)],
        name_key_id=MatchKey.of(MATCH_KEY).key_id,
    )
    d = tmp_path_factory.mktemp("db")
    (d / "full-000001.omssnap").write_bytes(raw)
    s = SnapshotStore(d / "register.sqlite3")
    s.import_file(d / "full-000001.omssnap", key_checker(KEY.public_key()))
    return s


def trust_with(pki: Pki | None, d: Path) -> TrustStore:
    if pki is not None:
        write_key(d, "treasury", "document_signer", pki.ca_path.read_bytes(), field="certificate")
    return TrustStore.from_directory(d) if d.exists() else TrustStore()


def pipeline(store: SnapshotStore, trust: TrustStore) -> Pipeline:
    return Pipeline(
        signature=TrustSignatureChecker(trust),
        revocation=SnapshotRevocationChecker(store),
        status=SnapshotStatusChecker(store),
        holder=HolderMatcher(MatchKey.of(MATCH_KEY), lambda: store.info().name_key_id),
    )


def check(v: object, name: str) -> object:
    return next(c for c in v.checks if c.name == name)  # type: ignore[attr-defined]


def file_input(data: bytes) -> CredentialInput:
    return CredentialInput(data, source="cli")


def test_signed_xml_policy_is_valid_with_a_trusted_signer(
    pki: Pki, store: SnapshotStore, tmp_path: Path
) -> None:
    s = pki.signers["gost2012_256"]
    doc = sign_enveloped(POLICY, s.key, s.cert)
    v = pipeline(store, trust_with(pki, tmp_path / "t")).verify(file_input(doc))
    assert v.credential is not None and v.credential.kind is CredentialKind.SIGNED_DOCUMENT
    assert check(v, "signature").status is CheckStatus.PASS  # type: ignore[attr-defined]
    assert check(v, "key_trusted").status is CheckStatus.PASS  # type: ignore[attr-defined]
    assert check(v, "holder").status is CheckStatus.PASS  # type: ignore[attr-defined]
    assert v.outcome is Outcome.VALID, v.reasons
    assert Reason.FORMAT_ASSUMED in v.reasons and "допущению" in v.message


def test_unsigned_xml_policy_is_signature_missing(
    pki: Pki, store: SnapshotStore, tmp_path: Path
) -> None:
    v = pipeline(store, trust_with(pki, tmp_path / "t")).verify(file_input(POLICY))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "signature").reason is Reason.SIGNATURE_MISSING  # type: ignore[attr-defined]


def test_tampered_signed_xml_is_invalid(pki: Pki, store: SnapshotStore, tmp_path: Path) -> None:
    s = pki.signers["gost2012_256"]
    doc = sign_enveloped(POLICY, s.key, s.cert).replace("ИВАНОВИЧ".encode(), "ПЕТРОВИЧ".encode())
    v = pipeline(store, trust_with(pki, tmp_path / "t")).verify(file_input(doc))
    assert v.outcome is Outcome.INVALID
    assert check(v, "signature").reason is Reason.SIGNATURE_INVALID  # type: ignore[attr-defined]


def test_xml_without_document_roots_says_the_signature_was_not_checked(
    pki: Pki, store: SnapshotStore, tmp_path: Path
) -> None:
    s = pki.signers["gost2012_256"]
    doc = sign_enveloped(POLICY, s.key, s.cert)
    v = pipeline(store, trust_with(None, tmp_path / "none")).verify(file_input(doc))
    assert check(v, "signature").reason is Reason.SIGNATURE_NOT_CHECKED  # type: ignore[attr-defined]
    assert Reason.SIGNATURE_NOT_CHECKED in v.reasons


def test_xml_from_a_signer_under_another_root_is_unknown(
    pki: Pki, store: SnapshotStore, tmp_path: Path
) -> None:
    """Signed and mathematically valid, but no trusted root vouches for the signer."""
    other = Path(__file__).parents[1] / "data" / "documents" / "tk26" / "root256_cert.pem"
    d = tmp_path / "other"
    write_key(d, "tk26", "document_signer", other.read_bytes(), field="certificate")
    s = pki.signers["gost2012_256"]
    v = pipeline(store, TrustStore.from_directory(d)).verify(
        file_input(sign_enveloped(POLICY, s.key, s.cert))
    )
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "signature").status is CheckStatus.PASS  # type: ignore[attr-defined]
    assert check(v, "key_trusted").reason is Reason.KEY_UNKNOWN  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def extract_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An extract made by independent tools (zint, img2pdf, qpdf)."""
    return qr_pdf(tmp_path_factory.mktemp("extract"), ENP, qdf=True)


def test_pdf_extract_unsigned_is_decided_by_the_register(
    store: SnapshotStore, extract_pdf: bytes, tmp_path: Path
) -> None:
    v = pipeline(store, TrustStore()).verify(file_input(extract_pdf))
    assert v.credential is not None and v.credential.kind is CredentialKind.REGISTER_EXTRACT
    assert v.credential.enp == ENP
    assert v.outcome is Outcome.VALID
    assert check(v, "signature").status is CheckStatus.SKIP  # type: ignore[attr-defined]


def test_pdf_extract_signed_by_openssl_is_checked(
    pki: Pki, store: SnapshotStore, extract_pdf: bytes, tmp_path: Path
) -> None:
    signed = add_signature(extract_pdf, _openssl_signer(pki))
    v = pipeline(store, trust_with(pki, tmp_path / "t")).verify(file_input(signed))
    assert check(v, "signature").status is CheckStatus.PASS  # type: ignore[attr-defined]
    assert check(v, "key_trusted").status is CheckStatus.PASS  # type: ignore[attr-defined]
    assert v.outcome is Outcome.VALID
    tampered = bytearray(signed)
    at = signed.index(b"/MediaBox")
    tampered[at + 12] ^= 0x01
    bad = pipeline(store, trust_with(pki, tmp_path / "t")).verify(file_input(bytes(tampered)))
    assert bad.outcome is not Outcome.VALID


def test_a_hostile_document_is_no_credential(store: SnapshotStore) -> None:
    with pytest.raises(RecognitionError):
        pipeline(store, TrustStore()).verify(file_input(b"%PDF-1.7\n" + b"[" * 5000))
    with pytest.raises(RecognitionError):
        pipeline(store, TrustStore()).verify(
            file_input(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')
        )


CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "oms-verifier"


def _cli(tmp_path: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "--state-dir", str(tmp_path / "state"), "verify", "--file", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_verifies_a_pdf_extract_file(extract_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "extract.pdf"
    path.write_bytes(extract_pdf)
    proc = _cli(tmp_path, path)
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["credential"]["kind"] == "register_extract"
    assert verdict["credential"]["enp"] == ENP
    assert verdict["outcome"] == "unknown"  # no snapshot in this state: the register decides


def test_cli_refuses_a_hostile_pdf_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"[" * 5000)
    proc = _cli(tmp_path, path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
