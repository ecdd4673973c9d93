"""Codec for the 2D barcode on the paper OMS policy of the unified form (2011–2022).

Layout from REFERENCE §3 (confirmed by three independent decoders). 130 bytes: 65 data +
65 signature; scanners sometimes insert stray bytes, so 131/132-byte reads carry a 66/67-byte
data part (fields keep their offsets; the signature is always the last 65 bytes).
Pure functions over bytes: no I/O, no clock, no crypto.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum

from verifier.errors import BarcodeError
from verifier.identifiers import ENP_LENGTH, Sex, okato_text

SIGNATURE_LENGTH = 65
DATA_LENGTH = 65
ACCEPTED_LENGTHS = (130, 131, 132)
MAX_INPUT = 4096  # anything longer is not a policy barcode; refuse before looking inside

EPOCH = date(1900, 1, 1)

# index -> char; None marks the reserved codes 47..62
ALPHABET: tuple[str | None, ...] = (
    (" ", ".", "-", "‘")
    + tuple("0123456789")
    + tuple("АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЬЪЫЭЮЯ")
    + (None,) * 16
    + ("|",)
)
_CODE_OF = {ch: i for i, ch in enumerate(ALPHABET) if ch is not None}


class BarcodeType(IntEnum):
    TYPE1 = 0x01  # given|surname|patronymic, 6-bit LSB first, with ОГРН and ОКАТО
    TYPE2 = 0x02  # surname|given|patronymic, 6-bit MSB first, no insurer fields


@dataclass(frozen=True, slots=True)
class _Layout:
    name_offset: int
    name_bytes: int
    lsb_first: bool
    sex_offset: int
    birth_offset: int
    expiry_offset: int
    has_insurer: bool


_LAYOUTS = {
    BarcodeType.TYPE1: _Layout(9, 42, True, 51, 52, 54, True),
    BarcodeType.TYPE2: _Layout(9, 51, False, 60, 61, 63, False),
}
_OGRN_OFFSET, _OKATO_OFFSET = 56, 62


@dataclass(frozen=True, slots=True)
class PaperPolicy:
    """The decoded content of a paper policy barcode.

    ``signed_data`` and ``signature`` are kept verbatim for the signature check;
    ``expiry`` is None when the field is 0 (assumption: an indefinite policy).
    """

    barcode_type: BarcodeType
    enp: str
    surname: str
    given_name: str
    patronymic: str
    sex: Sex
    birth_date: date
    expiry: date | None
    smo_ogrn: str | None
    okato: str | None
    signed_data: bytes
    signature: bytes
    stray_bytes: int = 0


def name_capacity(barcode_type: BarcodeType) -> int:
    """How many 6-bit characters the type's name field holds (56 or 68)."""
    return _LAYOUTS[barcode_type].name_bytes * 8 // 6


# --- 6-bit names ---------------------------------------------------------------------------


def unpack_6bit(data: bytes, *, lsb_first: bool) -> str:
    """Unpack 6-bit character codes; raises on reserved codes (47–62)."""
    count = len(data) * 8 // 6
    if lsb_first:
        bits = int.from_bytes(data, "little")
        codes = [(bits >> (6 * i)) & 0x3F for i in range(count)]
    else:
        total = len(data) * 8
        bits = int.from_bytes(data, "big")
        codes = [(bits >> (total - 6 * (i + 1))) & 0x3F for i in range(count)]
    out = []
    for pos, code in enumerate(codes):
        ch = ALPHABET[code]
        if ch is None:
            raise BarcodeError(
                f"name field: reserved 6-bit code {code} at character {pos}", code="bad_charset"
            )
        out.append(ch)
    return "".join(out)


def pack_6bit(text: str, nbytes: int, *, lsb_first: bool) -> bytes:
    """Pack text into ``nbytes`` of 6-bit codes, padding with spaces."""
    count = nbytes * 8 // 6
    if len(text) > count:
        raise BarcodeError(f"name is {len(text)} characters, field holds {count}", code="too_long")
    padded = text.upper().replace("E", "Е").ljust(count)
    try:
        codes = [_CODE_OF[ch] for ch in padded]
    except KeyError as exc:
        raise BarcodeError(
            f"character {exc.args[0]!r} has no 6-bit code", code="bad_charset"
        ) from None
    bits = 0
    if lsb_first:
        for i, code in enumerate(codes):
            bits |= code << (6 * i)
        return bits.to_bytes(nbytes, "little")
    total = nbytes * 8
    for i, code in enumerate(codes):
        bits |= code << (total - 6 * (i + 1))
    return bits.to_bytes(nbytes, "big")


# --- dates ---------------------------------------------------------------------------------


def days_to_date(days: int) -> date:
    return EPOCH + timedelta(days=days)


def date_to_days(value: date) -> int:
    days = (value - EPOCH).days
    if not 0 <= days <= 0xFFFF:
        raise BarcodeError(
            f"date {value} does not fit the barcode's 16-bit day count", code="bad_date"
        )
    return days


# --- decode / encode -----------------------------------------------------------------------


def _split_name(text: str, btype: BarcodeType) -> tuple[str, str, str]:
    parts = text.rstrip(" ").split("|")
    if len(parts) != 3:
        raise BarcodeError(
            f"name field has {len(parts)} parts, expected 3 separated by '|'", code="bad_name"
        )
    a, b, patronymic = (p.strip() for p in parts)
    surname, given = (b, a) if btype is BarcodeType.TYPE1 else (a, b)
    if not surname:
        raise BarcodeError("name field has no surname", code="bad_name")
    return surname, given, patronymic


def decode(raw: bytes) -> PaperPolicy:
    """Decode a paper policy barcode; every defect is a :class:`BarcodeError`."""
    if len(raw) > MAX_INPUT:
        raise BarcodeError(
            f"{len(raw)} bytes is far too long for a policy barcode", code="too_long"
        )
    if len(raw) not in ACCEPTED_LENGTHS:
        raise BarcodeError(
            f"paper policy barcode is 130 bytes (131/132 with scanner noise), got {len(raw)}",
            code="bad_length",
        )
    try:
        btype = BarcodeType(raw[0])
    except ValueError:
        raise BarcodeError(f"unknown barcode type byte 0x{raw[0]:02x}", code="bad_type") from None
    lay = _LAYOUTS[btype]
    enp_int = int.from_bytes(raw[1:9], "big")
    enp = f"{enp_int:016d}"
    if len(enp) != ENP_LENGTH:
        raise BarcodeError("ENP field holds more than 16 digits", code="bad_enp")
    name = unpack_6bit(
        raw[lay.name_offset : lay.name_offset + lay.name_bytes], lsb_first=lay.lsb_first
    )
    surname, given, patronymic = _split_name(name, btype)
    sex_byte = raw[lay.sex_offset]
    if sex_byte not in (1, 2):
        raise BarcodeError(f"sex byte is {sex_byte}, expected 1 or 2", code="bad_sex")
    birth_days = int.from_bytes(raw[lay.birth_offset : lay.birth_offset + 2], "big")
    expiry_days = int.from_bytes(raw[lay.expiry_offset : lay.expiry_offset + 2], "big")
    if birth_days == 0:
        raise BarcodeError("birth date field is empty", code="bad_date")
    birth = days_to_date(birth_days)
    expiry = days_to_date(expiry_days) if expiry_days else None
    if expiry is not None and expiry < birth:
        raise BarcodeError(f"expiry {expiry} precedes birth date {birth}", code="bad_date")
    ogrn = okato = None
    if lay.has_insurer:
        ogrn_i = int.from_bytes(raw[_OGRN_OFFSET : _OGRN_OFFSET + 6], "big")
        ogrn = str(ogrn_i) if ogrn_i else None  # 0: not given
        okato = okato_text(int.from_bytes(raw[_OKATO_OFFSET : _OKATO_OFFSET + 3], "big")) or None
    data_len = len(raw) - SIGNATURE_LENGTH
    return PaperPolicy(
        barcode_type=btype,
        enp=enp,
        surname=surname,
        given_name=given,
        patronymic=patronymic,
        sex=Sex.MALE if sex_byte == 1 else Sex.FEMALE,
        birth_date=birth,
        expiry=expiry,
        smo_ogrn=ogrn,
        okato=okato,
        # The signature covers the 65 data bytes; stray bytes a scanner inserted after them are
        # not part of what the issuer signed (no field is read from them either).
        signed_data=bytes(raw[:DATA_LENGTH]),
        signature=bytes(raw[data_len:]),
        stray_bytes=data_len - DATA_LENGTH,
    )


def encode_data(
    *,
    barcode_type: BarcodeType,
    enp: str,
    surname: str,
    given_name: str,
    patronymic: str,
    sex: Sex,
    birth_date: date,
    expiry: date | None,
    smo_ogrn: str | None = None,
    okato: str | None = None,
) -> bytes:
    """The 65 signed data bytes; pair with a 65-byte signature field to get the barcode."""
    if len(enp) != ENP_LENGTH or not enp.isdigit():
        raise BarcodeError("ENP must be 16 digits", code="bad_enp")
    lay = _LAYOUTS[barcode_type]
    out = bytearray(DATA_LENGTH)
    out[0] = barcode_type.value
    out[1:9] = int(enp).to_bytes(8, "big")
    first, second = (
        (given_name, surname) if barcode_type is BarcodeType.TYPE1 else (surname, given_name)
    )
    name = f"{first}|{second}|{patronymic}"
    out[lay.name_offset : lay.name_offset + lay.name_bytes] = pack_6bit(
        name, lay.name_bytes, lsb_first=lay.lsb_first
    )
    out[lay.sex_offset] = 1 if sex is Sex.MALE else 2
    out[lay.birth_offset : lay.birth_offset + 2] = date_to_days(birth_date).to_bytes(2, "big")
    exp = date_to_days(expiry) if expiry is not None else 0
    out[lay.expiry_offset : lay.expiry_offset + 2] = exp.to_bytes(2, "big")
    if lay.has_insurer:
        ogrn_i = int(smo_ogrn or 0)
        okato_i = int(okato or 0)
        if ogrn_i >= 1 << 48 or okato_i >= 1 << 24:
            raise BarcodeError("ОГРН or ОКАТО too large for its field", code="too_long")
        out[_OGRN_OFFSET : _OGRN_OFFSET + 6] = ogrn_i.to_bytes(6, "big")
        out[_OKATO_OFFSET : _OKATO_OFFSET + 3] = okato_i.to_bytes(3, "big")
    return bytes(out)


def assemble(data: bytes, signature_field: bytes) -> bytes:
    if len(data) != DATA_LENGTH or len(signature_field) != SIGNATURE_LENGTH:
        raise BarcodeError("data and signature field must be 65 bytes each", code="bad_length")
    return data + signature_field
