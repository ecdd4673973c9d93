"""``signature`` and ``key_trusted`` checks: paper policies and card insurer records.

Real keys and signatures (the demo issuer, generated keys, and the OpenSSL GOST engine as an
independent implementation), real certificates, real trust directories in ``tmp_path``; the
full :class:`verifier.pipeline.Pipeline` with a :class:`TrustSignatureChecker`.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.trust_helpers import write_key
from tests.vectors import load_json
from verifier.checks.context import CheckContext
from verifier.checks.ports import SignatureResult, StatusResult
from verifier.checks.signature import TrustSignatureChecker
from verifier.credential import CredentialInput, SignedPart
from verifier.crypto import (
    Algorithm,
    Certificate,
    PrivateKey,
    build_certificate,
    generate_private_key,
    load_certificate,
    sign,
)
from verifier.devkit.demo import DemoIssuer, demo_issuer, write_demo_trust
from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex
from verifier.pipeline import Pipeline
from verifier.recognize import recognize
from verifier.trust import TrustError, TrustStore
from verifier.verdict import CheckStatus, Outcome, Reason, Verdict, passed

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SAYS_SIGNATURE_VALID = "подпись верна"  # what REASON_RU[KEY_UNKNOWN] tells the clerk


# --- helpers ---------------------------------------------------------------------------------


def person(who: str) -> dict[str, Any]:
    p: dict[str, Any] = load_json("trust/people.json")[who]
    return p


def paper_data(who: str = "paper") -> bytes:
    p = person(who)
    return paper_barcode.encode_data(
        barcode_type=paper_barcode.BarcodeType(p["barcode_type"]),
        enp=p["enp"],
        surname=p["surname"],
        given_name=p["given_name"],
        patronymic=p["patronymic"],
        sex=Sex(p["sex"]),
        birth_date=date.fromisoformat(p["birth_date"]),
        expiry=date.fromisoformat(p["expiry"]) if p["expiry"] else None,
        smo_ogrn=p["smo_ogrn"],
        okato=p["okato"],
    )


def demo_paper(issuer: DemoIssuer, who: str = "paper") -> bytes:
    p = person(who)
    return issuer.paper_policy(
        enp=p["enp"],
        surname=p["surname"],
        given_name=p["given_name"],
        patronymic=p["patronymic"],
        sex=Sex(p["sex"]),
        birth_date=date.fromisoformat(p["birth_date"]),
        expiry=date.fromisoformat(p["expiry"]) if p["expiry"] else None,
        barcode_type=paper_barcode.BarcodeType(p["barcode_type"]),
        **({"smo_ogrn": p["smo_ogrn"], "okato": p["okato"]} if p["smo_ogrn"] else {}),
    )


def holder() -> goznak_card.CardHolder:
    c = person("card")
    return goznak_card.CardHolder(
        surname=c["surname"],
        given_name=c["given_name"],
        patronymic=c["patronymic"],
        birth_date=date.fromisoformat(c["birth_date"]),
        sex=Sex(c["sex"]),
        policy_number=c["policy_number"],
        snils=c["snils"],
        expiry=None,
        birthplace=c["birthplace"],
        issued=date.fromisoformat(c["issued"]),
    )


def card_dump(signed: bytes, signature: bytes | None, certificate: bytes | None) -> bytes:
    return goznak_card.encode_holder(holder()) + goznak_card.encode_insurer(
        signed, signature, certificate
    )


def signed_part(start: date | None = date(2015, 2, 1)) -> bytes:
    c = person("card")
    return goznak_card.encode_insurer_signed_part(c["smo_ogrn"], c["okato"], start, None)


def check(
    trust: TrustStore, raw: bytes, *, symbology: str | None = None, now: datetime = NOW
) -> SignatureResult:
    credential = recognize(CredentialInput(raw, symbology=symbology))
    assert credential.signed is not None
    return TrustSignatureChecker(trust).check_signature(
        credential.signed, CheckContext(credential, now)
    )


def check_part(trust: TrustStore, raw: bytes, **change: Any) -> SignatureResult:
    """Check a paper barcode whose SignedPart is altered after decoding (any byte may change)."""
    credential = recognize(CredentialInput(raw))
    assert credential.signed is not None
    part = dataclasses.replace(credential.signed, **change)
    return TrustSignatureChecker(trust).check_signature(part, CheckContext(credential, NOW))


class FixedRegister:
    """The register port always finds the policy active: only signatures are under test."""

    def check_status(self, ctx: CheckContext) -> StatusResult:
        not_revoked = passed("revocation", "stub: not revoked")
        return StatusResult(passed("register_status", "active"), "snapshot", revocation=not_revoked)


def verify(trust: TrustStore, raw: bytes, symbology: str | None = None) -> Verdict:
    p = Pipeline(signature=TrustSignatureChecker(trust), status=FixedRegister(), clock=lambda: NOW)
    return p.verify(CredentialInput(raw, symbology=symbology))


def by_name(v: Verdict, name: str) -> Any:
    return next(c for c in v.checks if c.name == name)


def place(sig_s_r: bytes, number: int, layout: dict[str, Any]) -> bytes:
    """A 65-byte signature field laid out as ``layout`` says (written independently of trust.py)."""
    sig = sig_s_r[32:] + sig_s_r[:32] if layout.get("order") == "r||s" else sig_s_r
    field = bytearray(65)
    start = layout.get("signature_offset", 0)
    field[start : start + 64] = sig
    field[layout.get("key_number_offset", 64)] = number
    return bytes(field)


def _require_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl binary not found")
    p = subprocess.run(["openssl", "engine", "gost", "-c"], capture_output=True, check=False)
    if p.returncode != 0 or b"md_gost94" not in p.stdout:
        pytest.fail("OpenSSL GOST engine not installed (libengine-gost-openssl)")


def ossl(*args: str) -> bytes:
    p = subprocess.run(["openssl", *args], capture_output=True, check=False)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr.decode()}"
    return p.stdout


def ossl_key(path: Path, alg: str = "gost2001", paramset: str = "A") -> Path:
    ossl(
        "genpkey",
        "-engine",
        "gost",
        "-algorithm",
        alg,
        "-pkeyopt",
        f"paramset:{paramset}",
        "-out",
        str(path),
    )
    pub = path.with_suffix(".pub.pem")
    ossl("pkey", "-engine", "gost", "-in", str(path), "-pubout", "-out", str(pub))
    return pub


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> DemoIssuer:
    return demo_issuer()


@pytest.fixture(scope="module")
def snapshot_pem() -> bytes:
    return generate_private_key(Algorithm.GOST2012_256, "A").public_key().to_pem()


@pytest.fixture
def demo_dir(tmp_path: Path, issuer: DemoIssuer, snapshot_pem: bytes) -> Path:
    d = tmp_path / "trust"
    write_demo_trust(d, issuer, snapshot_pem)
    (d / "card-root-demo.pem").write_bytes(issuer.card_root.to_pem())  # as demo_issuer() would
    return d


@pytest.fixture
def demo_trust(demo_dir: Path) -> TrustStore:
    return TrustStore.from_directory(demo_dir)


@pytest.fixture
def no_paper_trust(demo_dir: Path) -> TrustStore:
    (demo_dir / "paper-demo.toml").unlink()
    return TrustStore.from_directory(demo_dir)


@pytest.fixture
def no_card_trust(demo_dir: Path) -> TrustStore:
    (demo_dir / "card-root-demo.toml").unlink()
    return TrustStore.from_directory(demo_dir)


# --- 4. paper policies -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["paper", "paper_type2"])
def test_demo_signed_barcode_passes(demo_trust: TrustStore, issuer: DemoIssuer, who: str) -> None:
    raw = demo_paper(issuer, who)
    r = check(demo_trust, raw)
    assert r.signature.status is CheckStatus.PASS and r.signature.reason is None
    assert r.key_trusted.status is CheckStatus.PASS
    assert issuer.paper_key.public_key().key_id() in r.key_trusted.detail
    v = verify(demo_trust, raw)
    # No name-hash key in this pipeline: the only reason left is that the name was not compared.
    assert v.outcome is Outcome.VALID and v.reasons == (Reason.HOLDER_NOT_CHECKED,)
    assert v.message == "Полис действителен: ФИО владельца с реестром не сверялось"


@pytest.mark.parametrize("offset", range(paper_barcode.DATA_LENGTH))
def test_any_changed_data_byte_fails_the_signature(
    demo_trust: TrustStore, issuer: DemoIssuer, offset: int
) -> None:
    raw = demo_paper(issuer)
    data = bytearray(raw[:65])
    data[offset] ^= 0x01
    r = check_part(demo_trust, raw, data=bytes(data))
    assert r.signature.status is CheckStatus.FAIL
    assert r.signature.reason is Reason.SIGNATURE_INVALID
    assert r.key_trusted.status is CheckStatus.PASS  # the key is known; the document is not


@pytest.mark.parametrize(("offset", "what"), [(10, "name"), (61, "ОГРН"), (64, "ОКАТО")])
def test_forged_barcode_is_invalid_through_the_pipeline(
    demo_trust: TrustStore, issuer: DemoIssuer, offset: int, what: str
) -> None:
    raw = bytearray(demo_paper(issuer))
    raw[offset] ^= 0x01
    v = verify(demo_trust, bytes(raw))
    assert v.credential is not None, what  # still decodes: only the signature can tell
    assert by_name(v, "enp_facet").status is CheckStatus.PASS
    assert v.outcome is Outcome.INVALID
    assert by_name(v, "signature").reason is Reason.SIGNATURE_INVALID
    assert Reason.SIGNATURE_INVALID in v.reasons
    assert "подпись неверна" in v.message
    assert by_name(v, "register_status").status is CheckStatus.SKIP


def _mutations(sig: bytes) -> dict[str, bytes]:
    flip_s, flip_r = bytearray(sig), bytearray(sig)
    flip_s[0] ^= 0x80
    flip_r[63] ^= 0x01
    return {
        "s-bit": bytes(flip_s),
        "r-bit": bytes(flip_r),
        "r-and-s-swapped": sig[32:] + sig[:32],
        "zero": bytes(64),
        "all-ff": b"\xff" * 64,
    }


@pytest.mark.parametrize("mutation", ["s-bit", "r-bit", "r-and-s-swapped", "zero", "all-ff"])
def test_changed_signature_bytes_fail(
    demo_trust: TrustStore, issuer: DemoIssuer, mutation: str
) -> None:
    raw = demo_paper(issuer)
    bad = raw[:65] + _mutations(raw[65:129])[mutation] + raw[129:]
    r = check(demo_trust, bad)
    assert r.signature.status is CheckStatus.FAIL
    assert r.signature.reason is Reason.SIGNATURE_INVALID
    v = verify(demo_trust, bad)
    assert v.outcome is Outcome.INVALID and Reason.SIGNATURE_INVALID in v.reasons


def test_unknown_key_number_is_key_not_found_and_never_a_pass(
    demo_trust: TrustStore, issuer: DemoIssuer
) -> None:
    raw = demo_paper(issuer)
    for number in (0, 2, 9, 255):
        bad = raw[:129] + bytes([number])
        r = check(demo_trust, bad)
        assert r.key_trusted.status is CheckStatus.FAIL
        assert r.key_trusted.reason is Reason.KEY_NOT_FOUND
        assert str(number) in r.key_trusted.detail
        assert r.signature.status is CheckStatus.SKIP
        assert r.signature.reason is Reason.SIGNATURE_NOT_CHECKED
        v = verify(demo_trust, bad)
        assert v.outcome is Outcome.UNKNOWN  # the register is happy; the paper is unproven
        assert Reason.KEY_NOT_FOUND in v.reasons
        assert by_name(v, "signature").status is not CheckStatus.PASS


@pytest.mark.parametrize("store", ["no_paper_trust", "empty"])
def test_no_paper_key_skips_both_and_never_claims_a_check(
    request: pytest.FixtureRequest, issuer: DemoIssuer, store: str
) -> None:
    trust = TrustStore() if store == "empty" else request.getfixturevalue(store)
    good = demo_paper(issuer)
    forged = bytearray(good)
    forged[10] ^= 0x01
    for raw in (good, bytes(forged)):  # without a key a forgery cannot be told apart
        r = check(trust, raw)
        for c in (r.signature, r.key_trusted):
            assert c.status is CheckStatus.SKIP and "нет ключа" in c.detail
        assert r.signature.reason is Reason.SIGNATURE_NOT_CHECKED
        v = verify(trust, raw)
        assert Reason.SIGNATURE_NOT_CHECKED in v.reasons
        assert "подпись не проверена: нет ключа" in v.message
        assert SAYS_SIGNATURE_VALID not in v.message
        assert all(
            c.status is CheckStatus.SKIP for c in v.checks if c.name in ("signature", "key_trusted")
        )
        assert v.to_dict()["checks"][5] == {
            "name": "signature",
            "status": "skip",
            "detail": r.signature.detail,
            "reason": "signature_not_checked",
        }


LAYOUTS = {
    "number-first-r||s": {"key_number_offset": 0, "signature_offset": 1, "order": "r||s"},
    "number-last-r||s": {"key_number_offset": 64, "signature_offset": 0, "order": "r||s"},
    "number-first-s||r": {"key_number_offset": 0, "signature_offset": 1, "order": "s||r"},
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_per_key_layout_from_toml(tmp_path: Path, name: str) -> None:
    layout = {**LAYOUTS[name], "signature_length": 64, "hash_name": "gost94"}
    key = generate_private_key(Algorithm.GOST2001, "A")
    d = tmp_path / "t"
    write_key(d, "paper", "paper_barcode", key.public_key().to_pem(), key_number=5, layout=layout)
    store = TrustStore.from_directory(d)
    data = paper_data()
    raw = data + place(sign(key, data, hash_name="gost94"), 5, layout)
    r = check(store, raw)
    assert r.signature.status is CheckStatus.PASS, r
    assert r.key_trusted.status is CheckStatus.PASS
    assert verify(store, raw).outcome is Outcome.VALID
    # The same key under the default layout does not accept this barcode.
    default = tmp_path / "default"
    write_key(default, "paper", "paper_barcode", key.public_key().to_pem(), key_number=5)
    assert check(TrustStore.from_directory(default), raw).signature.status is not CheckStatus.PASS
    # … and the layout key does not accept a default-layout barcode.
    plain = data + sign(key, data, hash_name="gost94") + b"\x05"
    assert check(store, plain).signature.status is not CheckStatus.PASS


def test_layout_hash_is_per_key(tmp_path: Path) -> None:
    """A 2012 key whose layout names Streebog-256 (hash_name in the TOML)."""
    key = generate_private_key(Algorithm.GOST2012_256, "A")
    layout = {"hash_name": "streebog256"}
    write_key(
        tmp_path, "p", "paper_barcode", key.public_key().to_pem(), key_number=3, layout=layout
    )
    store = TrustStore.from_directory(tmp_path)
    data = paper_data()
    ok = data + sign(key, data, hash_name="streebog256") + b"\x03"
    assert check(store, ok).signature.status is CheckStatus.PASS
    wrong_hash = data + sign(key, data, hash_name="gost94") + b"\x03"
    assert check(store, wrong_hash).signature.reason is Reason.SIGNATURE_INVALID


def test_two_layouts_never_turn_a_genuine_barcode_into_a_forgery(
    tmp_path: Path, issuer: DemoIssuer
) -> None:
    raw = demo_paper(issuer)  # demo key #1, default layout: byte 0 of the field is s[0]
    other = generate_private_key(Algorithm.GOST2001, "A")
    write_demo_trust(tmp_path, issuer, other.public_key().to_pem())
    (tmp_path / "card-root-demo.pem").write_bytes(issuer.card_root.to_pem())
    write_key(
        tmp_path,
        "paper-new",
        "paper_barcode",
        other.public_key().to_pem(),
        key_number=raw[65],
        layout=LAYOUTS["number-first-r||s"],
    )
    store = TrustStore.from_directory(tmp_path)
    assert check(store, raw).signature.status is CheckStatus.PASS


@pytest.mark.parametrize(
    "layout",
    [{"order": "r|s"}, {"hash_name": "gost-94"}, {"signature_offset": 2}],
    ids=["order-typo", "unknown-hash", "signature-past-the-field"],
)
def test_bad_layout_fails_the_load(
    tmp_path: Path, issuer: DemoIssuer, layout: dict[str, Any]
) -> None:
    write_key(
        tmp_path,
        "p",
        "paper_barcode",
        issuer.paper_key.public_key().to_pem(),
        key_number=1,
        layout=layout,
    )
    with pytest.raises(TrustError):
        TrustStore.from_directory(tmp_path)


def test_stored_openssl_signature_verifies(tmp_path: Path) -> None:
    """A fixed vector made once by the OpenSSL GOST engine (see the file's _note)."""
    vec = load_json("trust/openssl_paper_vector.json")
    data, sig = bytes.fromhex(vec["data_hex"]), bytes.fromhex(vec["signature_hex"])
    assert data == paper_data("openssl") and len(sig) == 64
    write_key(
        tmp_path,
        "ossl",
        "paper_barcode",
        vec["public_key_pem"].encode(),
        key_number=vec["key_number"],
    )
    store = TrustStore.from_directory(tmp_path)
    raw = data + sig + bytes([vec["key_number"]])
    r = check(store, raw)
    assert r.signature.status is CheckStatus.PASS and r.key_trusted.status is CheckStatus.PASS
    v = verify(store, raw)
    assert v.outcome is Outcome.VALID and v.credential is not None
    assert v.credential.surname == "ПЕТРОВ"
    assert check(store, data + sig[32:] + sig[:32] + raw[129:]).signature.status is CheckStatus.FAIL


def test_live_openssl_signature_verifies(tmp_path: Path) -> None:
    _require_openssl()
    key = tmp_path / "paper.pem"
    pub = ossl_key(key)
    data = paper_data("openssl")
    (tmp_path / "data.bin").write_bytes(data)
    ossl(
        "dgst",
        "-engine",
        "gost",
        "-md_gost94",
        "-sign",
        str(key),
        "-out",
        str(tmp_path / "sig.bin"),
        str(tmp_path / "data.bin"),
    )
    sig = (tmp_path / "sig.bin").read_bytes()
    assert len(sig) == 64  # s||r
    d = tmp_path / "trust"
    write_key(d, "ossl", "paper_barcode", pub.read_bytes(), key_number=42)
    store = TrustStore.from_directory(d)
    raw = paper_barcode.assemble(data, sig + bytes([42]))
    r = check(store, raw)
    assert r.signature.status is CheckStatus.PASS and r.key_trusted.status is CheckStatus.PASS
    assert verify(store, raw).outcome is Outcome.VALID
    forged = bytearray(raw)
    forged[10] ^= 0x01
    assert verify(store, bytes(forged)).outcome is Outcome.INVALID


def test_openssl_accepts_the_demo_issuers_barcode_signature(
    tmp_path: Path, issuer: DemoIssuer
) -> None:
    """The other direction: the field's first 64 bytes are what `openssl dgst -verify` wants."""
    _require_openssl()
    raw = demo_paper(issuer)
    (tmp_path / "pub.pem").write_bytes(issuer.paper_key.public_key().to_pem())
    (tmp_path / "data.bin").write_bytes(raw[:65])
    (tmp_path / "sig.bin").write_bytes(raw[65:129])
    out = ossl(
        "dgst",
        "-engine",
        "gost",
        "-md_gost94",
        "-verify",
        str(tmp_path / "pub.pem"),
        "-signature",
        str(tmp_path / "sig.bin"),
        str(tmp_path / "data.bin"),
    )
    assert b"Verified OK" in out


# --- 5. card insurer signatures --------------------------------------------------------------


def make_pki(
    subject: str,
    root_window: tuple[datetime, datetime],
    leaf_window: tuple[datetime, datetime] | None = None,
) -> tuple[PrivateKey, Certificate, PrivateKey, Certificate]:
    root_key = generate_private_key(Algorithm.GOST2001, "XA")
    root = build_certificate(
        subject=subject,
        public_key=root_key.public_key(),
        issuer_key=root_key,
        not_before=root_window[0],
        not_after=root_window[1],
        ca=True,
    )
    leaf_key = generate_private_key(Algorithm.GOST2001, "XA")
    lw = leaf_window or root_window
    leaf = build_certificate(
        subject=f"{subject}: страховщик",
        public_key=leaf_key.public_key(),
        issuer_key=root_key,
        issuer=root,
        not_before=lw[0],
        not_after=lw[1],
    )
    return root_key, root, leaf_key, leaf


def test_demo_card_verifies_through_the_chain(demo_trust: TrustStore, issuer: DemoIssuer) -> None:
    raw = issuer.card(holder())
    r = check(demo_trust, raw, symbology="card")
    assert r.signature.status is CheckStatus.PASS
    assert r.key_trusted.status is CheckStatus.PASS
    assert issuer.card_root.public_key.key_id() in r.key_trusted.detail
    v = verify(demo_trust, raw, "card")
    assert v.outcome is Outcome.VALID
    # the insurer record is what is signed; no name-hash key here, so the name was not compared
    assert v.reasons == (Reason.HOLDER_NOT_CHECKED, Reason.HOLDER_DATA_UNVERIFIED)


def test_card_from_an_untrusted_ca_is_key_unknown(
    demo_trust: TrustStore, issuer: DemoIssuer
) -> None:
    _, _, leaf_key, leaf = make_pki(
        "Чужой УЦ", (datetime(2011, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))
    )
    stranger = dataclasses.replace(issuer, insurer_key=leaf_key, insurer_cert=leaf)
    raw = stranger.card(holder())
    r = check(demo_trust, raw, symbology="card")
    assert r.signature.status is CheckStatus.PASS  # the record is signed by its certificate …
    assert r.key_trusted.status is CheckStatus.FAIL  # … which nobody we trust vouches for
    assert r.key_trusted.reason is Reason.KEY_UNKNOWN
    assert "issuer_not_found" in r.key_trusted.detail
    v = verify(demo_trust, raw, "card")
    assert v.outcome is Outcome.UNKNOWN
    assert Reason.KEY_UNKNOWN in v.reasons and Reason.SIGNATURE_INVALID not in v.reasons
    assert "подпись верна, но ключ подписи неизвестен" in v.message  # its own reason


def test_card_with_a_self_signed_or_impostor_insurer_is_not_trusted(
    demo_trust: TrustStore, issuer: DemoIssuer
) -> None:
    window = (datetime(2011, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))
    # An impostor CA that copies the trusted root's name.
    _, impostor, leaf_key, leaf = make_pki("Демо: корневой УЦ полисов ОМС", window)
    assert impostor.subject_der == issuer.card_root.subject_der
    own_key = generate_private_key(Algorithm.GOST2001, "XA")
    selfsigned = build_certificate(
        subject="Самозванец",
        public_key=own_key.public_key(),
        issuer_key=own_key,
        not_before=window[0],
        not_after=window[1],
    )
    for key, cert in ((leaf_key, leaf), (own_key, selfsigned)):
        raw = dataclasses.replace(issuer, insurer_key=key, insurer_cert=cert).card(holder())
        r = check(demo_trust, raw, symbology="card")
        assert r.signature.status is CheckStatus.PASS
        assert r.key_trusted.status is CheckStatus.FAIL, r.key_trusted
        assert verify(demo_trust, raw, "card").outcome is not Outcome.VALID


def test_tampered_insurer_record_fails(demo_trust: TrustStore, issuer: DemoIssuer) -> None:
    raw = issuer.card(holder())
    c = person("card")
    for old, new in ((c["smo_ogrn"], "1027739008441"), (c["okato"], "45000")):
        assert raw.count(old.encode()) == 1
        bad = raw.replace(old.encode(), new.encode())
        r = check(demo_trust, bad, symbology="card")
        assert r.signature.status is CheckStatus.FAIL
        assert r.signature.reason is Reason.SIGNATURE_INVALID
        assert r.key_trusted.status is CheckStatus.PASS  # the certificate itself is fine
        v = verify(demo_trust, bad, "card")
        assert v.outcome is Outcome.INVALID and Reason.SIGNATURE_INVALID in v.reasons


def test_tampered_card_signature_fails(demo_trust: TrustStore, issuer: DemoIssuer) -> None:
    part = signed_part()
    sig = bytearray(sign(issuer.insurer_key, part))
    sig[7] ^= 0x10
    raw = card_dump(part, bytes(sig), issuer.insurer_cert.der)
    r = check(demo_trust, raw, symbology="card")
    assert r.signature.reason is Reason.SIGNATURE_INVALID
    # A signature that cannot even fit the key is a failure too, not a crash.
    raw = card_dump(part, bytes(sig[:10]), issuer.insurer_cert.der)
    assert check(demo_trust, raw, symbology="card").signature.reason is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize(
    "certificate",
    ["garbage", "truncated", "a-public-key"],
)
def test_certificate_garbage_fails_key_trusted_and_skips_signature(
    demo_trust: TrustStore, issuer: DemoIssuer, certificate: str
) -> None:
    cert = {
        "garbage": b"\x30\x03abc",
        "truncated": issuer.insurer_cert.der[:-20],
        "a-public-key": issuer.insurer_key.public_key().to_der(),
    }[certificate]
    part = signed_part()
    raw = card_dump(part, sign(issuer.insurer_key, part), cert)
    r = check(demo_trust, raw, symbology="card")
    assert r.key_trusted.status is CheckStatus.FAIL and r.key_trusted.reason is Reason.KEY_NOT_FOUND
    assert r.signature.status is CheckStatus.SKIP
    assert r.signature.reason is Reason.SIGNATURE_NOT_CHECKED
    v = verify(demo_trust, raw, "card")
    assert v.outcome is Outcome.UNKNOWN
    assert by_name(v, "signature").status is CheckStatus.SKIP


def test_card_without_certificate_is_not_checked(
    demo_trust: TrustStore, issuer: DemoIssuer
) -> None:
    part = signed_part()
    raw = card_dump(part, sign(issuer.insurer_key, part), None)
    r = check(demo_trust, raw, symbology="card")
    assert r.signature.status is CheckStatus.SKIP
    assert r.key_trusted.status is CheckStatus.FAIL and r.key_trusted.reason is Reason.KEY_NOT_FOUND


def test_no_card_root_skips_with_no_key(no_card_trust: TrustStore, issuer: DemoIssuer) -> None:
    for trust in (no_card_trust, TrustStore()):
        raw = issuer.card(holder())
        r = check(trust, raw, symbology="card")
        for c in (r.signature, r.key_trusted):
            assert c.status is CheckStatus.SKIP and "нет ключа" in c.detail
        assert r.signature.reason is Reason.SIGNATURE_NOT_CHECKED
        v = verify(trust, raw, "card")
        assert Reason.SIGNATURE_NOT_CHECKED in v.reasons
        assert SAYS_SIGNATURE_VALID not in v.message


def test_paper_keys_do_not_vouch_for_cards(tmp_path: Path, issuer: DemoIssuer) -> None:
    """Lookups are by purpose: the card root's key registered as a paper key is no card root."""
    write_key(
        tmp_path, "x", "paper_barcode", issuer.card_root.to_pem(), field="certificate", key_number=1
    )
    store = TrustStore.from_directory(tmp_path)
    r = check(store, issuer.card(holder()), symbology="card")
    assert r.key_trusted.status is CheckStatus.SKIP and "нет ключа" in r.key_trusted.detail


def test_card_root_without_certificate_fails_the_load(tmp_path: Path, issuer: DemoIssuer) -> None:
    write_key(tmp_path, "root", "card_insurer_root", issuer.card_root.public_key.to_pem())
    with pytest.raises(TrustError):
        TrustStore.from_directory(tmp_path)


def _root_dir(d: Path, root: Certificate, **extra: Any) -> TrustStore:
    write_key(d, "root", "card_insurer_root", root.to_pem(), field="certificate", **extra)
    return TrustStore.from_directory(d)


@pytest.mark.parametrize(
    ("start", "expect"),
    [
        (date(2015, 2, 1), None),  # issued while the root was valid: still valid in 2026
        (date(2019, 12, 31), None),
        (date(2020, 1, 2), Reason.KEY_NOT_VALID_AT_TIME),  # issued after the root expired
        (date(2010, 6, 1), Reason.KEY_NOT_VALID_AT_TIME),  # before the root existed
        (None, Reason.KEY_NOT_VALID_AT_TIME),  # no start date: judged now, root long expired
    ],
)
def test_chain_is_judged_at_the_record_start(
    tmp_path: Path, start: date | None, expect: Reason | None
) -> None:
    window = (datetime(2011, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
    _, root, leaf_key, leaf = make_pki("Корневой УЦ (истёк)", window)
    store = _root_dir(tmp_path, root, not_after=window[1])  # descriptor window = the root's
    part = signed_part(start)
    raw = card_dump(part, sign(leaf_key, part), leaf.der)
    r = check(store, raw, symbology="card")
    assert r.signature.status is CheckStatus.PASS
    if expect is None:
        assert r.key_trusted.status is CheckStatus.PASS, r.key_trusted
        assert verify(store, raw, "card").outcome is Outcome.VALID
    else:
        assert r.key_trusted.status is CheckStatus.FAIL and r.key_trusted.reason is expect
        assert verify(store, raw, "card").outcome is Outcome.UNKNOWN


def test_revoked_card_root_is_invalid(tmp_path: Path, issuer: DemoIssuer) -> None:
    store = _root_dir(tmp_path, issuer.card_root, state="revoked")
    raw = issuer.card(holder())
    r = check(store, raw, symbology="card")
    assert r.signature.status is CheckStatus.PASS
    assert r.key_trusted.reason is Reason.KEY_REVOKED
    assert verify(store, raw, "card").outcome is Outcome.INVALID
    retired = _root_dir(tmp_path / "retired", issuer.card_root, state="retired")
    assert check(retired, raw, symbology="card").key_trusted.status is CheckStatus.PASS


def test_openssl_made_card_chain_and_signature(tmp_path: Path) -> None:
    """Root, insurer certificate and record signature all made by the OpenSSL GOST engine."""
    _require_openssl()
    rk, lk = tmp_path / "root.key", tmp_path / "leaf.key"
    ossl_key(rk, paramset="XA")
    ossl_key(lk, paramset="XA")
    root_pem, csr, leaf_pem = tmp_path / "root.pem", tmp_path / "leaf.csr", tmp_path / "leaf.pem"
    ossl(
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
        "-md_gost94",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        str(root_pem),
    )
    ossl(
        "req",
        "-engine",
        "gost",
        "-new",
        "-key",
        str(lk),
        "-subj",
        "/CN=OSSL Insurer",
        "-out",
        str(csr),
    )
    ext = tmp_path / "ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n")
    ossl(
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
        "11",
        "-days",
        "10",
        "-extfile",
        str(ext),
        "-md_gost94",
        "-out",
        str(leaf_pem),
    )
    # Judged at the record start (noon UTC): tomorrow is inside both certificates' validity.
    start = datetime.now(UTC).date() + timedelta(days=1)
    part = signed_part(start)
    (tmp_path / "part.bin").write_bytes(part)
    ossl(
        "dgst",
        "-engine",
        "gost",
        "-md_gost94",
        "-sign",
        str(lk),
        "-out",
        str(tmp_path / "part.sig"),
        str(tmp_path / "part.bin"),
    )
    leaf = load_certificate(leaf_pem.read_bytes())
    raw = card_dump(part, (tmp_path / "part.sig").read_bytes(), leaf.der)
    d = tmp_path / "trust"
    d.mkdir()
    shutil.copyfile(root_pem, d / "ossl-root.pem")
    (d / "ossl-root.toml").write_text(
        'purpose = "card_insurer_root"\ncertificate = "ossl-root.pem"\n', encoding="utf-8"
    )
    store = TrustStore.from_directory(d)
    r = check(store, raw, symbology="card")
    assert r.signature.status is CheckStatus.PASS
    assert r.key_trusted.status is CheckStatus.PASS, r.key_trusted
    bad = raw.replace(person("card")["okato"].encode(), b"45000")
    assert check(store, bad, symbology="card").signature.reason is Reason.SIGNATURE_INVALID


# --- the clerk is never told an unchecked signature is valid --------------------------------


def _unchecked_but_key_unknown(issuer: DemoIssuer) -> dict[str, tuple[bytes, str | None]]:
    part = signed_part()
    sig = sign(issuer.insurer_key, part)
    _, _, leaf_key, leaf = make_pki(
        "Чужой УЦ", (datetime(2011, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))
    )
    stranger = dataclasses.replace(issuer, insurer_key=leaf_key, insurer_cert=leaf)
    stranger_bad = stranger.card(holder()).replace(b"46000", b"45000")
    return {
        "paper-unknown-key-number": (demo_paper(issuer)[:129] + b"\x09", None),
        "card-certificate-garbage": (card_dump(part, sig, b"\x30\x03abc"), "card"),
        "card-without-certificate": (card_dump(part, sig, None), "card"),
        "card-untrusted-ca-and-bad-signature": (stranger_bad, "card"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "paper-unknown-key-number",
        "card-certificate-garbage",
        "card-without-certificate",
        "card-untrusted-ca-and-bad-signature",
    ],
)
def test_verdict_never_says_valid_signature_unless_it_verified(
    demo_trust: TrustStore, issuer: DemoIssuer, case: str
) -> None:
    raw, symbology = _unchecked_but_key_unknown(issuer)[case]
    v = verify(demo_trust, raw, symbology)
    assert by_name(v, "signature").status is not CheckStatus.PASS
    assert SAYS_SIGNATURE_VALID not in v.message


def test_signed_part_is_handed_over_as_carried(issuer: DemoIssuer) -> None:
    """What the checker gets: the 65 data bytes and the raw 65-byte field; the card record."""
    raw = demo_paper(issuer)
    signed = recognize(CredentialInput(raw)).signed
    assert isinstance(signed, SignedPart)
    assert signed.data == raw[:65] and signed.signature == raw[65:]
    card = recognize(CredentialInput(issuer.card(holder()), symbology="card")).signed
    assert card is not None and card.signed_at == date(2015, 2, 1)
    assert card.data == signed_part() and card.certificate == issuer.insurer_cert.der
