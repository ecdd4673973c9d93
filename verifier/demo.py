"""Built-in sample credentials for the demo command and for a newcomer's first try.

Deterministic: fixed people, fixed dates far from today's edges, so the verdicts are stable.
"""

from __future__ import annotations

from datetime import date

from verifier.credential import CredentialInput
from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex, make_enp

DEMO_REGION = "50"
DEMO_SMO_OGRN = "1027739008440"
DEMO_OKATO = "46000"


def demo_person_enp(serial: int = 123) -> str:
    return make_enp(DEMO_REGION, date(1985, 3, 15), Sex.MALE, serial)


def paper_policy_bytes(
    *,
    barcode_type: paper_barcode.BarcodeType = paper_barcode.BarcodeType.TYPE1,
    signature_field: bytes = bytes(paper_barcode.SIGNATURE_LENGTH),
    expiry: date | None = None,
) -> bytes:
    data = paper_barcode.encode_data(
        barcode_type=barcode_type,
        enp=demo_person_enp(),
        surname="Иванов",
        given_name="Иван",
        patronymic="Иванович",
        sex=Sex.MALE,
        birth_date=date(1985, 3, 15),
        expiry=expiry,
        smo_ogrn=DEMO_SMO_OGRN,
        okato=DEMO_OKATO,
    )
    return paper_barcode.assemble(data, signature_field)


def card_dump_bytes() -> bytes:
    enp = make_enp(DEMO_REGION, date(2010, 11, 7), Sex.FEMALE, 42)
    holder = goznak_card.CardHolder(
        surname="Петрова",
        given_name="Анна",
        patronymic="Сергеевна",
        birth_date=date(2010, 11, 7),
        sex=Sex.FEMALE,
        policy_number=enp,
        snils="11223344595",
        expiry=None,
        birthplace="г. Москва",
        issued=date(2015, 2, 1),
    )
    signed = goznak_card.encode_insurer_signed_part(
        DEMO_SMO_OGRN, DEMO_OKATO, date(2015, 2, 1), None
    )
    return goznak_card.encode_holder(holder) + goznak_card.encode_insurer(signed, None, None)


def sample_inputs() -> list[tuple[str, CredentialInput]]:
    enp = demo_person_enp()
    bad = enp[:-1] + str((int(enp[-1]) + 1) % 10)
    return [
        ("paper policy, type 1", CredentialInput(paper_policy_bytes(), "demo", "pdf417")),
        (
            "paper policy, type 2, expired",
            CredentialInput(
                paper_policy_bytes(
                    barcode_type=paper_barcode.BarcodeType.TYPE2, expiry=date(2015, 12, 31)
                ),
                "demo",
                "pdf417",
            ),
        ),
        (
            "digital policy (app QR)",
            CredentialInput.from_text(f"https://www.gosuslugi.ru/oms?enp={enp}", source="demo"),
        ),
        ("ENP typed by the clerk", CredentialInput.from_text(enp, source="demo", manual=True)),
        ("ENP with a typo", CredentialInput.from_text(bad, source="demo", manual=True)),
        (
            "temporary certificate",
            CredentialInput.from_text("123456789", source="demo", manual=True),
        ),
        ("electronic policy card", CredentialInput(card_dump_bytes(), "demo", "card")),
    ]
