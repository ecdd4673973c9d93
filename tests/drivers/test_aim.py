from __future__ import annotations

import pytest

from drivers.aim import AimError, parse_aim, split_aim, unescape_eci
from verifier.imaging import Symbology


@pytest.mark.parametrize(
    ("prefix", "symbology", "eci"),
    [
        ("]Q1", Symbology.QR, False),
        ("]Q2", Symbology.QR, True),
        ("]L2", Symbology.PDF417, False),
        ("]L1", Symbology.PDF417, True),
        ("]d1", Symbology.DATAMATRIX, False),
        ("]d4", Symbology.DATAMATRIX, True),
        ("]z0", Symbology.AZTEC, False),
        ("]z3", Symbology.AZTEC, True),
        ("]C0", None, False),
        ("]E0", None, False),
    ],
)
def test_aim_ids(prefix: str, symbology: Symbology | None, eci: bool) -> None:
    aim = parse_aim(prefix.encode() + b"data")
    assert aim is not None and aim.text == prefix
    assert aim.symbology is symbology
    assert aim.uses_eci is eci
    read = split_aim(prefix.encode() + b"data")
    assert read.aim == aim and read.symbology is symbology and read.payload == b"data"


def test_no_aim_is_passed_through() -> None:
    for data in (b"5056410834001235", b"\x01\x00\x11", b"]", b"]L", b"]]L2", b""):
        assert split_aim(data).payload == data and split_aim(data).aim is None
    with pytest.raises(AimError):
        split_aim(b"5056410834001235", "require")
    assert split_aim(b"]L2abc", "off").payload == b"]L2abc"


def test_binary_payload_after_aim_is_untouched() -> None:
    payload = bytes(range(256)) * 2
    assert split_aim(b"]L2" + payload).payload == payload


def test_eci_unescape() -> None:
    assert unescape_eci(b"a\\\\b") == b"a\\b"
    assert unescape_eci(b"\\000026\xd0\x92\\\\") == b"\xd0\x92\\"
    assert unescape_eci(b"lone\\x") == b"lone\\x"
    read = split_aim(b"]Q2\\000026text\\\\")
    assert read.payload == b"text\\"
    assert split_aim(b"]Q2\\000026t", unescape=False).payload == b"\\000026t"
    assert parse_aim(b"]Q2").name == "qr" and parse_aim(b"]C1").name == "code128"  # type: ignore[union-attr]
