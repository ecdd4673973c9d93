"""The memo caches behind a fast card verdict never turn a bad key into a trusted one.

``x509`` memoises parsed certificates (by their exact DER) and "certificate C verifies under
key K" (by C's DER and K). Each test below first gets a good ``valid`` verdict for a card, so
every memo is warm, then revokes, expires, removes or swaps something, and shows that the
next verdict for the same kind of card is not ``valid``. The memo tests at the end show what
is cached and that it is bounded.

Real keys, certificates, trust directories and signed trust lists; the OpenSSL GOST engine
answers the signatures (the Python fallback is covered in test_openssl_backend.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.trust_helpers import write_key
from verifier.checks.context import CheckContext
from verifier.checks.ports import StatusResult
from verifier.checks.signature import TrustSignatureChecker
from verifier.credential import CredentialInput
from verifier.crypto import (
    Algorithm,
    Certificate,
    CertificateError,
    ChainError,
    PrivateKey,
    build_certificate,
    generate_private_key,
    load_certificate,
    sign,
    validate_chain,
    x509,
)
from verifier.formats import goznak_card
from verifier.identifiers import Sex, make_enp
from verifier.pipeline import Pipeline
from verifier.trust import TrustStore
from verifier.verdict import CheckStatus, Outcome, Reason, Verdict, passed

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
START = date(2015, 2, 1)  # the insurer record's start: the chain is judged at this date
ROOT_NAME = "Тест: корневой УЦ полисов ОМС"
LEAF_NAME = "Тест: страховая медицинская организация"
WINDOW = (datetime(2011, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))


@dataclass
class Pki:
    root_key: PrivateKey
    root: Certificate
    leaf_key: PrivateKey
    leaf: Certificate
    list_key: PrivateKey


def _pki(
    root_window: tuple[datetime, datetime] = WINDOW,
    leaf_window: tuple[datetime, datetime] = WINDOW,
    root_name: str = ROOT_NAME,
) -> tuple[PrivateKey, Certificate, PrivateKey, Certificate]:
    root_key = generate_private_key(Algorithm.GOST2001, "XA")
    root = build_certificate(
        subject=root_name,
        public_key=root_key.public_key(),
        issuer_key=root_key,
        not_before=root_window[0],
        not_after=root_window[1],
        ca=True,
    )
    leaf_key = generate_private_key(Algorithm.GOST2001, "XA")
    leaf = build_certificate(
        subject=LEAF_NAME,
        public_key=leaf_key.public_key(),
        issuer_key=root_key,
        issuer=root,
        not_before=leaf_window[0],
        not_after=leaf_window[1],
    )
    return root_key, root, leaf_key, leaf


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki(*_pki(), generate_private_key(Algorithm.GOST2012_256, "A"))


def _trust_dir(d: Path, pki: Pki, *, root: Certificate | None = None) -> Path:
    write_key(d, "list", "trust_list", pki.list_key.public_key().to_pem())
    if root is not None:
        write_key(d, "root", "card_insurer_root", root.to_pem(), field="certificate")
    return d


def _holder(serial: int = 42) -> goznak_card.CardHolder:
    return goznak_card.CardHolder(
        surname="Иванова",
        given_name="Мария",
        patronymic="Петровна",
        birth_date=date(1990, 5, 17),
        sex=Sex.FEMALE,
        policy_number=make_enp("77", date(1990, 5, 17), Sex.FEMALE, serial),
        snils=None,
        expiry=None,
        birthplace=None,
        issued=None,
    )


def card(
    key: PrivateKey,
    cert_der: bytes,
    *,
    start: date | None = START,
    serial: int = 42,
    tamper: bool = False,
) -> CredentialInput:
    signed = goznak_card.encode_insurer_signed_part("1027700186062", "45000", start, None)
    signature = sign(key, signed)
    if tamper:
        signed = signed.replace(b"45000", b"45001")
    raw = goznak_card.encode_holder(_holder(serial)) + goznak_card.encode_insurer(
        signed, signature, cert_der
    )
    return CredentialInput(raw, symbology="card")


class NotRevokedActive:
    """The register port: always active and not revoked; only signatures are under test."""

    def check_status(self, ctx: CheckContext) -> StatusResult:
        return StatusResult(
            passed("register_status", "active"),
            "snapshot",
            revocation=passed("revocation", "not revoked"),
        )


@dataclass
class Desk:
    """One long-lived checker and pipeline, as the daemon has; the clock can move."""

    trust: TrustStore
    now: datetime = NOW

    def __post_init__(self) -> None:
        self.checker = TrustSignatureChecker(self.trust)
        self.pipeline = Pipeline(
            signature=self.checker, status=NotRevokedActive(), clock=lambda: self.now
        )

    def verify(self, item: CredentialInput) -> Verdict:
        return self.pipeline.verify(item)


def key_trusted(v: Verdict) -> Any:
    return next(c for c in v.checks if c.name == "key_trusted")


def _list(pki: Pki, version: int, entries: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    doc = json.dumps(
        {"signer": pki.list_key.public_key().key_id(), "version": version, "keys": entries}
    ).encode()
    return doc, sign(pki.list_key, doc)


def _root_entry(root: Certificate, **extra: Any) -> dict[str, Any]:
    return {"purpose": "card_insurer_root", "certificate_pem": root.to_pem().decode(), **extra}


def _good(desk: Desk, pki: Pki, **kw: Any) -> CredentialInput:
    item = card(pki.leaf_key, pki.leaf.der, **kw)
    v = desk.verify(item)
    assert v.outcome is Outcome.VALID, v.reasons
    assert desk.verify(item).outcome is Outcome.VALID  # now from warm memos
    return item


# --- revoked after a good verdict -------------------------------------------------------------


def test_root_revoked_by_the_snapshot_list_after_a_good_verdict(tmp_path: Path, pki: Pki) -> None:
    revoked: set[str] = set()
    store = TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root))
    store.externally_revoked = revoked.__contains__
    desk = Desk(store)
    item = _good(desk, pki)
    revoked.add(pki.root.public_key.key_id())
    for again in (item, card(pki.leaf_key, pki.leaf.der, serial=43)):
        v = desk.verify(again)
        assert v.outcome is Outcome.INVALID
        assert key_trusted(v).reason is Reason.KEY_REVOKED


def test_root_revoked_by_a_trust_list_after_a_good_verdict(tmp_path: Path, pki: Pki) -> None:
    store = TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root))
    desk = Desk(store)
    item = _good(desk, pki)
    store.apply_trust_list(*_list(pki, 1, [_root_entry(pki.root, state="revoked")]))
    v = desk.verify(item)
    assert v.outcome is Outcome.INVALID
    assert key_trusted(v).reason is Reason.KEY_REVOKED


# --- expired after a good verdict ------------------------------------------------------------


def test_trust_list_ends_the_roots_window_after_a_good_verdict(tmp_path: Path, pki: Pki) -> None:
    store = TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root))
    desk = Desk(store)
    item = _good(desk, pki)
    end = datetime(2014, 1, 1, tzinfo=UTC).isoformat()  # before the record's start
    store.apply_trust_list(*_list(pki, 1, [_root_entry(pki.root, not_after=end)]))
    v = desk.verify(item)
    assert v.outcome is not Outcome.VALID
    assert key_trusted(v).reason is Reason.KEY_NOT_VALID_AT_TIME


def test_certificate_dates_are_rechecked_against_the_clock(tmp_path: Path, pki: Pki) -> None:
    """A record without a start date is judged now: the same certificate, once valid, expires
    when the clock passes its notAfter, and is not yet valid before its notBefore."""
    window = (NOW - timedelta(days=30), NOW + timedelta(days=1))
    _, root, leaf_key, leaf = _pki(window, window)
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=root)))
    item = card(leaf_key, leaf.der, start=None)
    assert desk.verify(item).outcome is Outcome.VALID
    assert desk.verify(item).outcome is Outcome.VALID
    for moved in (NOW + timedelta(days=2), NOW - timedelta(days=31)):
        desk.now = moved
        v = desk.verify(item)
        assert v.outcome is not Outcome.VALID
        assert key_trusted(v).reason is Reason.KEY_NOT_VALID_AT_TIME, key_trusted(v)
    desk.now = NOW
    assert desk.verify(item).outcome is Outcome.VALID


def test_a_later_record_under_the_same_certificate_is_judged_at_its_own_date(
    tmp_path: Path, pki: Pki
) -> None:
    leaf_window = (datetime(2012, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC))
    _, root, leaf_key, leaf = _pki(WINDOW, leaf_window)
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=root)))
    assert desk.verify(card(leaf_key, leaf.der)).outcome is Outcome.VALID
    late = card(leaf_key, leaf.der, start=date(2019, 3, 1))  # after the leaf's notAfter
    v = desk.verify(late)
    assert v.outcome is not Outcome.VALID
    assert key_trusted(v).reason is Reason.KEY_NOT_VALID_AT_TIME
    assert "cert_expired" in key_trusted(v).detail


# --- untrusted or swapped after a good verdict -----------------------------------------------


def test_root_removed_from_the_trust_store_after_a_good_verdict(tmp_path: Path, pki: Pki) -> None:
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path / "a", pki, root=pki.root)))
    item = _good(desk, pki)
    gone = Desk(TrustStore.from_directory(_trust_dir(tmp_path / "b", pki)))
    v = gone.verify(item)
    # With no card root at all the register alone answers (the pipeline's rule, not ours);
    # what must hold here is that nothing claims the signature or the key was checked.
    assert key_trusted(v).status is CheckStatus.SKIP
    assert Reason.SIGNATURE_NOT_CHECKED in v.reasons
    assert "подпись верна" not in v.message
    # Another root instead of ours: the card's chain fails and the verdict is not valid.
    _, other_root, _, _ = _pki(root_name="Другой корневой УЦ")
    other = Desk(TrustStore.from_directory(_trust_dir(tmp_path / "c", pki, root=other_root)))
    v = other.verify(item)
    assert v.outcome is not Outcome.VALID
    assert key_trusted(v).status is CheckStatus.FAIL


def test_root_swapped_for_one_with_the_same_name_after_a_good_verdict(
    tmp_path: Path, pki: Pki
) -> None:
    """The memo knows "this leaf verifies under the old root's key"; the new root has the
    same subject but another key, so nothing carries over."""
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path / "a", pki, root=pki.root)))
    item = _good(desk, pki)
    _, other_root, _, _ = _pki()
    assert other_root.subject_der == pki.root.subject_der
    swapped = Desk(TrustStore.from_directory(_trust_dir(tmp_path / "b", pki, root=other_root)))
    v = swapped.verify(item)
    assert v.outcome is not Outcome.VALID
    assert "cert_signature_invalid" in key_trusted(v).detail


def test_impostor_certificate_with_the_trusted_names_after_a_good_verdict(
    tmp_path: Path, pki: Pki
) -> None:
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root)))
    _good(desk, pki)
    _, _, impostor_key, impostor_leaf = _pki()
    assert impostor_leaf.subject_der == pki.leaf.subject_der
    assert impostor_leaf.issuer_der == pki.leaf.issuer_der == pki.root.subject_der
    v = desk.verify(card(impostor_key, impostor_leaf.der))
    assert v.outcome is not Outcome.VALID
    assert key_trusted(v).status is CheckStatus.FAIL


def test_certificate_with_changed_dates_and_the_old_signature(tmp_path: Path, pki: Pki) -> None:
    """A re-dated copy of the genuine certificate carrying the genuine signature: every byte
    of the DER keys the memo, so its signature is checked and fails."""
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root)))
    _good(desk, pki)
    redated = build_certificate(
        subject=LEAF_NAME,
        public_key=pki.leaf_key.public_key(),
        issuer_key=pki.root_key,
        issuer=pki.root,
        not_before=WINDOW[0],
        not_after=WINDOW[1] + timedelta(days=3650),
        serial_number=pki.leaf.serial_number,
    )
    sig = pki.leaf.signature
    assert redated.der.endswith(redated.signature) and len(redated.signature) == len(sig)
    forged = redated.der[: -len(sig)] + sig
    assert load_certificate(forged).tbs_der != pki.leaf.tbs_der
    v = desk.verify(card(pki.leaf_key, forged))
    assert v.outcome is Outcome.INVALID
    assert "cert_signature_invalid" in key_trusted(v).detail


def test_card_signature_is_checked_on_every_verdict(tmp_path: Path, pki: Pki) -> None:
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root)))
    _good(desk, pki)
    v = desk.verify(card(pki.leaf_key, pki.leaf.der, tamper=True))
    assert v.outcome is Outcome.INVALID and Reason.SIGNATURE_INVALID in v.reasons


# --- what is memoised --------------------------------------------------------------------------


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count calls to ``module.name`` while still running the real function."""
    real: Callable[..., Any] = getattr(module, name)
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_repeat_card_verdict_checks_only_the_cards_own_signature(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    import verifier.checks.signature as signature_check

    x509.clear_caches()
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root)))
    cert_checks = _count_calls(monkeypatch, x509, "verify")
    card_checks = _count_calls(monkeypatch, signature_check, "verify_digest")
    assert desk.verify(card(pki.leaf_key, pki.leaf.der)).outcome is Outcome.VALID
    assert (len(cert_checks), len(card_checks)) == (1, 1)  # the root's was done at start
    cert_checks.clear()
    card_checks.clear()
    for serial in (43, 44, 45):
        assert desk.verify(card(pki.leaf_key, pki.leaf.der, serial=serial)).outcome is (
            Outcome.VALID
        )
    assert (len(cert_checks), len(card_checks)) == (0, 3)


def test_the_checker_checks_the_roots_self_signature_at_start(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    x509.clear_caches()
    store = TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root))
    TrustSignatureChecker(store)
    cert_checks = _count_calls(monkeypatch, x509, "verify")
    assert pki.root.is_signed_by(pki.root.public_key)
    assert cert_checks == []


def test_same_bytes_parse_to_the_same_certificate_object(pki: Pki) -> None:
    first = load_certificate(pki.leaf.der)
    assert load_certificate(bytes(bytearray(pki.leaf.der))) is first
    assert load_certificate(pki.leaf.to_pem()) is first
    x509.clear_caches()
    again = load_certificate(pki.leaf.der)
    assert again is not first and again == first


def test_errors_are_not_memoised(pki: Pki) -> None:
    broken = pki.leaf.der[:-5]
    for _ in range(2):
        with pytest.raises(CertificateError):
            load_certificate(broken)
    assert broken not in x509._parsed


def test_memo_answers_false_for_another_key_and_every_changed_byte(pki: Pki) -> None:
    assert pki.leaf.is_signed_by(pki.root.public_key)
    assert not pki.leaf.is_signed_by(pki.leaf.public_key)  # a key of the same curve
    flipped = bytearray(pki.leaf.der)
    flipped[-1] ^= 0x01  # the last signature byte
    bad = load_certificate(bytes(flipped))
    assert not bad.is_signed_by(pki.root.public_key)
    assert pki.leaf.is_signed_by(pki.root.public_key)
    with pytest.raises(ChainError) as exc:
        validate_chain(bad, [], [pki.root], at_time=NOW)
    assert exc.value.code == "cert_signature_invalid"


def test_chain_dates_are_checked_on_every_call(pki: Pki) -> None:
    assert validate_chain(pki.leaf, [], [pki.root], at_time=NOW) == [pki.leaf, pki.root]
    for when, code in (
        (WINDOW[1] + timedelta(seconds=1), "cert_expired"),
        (WINDOW[0] - timedelta(seconds=1), "cert_not_yet_valid"),
    ):
        with pytest.raises(ChainError) as exc:
            validate_chain(pki.leaf, [], [pki.root], at_time=when)
        assert exc.value.code == code
    assert validate_chain(pki.leaf, [], [pki.root], at_time=NOW) == [pki.leaf, pki.root]


def test_memos_are_bounded(pki: Pki) -> None:
    x509.clear_caches()
    key = generate_private_key(Algorithm.GOST2001, "XA")
    many = [
        build_certificate(subject=f"n{i}", public_key=key.public_key(), issuer_key=key)
        for i in range(x509.PARSE_CACHE_SIZE + 20)
    ]
    for cert in many:
        assert cert.is_signed_by(key.public_key())
    assert len(x509._parsed) <= x509.PARSE_CACHE_SIZE
    assert len(x509._signed_by) <= x509.SIGNED_BY_CACHE_SIZE
    big = build_certificate(
        subject="big",
        public_key=key.public_key(),
        issuer_key=key,
        extra_extensions=[("1.2.3.4", False, b"x" * (x509.PARSE_CACHE_MAX_DER + 100))],
    )
    assert len(big.der) > x509.PARSE_CACHE_MAX_DER
    assert load_certificate(big.der) is not load_certificate(big.der)
    assert big.is_signed_by(key.public_key())
    assert not any(k[0] == big.der for k in x509._signed_by)


def test_threads_share_the_memos_and_agree(tmp_path: Path, pki: Pki) -> None:
    desk = Desk(TrustStore.from_directory(_trust_dir(tmp_path, pki, root=pki.root)))
    _, _, stranger_key, stranger = _pki(root_name="Чужой УЦ")
    good = [card(pki.leaf_key, pki.leaf.der, serial=50 + i) for i in range(4)]
    bad = [card(stranger_key, stranger.der, serial=60 + i) for i in range(4)]
    results: list[tuple[bool, Outcome]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        if i % 3 == 0:
            x509.clear_caches()  # racing a clear with lookups and inserts
        for n in range(10):
            genuine = (i + n) % 2 == 0
            item = (good if genuine else bad)[n % 4]
            outcome = desk.verify(item).outcome
            with lock:
                results.append((genuine, outcome))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80
    assert all((o is Outcome.VALID) == genuine for genuine, o in results), results
