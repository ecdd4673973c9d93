from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.vectors import load_json
from verifier.credential import CredentialInput, CredentialKind
from verifier.devkit.demo import card_dump_bytes, paper_policy_bytes
from verifier.errors import BarcodeError, InputError, RecognitionError
from verifier.recognize import recognize

TEXTS = load_json("recognize/texts.json")


def _check(row: dict[str, Any], manual: bool) -> None:
    item = CredentialInput.from_text(row["text"], manual=manual)
    if "error" in row:
        with pytest.raises(RecognitionError) as exc:
            recognize(item)
        assert exc.value.code == row["error"]
        return
    c = recognize(item)
    assert c.kind == CredentialKind(row["kind"])
    assert c.enp == row.get("enp")
    assert c.temp_cert_number == row.get("temp")
    assert c.old_series == row.get("series")
    assert c.old_number == row.get("number")


@pytest.mark.parametrize("row", TEXTS["scanned"], ids=lambda r: r["text"][:30])
def test_scanned_text(row: dict[str, Any]) -> None:
    _check(row, manual=False)


@pytest.mark.parametrize("row", TEXTS["typed"], ids=lambda r: r["text"][:30])
def test_typed_text(row: dict[str, Any]) -> None:
    _check(row, manual=True)


def test_paper_barcode_bytes() -> None:
    c = recognize(CredentialInput(paper_policy_bytes(), symbology="pdf417"))
    assert c.kind is CredentialKind.PAPER_POLICY
    assert c.signed is not None and len(c.signed.signature) == 65


def test_broken_paper_barcode_raises_the_codec_error_not_unrecognized() -> None:
    raw = bytearray(paper_policy_bytes())
    raw[51] = 9  # sex byte
    with pytest.raises(BarcodeError):
        recognize(CredentialInput(bytes(raw)))
    with pytest.raises(BarcodeError):
        recognize(CredentialInput(bytes(raw[:100])))


def test_card_dump() -> None:
    c = recognize(CredentialInput(card_dump_bytes(), symbology="card"))
    assert c.kind is CredentialKind.CARD
    assert c.holder_verified is False
    assert c.snils == "11223344595"


def test_text_starting_with_b_is_not_taken_for_a_card() -> None:
    with pytest.raises(RecognitionError):
        recognize(CredentialInput(b"bogus text"))


@pytest.mark.parametrize(
    ("raw", "code"), [(b"", "empty"), (b"\x00" * 10, "unknown_binary"), (b"9" * 5000, "too_long")]
)
def test_unusable(raw: bytes, code: str) -> None:
    with pytest.raises(RecognitionError) as exc:
        recognize(CredentialInput(raw))
    assert exc.value.code == code


@given(st.binary(max_size=600), st.booleans(), st.sampled_from([None, "qr", "pdf417", "card"]))
def test_recogniser_never_crashes_on_random_bytes(
    raw: bytes, manual: bool, sym: str | None
) -> None:
    try:
        recognize(CredentialInput(raw, manual=manual, symbology=sym))
    except InputError as exc:
        assert exc.code  # noqa: PT017 - the call may succeed; only a refusal must carry a code


@given(st.text(max_size=200), st.booleans())
def test_recogniser_never_crashes_on_random_text(text: str, manual: bool) -> None:
    try:
        recognize(CredentialInput.from_text(text, manual=manual))
    except InputError as exc:
        assert exc.code  # noqa: PT017 - the call may succeed; only a refusal must carry a code


def test_a_symbology_name_is_checked_where_it_enters() -> None:
    """Symbologies are an enum: text from configs and the API is converted, a typo refused."""
    from verifier.credential import ReadSymbology
    from verifier.errors import InputError

    assert CredentialInput(b"x", symbology="pdf417").symbology is ReadSymbology.PDF417  # type: ignore[arg-type]
    with pytest.raises(InputError) as err:
        CredentialInput(b"x", symbology="pdf-417")  # type: ignore[arg-type]
    assert err.value.code == "bad_symbology"
