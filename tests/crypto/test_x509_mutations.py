"""Issue 10, finding 11: a corrupted certificate is a typed CryptoError at load, never a crash.

asn1crypto parses lazily, so a corruption used to surface as a raw ValueError after the ``try``
(a 500 on the card path). Here every byte of real GOST certificates is flipped, every prefix is
tried and every DER length field is bent; loading must give a Certificate or CryptoError, and
every later use of a loaded certificate (chain validation, signature checks) only CryptoError.
A mutation of signed content must never validate.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from verifier.crypto import (
    Certificate,
    CertificateError,
    build_certificate,
    generate_private_key,
    hashes,
    load_certificate,
    load_private_key,
    load_public_key,
    validate_chain,
)
from verifier.crypto.signatures import verify_digest
from verifier.errors import CryptoError

ROOT = Path(__file__).resolve().parents[2]
CRYPTOPRO = ROOT / "tests" / "data" / "crypto" / "cryptopro"
GOZNAK_ROOT = ROOT.parent / "shared" / "testdata" / "trust" / "goznak-cvp-root.pem"


def _cert(path: Path) -> Certificate:
    return load_certificate(path.read_bytes())


def _tlv_headers(der: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """(offset of the length field, header length) of every TLV in a DER tree."""
    end = len(der) if end is None else end
    pos = start
    while pos < end:
        tag = der[pos]
        len_at = pos + 1
        first = der[len_at]
        if first < 0x80:
            length, head = first, 1
        else:
            count = first & 0x7F
            length = int.from_bytes(der[len_at + 1 : len_at + 1 + count], "big")
            head = 1 + count
        body = len_at + head
        yield len_at, head
        if tag & 0x20:  # constructed: walk inside
            yield from _tlv_headers(der, body, body + length)
        pos = body + length


def _length_mutations(der: bytes) -> Iterator[bytes]:
    """Each length field replaced by wrong, indefinite, overlong and huge encodings."""
    for len_at, head in _tlv_headers(der):
        old = der[len_at : len_at + head]
        value = old[0] if head == 1 else int.from_bytes(old[1:], "big")
        candidates = [
            bytes([0x00]),
            bytes([0x80]),  # indefinite (BER only)
            bytes([0xFF]),
            bytes([0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            bytes([0x89]) + b"\x01" * 9,
            bytes([0x81, value & 0xFF]),  # non-minimal
        ]
        for delta in (-1, 1, 2):
            new = max(value + delta, 0)
            candidates.append(
                bytes([new]) if new < 0x80 else bytes([0x82]) + new.to_bytes(2, "big")
            )
        for cand in candidates:
            if cand != old:
                yield der[:len_at] + cand + der[len_at + head :]


def _flips(der: bytes) -> Iterator[bytes]:
    for i in range(len(der)):
        for mask in (0x01, 0xFF):
            mutated = bytearray(der)
            mutated[i] ^= mask
            yield bytes(mutated)


def _truncations(der: bytes) -> Iterator[bytes]:
    for n in range(len(der)):
        yield der[:n]
    yield der + b"\x00"
    yield der + der


def _use(cert: Certificate, validate: Callable[[Certificate], object]) -> bool:
    """Everything the daemon does with a loaded certificate; True iff its chain validates."""
    cert.fingerprint()
    _ = (cert.subject, cert.issuer, cert.is_self_issued, cert.to_pem())
    with contextlib.suppress(CryptoError):
        cert.is_signed_by(cert.public_key)  # as a self-signed root would be checked
    try:
        digest = hashes.digest(cert.public_key.default_hash, b"insurer record")
        verify_digest(cert.public_key, digest, cert.signature)
    except CryptoError:
        pass
    try:
        return bool(validate(cert))
    except CryptoError:
        return False


def _run(original: Certificate, validate: Callable[[Certificate], object]) -> Counter[str]:
    counts: Counter[str] = Counter()
    der = original.der
    assert validate(original)  # the unmutated certificate validates
    for source, mutations in (
        ("flip", _flips(der)),
        ("truncate", _truncations(der)),
        ("length", _length_mutations(der)),
    ):
        for mutated in mutations:
            counts[source] += 1
            try:
                cert = load_certificate(mutated)
            except CertificateError as exc:
                assert exc.code == "bad_certificate"  # noqa: PT017 - the call may succeed; only a refusal must carry a code
                counts["refused"] += 1
                continue
            counts["loaded"] += 1
            # No mutation validates: signed bytes are covered by the signature, and the
            # unsigned outer AlgorithmIdentifier must equal the inner one byte for byte.
            assert not _use(cert, validate), mutated.hex()
    return counts


def test_mutated_goznak_root_never_crashes() -> None:
    """The real Goznak root (GOST 2001): every mutation loads or is refused with a code."""
    root = _cert(GOZNAK_ROOT)
    when = root.not_before + timedelta(days=30)

    def check(cert: Certificate) -> bool:
        # A root alone is no signing leaf (keyUsage), so the chain check only has to not crash;
        # "validates" here means the real root's key signed it.
        with contextlib.suppress(CryptoError):
            validate_chain(cert, [], [root], when)
        return cert.is_signed_by(root.public_key)

    counts = _run(root, check)
    assert counts["flip"] == 2 * len(root.der)
    assert counts["refused"] > 0 and counts["loaded"] > 0
    assert counts["length"] > 300


@pytest.mark.parametrize("name", ["sub-2012-512.pem", "leaf-2012-256.pem"])
def test_mutated_cryptopro_style_certs_never_crash(name: str) -> None:
    """GOST 2012 CA and leaf with CryptoPro/Microsoft extensions, mutated at every offset."""
    root = _cert(CRYPTOPRO / "root-2012-256.pem")
    sub = _cert(CRYPTOPRO / "sub-2012-512.pem")
    target = _cert(CRYPTOPRO / name)
    when = sub.not_before + timedelta(days=1)
    if target == sub:
        counts = _run(sub, lambda c: validate_chain(c, [], [root], when))
    else:
        counts = _run(target, lambda c: validate_chain(c, [sub], [root], when))
    assert counts["flip"] == 2 * len(target.der)
    assert counts["refused"] > 0 and counts["loaded"] > 0


def test_mutated_root_used_as_trust_anchor() -> None:
    """A corrupted trust-store root (loaded at all) only ever gives CryptoError."""
    root = _cert(CRYPTOPRO / "root-2012-256.pem")
    sub = _cert(CRYPTOPRO / "sub-2012-512.pem")
    when = sub.not_before + timedelta(days=1)
    loaded = 0
    for mutated in _flips(root.der):
        try:
            bad_root = load_certificate(mutated)
        except CertificateError:
            continue
        loaded += 1
        try:
            path = validate_chain(sub, [], [bad_root], when)
        except CryptoError:
            continue
        # A trust anchor is its name and key (RFC 5280 §6.1): an edit elsewhere (say its own
        # issuer field) may pass, but never one that swaps the trusted key or name.
        assert path[-1].public_key == root.public_key
        assert path[-1].subject_der == root.subject_der
    assert loaded > 0


def test_corrupted_card_certificate_is_typed_error() -> None:
    """The reproduction from the issue: a SET tag where the inner AlgorithmIdentifier is."""
    root = _cert(GOZNAK_ROOT)
    der = bytearray(root.der)
    at = root.der.index(bytes.fromhex("300a06062a8503020203"))  # tbs signature algorithm
    der[at] = 0x31
    with pytest.raises(CertificateError) as exc:
        load_certificate(bytes(der))
    assert exc.value.code == "bad_certificate"


def test_oversized_certificate_refused() -> None:
    """A well-formed but huge certificate (70 KiB extension) is refused before parsing."""
    key = generate_private_key("gost2012_256", "A")
    with pytest.raises(CertificateError) as exc:
        build_certificate(
            subject="Big",
            public_key=key.public_key(),
            issuer_key=key,
            extra_extensions=[("1.2.3.4", False, b"\x04\x83\x01\x18\x00" + b"A" * 70_000)],
        )
    assert "larger than" in exc.value.message


@pytest.mark.parametrize(("alg", "ps"), [("gost2001", "A"), ("gost2012_512", "C")])
def test_mutated_keys_give_typed_errors(alg: str, ps: str) -> None:
    """Key loading: every flip and prefix of SPKI and PKCS#8 is a key or a CryptoError."""
    key = generate_private_key(alg, ps)
    cases = 0
    for load, der in (
        (load_private_key, key.to_der()),
        (load_public_key, key.public_key().to_der()),
    ):
        for mutated in (*_flips(der), *_truncations(der), *_length_mutations(der)):
            cases += 1
            with contextlib.suppress(CryptoError):
                load(mutated)
    assert cases > 600
