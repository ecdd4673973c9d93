"""The Goznak electronic OMS policy card read path (REFERENCE §4), as pure functions.

:func:`read_card` takes the card's ATR and a ``transmit`` callable and returns the card dump the
pipeline expects (``verifier.formats.goznak_card``): the holder template ``62`` followed by the
current insurer template ``64``, byte for byte as stored on the card. The sequence:

1. ATR: historical bytes must be ``FOMSOMS``, otherwise :class:`UnknownCard`;
2. ``SELECT foms_root``, ``SELECT FOMS_ID``, ``SELECT EF 0201``; READ BINARY the holder TLV
   (tag and length first, a byte at a time as the reference reader does, then the value in
   chunks of at most 220 bytes);
3. ``SELECT FOMS_INS``, ``GET DATA 00 CA 01 B0 02`` → the 2-byte file id of the current insurer
   record; SELECT it and READ BINARY the insurer TLV the same way.

Anything unexpected (status words, garbage TLV, short or long reads, an ATR we do not know) is a
:class:`~drivers.smartcard.apdu.CardError` subclass with a stable code, never another exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.smartcard import apdu
from drivers.smartcard.apdu import CardError, Transmit
from verifier.formats import tlv
from verifier.formats.goznak_card import HOLDER_TAG, INSURER_TAG

GOZNAK_ATR = bytes.fromhex("3BF71300008131FE45464F4D534F4D53A9")
HISTORICAL_BYTES = b"FOMSOMS"
AID_ROOT = b"foms_root"
AID_ID = b"FOMS_ID"
AID_INS = b"FOMS_INS"
EF_HOLDER = 0x0201
GET_DATA_CURRENT_INSURER = (0x01, 0xB0, 0x02)  # P1, P2, Le
CHUNK = 220  # READ BINARY size that worked with the reference reader
MAX_TEMPLATE = 0x7FFF  # READ BINARY offsets are 15 bits: nothing beyond is readable


class UnknownCard(CardError):
    """Not a Goznak OMS card (or an ATR that does not even parse)."""

    code = "card_unknown"


class CardFormatError(CardError):
    """The card answered, but its files do not hold what the format says."""

    code = "card_bad_format"


@dataclass(frozen=True, slots=True)
class CardRead:
    atr: bytes
    holder: bytes  # the encoded 62 template
    insurer: bytes  # the encoded 64 template
    insurer_file: int

    @property
    def dump(self) -> bytes:
        return self.holder + self.insurer


# --- ATR ----------------------------------------------------------------------------------


def historical_bytes(atr: bytes) -> bytes:
    """ISO 7816-3 ATR parse; the historical bytes, or :class:`UnknownCard` for a broken ATR."""
    if len(atr) < 2 or atr[0] not in (0x3B, 0x3F):
        raise UnknownCard(f"ATR {atr.hex().upper() or '(empty)'} has no valid TS")
    t0 = atr[1]
    k = t0 & 0x0F
    pos, y, protocols = 2, t0 >> 4, set()
    while True:
        present = bin(y).count("1")
        if pos + present > len(atr):
            raise UnknownCard(f"ATR {atr.hex().upper()} truncated in its interface bytes")
        td = atr[pos + present - 1] if y & 0x8 else None
        pos += present
        if td is None:
            break
        protocols.add(td & 0x0F)
        y = td >> 4
    if pos + k > len(atr):
        raise UnknownCard(f"ATR {atr.hex().upper()} truncated in its historical bytes")
    hist = atr[pos : pos + k]
    needs_tck = bool(protocols - {0})
    if needs_tck:
        if pos + k + 1 != len(atr):
            raise UnknownCard(f"ATR {atr.hex().upper()}: TCK missing or trailing bytes")
        x = 0
        for b in atr[1:]:
            x ^= b
        if x:
            raise UnknownCard(f"ATR {atr.hex().upper()}: TCK check failed")
    elif pos + k != len(atr):
        raise UnknownCard(f"ATR {atr.hex().upper()}: trailing bytes")
    return bytes(hist)


def check_atr(atr: bytes) -> None:
    hist = historical_bytes(atr)
    if hist != HISTORICAL_BYTES:
        shown = hist.decode("ascii", "replace") if hist else "none"
        raise UnknownCard(f"not an OMS policy card: ATR {atr.hex().upper()} (historical {shown!r})")


# --- file reads ---------------------------------------------------------------------------


def _read(transmit: Transmit, offset: int, le: int, what: str) -> bytes:
    data = apdu.exchange(transmit, apdu.read_binary(offset, le), what)
    if not data:
        raise CardFormatError(f"{what}: card returned no data at offset {offset}")
    if len(data) > le:
        raise CardFormatError(f"{what}: asked for {le} bytes at {offset}, got {len(data)}")
    return data


def read_tlv_file(transmit: Transmit, expected_tag: int, what: str, *, chunk: int = CHUNK) -> bytes:
    """Read one BER-TLV element from the start of the current EF: header first, then the value.

    The header is read a byte at a time (a file shorter than a guessed header would make the
    card refuse the read); the value in chunks of at most ``chunk`` bytes.
    """
    if not 1 <= chunk <= 256:
        raise apdu.BadCommand(f"chunk {chunk} outside 1..256")
    header = bytearray(_read(transmit, 0, 1, what))
    if header[0] != expected_tag:
        raise CardFormatError(f"{what}: tag {header[0]:02X}, expected {expected_tag:02X}")
    header += _read(transmit, 1, 1, what)
    first = header[1]
    if first == 0x80 or first > 0x83:
        raise CardFormatError(f"{what}: unsupported length byte {first:02X}")
    if first & 0x80:
        n = first & 0x7F
        while len(header) < 2 + n:
            header += _read(transmit, len(header), 1, what)
    try:
        tag, length, value_at = tlv.read_header(bytes(header), 0)
    except tlv.TlvError as exc:
        raise CardFormatError(f"{what}: {exc.message}") from exc
    total = value_at + length
    if tag != expected_tag or value_at != len(header):
        raise CardFormatError(f"{what}: malformed TLV header {header.hex().upper()}")
    if total > MAX_TEMPLATE + 1:
        raise CardFormatError(f"{what}: declares {length} bytes, more than a card file holds")
    body = bytearray(header)
    while len(body) < total:
        body += _read(transmit, len(body), min(chunk, total - len(body)), what)
    if len(body) != total:
        raise CardFormatError(f"{what}: read {len(body)} bytes, the TLV declares {total}")
    try:
        tlv.parse(bytes(body[value_at:]))  # the template's children must be well-formed too
    except tlv.TlvError as exc:
        raise CardFormatError(f"{what}: garbage inside the template: {exc.message}") from exc
    return bytes(body)


def read_card(atr: bytes, transmit: Transmit, *, chunk: int = CHUNK) -> CardRead:
    """The whole REFERENCE §4 sequence; raises only :class:`CardError` subclasses."""
    check_atr(atr)
    apdu.exchange(transmit, apdu.select_name(AID_ROOT), "SELECT foms_root")
    apdu.exchange(transmit, apdu.select_name(AID_ID), "SELECT FOMS_ID")
    apdu.exchange(transmit, apdu.select_file_id(EF_HOLDER), "SELECT EF 0201")
    holder = read_tlv_file(transmit, HOLDER_TAG, "holder data (EF 0201)", chunk=chunk)
    apdu.exchange(transmit, apdu.select_name(AID_INS), "SELECT FOMS_INS")
    p1, p2, le = GET_DATA_CURRENT_INSURER
    fid = apdu.exchange(transmit, apdu.get_data(p1, p2, le), "GET DATA current insurer")
    if len(fid) != 2:
        raise CardFormatError(f"GET DATA current insurer: {len(fid)} bytes, expected a file id")
    apdu.exchange(transmit, apdu.select_file_id(fid), f"SELECT insurer record {fid.hex()}")
    insurer = read_tlv_file(transmit, INSURER_TAG, f"insurer record {fid.hex()}", chunk=chunk)
    return CardRead(atr=bytes(atr), holder=holder, insurer=insurer, insurer_file=int(fid.hex(), 16))
