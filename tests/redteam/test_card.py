"""Red team: the Goznak card, where only the insurer record (``64`` before ``7F60``) is signed.

The forger's material: a genuine, correctly signed insurer record copied from any card of the
same insurer (it names no ENP and no person), and a holder template (``62``) he writes
himself. Each test says what the forger tried and what the verdict must be; the ones that
held are regression guards, a failing one is an open hole.
"""

from __future__ import annotations

from datetime import date

from tests.redteam.conftest import Lab, bcd, card_input, check, holder_template
from verifier.formats import goznak_card, tlv
from verifier.verdict import CheckStatus, Outcome, Reason


def _genuine_insurer(lab: Lab, person_enp: str | None = None) -> tuple[bytes, bytes]:
    """(signed part, encoded ``64``) of a genuine card issued to some insured person."""
    p = lab.person(lambda q: q.enp != person_enp)
    mint = lab.issuer.card(p)
    return mint.signed_part, mint.insurer


def test_card_holder_template_with_no_name_and_no_birth_date_is_not_valid(lab: Lab) -> None:
    """Attack: strip every holder field but the policy number (``5F26``) and attach a genuine
    signed insurer record, so that there is no name for the holder check to compare (it
    compares only when the card carries some holder data). Held: a card without a surname is
    ``bad_format`` before any lookup; the holder check is never reached."""
    victim = lab.person()
    _, insurer = _genuine_insurer(lab, victim.enp)
    raw = holder_template(T_POLICY=victim.enp.encode()) + insurer
    v = lab.pipeline().verify(card_input(raw))
    assert v.outcome is Outcome.INVALID
    assert check(v, "format").reason is Reason.BAD_FORMAT


def test_card_with_a_surname_only_is_holder_mismatch(lab: Lab) -> None:
    """Attack: the victim's surname only (a common one), no given name, no birth date. Held:
    too little to compare is ``holder_mismatch``, never a skipped comparison."""
    victim = lab.person()
    _, insurer = _genuine_insurer(lab, victim.enp)
    raw = holder_template(T_SURNAME=victim.surname.encode(), T_POLICY=victim.enp.encode())
    v = lab.pipeline().verify(card_input(raw + insurer))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "holder").reason is Reason.HOLDER_MISMATCH


def test_card_with_a_wrong_name_and_a_genuine_insurer_record_is_holder_mismatch(lab: Lab) -> None:
    """Attack: a genuine insurer record under a holder template naming a genuine ENP with the
    forger's own name. Held: the name does not hash to the register's, ``unknown``."""
    victim = lab.person()
    other = lab.person(lambda q: q.surname != victim.surname)
    _, insurer = _genuine_insurer(lab, victim.enp)
    h = holder_template(
        T_SURNAME=other.surname.encode(),
        T_GIVEN=victim.given_name.encode(),
        T_PATRONYMIC=victim.patronymic.encode(),
        T_POLICY=victim.enp.encode(),
        T_BIRTH=bcd(victim.birth_date),
    )
    v = lab.pipeline().verify(card_input(h + insurer))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "holder").reason is Reason.HOLDER_MISMATCH


def test_two_insurer_records_the_unsigned_one_last_is_signature_missing(lab: Lab) -> None:
    """Attack: the genuine signed ``64`` first, then an unsigned ``64`` naming an insurer of the
    forger's choice (the parser keeps the last template of a tag). Held: the record that is
    used is the unsigned one, and an unsigned card record is ``signature_missing``."""
    victim = lab.person()
    mint = lab.issuer.card(victim)
    forged = goznak_card.encode_insurer(
        goznak_card.encode_insurer_signed_part("1027700000001", victim.okato, None, None),
        None,
        None,
    )
    v = lab.pipeline().verify(card_input(mint.holder + mint.insurer + forged))
    assert v.outcome is not Outcome.VALID
    assert check(v, "signature").reason is Reason.SIGNATURE_MISSING


def test_fields_after_the_signature_block_are_ignored(lab: Lab) -> None:
    """Attack: append an end date ``5F54`` after ``7F60`` inside the genuine ``64`` (outside
    what the signature covers) to move the policy's end. Held: parsing stops at ``7F60``."""
    victim = lab.person()
    mint = lab.issuer.card(victim)
    inner = tlv.parse(mint.insurer)[0].value + tlv.encode(goznak_card.T_END, bcd(date(2001, 1, 1)))
    v = lab.pipeline().verify(card_input(mint.holder + tlv.encode(goznak_card.INSURER_TAG, inner)))
    assert v.credential is not None and v.credential.expiry is None
    assert check(v, "signature").status is CheckStatus.PASS
    assert v.outcome is Outcome.VALID, v.reasons


def test_a_duplicated_signed_field_breaks_the_signature(lab: Lab) -> None:
    """Attack: a second ``5F51`` (another ОГРН) before ``7F60``: the parser keeps the last one.
    Held: the signed bytes then include both, and the signature no longer verifies."""
    victim = lab.person()
    mint = lab.issuer.card(victim)
    extra = tlv.encode(goznak_card.T_OGRN, b"1027700000001")
    raw = mint.holder + goznak_card.encode_insurer(
        mint.signed_part + extra, mint.signature, mint.certificate
    )
    v = lab.pipeline().verify(card_input(raw))
    assert v.outcome is Outcome.INVALID
    assert check(v, "signature").reason is Reason.SIGNATURE_INVALID


def test_padding_inside_the_signed_part_changes_nothing(lab: Lab) -> None:
    """Attack: ISO 7816 padding bytes (00/FF) between the signed TLVs. They are skipped both
    when the signed bytes are collected and when fields are read, so they carry nothing; the
    card verifies as the genuine one would (no field can hide in padding)."""
    victim = lab.person()
    mint = lab.issuer.card(victim)
    parts = tlv.parse(mint.signed_part)
    padded = b"\x00\xff".join(p.raw for p in parts)
    raw = mint.holder + goznak_card.encode_insurer(padded, mint.signature, mint.certificate)
    v = lab.pipeline().verify(card_input(raw))
    assert check(v, "signature").status is CheckStatus.PASS
    assert v.credential is not None and v.credential.smo_ogrn == victim.smo_ogrn


def test_insurer_record_signed_under_a_rogue_root_is_not_valid(lab: Lab) -> None:
    """Attack: the genuine insurer's key, certified by a root the forger made. Held."""
    victim = lab.person()
    mint = lab.issuer.card(victim, signer="insurer_under_rogue")
    v = lab.pipeline().verify(card_input(mint.dump))
    assert v.outcome is not Outcome.VALID
    assert check(v, "key_trusted").status is CheckStatus.FAIL


def test_the_insurer_certificate_swapped_for_the_root_is_not_valid(lab: Lab) -> None:
    """Attack: keep the genuine signature but put the trusted root certificate in ``5F62``
    (the root is trusted, so its chain is trivially valid). Held: the signature was made by
    the insurer's key, not the root's, so it fails against the root's public key."""
    victim = lab.person()
    mint = lab.issuer.card(victim)
    raw = mint.holder + goznak_card.encode_insurer(
        mint.signed_part, mint.signature, lab.keys.card_root.der
    )
    v = lab.pipeline().verify(card_input(raw))
    assert v.outcome is Outcome.INVALID
    assert check(v, "signature").reason is Reason.SIGNATURE_INVALID
