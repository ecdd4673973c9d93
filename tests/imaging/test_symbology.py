from __future__ import annotations

import pytest

from verifier.imaging import ALL_SYMBOLOGIES, Symbology


def test_values_and_prefixes() -> None:
    assert {s.value: s.aim_prefix for s in Symbology} == {
        "qr": "]Q",
        "pdf417": "]L",
        "datamatrix": "]d",
        "aztec": "]z",
    }
    assert frozenset(Symbology) == ALL_SYMBOLOGIES
    assert Symbology("pdf417") is Symbology.PDF417


@pytest.mark.parametrize(
    ("aim", "sym"),
    [
        ("]Q1", Symbology.QR),
        ("]L2", Symbology.PDF417),
        ("]d", Symbology.DATAMATRIX),
        ("]z3", Symbology.AZTEC),
        ("]C1", None),
        ("]e0", None),
        ("", None),
        ("Q1", None),
    ],
)
def test_from_aim_id(aim: str, sym: Symbology | None) -> None:
    assert Symbology.from_aim_id(aim) is sym
