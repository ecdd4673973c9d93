"""Red team: the paper policy barcode (65 data bytes, 65-byte signature field).

Real GOST 2001 signatures over GOST 94 with the lab's trusted paper key (number 1), and a
rogue key the trust store does not know. The last test is not a false ``valid`` but its
mirror image, found on the way: a genuine barcode read with scanner noise is ``invalid``.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.adversarial.world import paper_data
from tests.redteam.conftest import Lab, check
from verifier.credential import CredentialInput
from verifier.formats.paper_barcode import BarcodeType
from verifier.trust import Purpose, TrustStore
from verifier.verdict import CheckStatus, Outcome, Reason

TYPES = [BarcodeType.TYPE1, BarcodeType.TYPE2]


def scan(raw: bytes) -> CredentialInput:
    return CredentialInput(raw, source="serial:test", symbology="pdf417")


@pytest.mark.parametrize("btype", TYPES, ids=["type1", "type2"])
def test_control_a_genuine_barcode_is_valid(lab: Lab, btype: BarcodeType) -> None:
    m = lab.issuer.paper(lab.person(), btype)
    v = lab.pipeline().verify(scan(m.payload))
    assert v.outcome is Outcome.VALID, v.reasons


@pytest.mark.parametrize("btype", TYPES, ids=["type1", "type2"])
def test_another_name_under_a_genuine_signature_is_invalid(lab: Lab, btype: BarcodeType) -> None:
    """Attack: keep the genuine signature field, rewrite the name. Held: the name is signed."""
    p = lab.person()
    m = lab.issuer.paper(p, btype)
    other = lab.person(lambda q: q.surname != p.surname)
    data = paper_data(p, btype, surname=other.surname)
    v = lab.pipeline().verify(scan(data + m.sig_field))
    assert v.outcome is Outcome.INVALID
    assert check(v, "signature").reason is Reason.SIGNATURE_INVALID


def test_a_rogue_key_under_the_trusted_key_number_is_invalid(lab: Lab) -> None:
    """Attack: sign with the forger's own key and write the trusted key's number. Held."""
    p = lab.person()
    data = paper_data(p, BarcodeType.TYPE2)
    v = lab.pipeline().verify(scan(data + lab.issuer.sign_paper(data, "rogue_paper")))
    assert v.outcome is Outcome.INVALID


def test_a_rogue_key_under_an_unknown_key_number_is_not_valid(lab: Lab) -> None:
    """Attack: sign with the forger's key and name a key number nobody configured, hoping for
    "not checked". Held: a paper key is configured, so an unknown number is ``key_not_found``."""
    p = lab.person()
    data = paper_data(p, BarcodeType.TYPE2)
    v = lab.pipeline().verify(scan(data + lab.issuer.sign_paper(data, "rogue_paper_numbered")))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "key_trusted").reason is Reason.KEY_NOT_FOUND


def test_without_the_paper_key_a_genuine_enp_under_another_name_is_holder_mismatch(
    lab: Lab,
) -> None:
    """Attack (every real deployment: the paper key is not public): a zero signature field,
    a genuine insured ENP, the forger's name. Held: the holder check catches it."""
    p = lab.person()
    other = lab.person(lambda q: q.surname != p.surname)
    data = paper_data(p, BarcodeType.TYPE2, surname=other.surname)
    snap_only = TrustStore(lab.trust().keys(Purpose.SNAPSHOT))
    v = lab.pipeline(trust=snap_only).verify(scan(data + bytes(65)))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "signature").reason is Reason.SIGNATURE_NOT_CHECKED
    assert check(v, "holder").reason is Reason.HOLDER_MISMATCH


def test_a_birth_date_moved_to_dodge_the_hash_breaks_the_facet(lab: Lab) -> None:
    """Attack: a forger who knows the victim's name but not the exact birth date guesses one.
    Held: the ENP's facet encodes the birth date, so a date that disagrees with it is
    ``invalid`` before the holder check is even reached."""
    p = lab.person()
    data = paper_data(p, BarcodeType.TYPE2, birth_date=p.birth_date.replace(day=1))
    if p.birth_date.day == 1:
        data = paper_data(p, BarcodeType.TYPE2, birth_date=p.birth_date.replace(day=2))
    v = lab.pipeline().verify(scan(data + bytes(65)))
    assert v.outcome is Outcome.INVALID
    assert check(v, "enp_facet").reason is Reason.ENP_FACET_MISMATCH


@pytest.mark.parametrize("stray", [b"\r", b"\r\n"], ids=["131", "132"])
def test_a_genuine_barcode_read_with_scanner_noise_is_not_invalid(lab: Lab, stray: bytes) -> None:
    """Not a false ``valid`` — its mirror: REFERENCE §3 says scanners insert 1–2 stray bytes
    and 131/132-byte reads are accepted with the fields at their offsets and the signature
    as the last 65 bytes; the vendor verifies ``data[0:65]``. The decoder accepts the read,
    but ``PaperPolicy.signed_data`` is ``raw[:len-65]`` (66/67 bytes, the stray bytes
    included), so the genuine signature fails and a genuine policy is called ``invalid``
    (a forgery!) at the desk. The stray bytes carry no field, so leaving them out of the
    signed part gives a forger nothing.
    Fix: ``verifier/formats/paper_barcode.py`` ``decode``: ``signed_data=bytes(raw[:DATA_LENGTH])``.
    """
    m = lab.issuer.paper(lab.person(), BarcodeType.TYPE2)
    v = lab.pipeline().verify(scan(m.data + stray + m.sig_field))
    assert v.outcome is not Outcome.INVALID, v.reasons
    assert check(v, "signature").status is CheckStatus.PASS


def test_stray_bytes_cannot_carry_a_field(lab: Lab) -> None:
    """Attack (for after the fix above): stray bytes are not signed, so could they change
    anything? The fields are read at fixed offsets inside the first 65 bytes: the decoded
    credential of a noisy read equals the clean one."""
    m = lab.issuer.paper(lab.person(), BarcodeType.TYPE1)
    clean = lab.pipeline().verify(scan(m.payload)).credential
    noisy = lab.pipeline().verify(scan(m.data + b"\xff\x01" + m.sig_field)).credential
    assert clean is not None and noisy is not None
    assert dataclasses.replace(noisy, signed=None, notes=()) == dataclasses.replace(
        clean, signed=None, notes=()
    )
