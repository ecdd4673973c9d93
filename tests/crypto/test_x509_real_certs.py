"""Issue 10, finding 12: real Russian CA certificates load; unknown critical extensions do not.

CryptoPro-issued GOST 2012 CA certificates carry Microsoft extensions (certificate template
1.3.6.1.4.1.311.20.2 as UTF8String where asn1crypto insists on BMPString, CA version 311.21.1,
previous-CA hash 311.21.2, application policies 311.21.10) and the FSB extensions
subjectSignTool (1.2.643.100.111) and issuerSignTool (1.2.643.100.112). The test PKI in
tests/data/crypto/cryptopro/ was made by OpenSSL's GOST engine with those extensions (see
make.sh there); the Goznak root is the real published one.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import core

from verifier.crypto import (
    Certificate,
    CertificateError,
    ChainError,
    PrivateKey,
    build_certificate,
    generate_private_key,
    load_certificate,
    validate_chain,
)

ROOT = Path(__file__).resolve().parents[2]
CRYPTOPRO = ROOT / "tests" / "data" / "crypto" / "cryptopro"
GOZNAK_ROOT = ROOT.parent / "shared" / "testdata" / "trust" / "goznak-cvp-root.pem"

MS_TEMPLATE = "1.3.6.1.4.1.311.20.2"
MS_CA_VERSION = "1.3.6.1.4.1.311.21.1"
SUBJECT_SIGN_TOOL = "1.2.643.100.111"
ISSUER_SIGN_TOOL = "1.2.643.100.112"


def _cert(name: str) -> Certificate:
    return load_certificate((CRYPTOPRO / name).read_bytes())


@pytest.fixture(scope="module")
def pki() -> dict[str, Certificate]:
    return {
        "root": _cert("root-2012-256.pem"),
        "sub": _cert("sub-2012-512.pem"),
        "leaf": _cert("leaf-2012-256.pem"),
        "critical": _cert("leaf-critical-unknown.pem"),
    }


def _openssl_gost() -> None:
    """The engine is a hard requirement of these tests: missing means failing, not skipping."""
    assert shutil.which("openssl"), "openssl binary missing"
    proc = subprocess.run(
        ["openssl", "engine", "gost", "-c"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "gost2012_256" in proc.stdout, (
        "OpenSSL GOST engine missing (Debian package libengine-gost-openssl)"
    )


def test_cryptopro_style_ca_certificates_load(pki: dict[str, Certificate]) -> None:
    root, sub, leaf = pki["root"], pki["sub"], pki["leaf"]
    for cert in (root, sub):
        assert {MS_TEMPLATE, MS_CA_VERSION, SUBJECT_SIGN_TOOL, ISSUER_SIGN_TOOL} <= set(
            cert.extension_oids
        )
        assert cert.is_ca
        assert cert.unknown_critical_extensions == ()
        assert "key_cert_sign" in (cert.key_usage or ())
    assert root.path_length is None and sub.path_length == 0
    assert "Тестовый корневой УЦ ГОСТ 2012" in root.subject
    assert "Тестовый подчинённый УЦ ГОСТ 2012" in sub.subject
    assert root.public_key.algorithm.openssl_name == "gost2012_256"
    assert sub.public_key.algorithm.openssl_name == "gost2012_512"
    assert not leaf.is_ca
    assert leaf.key_usage == frozenset({"digital_signature", "non_repudiation"})
    assert "1.3.6.1.4.1.311.21.10" in leaf.extension_oids


def test_cryptopro_style_chain_validates(pki: dict[str, Certificate]) -> None:
    root, sub, leaf = pki["root"], pki["sub"], pki["leaf"]
    when = sub.not_before + timedelta(days=1)
    assert root.is_signed_by(root.public_key)
    path = validate_chain(leaf, [sub], [root], when, require_key_usage=True)
    assert path == [leaf, sub, root]
    assert validate_chain(sub, [], [root], when) == [sub, root]
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [], [root], when)
    assert exc.value.code == "issuer_not_found"


def test_unknown_critical_extension_refused(pki: dict[str, Certificate]) -> None:
    """subjectSignTool marked critical (made by OpenSSL): loads, but never validates."""
    cert, sub, root = pki["critical"], pki["sub"], pki["root"]
    assert cert.unknown_critical_extensions == (SUBJECT_SIGN_TOOL,)
    assert cert.is_signed_by(sub.public_key)  # genuine signature, refused for the extension
    with pytest.raises(ChainError) as exc:
        validate_chain(cert, [sub], [root], sub.not_before + timedelta(days=1))
    assert exc.value.code == "unhandled_critical_extension"


def test_openssl_agrees_on_the_stored_chain(tmp_path: Path) -> None:
    """The stored files are a chain OpenSSL itself accepts, and refuses the critical one."""
    _openssl_gost()
    args = ["openssl", "verify", "-engine", "gost", "-CAfile", str(CRYPTOPRO / "root-2012-256.pem")]
    args += ["-untrusted", str(CRYPTOPRO / "sub-2012-512.pem")]
    good = subprocess.run(
        [*args, str(CRYPTOPRO / "leaf-2012-256.pem")], capture_output=True, text=True, check=False
    )
    assert good.returncode == 0, good.stderr
    bad = subprocess.run(
        [*args, str(CRYPTOPRO / "leaf-critical-unknown.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0
    assert "unhandled critical extension" in bad.stdout + bad.stderr


def test_make_script_regenerates_a_loadable_pki(tmp_path: Path) -> None:
    """The recipe in tests/data/crypto/cryptopro/make.sh still works and its output loads."""
    _openssl_gost()
    shutil.copy(CRYPTOPRO / "make.sh", tmp_path / "make.sh")
    proc = subprocess.run(
        ["sh", "make.sh"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    root = load_certificate((tmp_path / "root-2012-256.pem").read_bytes())
    sub = load_certificate((tmp_path / "sub-2012-512.pem").read_bytes())
    leaf = load_certificate((tmp_path / "leaf-2012-256.pem").read_bytes())
    assert MS_TEMPLATE in sub.extension_oids
    assert validate_chain(leaf, [sub], [root], sub.not_before + timedelta(days=1))


def test_goznak_root_loads_and_self_signature_verifies() -> None:
    """The real Goznak root (GOST 2001, private CryptoPro extensions 1.2.643.2.56.3.x)."""
    root = load_certificate(GOZNAK_ROOT.read_bytes())
    assert root.is_self_issued and root.is_ca
    assert root.is_signed_by(root.public_key)
    assert {"1.2.643.2.56.3.1", "1.2.643.2.56.3.3", "2.5.29.16"} <= set(root.extension_oids)
    assert "Корневой УЦ ЦВП" in root.subject
    tampered = bytearray(root.der)
    tampered[-1] ^= 0x01  # last byte of the signature
    bad = load_certificate(bytes(tampered))
    assert not bad.is_signed_by(bad.public_key)


def _utf8(text: str) -> bytes:
    return bytes(core.UTF8String(text).dump())


@pytest.fixture(scope="module")
def issuer() -> tuple[Certificate, PrivateKey]:
    key = generate_private_key("gost2012_256", "A")
    root = build_certificate(
        subject="Builder Root", public_key=key.public_key(), issuer_key=key, ca=True
    )
    return root, key


def _leaf(issuer: tuple[Certificate, PrivateKey], extras: list[tuple[str, bool, bytes]]) -> bytes:
    root, key = issuer
    leaf_key = generate_private_key("gost2012_256", "B")
    cert = build_certificate(
        subject="Builder Leaf",
        public_key=leaf_key.public_key(),
        issuer_key=key,
        issuer=root,
        extra_extensions=extras,
    )
    return cert.der


def test_unknown_noncritical_content_is_never_read(issuer: tuple[Certificate, PrivateKey]) -> None:
    """Non-critical extensions we do not use may hold anything, even bytes that are not DER."""
    root = issuer[0]
    der = _leaf(
        issuer,
        [
            (MS_TEMPLATE, False, _utf8("SubCA")),
            ("2.5.29.17", False, b"\x30\x05garbage"),  # subjectAltName that is not DER
            ("2.5.29.32", False, b"\xff"),  # certificatePolicies likewise
            ("1.2.3.4.5", False, b""),
        ],
    )
    cert = load_certificate(der)
    assert validate_chain(cert, [], [root]) == [cert, root]


@pytest.mark.parametrize(
    ("oid", "value"),
    [
        ("1.2.643.100.114", _utf8("x")),  # unknown
        ("2.5.29.30", bytes.fromhex("3000")),  # nameConstraints: not enforced, so refused
        ("2.5.29.36", bytes.fromhex("3003800100")),  # policyConstraints likewise
        ("2.5.29.54", bytes.fromhex("020100")),  # inhibitAnyPolicy likewise
    ],
)
def test_builder_critical_extensions_refused(
    issuer: tuple[Certificate, PrivateKey], oid: str, value: bytes
) -> None:
    root = issuer[0]
    cert = load_certificate(_leaf(issuer, [(oid, True, value)]))
    assert cert.unknown_critical_extensions == (oid,)
    with pytest.raises(ChainError) as exc:
        validate_chain(cert, [], [root])
    assert exc.value.code == "unhandled_critical_extension"


def test_critical_extended_key_usage_is_accepted(issuer: tuple[Certificate, PrivateKey]) -> None:
    eku = bytes.fromhex("300a06082b06010505070304")  # emailProtection
    cert = load_certificate(_leaf(issuer, [("2.5.29.37", True, eku)]))
    assert cert.unknown_critical_extensions == ()
    assert validate_chain(cert, [], [issuer[0]])


def test_used_extensions_must_parse_and_appear_once(issuer: tuple[Certificate, PrivateKey]) -> None:
    """basicConstraints and keyUsage are read: broken or repeated ones refuse the certificate."""
    with pytest.raises(CertificateError) as exc:
        load_certificate(_leaf(issuer, [("2.5.29.19", False, b"\x30\x03\x01\x01\xff")]))
    assert "twice" in exc.value.message and exc.value.code == "bad_certificate"
    with pytest.raises(CertificateError):
        load_certificate(_leaf(issuer, [("2.5.29.14", False, b"\x04\x01\x00")] * 2))
    good = _leaf(issuer, [])
    bc = bytes.fromhex("0603551d130101ff04023000")
    ku = bytes.fromhex("0603551d0f0101ff040403020780")
    assert bc in good and ku in good
    for broken in (
        good.replace(bc, bc[:-2] + b"\x05\x00"),  # basicConstraints holding a NULL
        good.replace(bc, bc[:-2] + b"\x30\x01"),  # basicConstraints with a bad length
        good.replace(ku, ku[:-4] + b"\x04\x02\x07\x80"),  # keyUsage that is no BIT STRING
        good.replace(ku, ku[:-4] + b"\x03\x02\x09\x80"),  # keyUsage with 9 unused bits
    ):
        with pytest.raises(CertificateError) as exc:
            load_certificate(broken)
        assert exc.value.code == "bad_certificate"


def _name(*attrs: tuple[str, bytes]) -> bytes:
    """DER Name with one attribute per RDN, values given as raw DER (any string type)."""
    rdns = b""
    for oid, value in attrs:
        body = bytes(core.ObjectIdentifier(oid).dump()) + value
        seq = b"\x30" + bytes([len(body)]) + body
        rdns += b"\x31" + bytes([len(seq)]) + seq
    return b"\x30" + bytes([len(rdns)]) + rdns


def test_oddly_encoded_names_still_load(issuer: tuple[Certificate, PrivateKey]) -> None:
    """Names are compared as DER; text that asn1crypto cannot decode must not refuse the CA."""
    root, key = issuer
    odd = _name(
        ("2.5.4.6", bytes(core.PrintableString("RU").dump())),
        ("2.5.4.10", b"\x14\x04\xd2\xc5\xd1\xd2"),  # TeletexString holding cp1251 «Тест»
        ("2.5.4.3", b"\x1e\x03\x04\x22\x04"),  # BMPString of odd length
        ("2.5.4.11", bytes(core.Integer(5).dump())),  # not a string at all
    )
    ca_key = generate_private_key("gost2012_256", "A")
    ca = build_certificate(
        subject=odd, public_key=ca_key.public_key(), issuer_key=key, issuer=root, ca=True
    )
    assert ca.subject_der == odd
    assert "2.5.4.11=#05" in ca.subject
    leaf_key = generate_private_key("gost2012_256", "B")
    leaf = build_certificate(
        subject="Below odd CA", public_key=leaf_key.public_key(), issuer_key=ca_key, issuer=ca
    )
    assert leaf.issuer_der == odd
    assert validate_chain(leaf, [ca], [root]) == [leaf, ca, root]
