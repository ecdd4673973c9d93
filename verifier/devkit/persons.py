"""A generated person (one row of ``persons.csv``) as a typed value, and the encoder arguments
made from it — the one place that turns a ground-truth row into a paper barcode or a card.

(``generator.Person`` is the register record being generated; this is the row read back.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex


@dataclass(frozen=True, slots=True)
class PersonRow:
    enp: str
    surname: str
    given_name: str
    patronymic: str
    sex: Sex
    birth_date: date
    smo_ogrn: str
    okato: str

    @classmethod
    def from_row(cls, row: dict[str, str]) -> PersonRow:
        return cls(
            enp=row["enp"],
            surname=row["surname"],
            given_name=row["given_name"],
            patronymic=row["patronymic"],
            sex=Sex(row["sex"]),
            birth_date=date.fromisoformat(row["birth_date"]),
            smo_ogrn=row["smo_ogrn"],
            okato=row["okato"],
        )

    def paper_fields(self, **override: Any) -> dict[str, Any]:
        """Keyword arguments of ``paper_barcode.encode_data`` (and the issuer's signer)."""
        fields: dict[str, Any] = {
            "enp": self.enp,
            "surname": self.surname,
            "given_name": self.given_name,
            "patronymic": self.patronymic,
            "sex": self.sex,
            "birth_date": self.birth_date,
            "smo_ogrn": self.smo_ogrn,
            "okato": self.okato,
        }
        return fields | override

    def paper_data(
        self,
        barcode_type: paper_barcode.BarcodeType = paper_barcode.BarcodeType.TYPE1,
        **override: Any,
    ) -> bytes:
        """The 65 data bytes of this person's paper barcode (no expiry unless overridden)."""
        fields = self.paper_fields(expiry=None) | override
        if barcode_type is paper_barcode.BarcodeType.TYPE2:
            fields |= {"smo_ogrn": None, "okato": None}
        return paper_barcode.encode_data(barcode_type=barcode_type, **fields)

    def card_holder(self, **override: Any) -> goznak_card.CardHolder:
        fields: dict[str, Any] = {
            "surname": self.surname,
            "given_name": self.given_name,
            "patronymic": self.patronymic,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "policy_number": self.enp,
            "snils": None,
            "expiry": None,
            "birthplace": None,
            "issued": None,
        }
        return goznak_card.CardHolder(**(fields | override))
