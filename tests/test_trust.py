"""The trust store: loading descriptor directories, lookups, key rotation, signed trust lists, CLI.

Everything here is real: keys from ``verifier.crypto``, certificates from ``build_certificate``,
trust directories written to ``tmp_path`` the way ``devkit.demo.write_demo_trust`` writes them,
and signatures checked through :class:`verifier.checks.signature.TrustSignatureChecker`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.trust_helpers import write_key
from tests.vectors import load_json
from verifier.checks.context import CheckContext
from verifier.checks.ports import SignatureResult, StatusResult
from verifier.checks.signature import TrustSignatureChecker
from verifier.cli import main
from verifier.credential import CredentialInput
from verifier.crypto import (
    Algorithm,
    PrivateKey,
    generate_private_key,
    hash_digest,
    load_public_key,
    sign,
    sign_digest,
)
from verifier.devkit.demo import DemoIssuer, demo_issuer, write_demo_trust
from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex
from verifier.pipeline import Pipeline
from verifier.recognize import recognize
from verifier.trust import KeyState, PaperSignatureLayout, Purpose, TrustError, TrustStore
from verifier.verdict import CheckStatus, Outcome, Reason, passed

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


# --- helpers ---------------------------------------------------------------------------------


def paper_data(who: str = "paper") -> bytes:
    p = load_json("trust/people.json")[who]
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


def sign_paper(key: PrivateKey, number: int, data: bytes | None = None) -> bytes:
    """Barcode in the default layout: data || s||r || key number."""
    data = data if data is not None else paper_data()
    return paper_barcode.assemble(data, sign(key, data, hash_name="gost94") + bytes([number]))


def check(
    trust: TrustStore, raw: bytes, now: datetime = NOW, symbology: str | None = None
) -> SignatureResult:
    credential = recognize(CredentialInput(raw, symbology=symbology))
    assert credential.signed is not None
    return TrustSignatureChecker(trust).check_signature(
        credential.signed, CheckContext(credential, now)
    )


@dataclass
class FixedRegister:
    """A StatusChecker port that always finds the policy active (the register is not tested)."""

    def check_status(self, ctx: CheckContext) -> StatusResult:
        not_revoked = passed("revocation", "stub: not revoked")
        return StatusResult(passed("register_status", "active"), "snapshot", revocation=not_revoked)


def pipeline(trust: TrustStore, now: datetime = NOW) -> Pipeline:
    return Pipeline(
        signature=TrustSignatureChecker(trust), status=FixedRegister(), clock=lambda: now
    )


def _by_name(checks: tuple[Any, ...], name: str) -> Any:
    return next(c for c in checks if c.name == name)


@pytest.fixture(scope="module")
def issuer() -> DemoIssuer:
    return demo_issuer()


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    """Independent keys, one per role (random: nothing depends on their value)."""
    return {
        "snapshot": generate_private_key(Algorithm.GOST2012_256, "A"),
        "trust_list": generate_private_key(Algorithm.GOST2012_256, "B"),
        "other_trust_list": generate_private_key(Algorithm.GOST2012_256, "A"),
        "paper1": generate_private_key(Algorithm.GOST2001, "A"),
        "paper2": generate_private_key(Algorithm.GOST2001, "A"),
        "paper3": generate_private_key(Algorithm.GOST2001, "B"),
    }


@pytest.fixture
def full_dir(tmp_path: Path, issuer: DemoIssuer, keys: dict[str, PrivateKey]) -> Path:
    """Every purpose: the demo directory (snapshot, paper, card root) plus a trust_list key."""
    d = tmp_path / "trust"
    write_demo_trust(d, issuer, keys["snapshot"].public_key().to_pem())
    # write_demo_trust names the root PEM that demo_issuer(certs_dir=...) writes.
    (d / "card-root-demo.pem").write_bytes(issuer.card_root.to_pem())
    write_key(d, "trust-list", "trust_list", keys["trust_list"].public_key().to_pem())
    return d


# --- 1. loading ------------------------------------------------------------------------------


def test_directory_with_every_purpose_loads(
    full_dir: Path, issuer: DemoIssuer, keys: dict[str, PrivateKey]
) -> None:
    store = TrustStore.from_directory(full_dir)
    assert {k.purpose for k in store.keys(None)} == set(Purpose)
    assert len(store.keys()) == 5
    (signer,) = store.roots(Purpose.DOCUMENT_SIGNER)  # the demo's document CA
    assert signer.certificate is not None and signer.origin == "document-ca-demo.toml"

    paper_pub = issuer.paper_key.public_key()
    (paper,) = store.keys(Purpose.PAPER_BARCODE)
    assert paper.key_id == paper_pub.key_id()  # id defaults to the key's own id
    assert paper.public_key == paper_pub
    assert paper.paper_key_number == 1
    assert paper.paper_layout == PaperSignatureLayout()  # the [paper_layout] table, all defaults
    assert paper.state is KeyState.ACTIVE and paper.origin == "paper-demo.toml"
    assert paper.certificate is None

    (root,) = store.roots(Purpose.CARD_INSURER_ROOT)
    assert root.certificate == issuer.card_root
    assert root.public_key == issuer.card_root.public_key
    assert root.key_id == issuer.card_root.public_key.key_id()

    snap = store.get(Purpose.SNAPSHOT, keys["snapshot"].public_key().key_id())
    assert snap is not None and snap.public_key.algorithm is Algorithm.GOST2012_256
    tl = store.get(Purpose.TRUST_LIST, keys["trust_list"].public_key().key_id())
    assert tl is not None and tl.origin == "trust-list.toml"
    assert store.list_version is None  # no trust-list.json in the directory


def test_descriptor_fields_are_read(tmp_path: Path, keys: dict[str, PrivateKey]) -> None:
    layout = {
        "key_number_offset": 0,
        "signature_offset": 1,
        "signature_length": 64,
        "order": "r||s",
        "hash_name": "gost94",
    }
    write_key(
        tmp_path,
        "p",
        "paper_barcode",
        keys["paper1"].public_key().to_pem(),
        id="paper-2019",
        key_number=200,
        state="retired",
        not_before="2019-01-01T00:00:00+03:00",
        not_after=datetime(2030, 1, 1, tzinfo=UTC),
        layout=layout,
    )
    (k,) = TrustStore.from_directory(tmp_path).keys()
    assert k.key_id == "paper-2019"
    assert k.paper_key_number == 200 and k.state is KeyState.RETIRED
    assert k.paper_layout == PaperSignatureLayout(
        key_number_offset=0, signature_offset=1, order="r||s"
    )
    # Timestamps keep their instant and come back in UTC.
    assert k.not_before == datetime(2018, 12, 31, 21, 0, tzinfo=UTC)
    assert k.not_before.tzinfo is UTC
    assert k.not_after == datetime(2030, 1, 1, tzinfo=UTC)


def test_card_root_descriptor_takes_a_der_certificate(tmp_path: Path, issuer: DemoIssuer) -> None:
    (tmp_path / "root.der").write_bytes(issuer.card_root.der)
    (tmp_path / "root.toml").write_text(
        'purpose = "card_insurer_root"\ncertificate = "root.der"\n', encoding="utf-8"
    )
    (root,) = TrustStore.from_directory(tmp_path).roots(Purpose.CARD_INSURER_ROOT)
    assert root.certificate == issuer.card_root


def _bad_cases() -> list[Any]:
    return [pytest.param(c, id=c["id"]) for c in load_json("trust/bad_descriptors.json")["cases"]]


def _bad_dir(d: Path, case: dict[str, Any], keys: dict[str, PrivateKey]) -> Path:
    write_key(d, "good", "paper_barcode", keys["paper1"].public_key().to_pem(), key_number=1)
    (d / "paper.pub.pem").write_bytes(keys["paper2"].public_key().to_pem())
    (d / "garbage.pem").write_bytes(
        b"-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PUBLIC KEY-----\n"
    )
    (d / "bad.toml").write_text(case["toml"], encoding="utf-8")
    return d


@pytest.mark.parametrize("case", _bad_cases())
def test_a_bad_descriptor_fails_the_whole_load(
    tmp_path: Path, keys: dict[str, PrivateKey], case: dict[str, Any]
) -> None:
    d = _bad_dir(tmp_path, case, keys)
    with pytest.raises(TrustError) as exc:
        TrustStore.from_directory(d)
    assert exc.value.code == "trust_error"
    assert case["expect"] in exc.value.message
    # The good file alone loads: it is the bad one that failed the load.
    (d / "bad.toml").unlink()
    assert len(TrustStore.from_directory(d).keys()) == 1


@pytest.mark.parametrize("case", [c for c in _bad_cases() if not c.values[0]["names_file"]])
def test_every_load_error_names_the_offending_file(
    tmp_path: Path, keys: dict[str, PrivateKey], case: dict[str, Any]
) -> None:
    d = _bad_dir(tmp_path, case, keys)
    with pytest.raises(TrustError) as exc:
        TrustStore.from_directory(d)
    assert "bad.toml" in exc.value.message


def test_missing_directory_has_its_own_code(tmp_path: Path) -> None:
    with pytest.raises(TrustError) as exc:
        TrustStore.from_directory(tmp_path / "nope")
    assert exc.value.code == "trust_dir_missing"


def test_empty_directory_is_an_empty_store(tmp_path: Path) -> None:
    store = TrustStore.from_directory(tmp_path)
    assert store.keys() == [] and store.roots(Purpose.CARD_INSURER_ROOT) == []


def test_lookups_are_by_purpose_and_id(tmp_path: Path, keys: dict[str, PrivateKey]) -> None:
    pem = keys["paper1"].public_key().to_pem()
    kid = keys["paper1"].public_key().key_id()
    write_key(tmp_path, "paper", "paper_barcode", pem, key_number=1)
    store = TrustStore.from_directory(tmp_path)
    assert store.get(Purpose.PAPER_BARCODE, kid) is not None
    for other in (Purpose.SNAPSHOT, Purpose.TRUST_LIST, Purpose.CARD_INSURER_ROOT):
        assert store.get(other, kid) is None
        assert store.keys(other) == []
    assert store.get(Purpose.PAPER_BARCODE, "0" * 32) is None
    # A paper key cannot vouch for a snapshot, whatever it signed.
    digest = hash_digest("streebog256", b"snapshot body")
    with pytest.raises(TrustError) as exc:
        store.check_snapshot_signature(kid, digest, sign_digest(keys["paper1"], digest), NOW)
    assert exc.value.code == "snapshot_key_unknown"

    # The same key registered for a second purpose is a second, separate entry.
    write_key(tmp_path, "snap", "snapshot", pem, state="revoked")
    store = TrustStore.from_directory(tmp_path)
    paper, snap = store.get(Purpose.PAPER_BARCODE, kid), store.get(Purpose.SNAPSHOT, kid)
    assert paper is not None and snap is not None
    assert paper.state is KeyState.ACTIVE and snap.state is KeyState.REVOKED
    assert {k.purpose for k in store.keys(None)} == {Purpose.PAPER_BARCODE, Purpose.SNAPSHOT}


def test_paper_key_is_found_by_its_number_only(tmp_path: Path, keys: dict[str, PrivateKey]) -> None:
    write_key(tmp_path, "p1", "paper_barcode", keys["paper1"].public_key().to_pem(), key_number=1)
    write_key(tmp_path, "p2", "paper_barcode", keys["paper2"].public_key().to_pem(), key_number=2)
    store = TrustStore.from_directory(tmp_path)
    field = bytearray(65)
    field[64] = 2
    (key,) = store.paper_keys(bytes(field))
    assert key.paper_key_number == 2
    assert key.public_key == keys["paper2"].public_key()
    field[64] = 3
    assert store.paper_keys(bytes(field)) == []
    assert store.paper_key_number(bytes(field)) == 3


def test_snapshot_signature_check(tmp_path: Path, keys: dict[str, PrivateKey]) -> None:
    k = keys["snapshot"]
    kid = k.public_key().key_id()
    write_key(
        tmp_path,
        "snap",
        "snapshot",
        k.public_key().to_pem(),
        not_before="2026-01-01T00:00:00Z",
        not_after="2027-01-01T00:00:00Z",
    )
    store = TrustStore.from_directory(tmp_path)
    digest = hash_digest("streebog256", b"snapshot body")
    sig = sign_digest(k, digest)
    assert store.check_snapshot_signature(kid, digest, sig, NOW) is True
    assert (
        store.check_snapshot_signature(kid, hash_digest("streebog256", b"other"), sig, NOW) is False
    )
    assert store.check_snapshot_signature(kid, digest, sig[:-1], NOW) is False  # bad encoding
    with pytest.raises(TrustError) as exc:
        store.check_snapshot_signature(kid, digest, sig, datetime(2027, 6, 1, tzinfo=UTC))
    assert exc.value.code == "snapshot_key_expired"
    store.externally_revoked = lambda key_id: key_id == kid
    with pytest.raises(TrustError) as exc:
        store.check_snapshot_signature(kid, digest, sig, NOW)
    assert exc.value.code == "snapshot_key_revoked"


def test_snapshot_checker_reads_the_clock_at_each_check(
    tmp_path: Path, keys: dict[str, PrivateKey]
) -> None:
    """The one closure importers hand the store: a long import sees the key expire."""
    k = keys["snapshot"]
    kid = k.public_key().key_id()
    write_key(tmp_path, "snap", "snapshot", k.public_key().to_pem(),
              not_before="2026-01-01T00:00:00Z", not_after="2027-01-01T00:00:00Z")  # fmt: skip
    store = TrustStore.from_directory(tmp_path)
    digest = hash_digest("streebog256", b"snapshot body")
    sig = sign_digest(k, digest)
    times = iter([NOW, datetime(2027, 6, 1, tzinfo=UTC)])
    check = store.snapshot_checker(lambda: next(times))
    assert check(kid, digest, sig) is True
    with pytest.raises(TrustError) as exc:
        check(kid, digest, sig)
    assert exc.value.code == "snapshot_key_expired"


# --- 2. key rotation -------------------------------------------------------------------------


@pytest.fixture
def two_paper_keys(tmp_path: Path, keys: dict[str, PrivateKey]) -> Path:
    d = tmp_path / "rot"
    write_key(d, "paper-1", "paper_barcode", keys["paper1"].public_key().to_pem(), key_number=1)
    write_key(d, "paper-2", "paper_barcode", keys["paper2"].public_key().to_pem(), key_number=2)
    return d


def test_two_active_paper_keys_each_verify_their_own_barcodes(
    two_paper_keys: Path, keys: dict[str, PrivateKey]
) -> None:
    store = TrustStore.from_directory(two_paper_keys)
    for name, number in (("paper1", 1), ("paper2", 2)):
        r = check(store, sign_paper(keys[name], number))
        assert r.signature.status is CheckStatus.PASS, r
        assert r.key_trusted.status is CheckStatus.PASS, r
        assert keys[name].public_key().key_id() in r.signature.detail
        assert f"№{number}" in r.key_trusted.detail
    # The key number picks the key; a barcode naming the other key does not verify.
    r = check(store, sign_paper(keys["paper2"], 1))
    assert r.signature.status is CheckStatus.FAIL
    assert r.signature.reason is Reason.SIGNATURE_INVALID


def test_retired_key_still_verifies_old_documents(
    tmp_path: Path, keys: dict[str, PrivateKey]
) -> None:
    write_key(
        tmp_path,
        "old",
        "paper_barcode",
        keys["paper1"].public_key().to_pem(),
        key_number=1,
        state="retired",
    )
    write_key(tmp_path, "new", "paper_barcode", keys["paper2"].public_key().to_pem(), key_number=2)
    store = TrustStore.from_directory(tmp_path)
    r = check(store, sign_paper(keys["paper1"], 1))
    assert r.signature.status is CheckStatus.PASS
    assert r.key_trusted.status is CheckStatus.PASS
    assert "выведен из работы" in r.key_trusted.detail
    v = pipeline(store).verify(CredentialInput(sign_paper(keys["paper1"], 1)))
    assert v.outcome is Outcome.VALID and v.reasons == (Reason.HOLDER_NOT_CHECKED,)


def test_revoked_key_fails_even_for_old_documents(
    tmp_path: Path, keys: dict[str, PrivateKey]
) -> None:
    write_key(
        tmp_path,
        "old",
        "paper_barcode",
        keys["paper1"].public_key().to_pem(),
        key_number=1,
        state="revoked",
        not_after="2020-01-01T00:00:00Z",
    )
    store = TrustStore.from_directory(tmp_path)
    raw = sign_paper(keys["paper1"], 1)
    # Even judged at a moment inside its validity, a revoked key is never trusted.
    for when in (NOW, datetime(2015, 1, 1, tzinfo=UTC)):
        r = check(store, raw, when)
        assert r.signature.status is CheckStatus.PASS  # the maths is fine …
        assert r.key_trusted.status is CheckStatus.FAIL  # … the key is not
        assert r.key_trusted.reason is Reason.KEY_REVOKED
    v = pipeline(store).verify(CredentialInput(raw))
    assert v.outcome is Outcome.INVALID
    assert Reason.KEY_REVOKED in v.reasons
    assert _by_name(v.checks, "register_status").status is CheckStatus.SKIP


@pytest.mark.parametrize(
    ("window", "valid"),
    [
        ({"not_before": "2027-01-01T00:00:00Z"}, False),
        ({"not_after": "2026-11-22T08:59:59Z"}, False),
        ({"not_before": "2026-11-22T09:00:00Z", "not_after": "2026-11-22T09:00:00Z"}, True),
        ({"not_before": "2011-01-01T00:00:00+03:00", "not_after": "2030-01-01T00:00:00Z"}, True),
    ],
    ids=["not-yet", "expired", "window-edges-inclusive", "inside"],
)
def test_key_outside_its_window(
    tmp_path: Path, keys: dict[str, PrivateKey], window: dict[str, str], valid: bool
) -> None:
    write_key(
        tmp_path, "k", "paper_barcode", keys["paper1"].public_key().to_pem(), key_number=1, **window
    )
    store = TrustStore.from_directory(tmp_path)
    raw = sign_paper(keys["paper1"], 1)
    r = check(store, raw)
    assert r.signature.status is CheckStatus.PASS
    if valid:
        assert r.key_trusted.status is CheckStatus.PASS
    else:
        assert r.key_trusted.status is CheckStatus.FAIL
        assert r.key_trusted.reason is Reason.KEY_NOT_VALID_AT_TIME
        v = pipeline(store).verify(CredentialInput(raw))
        assert v.outcome is Outcome.UNKNOWN
        assert Reason.KEY_NOT_VALID_AT_TIME in v.reasons


def test_externally_revoked_key_is_revoked(
    two_paper_keys: Path, keys: dict[str, PrivateKey]
) -> None:
    bad = keys["paper1"].public_key().key_id()
    store = TrustStore.from_directory(two_paper_keys)
    store.externally_revoked = lambda kid: kid == bad  # the snapshot's revoked-key list
    k = store.get(Purpose.PAPER_BARCODE, bad)
    assert k is not None and k.state is KeyState.REVOKED
    r = check(store, sign_paper(keys["paper1"], 1))
    assert r.key_trusted.status is CheckStatus.FAIL and r.key_trusted.reason is Reason.KEY_REVOKED
    assert pipeline(store).verify(CredentialInput(sign_paper(keys["paper1"], 1))).outcome is (
        Outcome.INVALID
    )
    # The other key is untouched.
    r = check(store, sign_paper(keys["paper2"], 2))
    assert r.key_trusted.status is CheckStatus.PASS
    # The constructor takes the same hook.
    store2 = TrustStore(store.keys(), revoked=lambda kid: kid == bad)
    assert check(store2, sign_paper(keys["paper1"], 1)).key_trusted.reason is Reason.KEY_REVOKED


def test_externally_revoked_card_root_is_revoked(full_dir: Path, issuer: DemoIssuer) -> None:
    store = TrustStore.from_directory(full_dir)
    root_id = issuer.card_root.public_key.key_id()
    store.externally_revoked = lambda kid: kid == root_id
    holder = goznak_card.CardHolder(
        "Петрова",
        "Анна",
        "Сергеевна",
        date(2010, 11, 7),
        Sex.FEMALE,
        "5088989792000422",
        None,
        None,
        None,
        None,
    )
    r = check(store, issuer.card(holder), symbology="card")
    assert r.signature.status is CheckStatus.PASS
    assert r.key_trusted.reason is Reason.KEY_REVOKED


# --- 3. signed trust lists -------------------------------------------------------------------


def paper_entry(key: PrivateKey, number: int, **extra: Any) -> dict[str, Any]:
    return {
        "purpose": "paper_barcode",
        "public_key_pem": key.public_key().to_pem().decode(),
        "key_number": number,
        **extra,
    }


def make_list(
    signer: PrivateKey, version: int, entries: list[dict[str, Any]], signer_id: str | None = None
) -> tuple[bytes, bytes]:
    doc = json.dumps(
        {
            "signer": signer_id or signer.public_key().key_id(),
            "version": version,
            "keys": entries,
        }
    ).encode()
    return doc, sign(signer, doc)  # the key's own hash: Streebog-256 for a 2012 key


@pytest.fixture
def listed(full_dir: Path, keys: dict[str, PrivateKey]) -> TrustStore:
    """A store with trust list v1 installed: paper key #3 comes from the list."""
    store = TrustStore.from_directory(full_dir)
    assert (
        store.apply_trust_list(*make_list(keys["trust_list"], 1, [paper_entry(keys["paper3"], 3)]))
        == 1
    )
    return store


def test_applied_trust_list_makes_its_keys_available(
    listed: TrustStore, keys: dict[str, PrivateKey], issuer: DemoIssuer
) -> None:
    assert listed.list_version == 1
    k = listed.get(Purpose.PAPER_BARCODE, keys["paper3"].public_key().key_id())
    assert k is not None and k.origin == "trust-list v1" and k.paper_key_number == 3
    r = check(listed, sign_paper(keys["paper3"], 3))
    assert r.signature.status is CheckStatus.PASS and r.key_trusted.status is CheckStatus.PASS
    # Directory keys stay: the demo paper key #1 still verifies.
    data = paper_data()
    assert (
        check(
            listed,
            paper_barcode.assemble(
                data, sign(issuer.paper_key, data, hash_name="gost94") + b"\x01"
            ),
        ).signature.status
        is CheckStatus.PASS
    )


def test_newer_list_replaces_the_old_one(listed: TrustStore, keys: dict[str, PrivateKey]) -> None:
    listed.apply_trust_list(*make_list(keys["trust_list"], 5, [paper_entry(keys["paper2"], 2)]))
    assert listed.list_version == 5
    assert listed.get(Purpose.PAPER_BARCODE, keys["paper2"].public_key().key_id()) is not None
    assert listed.get(Purpose.PAPER_BARCODE, keys["paper3"].public_key().key_id()) is None
    r = check(listed, sign_paper(keys["paper3"], 3))
    assert r.key_trusted.reason is Reason.KEY_NOT_FOUND


def _refused_lists(
    keys: dict[str, PrivateKey], dir_paper_id: str
) -> dict[str, tuple[bytes, bytes]]:
    tl, new = keys["trust_list"], [paper_entry(keys["paper2"], 2)]
    doc, sig = make_list(tl, 2, new)
    flipped = bytearray(sig)
    flipped[5] ^= 0x01
    other_doc, other_sig = make_list(keys["other_trust_list"], 2, new)
    return {
        "bad_signature": (doc, bytes(flipped)),
        "signature_over_other_bytes": (doc.replace(b'"version": 2', b'"version": 3'), sig),
        "truncated_signature": (doc, sig[:40]),
        "unknown_signer": (other_doc, other_sig),
        "signer_is_not_a_trust_list_key": make_list(tl, 2, new, signer_id=dir_paper_id),
        "malformed_json": (b'{"signer": ', sign(tl, b'{"signer": ')),
        "not_utf8": (b"\xff\xfe", sign(tl, b"\xff\xfe")),
        "missing_version": (
            json.dumps({"signer": tl.public_key().key_id(), "keys": new}).encode(),
            b"",
        ),
        "equal_version": make_list(tl, 1, new),
        "older_version": make_list(tl, 0, new),
        "introduces_a_trust_list_key": make_list(
            tl,
            2,
            [
                *new,
                {
                    "purpose": "trust_list",
                    "public_key_pem": keys["other_trust_list"].public_key().to_pem().decode(),
                },
            ],
        ),
        "bad_entry": make_list(
            tl,
            2,
            [*new, {"purpose": "paper_barcode", "public_key_pem": "not a key", "key_number": 4}],
        ),
    }


REFUSED = {
    "bad_signature": "trust_list_signature",
    "signature_over_other_bytes": "trust_list_signature",
    "truncated_signature": "trust_list_signature",
    "unknown_signer": "trust_list_key_unknown",
    "signer_is_not_a_trust_list_key": "trust_list_key_unknown",
    "malformed_json": "trust_list_malformed",
    "not_utf8": "trust_list_malformed",
    "missing_version": "trust_list_malformed",
    "equal_version": "trust_list_old",
    "older_version": "trust_list_old",
    "introduces_a_trust_list_key": "trust_list_malformed",
    "bad_entry": "trust_error",
}


@pytest.mark.parametrize(("case", "code"), REFUSED.items(), ids=REFUSED.keys())
def test_refused_list_leaves_the_current_one_in_force(
    listed: TrustStore, keys: dict[str, PrivateKey], issuer: DemoIssuer, case: str, code: str
) -> None:
    doc, sig = _refused_lists(keys, issuer.paper_key.public_key().key_id())[case]
    with pytest.raises(TrustError) as exc:
        listed.apply_trust_list(doc, sig)
    assert exc.value.code == code
    assert listed.list_version == 1
    # v1's key is still found and still verifies; the refused list's key never arrived.
    assert listed.get(Purpose.PAPER_BARCODE, keys["paper3"].public_key().key_id()) is not None
    assert check(listed, sign_paper(keys["paper3"], 3)).key_trusted.status is CheckStatus.PASS
    assert listed.get(Purpose.PAPER_BARCODE, keys["paper2"].public_key().key_id()) is None
    assert check(listed, sign_paper(keys["paper2"], 2)).key_trusted.reason is Reason.KEY_NOT_FOUND
    assert listed.keys(Purpose.TRUST_LIST) == [
        listed.get(Purpose.TRUST_LIST, keys["trust_list"].public_key().key_id())
    ]


def test_revoked_trust_list_key_signs_nothing(tmp_path: Path, keys: dict[str, PrivateKey]) -> None:
    write_key(
        tmp_path, "tl", "trust_list", keys["trust_list"].public_key().to_pem(), state="revoked"
    )
    store = TrustStore.from_directory(tmp_path)
    with pytest.raises(TrustError) as exc:
        store.apply_trust_list(*make_list(keys["trust_list"], 1, [paper_entry(keys["paper3"], 3)]))
    assert exc.value.code == "trust_list_key_unknown"
    assert store.list_version is None and store.keys(Purpose.PAPER_BARCODE) == []


def test_trust_list_cannot_smuggle_a_signer_by_id(
    full_dir: Path, keys: dict[str, PrivateKey]
) -> None:
    """A list naming itself as signer under an id it also defines is still refused."""
    store = TrustStore.from_directory(full_dir)
    rogue = keys["other_trust_list"]
    doc, sig = make_list(
        rogue,
        1,
        [
            {
                "purpose": "trust_list",
                "id": "rogue",
                "public_key_pem": rogue.public_key().to_pem().decode(),
            }
        ],
        signer_id="rogue",
    )
    with pytest.raises(TrustError) as exc:
        store.apply_trust_list(doc, sig)
    assert exc.value.code == "trust_list_key_unknown"


def test_directory_trust_list_files_are_applied(
    full_dir: Path, keys: dict[str, PrivateKey]
) -> None:
    doc, sig = make_list(keys["trust_list"], 7, [paper_entry(keys["paper3"], 3)])
    (full_dir / "trust-list.json").write_bytes(doc)
    (full_dir / "trust-list.sig").write_bytes(sig)
    store = TrustStore.from_directory(full_dir)
    assert store.list_version == 7
    assert check(store, sign_paper(keys["paper3"], 3)).key_trusted.status is CheckStatus.PASS
    # A directory whose list does not verify does not load at all.
    (full_dir / "trust-list.sig").write_bytes(sig[::-1])
    with pytest.raises(TrustError) as exc:
        TrustStore.from_directory(full_dir)
    assert exc.value.code == "trust_list_signature"


def test_operator_revocation_survives_a_trust_list(
    full_dir: Path, keys: dict[str, PrivateKey]
) -> None:
    write_key(
        full_dir,
        "p3",
        "paper_barcode",
        keys["paper3"].public_key().to_pem(),
        key_number=3,
        state="revoked",
    )
    store = TrustStore.from_directory(full_dir)
    store.apply_trust_list(*make_list(keys["trust_list"], 1, [paper_entry(keys["paper3"], 3)]))
    assert check(store, sign_paper(keys["paper3"], 3)).key_trusted.reason is Reason.KEY_REVOKED


def test_trust_list_signed_by_openssl_is_accepted(
    tmp_path: Path, keys: dict[str, PrivateKey]
) -> None:
    if (
        shutil.which("openssl") is None
        or subprocess.run(
            ["openssl", "engine", "gost"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        pytest.fail("OpenSSL GOST engine not installed (libengine-gost-openssl)")

    def ossl(*args: str) -> None:
        p = subprocess.run(["openssl", *args], capture_output=True, check=False)
        assert p.returncode == 0, p.stderr.decode()

    key, pub = tmp_path / "tl.pem", tmp_path / "tl.pub.pem"
    ossl(
        "genpkey",
        "-engine",
        "gost",
        "-algorithm",
        "gost2012_256",
        "-pkeyopt",
        "paramset:A",
        "-out",
        str(key),
    )
    ossl("pkey", "-engine", "gost", "-in", str(key), "-pubout", "-out", str(pub))
    signer_id = load_public_key(pub.read_bytes()).key_id()
    d = tmp_path / "trust"
    write_key(d, "tl", "trust_list", pub.read_bytes())
    doc = json.dumps(
        {"signer": signer_id, "version": 1, "keys": [paper_entry(keys["paper3"], 3)]}
    ).encode()
    (tmp_path / "list.json").write_bytes(doc)
    ossl(
        "dgst",
        "-engine",
        "gost",
        "-md_gost12_256",
        "-sign",
        str(key),
        "-out",
        str(tmp_path / "list.sig"),
        str(tmp_path / "list.json"),
    )
    store = TrustStore.from_directory(d)
    assert store.apply_trust_list(doc, (tmp_path / "list.sig").read_bytes()) == 1
    assert check(store, sign_paper(keys["paper3"], 3)).key_trusted.status is CheckStatus.PASS


# --- 6. CLI: trust add / list ----------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], state: Path, *argv: str) -> tuple[int, str, str]:
    rc = main(["--state-dir", str(state), "trust", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The session's empty OMS_VERIFIER_CONFIG stays (tests/conftest.py): an installed
    # service's /etc/oms-verifier never reaches these runs.
    monkeypatch.delenv("OMS_VERIFIER_STATE_DIR", raising=False)


@pytest.mark.usefixtures("cli_env")
def test_cli_trust_add_and_list(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    keys: dict[str, PrivateKey],
    issuer: DemoIssuer,
) -> None:
    state, src = tmp_path / "state", tmp_path / "src"
    src.mkdir()
    (src / "paper.pem").write_bytes(keys["paper1"].public_key().to_pem())
    (src / "root.pem").write_bytes(issuer.card_root.to_pem())

    rc, out, _ = _cli(capsys, state, "list", "--json")
    assert rc == 0 and json.loads(out) == []

    paper_id = keys["paper1"].public_key().key_id()
    rc, out, err = _cli(
        capsys,
        state,
        "add",
        "--purpose",
        "paper_barcode",
        "--pubkey",
        str(src / "paper.pem"),
        "--key-number",
        "4",
        "--name",
        "p4",
    )
    assert rc == 0, err
    assert paper_id in out and "paper_barcode" in out
    rc, out, err = _cli(
        capsys,
        state,
        "add",
        "--purpose",
        "card_insurer_root",
        "--certificate",
        str(src / "root.pem"),
    )
    assert rc == 0, err

    trust_dir = state / "trust"
    assert sorted(p.name for p in trust_dir.glob("*.toml")) == [
        "card_insurer_root-root.toml",
        "p4.toml",
    ]
    store = TrustStore.from_directory(trust_dir)
    p4 = store.get(Purpose.PAPER_BARCODE, paper_id)
    assert p4 is not None and p4.paper_key_number == 4
    assert store.roots(Purpose.CARD_INSURER_ROOT)[0].certificate == issuer.card_root
    # What `trust add` wrote verifies real barcodes.
    assert check(store, sign_paper(keys["paper1"], 4)).key_trusted.status is CheckStatus.PASS

    rc, out, _ = _cli(capsys, state, "list", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert rc == 0 and len(rows) == 2
    assert rows[paper_id] == {
        "id": paper_id,
        "purpose": "paper_barcode",
        "state": "active",
        "algorithm": "GOST2001",
        "origin": "p4.toml",
        "not_before": None,
        "not_after": None,
    }
    root_id = issuer.card_root.public_key.key_id()
    assert rows[root_id]["purpose"] == "card_insurer_root"
    rc, out, _ = _cli(capsys, state, "list")
    assert rc == 0 and paper_id in out and "p4.toml" in out


@pytest.mark.usefixtures("cli_env")
def test_cli_trust_add_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, keys: dict[str, PrivateKey]
) -> None:
    state = tmp_path / "state"
    pem = tmp_path / "paper.pem"
    pem.write_bytes(keys["paper1"].public_key().to_pem())
    rc, _, err = _cli(capsys, state, "add", "--purpose", "paper_barcode", "--pubkey", str(pem))
    assert rc == 2 and "[trust_error]" in err and "key_number" in err
    rc, _, err = _cli(
        capsys, state, "add", "--purpose", "snapshot", "--pubkey", str(tmp_path / "missing.pem")
    )
    assert rc == 2 and "[bad_file]" in err
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"junk")
    rc, _, err = _cli(capsys, state, "add", "--purpose", "snapshot", "--pubkey", str(junk))
    assert rc == 2 and "[trust_error]" in err
    # Nothing half-written: no descriptor and no stray PEM (the directory need not exist).
    assert not (state / "trust").exists() or list((state / "trust").iterdir()) == []
    with pytest.raises(SystemExit):
        main(
            [
                "--state-dir",
                str(state),
                "trust",
                "add",
                "--purpose",
                "nonsense",
                "--pubkey",
                str(pem),
            ]
        )


# --- hostile trust lists and descriptors: typed errors, never a crash (issue 10, finding 8) ----


NESTED = b"[" * 8000 + b"]" * 8000


def signed_doc(signer: PrivateKey, raw: bytes) -> tuple[bytes, bytes]:
    return raw, sign(signer, raw)


def list_with(tl: PrivateKey, **fields: Any) -> tuple[bytes, bytes]:
    """A list signed by the real trust-list key whose top-level fields are overridden."""
    doc = {"signer": tl.public_key().key_id(), "version": 2, "keys": [], **fields}
    return signed_doc(tl, json.dumps(doc).encode())


HOSTILE_LISTS: dict[str, Any] = {
    "nested": lambda tl: (NESTED, b"\x00" * 64),
    "nested_keys": lambda tl: signed_doc(
        tl,
        b'{"signer": "%s", "version": 2, "keys": %s}' % (tl.public_key().key_id().encode(), NESTED),
    ),
    "over_the_size_cap": lambda tl: signed_doc(tl, b" " * (4 * 1024 * 1024) + list_with(tl)[0]),
    "signer_int": lambda tl: list_with(tl, signer=5),
    "signer_list": lambda tl: list_with(tl, signer=[tl.public_key().key_id()]),
    "version_string": lambda tl: list_with(tl, version="2"),
    "version_float": lambda tl: list_with(tl, version=2.5),
    "version_bool": lambda tl: list_with(tl, version=True),
    "version_negative": lambda tl: list_with(tl, version=-1),
    "keys_int": lambda tl: list_with(tl, keys=5),
    "keys_object": lambda tl: list_with(tl, keys={"purpose": "snapshot"}),
    "keys_string": lambda tl: list_with(tl, keys="snapshot"),
    "entry_int": lambda tl: list_with(tl, keys=[5]),
}


@pytest.mark.parametrize("case", HOSTILE_LISTS, ids=list(HOSTILE_LISTS))
def test_hostile_trust_list_is_malformed_and_the_current_list_stays(
    listed: TrustStore, keys: dict[str, PrivateKey], case: str
) -> None:
    doc, sig = HOSTILE_LISTS[case](keys["trust_list"])
    with pytest.raises(TrustError) as exc:
        listed.apply_trust_list(doc, sig)
    assert exc.value.code == "trust_list_malformed", exc.value.message
    assert listed.list_version == 1
    assert check(listed, sign_paper(keys["paper3"], 3)).key_trusted.status is CheckStatus.PASS


def _entry_cases(tmp: Path, keys: dict[str, PrivateKey], issuer: DemoIssuer) -> dict[str, Any]:
    pem_file = tmp / "local.pem"
    pem_file.write_bytes(keys["paper2"].public_key().to_pem())
    cert_file = tmp / "root.pem"
    cert_file.write_bytes(issuer.card_root.to_pem())
    paper = paper_entry(keys["paper2"], 4)
    return {
        # case: (entry, text the message must hold)
        "purpose_int": ({**paper, "purpose": 5}, "purpose"),
        "state_int": ({**paper, "state": 5}, "state"),
        "id_int": ({**paper, "id": 5}, "id must be a string"),
        "public_key_pem_int": ({**paper, "public_key_pem": 5}, "public_key_pem"),
        "public_key_pem_list": ({**paper, "public_key_pem": ["x"]}, "public_key_pem"),
        # A list is not the operator: it may not make the daemon read local files.
        "public_key_names_a_file": (
            {"purpose": "paper_barcode", "public_key": str(pem_file), "key_number": 4},
            "files cannot be named",
        ),
        "certificate_names_a_file": (
            {"purpose": "card_insurer_root", "certificate": str(cert_file)},
            "files cannot be named",
        ),
        "layout_not_an_object": ({**paper, "paper_layout": "s||r"}, "paper_layout"),
        "layout_float_offset": (
            {**paper, "paper_layout": {"key_number_offset": 64.0}},
            "key_number_offset must be an integer",
        ),
        "layout_float_length": (
            {**paper, "paper_layout": {"signature_length": 64.0}},
            "signature_length must be an integer",
        ),
        "layout_bool_offset": (
            {**paper, "paper_layout": {"signature_offset": False}},
            "signature_offset must be an integer",
        ),
        "layout_order_list": (
            {**paper, "paper_layout": {"order": ["s||r"]}},
            "order must be a string",
        ),
        "not_before_garbage": ({**paper, "not_before": "soon"}, "not_before"),
    }


ENTRY_CASES = [
    "purpose_int",
    "state_int",
    "id_int",
    "public_key_pem_int",
    "public_key_pem_list",
    "public_key_names_a_file",
    "certificate_names_a_file",
    "layout_not_an_object",
    "layout_float_offset",
    "layout_float_length",
    "layout_bool_offset",
    "layout_order_list",
    "not_before_garbage",
]


@pytest.mark.parametrize("case", ENTRY_CASES)
def test_trust_list_entry_of_a_wrong_type_is_a_typed_error_naming_the_field(
    listed: TrustStore,
    keys: dict[str, PrivateKey],
    issuer: DemoIssuer,
    tmp_path: Path,
    case: str,
) -> None:
    entry, names = _entry_cases(tmp_path, keys, issuer)[case]
    with pytest.raises(TrustError) as exc:
        listed.apply_trust_list(*make_list(keys["trust_list"], 2, [entry]))
    assert exc.value.code == "trust_error"
    assert names in exc.value.message, exc.value.message
    assert listed.list_version == 1
    assert listed.get(Purpose.PAPER_BARCODE, keys["paper2"].public_key().key_id()) is None


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("x = " + "[" * 8000 + "]" * 8000 + "\n", "bad.toml"),
        ('purpose = "snapshot"\npublic_key = 5\n', "public_key must be a string"),
        (
            'purpose = "paper_barcode"\npublic_key = "paper.pub.pem"\nkey_number = 2\n'
            "[paper_layout]\nkey_number_offset = 64.0\n",
            "key_number_offset must be an integer",
        ),
    ],
    ids=["nested_toml", "public_key_int", "layout_float_offset"],
)
def test_hostile_directory_descriptor_fails_the_load_typed(
    tmp_path: Path, keys: dict[str, PrivateKey], toml: str, names: str
) -> None:
    (tmp_path / "paper.pub.pem").write_bytes(keys["paper2"].public_key().to_pem())
    (tmp_path / "bad.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(TrustError) as exc:
        TrustStore.from_directory(tmp_path)
    assert exc.value.code == "trust_error"
    assert names in exc.value.message and "bad.toml" in exc.value.message
