"""CMS SignedData: TK26 samples, OpenSSL-made signatures both ways, tampering, CRLs, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from verifier.crypto.cms import (
    CheckState,
    CmsError,
    SignerTrust,
    load_crl_files,
    load_crls,
    sign_cms,
    verify_cms,
)
from verifier.crypto.keys import generate_private_key
from verifier.crypto.x509 import build_certificate, load_certificate

from .conftest import ALGS, DATA, Pki, openssl

TK26 = DATA / "tk26"
TK26_TEXT = "Контрольный пример для структуры SignedData."


def _tk26(name: str) -> bytes:
    return (TK26 / name).read_bytes()


def _codes(result: object) -> dict[str, str]:
    return {c.name: c.code for c in result.first.checks}  # type: ignore[attr-defined]


# --- TK26 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "sender", "alg", "attrs"),
    [
        ("signed_a111.pem", "sender512_cert.pem", "GOST2012_512", True),
        ("signed_a121.pem", "sender256_cert.pem", "GOST2012_256", False),
    ],
)
def test_tk26_samples_verify(sample: str, sender: str, alg: str, attrs: bool) -> None:
    root = load_certificate(_tk26("root256_cert.pem"))
    leaf = load_certificate(_tk26(sender))
    # the TK26 root has no basicConstraints: openssl says "invalid CA certificate", we not_a_ca
    via_root = verify_cms(_tk26(sample), trust=SignerTrust(roots=[root]))
    assert via_root.content.decode("cp1251") == TK26_TEXT
    assert via_root.first.check("signature").passed
    assert via_root.first.key_algorithm is not None and via_root.first.key_algorithm.name == alg
    assert via_root.first.check("chain").code == "not_a_ca"
    assert not via_root.valid
    # trusting the sender's certificate itself (openssl's -noverify test) it is valid
    direct = verify_cms(_tk26(sample), trust=SignerTrust(roots=[leaf]))
    assert direct.valid
    assert direct.first.signer == leaf
    if attrs:
        assert direct.first.check("digest").passed
        assert direct.first.signing_time == datetime(2019, 3, 20, 19, 55, 22, tzinfo=UTC)
    else:
        assert direct.first.check("digest").code == "no_signed_attributes"
        assert direct.first.signing_time is None
    assert leaf.is_signed_by(root.public_key)


@pytest.mark.parametrize("sample", ["signed_a111.pem", "signed_a121.pem"])
def test_openssl_agrees_on_tk26_samples(sample: str) -> None:
    out = openssl(
        "cms",
        "-verify",
        "-engine",
        "gost",
        "-noverify",
        "-inform",
        "PEM",
        "-in",
        str(TK26 / sample),
    )
    assert out.stdout.decode("cp1251") == TK26_TEXT
    assert b"Verification successful" in out.stderr


def _der(sample: str) -> bytearray:
    from verifier.crypto.keys import pem_blocks

    return bytearray(pem_blocks(_tk26(sample))[0][1])


def test_tk26_tampered_content_fails() -> None:
    leaf512 = load_certificate(_tk26("sender512_cert.pem"))
    leaf256 = load_certificate(_tk26("sender256_cert.pem"))
    for sample, leaf, check, code in (
        ("signed_a111.pem", leaf512, "digest", "digest_mismatch"),
        ("signed_a121.pem", leaf256, "signature", "signature_invalid"),
    ):
        der = _der(sample)
        at = bytes(der).index(b"SignedData.")
        der[at] ^= 0x01
        result = verify_cms(bytes(der), trust=SignerTrust(roots=[leaf]))
        assert result.first.check(check).code == code
        assert not result.valid


def test_tk26_tampered_signed_attributes_fail() -> None:
    der = _der("signed_a111.pem")
    at = bytes(der).index(b"190320195522Z")  # the signingTime value
    der[at + 11] ^= 0x01  # 22 seconds -> 23
    leaf = load_certificate(_tk26("sender512_cert.pem"))
    result = verify_cms(bytes(der), trust=SignerTrust(roots=[leaf]))
    assert result.first.check("digest").passed  # the content is untouched
    assert result.first.check("signature").code == "signature_invalid"
    assert not result.valid


def test_tk26_tampered_certificate_fails() -> None:
    der = _der("signed_a111.pem")
    at = bytes(der).index(b"ORIGINATOR")
    der[at] ^= 0x20  # 'O' -> 'o' in the embedded signer certificate's subject
    root = load_certificate(_tk26("root256_cert.pem"))
    leaf = load_certificate(_tk26("sender512_cert.pem"))
    for roots in ([root], [leaf]):
        result = verify_cms(bytes(der), trust=SignerTrust(roots=roots))
        assert not result.valid
    # the root's signature over the altered certificate no longer verifies
    result = verify_cms(bytes(der), trust=SignerTrust(roots=[root]))
    assert result.first.check("chain").code == "cert_signature_invalid"


# --- OpenSSL-made signatures ----------------------------------------------------------------


@pytest.mark.parametrize(("alg", "ps", "md"), ALGS, ids=[a for a, _, _ in ALGS])
@pytest.mark.parametrize("detached", [False, True], ids=["attached", "detached"])
def test_openssl_signatures_verify(
    pki: Pki, tmp_path: Path, alg: str, ps: str, md: str, detached: bool
) -> None:
    signer = pki.signers[alg]
    content = "Полис ОМС 5056410834001235\n".encode() * 50
    (tmp_path / "doc").write_bytes(content)
    args = ["cms", "-sign", "-engine", "gost", "-binary", "-in", str(tmp_path / "doc"), "-md", md]
    args += ["-signer", str(signer.cert_path), "-inkey", str(signer.key_path), "-outform", "DER"]
    if not detached:
        args.append("-nodetach")
    blob = openssl(*args).stdout
    trust = SignerTrust(roots=[pki.ca])
    result = verify_cms(blob, content=content if detached else None, trust=trust)
    assert result.valid, _codes(result)
    assert result.detached is detached
    assert result.content == content
    assert result.first.signer == signer.cert
    assert [c.subject for c in result.first.chain] == [signer.cert.subject, pki.ca.subject]
    assert result.first.check("revocation").code == "revocation_unknown"
    # one changed byte in the content
    bad = bytearray(content)
    bad[7] ^= 0x01
    if detached:
        tampered = verify_cms(blob, content=bytes(bad), trust=trust)
    else:
        raw = bytearray(blob)
        at = bytes(raw).index(content)
        raw[at + 7] ^= 0x01
        tampered = verify_cms(bytes(raw), trust=trust)
    assert tampered.first.check("digest").code == "digest_mismatch"
    assert not tampered.valid
    # one changed byte in the signed attributes (the messageDigest value)
    raw = bytearray(blob)
    digest = result.first.hash_name
    from verifier.crypto import hashes

    at = bytes(raw).index(hashes.digest(digest, content))
    raw[at] ^= 0x80
    forged = verify_cms(bytes(raw), content=content if detached else None, trust=trust)
    assert forged.first.check("digest").code == "digest_mismatch"
    assert not forged.valid
    # a trust store without this CA
    other = build_certificate(
        subject="Other CA",
        public_key=(k := generate_private_key("gost2012_256")).public_key(),
        issuer_key=k,
        ca=True,
    )
    assert (
        verify_cms(blob, content=content if detached else None, trust=SignerTrust(roots=[other]))
        .first.check("chain")
        .failed
    )


@pytest.mark.parametrize(("alg", "ps", "md"), ALGS, ids=[a for a, _, _ in ALGS])
@pytest.mark.parametrize("mode", ["attached", "detached", "no_attributes"])
def test_ours_verify_with_openssl(
    pki: Pki, tmp_path: Path, alg: str, ps: str, md: str, mode: str
) -> None:
    signer = pki.signers[alg]
    content = b"register extract \x00\xff" * 100
    (tmp_path / "doc").write_bytes(content)
    blob = sign_cms(
        content,
        signer.key,
        signer.cert,
        detached=mode == "detached",
        signed_attributes=mode != "no_attributes",
    )
    path = tmp_path / "sig.der"
    path.write_bytes(blob)
    args = ["cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER", "-in", str(path)]
    args += ["-CAfile", str(pki.ca_path), "-out", str(tmp_path / "out")]
    if mode == "detached":
        args += ["-content", str(tmp_path / "doc")]
    proc = openssl(*args)
    assert b"Verification successful" in proc.stderr
    assert (tmp_path / "out").read_bytes() == content
    assert verify_cms(
        blob, content=content if mode == "detached" else None, trust=SignerTrust(roots=[pki.ca])
    ).valid
    # openssl refuses ours once one byte of the signature changes
    raw = bytearray(blob)
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    proc = openssl(*args, check=False)
    assert proc.returncode != 0 and b"Verification successful" not in proc.stderr


def test_ours_pem_and_openssl_cmsout(pki: Pki, tmp_path: Path) -> None:
    signer = pki.signers["gost2012_256"]
    pem = sign_cms(b"x", signer.key, signer.cert, pem=True)
    assert pem.startswith(b"-----BEGIN CMS-----")
    (tmp_path / "s.pem").write_bytes(pem)
    printed = openssl(
        "cms",
        "-cmsout",
        "-print",
        "-engine",
        "gost",
        "-inform",
        "PEM",
        "-in",
        str(tmp_path / "s.pem"),
    )
    assert (
        b"1.2.643.7.1.1.2.2" in printed.stdout
        or b"GOST R 34.11-2012 with 256 bit hash" in printed.stdout
    )
    assert verify_cms(pem, trust=SignerTrust(roots=[pki.ca])).valid


# --- CRLs -----------------------------------------------------------------------------------


def test_openssl_crl_revokes_signer(pki: Pki) -> None:
    crls = load_crl_files([pki.crl_path])
    assert len(crls) == 1 and crls[0].is_signed_by(pki.ca)
    trust = SignerTrust(roots=[pki.ca], crls=crls)
    for alg, signer in pki.signers.items():
        blob = sign_cms(b"doc", signer.key, signer.cert)
        result = verify_cms(blob, trust=trust)
        if alg == pki.revoked:
            assert result.first.check("revocation").code == "cert_revoked"
            assert not result.valid
        else:
            assert result.first.check("revocation").passed
            assert result.valid


def test_crl_of_another_issuer_or_forged_is_not_used(pki: Pki) -> None:
    der = load_crls(pki.crl_path.read_bytes())[0].der
    forged = bytearray(der)
    forged[-3] ^= 0x01  # the CRL signature
    signer = pki.signers[pki.revoked]
    blob = sign_cms(b"doc", signer.key, signer.cert)
    from verifier.crypto.cms import load_crl

    result = verify_cms(blob, trust=SignerTrust(roots=[pki.ca], crls=[load_crl(bytes(forged))]))
    assert result.first.check("revocation").code == "revocation_unknown"
    assert result.first.check("revocation").state is CheckState.SKIP


def test_stale_crl_says_so(pki: Pki) -> None:
    crl = load_crls(pki.crl_path.read_bytes())[0]
    assert crl.next_update is not None
    signer = pki.signers["gost2012_256"]
    when = signer.cert.not_before + timedelta(hours=1)
    blob = sign_cms(b"doc", signer.key, signer.cert, signing_time=when)
    later = crl.next_update + timedelta(days=1)
    result = verify_cms(blob, trust=SignerTrust(roots=[pki.ca], crls=[crl], now=later))
    assert result.first.check("revocation").code == "crl_stale"


def test_bad_crl_files() -> None:
    with pytest.raises(CmsError) as exc:
        load_crls(b"\x30\x03\x02\x01\x00")
    assert exc.value.code == "bad_crl"
    with pytest.raises(CmsError) as exc:
        load_crls(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert exc.value.code == "bad_crl"


# --- time -----------------------------------------------------------------------------------


def _short_lived(days_ago_start: int, days_ago_end: int) -> tuple[object, object, object]:
    ca_key = generate_private_key("gost2012_256")
    ca = build_certificate(
        subject="Time CA",
        public_key=ca_key.public_key(),
        issuer_key=ca_key,
        ca=True,
        days=3650,
        not_before=datetime.now(UTC) - timedelta(days=1000),
    )
    key = generate_private_key("gost2012_256")
    now = datetime.now(UTC).replace(microsecond=0)
    cert = build_certificate(
        subject="Old signer",
        public_key=key.public_key(),
        issuer_key=ca_key,
        issuer=ca,
        not_before=now - timedelta(days=days_ago_start),
        not_after=now - timedelta(days=days_ago_end),
    )
    return ca, key, cert


def test_chain_checked_at_signing_time() -> None:
    ca, key, cert = _short_lived(400, 30)  # expired a month ago
    now = datetime.now(UTC)
    in_time = sign_cms(b"doc", key, cert, signing_time=now - timedelta(days=100))  # type: ignore[arg-type]
    result = verify_cms(in_time, trust=SignerTrust(roots=[ca]))  # type: ignore[list-item]
    assert result.valid, _codes(result)
    late = sign_cms(b"doc", key, cert, signing_time=now - timedelta(days=10))  # type: ignore[arg-type]
    assert (
        verify_cms(late, trust=SignerTrust(roots=[ca])).first.check("chain").code == "cert_expired"
    )  # type: ignore[list-item]


def test_signing_time_in_future_fails(pki: Pki) -> None:
    signer = pki.signers["gost2012_256"]
    blob = sign_cms(
        b"doc", signer.key, signer.cert, signing_time=datetime.now(UTC) + timedelta(days=2)
    )
    result = verify_cms(blob, trust=SignerTrust(roots=[pki.ca]))
    assert result.first.check("signing_time").code == "signing_time_in_future"
    assert not result.valid


# --- malformed input ------------------------------------------------------------------------


def test_errors_have_stable_codes(pki: Pki) -> None:
    signer = pki.signers["gost2012_256"]
    trust = SignerTrust(roots=[pki.ca])
    good = sign_cms(b"doc", signer.key, signer.cert)
    cases = {
        b"garbage": "bad_cms",
        good[: len(good) // 2]: "bad_cms",
        b"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01\xa0\x00": "cms_not_signed_data",
    }
    for blob, code in cases.items():
        with pytest.raises(CmsError) as exc:
            verify_cms(blob, trust=trust)
        assert exc.value.code == code
    with pytest.raises(CmsError) as exc:
        verify_cms(good, trust=trust, max_bytes=100)
    assert exc.value.code == "cms_too_large"
    detached = sign_cms(b"doc", signer.key, signer.cert, detached=True)
    with pytest.raises(CmsError) as exc:
        verify_cms(detached, trust=trust)
    assert exc.value.code == "cms_content_missing"
    with pytest.raises(CmsError) as exc:
        verify_cms(good, content=b"other", trust=trust)
    assert exc.value.code == "cms_content_conflict"
    # an unknown digest algorithm OID (Streebog-256 OID 1.2.643.7.1.1.2.2 -> .2.9)
    oid = bytes.fromhex("06082a85030701010202")
    raw = good.replace(oid, bytes.fromhex("06082a85030701010209"))
    with pytest.raises(CmsError) as exc:
        verify_cms(raw, trust=trust)
    assert exc.value.code == "unsupported_algorithm"


def test_signer_certificate_missing_is_not_valid(pki: Pki) -> None:
    signer = pki.signers["gost2012_256"]
    other = pki.signers["gost2012_512"]
    blob = sign_cms(b"doc", signer.key, signer.cert)
    # replace the embedded certificate by another signer's: the SignerInfo then names nobody
    raw = (
        blob.replace(signer.cert.der, other.cert.der)
        if len(signer.cert.der) == len(other.cert.der)
        else None
    )
    if raw is None:
        from asn1crypto import cms as acms

        info = acms.ContentInfo.load(blob)
        info["content"]["certificates"] = []
        raw = info.dump(force=True)
    result = verify_cms(raw, trust=SignerTrust(roots=[pki.ca]))
    assert result.first.check("signature").code == "signer_certificate_missing"
    assert not result.valid
    # the operator can supply it
    result = verify_cms(raw, trust=SignerTrust(roots=[pki.ca], intermediates=[signer.cert]))
    assert result.valid
