from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.vectors import load_json
from verifier.errors import BarcodeError
from verifier.formats import paper_barcode as pb
from verifier.identifiers import Sex, okato_text

PEOPLE = load_json("paper_barcode/people.json")["people"]
ALPHABET = " .-‘0123456789АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЬЪЫЭЮЯ"


def _encode(row: dict[str, Any]) -> bytes:
    return pb.encode_data(
        barcode_type=pb.BarcodeType(row["barcode_type"]),
        enp=row["enp"],
        surname=row["surname"],
        given_name=row["given_name"],
        patronymic=row["patronymic"],
        sex=Sex(row["sex"]),
        birth_date=date.fromisoformat(row["birth_date"]),
        expiry=date.fromisoformat(row["expiry"]) if row["expiry"] else None,
        smo_ogrn=row["smo_ogrn"],
        okato=row["okato"],
    )


def _pack_by_hand(text: str, nbytes: int, lsb_first: bool) -> bytes:
    """An independent bit-string packer written from the reference's prose."""
    codes = [63 if ch == "|" else ALPHABET.index(ch) for ch in text.ljust(nbytes * 8 // 6)]
    if lsb_first:  # code bit 0 first; stream bit i is bit (i % 8) of byte i // 8
        stream = "".join(format(c, "06b")[::-1] for c in codes)
        return bytes(int(stream[i : i + 8][::-1], 2) for i in range(0, len(stream), 8))
    stream = "".join(format(c, "06b") for c in codes)
    return bytes(int(stream[i : i + 8], 2) for i in range(0, len(stream), 8))


@pytest.mark.parametrize("row", PEOPLE, ids=lambda r: f"type{r['barcode_type']}-{r['surname']}")
def test_field_offsets_match_the_reference(row: dict[str, Any]) -> None:
    data = _encode(row)
    assert len(data) == 65
    assert data[0] == row["barcode_type"]
    assert int.from_bytes(data[1:9], "big") == int(row["enp"])
    born = (date.fromisoformat(row["birth_date"]) - date(1900, 1, 1)).days
    if row["barcode_type"] == 1:
        name = f"{row['given_name']}|{row['surname']}|{row['patronymic']}"
        assert data[9:51] == _pack_by_hand(name, 42, lsb_first=True)
        assert data[51] == (1 if row["sex"] == "M" else 2)
        assert int.from_bytes(data[52:54], "big") == born
        assert int.from_bytes(data[56:62], "big") == int(row["smo_ogrn"])
        assert int.from_bytes(data[62:65], "big") == int(row["okato"])
    else:
        name = f"{row['surname']}|{row['given_name']}|{row['patronymic']}"
        assert data[9:60] == _pack_by_hand(name, 51, lsb_first=False)
        assert data[60] == (1 if row["sex"] == "M" else 2)
        assert int.from_bytes(data[61:63], "big") == born


@pytest.mark.parametrize("row", PEOPLE, ids=lambda r: f"type{r['barcode_type']}-{r['surname']}")
def test_decode_round_trip(row: dict[str, Any]) -> None:
    sig = bytes(range(65))
    policy = pb.decode(_encode(row) + sig)
    assert policy.enp == row["enp"]
    assert (policy.surname, policy.given_name, policy.patronymic) == (
        row["surname"],
        row["given_name"],
        row["patronymic"],
    )
    assert policy.sex is Sex(row["sex"])
    assert policy.birth_date.isoformat() == row["birth_date"]
    assert (policy.expiry.isoformat() if policy.expiry else None) == row["expiry"]
    assert policy.smo_ogrn == row["smo_ogrn"]
    assert policy.okato == row["okato"]
    assert policy.signature == sig
    assert policy.signed_data == _encode(row)


def test_stray_bytes_keep_offsets_and_take_the_last_65_as_signature() -> None:
    data = _encode(PEOPLE[0])
    sig = bytes(range(100, 165))
    for extra in (b"\x00", b"\x0d\x0a"):
        policy = pb.decode(data + extra + sig)
        assert policy.enp == PEOPLE[0]["enp"]
        assert policy.signature == sig
        assert policy.stray_bytes == len(extra)
        assert policy.signed_data == data  # the issuer signed the 65 data bytes, not the noise


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "bad_length"),
        (b"\x01" * 64, "bad_length"),
        (b"\x01" * 129, "bad_length"),
        (b"\x01" * 133, "bad_length"),
        (b"\x01" * 5000, "too_long"),
        (b"\x03" + bytes(129), "bad_type"),
        (b"\xff" + bytes(129), "bad_type"),
    ],
)
def test_bad_shapes(raw: bytes, code: str) -> None:
    with pytest.raises(BarcodeError) as exc:
        pb.decode(raw)
    assert exc.value.code == code


def _mutate(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def test_reserved_6bit_code_is_rejected_in_both_orders() -> None:
    for row in (PEOPLE[0], PEOPLE[2]):
        data = _encode(row)
        # put code 50 (reserved) as the first character
        if row["barcode_type"] == 1:
            bad = _mutate(data, 9, bytes([(data[9] & 0xC0) | 50]))
        else:
            bad = _mutate(data, 9, bytes([(50 << 2) | (data[9] & 0x03)]))
        with pytest.raises(BarcodeError) as exc:
            pb.decode(bad + bytes(65))
        assert exc.value.code == "bad_charset"


def test_missing_name_separators() -> None:
    data = _encode(PEOPLE[0])
    blank = _mutate(data, 9, pb.pack_6bit("ИВАНОВ", 42, lsb_first=True))
    with pytest.raises(BarcodeError) as exc:
        pb.decode(blank + bytes(65))
    assert exc.value.code == "bad_name"


@pytest.mark.parametrize(
    ("offset", "value", "code"),
    [(51, b"\x00", "bad_sex"), (51, b"\x03", "bad_sex"), (52, b"\x00\x00", "bad_date")],
)
def test_bad_field_values(offset: int, value: bytes, code: str) -> None:
    data = _mutate(_encode(PEOPLE[0]), offset, value)
    with pytest.raises(BarcodeError) as exc:
        pb.decode(data + bytes(65))
    assert exc.value.code == code


def test_expiry_before_birth_is_out_of_range() -> None:
    data = _mutate(_encode(PEOPLE[0]), 54, (10).to_bytes(2, "big"))
    with pytest.raises(BarcodeError) as exc:
        pb.decode(data + bytes(65))
    assert exc.value.code == "bad_date"


def test_enp_over_16_digits_is_rejected() -> None:
    data = _mutate(_encode(PEOPLE[0]), 1, (10**16).to_bytes(8, "big"))
    with pytest.raises(BarcodeError) as exc:
        pb.decode(data + bytes(65))
    assert exc.value.code == "bad_enp"


def test_encoder_refuses_what_the_field_cannot_hold() -> None:
    row = dict(PEOPLE[0], surname="А" * 60)
    with pytest.raises(BarcodeError):
        _encode(row)
    with pytest.raises(BarcodeError):
        _encode(dict(PEOPLE[0], surname="Smith"))
    with pytest.raises(BarcodeError):
        _encode(dict(PEOPLE[0], birth_date="1899-12-31"))


names = st.text(alphabet=ALPHABET.replace(" ", ""), min_size=1, max_size=14)


@given(
    btype=st.sampled_from(list(pb.BarcodeType)),
    enp=st.integers(0, 10**16 - 1),
    surname=names,
    given_name=names,
    patronymic=names | st.just(""),
    sex=st.sampled_from(list(Sex)),
    born=st.dates(date(1900, 1, 2), date(2079, 6, 6)),
    expiry_days=st.integers(0, 40000),
    ogrn=st.integers(0, 2**48 - 1),
    okato=st.integers(0, 2**24 - 1),
    sig=st.binary(min_size=65, max_size=65),
)
def test_round_trip_property(
    btype: pb.BarcodeType,
    enp: int,
    surname: str,
    given_name: str,
    patronymic: str,
    sex: Sex,
    born: date,
    expiry_days: int,
    ogrn: int,
    okato: int,
    sig: bytes,
) -> None:
    expiry = None
    if expiry_days:
        expiry = date.fromordinal(min(born.toordinal() + expiry_days, date(2079, 6, 6).toordinal()))
    data = pb.encode_data(
        barcode_type=btype,
        enp=f"{enp:016d}",
        surname=surname,
        given_name=given_name,
        patronymic=patronymic,
        sex=sex,
        birth_date=born,
        expiry=expiry,
        smo_ogrn=str(ogrn),
        okato=str(okato),
    )
    p = pb.decode(pb.assemble(data, sig))
    assert (p.enp, p.surname, p.given_name, p.patronymic, p.sex, p.birth_date, p.expiry) == (
        f"{enp:016d}",
        surname,
        given_name,
        patronymic,
        sex,
        born,
        expiry,
    )
    if btype is pb.BarcodeType.TYPE1:
        assert (p.smo_ogrn, p.okato) == (str(ogrn) if ogrn else None, okato_text(okato) or None)
    else:
        assert (p.smo_ogrn, p.okato) == (None, None)


@given(st.binary(min_size=0, max_size=300))
def test_decoder_never_crashes_on_random_bytes(raw: bytes) -> None:
    try:
        pb.decode(raw)
    except BarcodeError as exc:
        assert exc.code  # noqa: PT017 - the call may succeed; only a refusal must carry a code


@given(st.sampled_from(PEOPLE), st.binary(min_size=65, max_size=65), st.data())
def test_decoder_never_crashes_on_corrupted_policies(
    row: dict[str, Any], noise: bytes, data: st.DataObject
) -> None:
    raw = bytearray(_encode(row) + noise)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, 129))] = data.draw(st.integers(0, 255))
    try:
        pb.decode(bytes(raw))
    except BarcodeError as exc:
        assert exc.code  # noqa: PT017 - the call may succeed; only a refusal must carry a code
