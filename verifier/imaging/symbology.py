"""The 2-D symbologies the verifier reads, with their AIM symbology identifiers.

Shared by the image decoder and the desk-scanner drivers (which see the AIM prefix a scanner
transmits, e.g. ``]L2`` before a PDF417 payload).
"""

from __future__ import annotations

from enum import StrEnum


class Symbology(StrEnum):
    """A 2-D symbology; the value is a stable lowercase name used in configs and logs."""

    QR = "qr"
    PDF417 = "pdf417"
    DATAMATRIX = "datamatrix"
    AZTEC = "aztec"

    @property
    def aim_prefix(self) -> str:
        """The AIM symbology identifier without its modifier character, e.g. ``"]L"``."""
        return _AIM_PREFIX[self]

    @classmethod
    def from_aim_id(cls, aim_id: str) -> Symbology | None:
        """The symbology an AIM identifier (``"]Q1"``, ``"]L2"``, or just ``"]d"``) names.

        Returns ``None`` for identifiers of other symbologies (``]C`` Code 128, ``]E`` EAN...).
        """
        return _BY_PREFIX.get(aim_id[:2])


_AIM_PREFIX: dict[Symbology, str] = {
    Symbology.QR: "]Q",
    Symbology.PDF417: "]L",
    Symbology.DATAMATRIX: "]d",
    Symbology.AZTEC: "]z",
}
_BY_PREFIX: dict[str, Symbology] = {v: k for k, v in _AIM_PREFIX.items()}

ALL_SYMBOLOGIES: frozenset[Symbology] = frozenset(Symbology)
