from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.vectors import load_json
from verifier.errors import IdentifierError
from verifier.identifiers import (
    Sex,
    decode_facet,
    encode_facet,
    enp_checksum_ok,
    facet_ok,
    luhn_check_digit,
    make_enp,
    mask_enp,
    parse_enp,
    parse_old_policy,
    parse_temporary_certificate,
    validate_enp,
    validate_snils,
)

EX = load_json("identifiers/enp_examples.json")


def test_reference_worked_example_man_1985() -> None:
    row = EX["enp"][0]
    info = parse_enp(row["enp"])
    assert info.region == row["region"]
    assert info.birth_date.isoformat() == row["birth_date"]
    assert info.sex.value == row["sex"]
    assert info.serial == row["serial"]
    assert make_enp("50", date(1985, 3, 15), Sex.MALE, 123) == row["enp"]


def test_reference_worked_example_woman_2010_facet() -> None:
    row = EX["enp"][1]
    assert encode_facet(date.fromisoformat(row["birth_date"]), Sex(row["sex"])) == row["facet"]
    assert decode_facet(row["facet"]) == (date(2010, 11, 7), Sex.FEMALE)


@pytest.mark.parametrize("row", EX["facet_by_hand"], ids=lambda r: r["birth_date"])
def test_facet_era_boundaries(row: dict[str, str]) -> None:
    born, sex = date.fromisoformat(row["birth_date"]), Sex(row["sex"])
    assert encode_facet(born, sex) == row["facet"]
    assert decode_facet(row["facet"]) == (born, sex)


def test_check_digit_is_luhn_and_catches_single_digit_typos() -> None:
    enp = EX["enp"][0]["enp"]
    for pos in range(16):
        for d in "0123456789":
            if d == enp[pos]:
                continue
            typo = enp[:pos] + d + enp[pos + 1 :]
            with pytest.raises(IdentifierError) as exc:
                validate_enp(typo)
            assert exc.value.code == "enp_checksum"


def test_check_digit_catches_adjacent_swaps_mostly() -> None:
    enp = EX["enp"][0]["enp"]
    caught = 0
    swaps = 0
    for i in range(15):
        if enp[i] == enp[i + 1]:
            continue
        swaps += 1
        swapped = enp[:i] + enp[i + 1] + enp[i] + enp[i + 2 :]
        try:
            validate_enp(swapped)
        except IdentifierError:
            caught += 1
    # Luhn misses only the 0<->9 swap.
    assert caught >= swaps - 1


@pytest.mark.parametrize("bad", EX["enp_bad_format"])
def test_bad_format_is_typed(bad: str) -> None:
    with pytest.raises(IdentifierError) as exc:
        validate_enp(bad)
    assert exc.value.code == "enp_format"


def test_facet_with_impossible_date() -> None:
    # month 13 (plain "13" -> facet "86"), otherwise fine
    with pytest.raises(IdentifierError) as exc:
        decode_facet("86" + "4108" + "34")
    assert exc.value.code == "enp_facet"


def test_facet_era_mismatch_is_rejected() -> None:
    # year 1985 encoded without the +40 month offset (plain month 03 -> "96")
    with pytest.raises(IdentifierError):
        decode_facet("96" + "4108" + "34")


birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(birth_dates, st.sampled_from(list(Sex)), st.integers(0, 99999), st.integers(1, 99))
def test_make_parse_round_trip(born: date, sex: Sex, serial: int, region: int) -> None:
    enp = make_enp(f"{region:02d}", born, sex, serial)
    info = parse_enp(enp)
    assert (info.birth_date, info.sex, int(info.serial), info.region) == (
        born,
        sex,
        serial,
        f"{region:02d}",
    )


def test_luhn_known_value() -> None:
    assert luhn_check_digit("7992739871") == 3  # the textbook Luhn example


@pytest.mark.parametrize("good", EX["snils_valid"])
def test_snils_valid(good: str) -> None:
    assert len(validate_snils(good)) == 11


@pytest.mark.parametrize("bad", EX["snils_invalid"])
def test_snils_invalid(bad: str) -> None:
    with pytest.raises(IdentifierError) as exc:
        validate_snils(bad)
    assert exc.value.code == "snils_checksum"


def test_old_policy_and_temporary_certificate() -> None:
    old = parse_old_policy("ЕАА № 1234567")
    assert (old.series, old.number) == ("ЕАА", "1234567")
    assert parse_temporary_certificate("ВС 123456789") == "123456789"
    with pytest.raises(IdentifierError):
        parse_temporary_certificate("12345678")
    with pytest.raises(IdentifierError):
        parse_old_policy("hello world")


def test_mask_enp_hides_the_facet() -> None:
    enp = EX["enp"][0]["enp"]
    masked = mask_enp(enp)
    assert masked.startswith("50") and masked.endswith(enp[-4:])
    assert enp[2:10] not in masked
    assert len(masked) == 16


def test_era_boundary_dates_round_trip_around_1950_and_2000() -> None:
    for anchor in (date(1950, 12, 31), date(2000, 12, 31)):
        for d in (anchor, anchor + timedelta(days=1)):
            assert decode_facet(encode_facet(d, Sex.MALE)) == (d, Sex.MALE)


@given(st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_checksum_by_table_is_luhn(enp: str) -> None:
    """enp_checksum_ok's byte-table Luhn is luhn_check_digit's, digit for digit."""
    assert enp_checksum_ok(enp) is (luhn_check_digit(enp[:-1]) == int(enp[-1]))


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_facet_ok_is_what_decode_facet_accepts(facet: str) -> None:
    code = None
    try:
        decode_facet(facet)
    except IdentifierError as exc:
        code = exc.code
    assert code in (None, "enp_facet")
    assert facet_ok(facet) is (code is None)


def test_a_memoised_facet_error_is_raised_afresh_each_time() -> None:
    """The facet's decoding is memoised; the error is not: each caller gets its own."""
    bad = "99999999"
    with pytest.raises(IdentifierError) as first:
        decode_facet(bad)
    with pytest.raises(IdentifierError) as second:
        decode_facet(bad)
    assert first.value is not second.value
    assert first.value.message == second.value.message


def test_checksum_rejects_what_is_not_16_ascii_digits() -> None:
    for value in ("505603409201001", "5056034092010017x", "５０５６０３４０９２０１００１７"):
        with pytest.raises(IdentifierError):
            enp_checksum_ok(value)
