from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from verifier.crypto import (
    CertificateError,
    ChainError,
    build_certificate,
    generate_private_key,
    load_certificate,
    load_certificates,
    validate_chain,
)
from verifier.errors import CryptoError

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def demo_pki() -> dict[str, Any]:
    root_key = generate_private_key("gost2012_256", "A")
    root = build_certificate(
        subject="Demo Root",
        public_key=root_key.public_key(),
        issuer_key=root_key,
        ca=True,
        path_length=1,
        days=3650,
    )
    mid_key = generate_private_key("gost2012_512", "A")
    mid = build_certificate(
        subject="Demo Intermediate",
        public_key=mid_key.public_key(),
        issuer_key=root_key,
        issuer=root,
        ca=True,
        path_length=0,
    )
    leaf_key = generate_private_key("gost2001", "B")
    leaf = build_certificate(
        subject={"common_name": "Demo Leaf", "organization_name": "ТФОМС"},
        public_key=leaf_key.public_key(),
        issuer_key=mid_key,
        issuer=mid,
    )
    return {
        "root": root,
        "mid": mid,
        "leaf": leaf,
        "root_key": root_key,
        "mid_key": mid_key,
        "leaf_key": leaf_key,
    }


def test_builder_chain_validates(demo_pki: dict[str, Any]) -> None:
    path = validate_chain(demo_pki["leaf"], [demo_pki["mid"]], [demo_pki["root"]], NOW)
    assert [c.subject for c in path][-1] == "Common Name: Demo Root"
    assert len(path) == 3
    leaf = load_certificate(demo_pki["leaf"].to_pem())
    assert leaf == demo_pki["leaf"]
    assert leaf.key_usage == frozenset({"digital_signature"})
    assert not leaf.is_ca and demo_pki["mid"].is_ca
    assert len(load_certificates(demo_pki["leaf"].to_pem() + demo_pki["root"].to_pem())) == 2


def _code(exc: pytest.ExceptionInfo[ChainError]) -> str:
    return exc.value.code


def test_chain_failures(demo_pki: dict[str, Any]) -> None:
    root, mid, leaf = demo_pki["root"], demo_pki["mid"], demo_pki["leaf"]
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [mid], [root], NOW + timedelta(days=400))
    assert _code(exc) == "cert_expired"
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [mid], [root], NOW - timedelta(days=1))
    assert _code(exc) == "cert_not_yet_valid"
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [], [root], NOW)
    assert _code(exc) == "issuer_not_found"
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [mid, root], [], NOW)
    assert _code(exc) == "untrusted_root"
    other_key = generate_private_key("gost2012_256", "A")
    other_root = build_certificate(
        subject="Demo Root", public_key=other_key.public_key(), issuer_key=other_key, ca=True
    )
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [mid], [other_root], NOW)
    assert _code(exc) == "cert_signature_invalid"


def test_ca_and_key_usage_rules(demo_pki: dict[str, Any]) -> None:
    root, root_key = demo_pki["root"], demo_pki["root_key"]
    k1 = generate_private_key("gost2012_256", "B")
    not_ca = build_certificate(
        subject="Not CA", public_key=k1.public_key(), issuer_key=root_key, issuer=root, ca=False
    )
    k2 = generate_private_key("gost2012_256", "C")
    leaf = build_certificate(
        subject="Leaf", public_key=k2.public_key(), issuer_key=k1, issuer=not_ca
    )
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [not_ca], [root], NOW)
    assert exc.value.code == "not_a_ca"
    ca_no_sign = build_certificate(
        subject="CA w/o keyCertSign",
        public_key=k1.public_key(),
        issuer_key=root_key,
        issuer=root,
        ca=True,
        key_usage={"crl_sign"},
    )
    leaf2 = build_certificate(
        subject="Leaf2", public_key=k2.public_key(), issuer_key=k1, issuer=ca_no_sign
    )
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf2, [ca_no_sign], [root], NOW)
    assert exc.value.code == "key_usage_missing"
    enc_leaf = build_certificate(
        subject="Enc only",
        public_key=k2.public_key(),
        issuer_key=root_key,
        issuer=root,
        key_usage={"key_agreement"},
    )
    with pytest.raises(ChainError) as exc:
        validate_chain(enc_leaf, [], [root], NOW)
    assert exc.value.code == "key_usage_missing"
    # pathLenConstraint 0 on an intermediate forbids another CA below it.
    mid, mid_key = demo_pki["mid"], demo_pki["mid_key"]
    sub = build_certificate(
        subject="Sub CA", public_key=k1.public_key(), issuer_key=mid_key, issuer=mid, ca=True
    )
    leaf3 = build_certificate(
        subject="Leaf3", public_key=k2.public_key(), issuer_key=k1, issuer=sub
    )
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf3, [sub, mid], [root], NOW)
    assert exc.value.code == "path_length_exceeded"


def test_tampered_and_truncated_certificates(demo_pki: dict[str, Any]) -> None:
    der = demo_pki["leaf"].der
    for n in (0, 1, 10, len(der) // 2, len(der) - 1):
        with pytest.raises(CryptoError):
            load_certificate(der[:n])
    with pytest.raises(CertificateError):
        load_certificate(der + b"\x00")
    # Flip a byte inside the subject CN: still parses, signature no longer verifies.
    idx = der.index(b"Demo Leaf")
    tampered = load_certificate(der[:idx] + b"X" + der[idx + 1 :])
    assert not tampered.is_signed_by(demo_pki["mid"].public_key)
    with pytest.raises(ChainError) as exc:
        validate_chain(tampered, [demo_pki["mid"]], [demo_pki["root"]], NOW)
    assert exc.value.code == "cert_signature_invalid"


@pytest.mark.parametrize(
    ("root_alg", "root_ps", "md", "leaf_alg"),
    [
        ("gost2012_256", "A", "-md_gost12_256", "gost2001"),
        ("gost2001", "A", "-md_gost94", "gost2012_256"),
        ("gost2012_512", "C", "-md_gost12_512", "gost2012_256"),
        ("gost2012_256", "TCA", "-md_gost12_256", "gost2012_512"),
    ],
)
def test_openssl_made_chain(
    openssl: Any, tmp_path: Path, root_alg: str, root_ps: str, md: str, leaf_alg: str
) -> None:
    rk, lk = tmp_path / "rk.pem", tmp_path / "lk.pem"
    openssl(
        "genpkey",
        "-engine",
        "gost",
        "-algorithm",
        root_alg,
        "-pkeyopt",
        f"paramset:{root_ps}",
        "-out",
        str(rk),
    )
    openssl(
        "genpkey",
        "-engine",
        "gost",
        "-algorithm",
        leaf_alg,
        "-pkeyopt",
        "paramset:A",
        "-out",
        str(lk),
    )
    root_pem, csr, leaf_pem = tmp_path / "r.pem", tmp_path / "l.csr", tmp_path / "l.pem"
    openssl(
        "req",
        "-engine",
        "gost",
        "-x509",
        "-new",
        "-key",
        str(rk),
        "-subj",
        "/CN=OSSL Root",
        "-days",
        "30",
        md,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        str(root_pem),
    )
    openssl(
        "req",
        "-engine",
        "gost",
        "-new",
        "-key",
        str(lk),
        "-subj",
        "/CN=OSSL Leaf",
        "-out",
        str(csr),
    )
    ext = tmp_path / "ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n")
    openssl(
        "x509",
        "-engine",
        "gost",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(root_pem),
        "-CAkey",
        str(rk),
        "-set_serial",
        "7",
        "-days",
        "10",
        "-extfile",
        str(ext),
        md,
        "-out",
        str(leaf_pem),
    )
    root = load_certificate(root_pem.read_bytes())
    leaf = load_certificate(leaf_pem.read_bytes())
    path = validate_chain(leaf, [], [root])
    assert path == [leaf, root]
    assert leaf.serial_number == 7
    with pytest.raises(ChainError) as exc:
        validate_chain(leaf, [], [root], NOW + timedelta(days=20))
    assert exc.value.code == "cert_expired"


def test_our_chain_verifies_in_openssl(
    openssl: Any, tmp_path: Path, demo_pki: dict[str, Any]
) -> None:
    (tmp_path / "root.pem").write_bytes(demo_pki["root"].to_pem())
    (tmp_path / "mid.pem").write_bytes(demo_pki["mid"].to_pem())
    (tmp_path / "leaf.pem").write_bytes(demo_pki["leaf"].to_pem())
    out = openssl(
        "verify",
        "-engine",
        "gost",
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "mid.pem"),
        str(tmp_path / "leaf.pem"),
    )
    assert b"leaf.pem: OK" in out
