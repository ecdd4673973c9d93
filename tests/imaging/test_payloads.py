"""Exact bytes: binary payloads, all 256 byte values, non-UTF-8 data, ECI and text."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.imaging import DecodedBarcode, Symbology, decode_image

from . import synth

ALL_BYTES = bytes(range(256))
NOT_UTF8 = b"\xff\xfe\xc0\xc1\x80\x00\x1b\\\\\x5c000026 \xd0"


def _one(img: np.ndarray, sym: Symbology) -> DecodedBarcode:
    found = decode_image(img, {sym})
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("sym", list(Symbology))
@pytest.mark.parametrize("payload", [ALL_BYTES, ALL_BYTES[::-1], NOT_UTF8, b"\x00", b"\\"])
def test_binary_payload_exact(sym: Symbology, payload: bytes) -> None:
    got = _one(synth.make_symbol(sym, payload, scale=2), sym)
    assert got.payload == payload
    assert got.symbology is sym
    assert got.aim_id.startswith(sym.aim_prefix)
    assert not got.deskewed


@pytest.mark.parametrize("sym", list(Symbology))
def test_policy_record_130_bytes(sym: Symbology) -> None:
    payload = synth.random_payload(130, 7)
    got = _one(synth.make_symbol(sym, payload, scale=2), sym)
    assert got.payload == payload
    assert len(got.payload) == 130


@pytest.mark.parametrize("sym", list(Symbology))
def test_eci_stream_and_modifier(sym: Symbology) -> None:
    """zxing-cpp writes bytes with ECI 899; payload drops the designator, eci_payload keeps
    it as an AIM reader would transmit it, with the backslash doubled."""
    payload = b"a\\b\xff"
    got = _one(synth.make_symbol(sym, payload, scale=3), sym)
    assert got.payload == payload
    assert got.has_eci
    assert got.eci_payload == b"\\000899a\\\\b\xff"


@pytest.mark.parametrize("sym", list(Symbology))
@pytest.mark.parametrize("text", ["hello 123", "ЕНП 5056410834001235", "é€ mixed Ж 漢字"])
def test_text_payloads(sym: Symbology, text: str) -> None:
    got = _one(synth.make_symbol(sym, text, scale=3), sym)
    # Exact bytes are whatever the symbol holds (the writer's charset choice) ...
    assert got.payload == synth.expected_bytes(sym, text)
    # ... and the best-effort text recovers the string when the symbol declares its ECI.
    if got.has_eci or text.isascii():
        assert got.text == text


def test_plain_ascii_has_no_eci() -> None:
    got = _one(synth.make_symbol(Symbology.PDF417, "hello", scale=2), Symbology.PDF417)
    assert (got.aim_id, got.has_eci, got.eci_payload, got.text) == ("]L2", False, b"hello", "hello")


_ZX = {
    Symbology.QR: zxingcpp.BarcodeFormat.QRCode,
    Symbology.PDF417: zxingcpp.BarcodeFormat.PDF417,
    Symbology.DATAMATRIX: zxingcpp.BarcodeFormat.DataMatrix,
    Symbology.AZTEC: zxingcpp.BarcodeFormat.Aztec,
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=200), st.sampled_from(list(Symbology)))
def test_random_binary_roundtrip(payload: bytes, sym: Symbology) -> None:
    img = synth.make_symbol(sym, payload, scale=2, margin=10)
    got = decode_image(img, {sym}, deskew=False)
    assert [g.payload for g in got] == [payload]
