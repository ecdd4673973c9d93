"""ENP text that ``int()`` would accept but is not 16 ASCII digits answers nothing."""

from __future__ import annotations

from cache.national_store import NationalStore
from tests.national.helpers import sample
from verifier.devkit.national_generator import NationalRegister


def test_non_ascii_digits_are_not_an_enp(
    national: NationalRegister, national_store: NationalStore
) -> None:
    enp = next(r["enp"] for r in sample(national.out_dir) if r["deleted"] != "yes")
    assert national_store.lookup_enp(enp) is not None
    arabic = enp.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert int(arabic) == int(enp)  # what int() alone would have looked up
    fullwidth = enp.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for text in (arabic, fullwidth, enp[:2] + arabic[2:], enp[:-1] + "٥"):
        assert national_store.lookup_enp(text) is None, text
