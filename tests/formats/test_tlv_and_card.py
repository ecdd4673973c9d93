from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifier.devkit.demo import card_dump_bytes
from verifier.errors import InputError
from verifier.formats import goznak_card as gc
from verifier.formats import tlv
from verifier.identifiers import Sex


def test_tlv_encode_parse_round_trip_with_long_lengths() -> None:
    for n in (0, 1, 127, 128, 255, 256, 1000):
        raw = tlv.encode(0x5F21, b"x" * n)
        (item,) = tlv.parse(raw)
        assert (item.tag, item.value, item.raw) == (0x5F21, b"x" * n, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x62",
        b"\x62\x05abc",
        b"\x5f",
        b"\x5f\x21",
        b"\x62\x82\x01",
        b"\x62\x85\x00\x00\x00\x00\x01",
        b"\x62\x80",
        b"\x1f\x81\x81\x81\x81\x01\x00",
    ],
)
def test_tlv_truncated_or_malformed(raw: bytes) -> None:
    with pytest.raises(tlv.TlvError):
        tlv.parse(raw)


def test_card_dump_parses_holder_and_insurer() -> None:
    dump = gc.parse_dump(card_dump_bytes())
    h = dump.holder
    assert (h.surname, h.given_name, h.patronymic) == ("Петрова", "Анна", "Сергеевна")
    assert h.birth_date == date(2010, 11, 7) and h.sex is Sex.FEMALE
    assert h.snils == "11223344595"
    assert dump.insurer is not None and dump.insurer.start == date(2015, 2, 1)
    assert dump.insurer.signature is None


def test_insurer_signature_covers_the_tlvs_before_the_signature_block() -> None:
    signed = gc.encode_insurer_signed_part("1027739008440", "46000", date(2020, 1, 1), None)
    record = gc.encode_insurer(signed, b"S" * 64, b"\x30\x03\x02\x01\x01")
    ins = gc.parse_insurer(tlv.parse(record)[0])
    assert ins.signed_data == signed
    assert ins.signature == b"S" * 64
    assert ins.certificate == b"\x30\x03\x02\x01\x01"


def test_bcd_dates() -> None:
    assert gc.bcd_date(bytes.fromhex("15031985")) == date(1985, 3, 15)
    assert gc.bcd_date(b"\x00" * 4) is None
    for bad in (bytes.fromhex("3202198A"), bytes.fromhex("32021985"), b"\x01\x02"):
        with pytest.raises(gc.CardDataError):
            gc.bcd_date(bad)


def test_dump_without_holder_or_policy_number() -> None:
    with pytest.raises(gc.CardDataError):
        gc.parse_dump(tlv.encode(0x64, b""))
    with pytest.raises(gc.CardDataError):
        gc.parse_dump(tlv.encode(0x62, tlv.encode(0x5F21, "Иванов".encode())))


@given(st.binary(max_size=400))
def test_card_parser_never_crashes(raw: bytes) -> None:
    try:
        gc.parse_dump(raw)
    except InputError as exc:
        assert exc.code  # noqa: PT017 - the call may succeed; only a refusal must carry a code
