"""BER-TLV (ISO/IEC 7816-4 subset) as used on the Goznak policy card.

Strict: any length that runs past the buffer, an over-long tag or length, or nesting deeper
than :data:`MAX_DEPTH` is a :class:`TlvError`, so garbage from a card never crashes a reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from verifier.errors import InputError

MAX_DEPTH = 8


class TlvError(InputError):
    code = "bad_tlv"


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes
    raw: bytes  # the whole encoded element, tag and length included (signatures cover these)

    @property
    def constructed(self) -> bool:
        first = self.tag
        while first > 0xFF:
            first >>= 8
        return bool(first & 0x20)

    def children(self, depth: int = 0) -> list[Tlv]:
        if depth >= MAX_DEPTH:
            raise TlvError("TLV nested too deep")
        return parse(self.value)

    def find(self, tag: int) -> Tlv | None:
        return next((c for c in self.children() if c.tag == tag), None)


def read_header(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, length, value_offset) of the element at ``pos``."""
    end = len(buf)
    if pos >= end:
        raise TlvError("TLV truncated: no tag")
    tag = buf[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        for _ in range(3):
            if pos >= end:
                raise TlvError("TLV truncated inside a multi-byte tag")
            b = buf[pos]
            pos += 1
            tag = (tag << 8) | b
            if not b & 0x80:
                break
        else:
            raise TlvError("TLV tag longer than 4 bytes")
    if pos >= end:
        raise TlvError("TLV truncated: no length")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80 or first > 0x84:
        raise TlvError(f"unsupported TLV length form 0x{first:02x}")
    else:
        n = first & 0x7F
        if pos + n > end:
            raise TlvError("TLV truncated inside a length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    return tag, length, pos


def iter_tlv(buf: bytes) -> Iterator[Tlv]:
    pos = 0
    while pos < len(buf):
        if buf[pos] in (0x00, 0xFF):  # padding between elements, as in ISO 7816-4
            pos += 1
            continue
        start = pos
        tag, length, vpos = read_header(buf, pos)
        if vpos + length > len(buf):
            raise TlvError(f"TLV {tag:X} declares {length} bytes, only {len(buf) - vpos} left")
        pos = vpos + length
        yield Tlv(tag=tag, value=bytes(buf[vpos:pos]), raw=bytes(buf[start:pos]))


def parse(buf: bytes) -> list[Tlv]:
    return list(iter_tlv(buf))


def encode(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(body)]) + body
    return tag_bytes + length + value
