"""Content of the Goznak electronic policy card (REFERENCE §4): holder and insurer TLVs.

The card driver reads the holder template (tag ``62``) and the current insurer template
(tag ``64``) and hands their concatenation over as one "card dump"; this module turns that into
typed data. Holder data has no verifiable signature (the card's security object is not public),
so it is reported as read. The insurer record's signature covers, by assumption, the encoded
TLVs of tag ``64`` that precede ``7F60`` (REFERENCE §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from verifier.errors import InputError
from verifier.formats import tlv
from verifier.identifiers import Sex

HOLDER_TAG = 0x62
INSURER_TAG = 0x64
T_SURNAME, T_GIVEN, T_PATRONYMIC = 0x5F21, 0x5F22, 0x5F23
T_BIRTH, T_SEX, T_POLICY, T_SNILS, T_EXPIRY, T_BIRTHPLACE, T_ISSUED = (
    0x5F24,
    0x5F25,
    0x5F26,
    0x5F27,
    0x5F28,
    0x5F29,
    0x5F2A,
)
T_OGRN, T_OKATO, T_START, T_END = 0x5F51, 0x5F52, 0x5F53, 0x5F54
T_SIGNATURE_BLOCK, T_SIGNATURE, T_CERTIFICATE = 0x7F60, 0x5F61, 0x5F62


class CardDataError(InputError):
    code = "bad_card_data"


@dataclass(frozen=True, slots=True)
class CardHolder:
    surname: str
    given_name: str
    patronymic: str
    birth_date: date | None
    sex: Sex | None
    policy_number: str
    snils: str | None
    expiry: date | None
    birthplace: str | None
    issued: date | None


@dataclass(frozen=True, slots=True)
class InsurerRecord:
    ogrn: str
    okato: str
    start: date | None
    end: date | None
    signed_data: bytes
    signature: bytes | None
    certificate: bytes | None


@dataclass(frozen=True, slots=True)
class CardDump:
    holder: CardHolder
    insurer: InsurerRecord | None


def bcd_date(raw: bytes) -> date | None:
    """4-byte BCD DDMMYYYY; all-zero or all-FF means 'not set'."""
    if len(raw) != 4:
        raise CardDataError(f"BCD date must be 4 bytes, got {len(raw)}")
    if raw in (b"\x00" * 4, b"\xff" * 4):
        return None
    digits = raw.hex()
    if not digits.isdigit():
        raise CardDataError(f"BCD date holds non-decimal nibbles: {digits}")
    try:
        return date(int(digits[4:8]), int(digits[2:4]), int(digits[0:2]))
    except ValueError as exc:
        raise CardDataError(f"BCD date {digits} is no real date") from exc


def encode_bcd_date(value: date) -> bytes:
    return bytes.fromhex(f"{value.day:02d}{value.month:02d}{value.year:04d}")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        # Assumption: older cards may carry CP1251; never crash on it.
        return raw.decode("cp1251", errors="replace").strip()


def _sex(raw: bytes) -> Sex | None:
    """Assumption: one byte 1/2, or the text '1'/'2' or 'М'/'Ж'."""
    text = _text(raw).upper()
    if raw in (b"\x01",) or text in ("1", "М", "M"):
        return Sex.MALE
    if raw in (b"\x02",) or text in ("2", "Ж", "F"):
        return Sex.FEMALE
    return None


def _fields(template: tlv.Tlv) -> dict[int, bytes]:
    return {c.tag: c.value for c in template.children()}


def parse_holder(template: tlv.Tlv) -> CardHolder:
    f = _fields(template)
    number = _text(f.get(T_POLICY, b""))
    if not number:
        raise CardDataError("holder data has no policy number (5F26)")
    return CardHolder(
        surname=_text(f.get(T_SURNAME, b"")),
        given_name=_text(f.get(T_GIVEN, b"")),
        patronymic=_text(f.get(T_PATRONYMIC, b"")),
        birth_date=bcd_date(f[T_BIRTH]) if T_BIRTH in f else None,
        sex=_sex(f[T_SEX]) if T_SEX in f else None,
        policy_number=number,
        snils=_text(f[T_SNILS]) or None if T_SNILS in f else None,
        expiry=bcd_date(f[T_EXPIRY]) if T_EXPIRY in f else None,
        birthplace=_text(f[T_BIRTHPLACE]) if T_BIRTHPLACE in f else None,
        issued=bcd_date(f[T_ISSUED]) if T_ISSUED in f else None,
    )


def parse_insurer(template: tlv.Tlv) -> InsurerRecord:
    children = template.children()
    signed = bytearray()
    signature = certificate = None
    fields: dict[int, bytes] = {}
    for child in children:
        if child.tag == T_SIGNATURE_BLOCK:
            block = {c.tag: c.value for c in child.children()}
            signature, certificate = block.get(T_SIGNATURE), block.get(T_CERTIFICATE)
            break
        signed += child.raw
        fields[child.tag] = child.value
    if T_OGRN not in fields:
        raise CardDataError("insurer record has no ОГРН (5F51)")
    return InsurerRecord(
        ogrn=_text(fields[T_OGRN]),
        okato=_text(fields.get(T_OKATO, b"")),
        start=bcd_date(fields[T_START]) if T_START in fields else None,
        end=bcd_date(fields[T_END]) if T_END in fields else None,
        signed_data=bytes(signed),
        signature=signature,
        certificate=certificate,
    )


def parse_dump(raw: bytes) -> CardDump:
    """Parse a card dump: the ``62`` holder template, then optionally the ``64`` record."""
    top = {t.tag: t for t in tlv.parse(raw)}
    if HOLDER_TAG not in top:
        raise CardDataError("card dump has no holder template (tag 62)")
    holder = parse_holder(top[HOLDER_TAG])
    insurer = parse_insurer(top[INSURER_TAG]) if INSURER_TAG in top else None
    return CardDump(holder=holder, insurer=insurer)


def encode_holder(h: CardHolder) -> bytes:
    parts = [
        tlv.encode(T_SURNAME, h.surname.encode()),
        tlv.encode(T_GIVEN, h.given_name.encode()),
        tlv.encode(T_PATRONYMIC, h.patronymic.encode()),
        tlv.encode(T_POLICY, h.policy_number.encode()),
    ]
    if h.birth_date:
        parts.append(tlv.encode(T_BIRTH, encode_bcd_date(h.birth_date)))
    if h.sex:
        parts.append(tlv.encode(T_SEX, b"\x01" if h.sex is Sex.MALE else b"\x02"))
    if h.snils:
        parts.append(tlv.encode(T_SNILS, h.snils.encode()))
    if h.expiry:
        parts.append(tlv.encode(T_EXPIRY, encode_bcd_date(h.expiry)))
    if h.birthplace:
        parts.append(tlv.encode(T_BIRTHPLACE, h.birthplace.encode()))
    if h.issued:
        parts.append(tlv.encode(T_ISSUED, encode_bcd_date(h.issued)))
    return tlv.encode(HOLDER_TAG, b"".join(parts))


def encode_insurer_signed_part(
    ogrn: str, okato: str, start: date | None, end: date | None
) -> bytes:
    """The bytes the insurer signature covers (by assumption)."""
    parts = [tlv.encode(T_OGRN, ogrn.encode()), tlv.encode(T_OKATO, okato.encode())]
    if start:
        parts.append(tlv.encode(T_START, encode_bcd_date(start)))
    if end:
        parts.append(tlv.encode(T_END, encode_bcd_date(end)))
    return b"".join(parts)


def encode_insurer(signed_part: bytes, signature: bytes | None, certificate: bytes | None) -> bytes:
    block = b""
    if signature is not None or certificate is not None:
        inner = (tlv.encode(T_SIGNATURE, signature) if signature else b"") + (
            tlv.encode(T_CERTIFICATE, certificate) if certificate else b""
        )
        block = tlv.encode(T_SIGNATURE_BLOCK, inner)
    return tlv.encode(INSURER_TAG, signed_part + block)
