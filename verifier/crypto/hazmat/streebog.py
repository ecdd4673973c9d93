"""Pure-Python Streebog (GOST R 34.11-2012), 256- and 512-bit.

Table-driven: the S, P and L steps are fused into eight 256-entry tables of 64-bit words
(``_streebog_tables``), and the 512-bit state is a single Python ``int`` so that XOR and the
mod-2^512 additions are one C-level operation each.  Only the fallback when OpenSSL's GOST
provider is unavailable (see ``verifier.crypto.hashes``).
"""

from __future__ import annotations

import struct
from typing import Final

from ._streebog_tables import LPS_TABLES, ROUND_CONSTANTS

BLOCK_SIZE: Final = 64
_MASK512: Final = (1 << 512) - 1
_PACK = struct.Struct("<8Q").pack
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = LPS_TABLES
_C = ROUND_CONSTANTS
_IV256: Final = int.from_bytes(b"\x01" * 64, "little")


def _lps(
    x: int,
    _pack: object = _PACK,
    t0: tuple[int, ...] = _T0,
    t1: tuple[int, ...] = _T1,
    t2: tuple[int, ...] = _T2,
    t3: tuple[int, ...] = _T3,
    t4: tuple[int, ...] = _T4,
    t5: tuple[int, ...] = _T5,
    t6: tuple[int, ...] = _T6,
    t7: tuple[int, ...] = _T7,
) -> int:
    b = x.to_bytes(64, "little")
    return int.from_bytes(
        _PACK(
            t0[b[0]]
            ^ t1[b[8]]
            ^ t2[b[16]]
            ^ t3[b[24]]
            ^ t4[b[32]]
            ^ t5[b[40]]
            ^ t6[b[48]]
            ^ t7[b[56]],
            t0[b[1]]
            ^ t1[b[9]]
            ^ t2[b[17]]
            ^ t3[b[25]]
            ^ t4[b[33]]
            ^ t5[b[41]]
            ^ t6[b[49]]
            ^ t7[b[57]],
            t0[b[2]]
            ^ t1[b[10]]
            ^ t2[b[18]]
            ^ t3[b[26]]
            ^ t4[b[34]]
            ^ t5[b[42]]
            ^ t6[b[50]]
            ^ t7[b[58]],
            t0[b[3]]
            ^ t1[b[11]]
            ^ t2[b[19]]
            ^ t3[b[27]]
            ^ t4[b[35]]
            ^ t5[b[43]]
            ^ t6[b[51]]
            ^ t7[b[59]],
            t0[b[4]]
            ^ t1[b[12]]
            ^ t2[b[20]]
            ^ t3[b[28]]
            ^ t4[b[36]]
            ^ t5[b[44]]
            ^ t6[b[52]]
            ^ t7[b[60]],
            t0[b[5]]
            ^ t1[b[13]]
            ^ t2[b[21]]
            ^ t3[b[29]]
            ^ t4[b[37]]
            ^ t5[b[45]]
            ^ t6[b[53]]
            ^ t7[b[61]],
            t0[b[6]]
            ^ t1[b[14]]
            ^ t2[b[22]]
            ^ t3[b[30]]
            ^ t4[b[38]]
            ^ t5[b[46]]
            ^ t6[b[54]]
            ^ t7[b[62]],
            t0[b[7]]
            ^ t1[b[15]]
            ^ t2[b[23]]
            ^ t3[b[31]]
            ^ t4[b[39]]
            ^ t5[b[47]]
            ^ t6[b[55]]
            ^ t7[b[63]],
        ),
        "little",
    )


def _g(h: int, n: int, m: int, lps: object = _lps, consts: tuple[int, ...] = _C) -> int:
    """Compression g_N(h, m) = E(LPS(h ^ N), m) ^ h ^ m."""
    k = _lps(h ^ n)
    s = k ^ m
    for c in consts:
        s = _lps(s)
        k = _lps(k ^ c)
        s ^= k
    return s ^ h ^ m


class Streebog:
    """Incremental Streebog hash with a hashlib-like interface (pure Python)."""

    block_size: Final = BLOCK_SIZE
    __slots__ = ("_buf", "_h", "_n", "_sigma", "digest_size")

    def __init__(self, digest_size: int = 64, data: bytes = b"") -> None:
        if digest_size not in (32, 64):
            raise ValueError("Streebog digest size is 32 or 64 bytes")
        self.digest_size = digest_size
        self._h = _IV256 if digest_size == 32 else 0
        self._n = 0
        self._sigma = 0
        self._buf = b""
        if data:
            self.update(data)

    @property
    def name(self) -> str:
        return "streebog256" if self.digest_size == 32 else "streebog512"

    def update(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._buf + bytes(data)
        full = len(buf) - len(buf) % BLOCK_SIZE
        h, n, sigma = self._h, self._n, self._sigma
        frombytes = int.from_bytes
        for off in range(0, full, BLOCK_SIZE):
            m = frombytes(buf[off : off + BLOCK_SIZE], "little")
            h = _g(h, n, m)
            n = (n + 512) & _MASK512
            sigma = (sigma + m) & _MASK512
        self._h, self._n, self._sigma = h, n, sigma
        self._buf = buf[full:]

    def copy(self) -> Streebog:
        other = Streebog.__new__(Streebog)
        other.digest_size = self.digest_size
        other._h, other._n, other._sigma, other._buf = self._h, self._n, self._sigma, self._buf
        return other

    def digest(self) -> bytes:
        rest = self._buf
        m = int.from_bytes(rest + b"\x01" + bytes(BLOCK_SIZE - 1 - len(rest)), "little")
        h = _g(self._h, self._n, m)
        n = (self._n + 8 * len(rest)) & _MASK512
        sigma = (self._sigma + m) & _MASK512
        h = _g(h, 0, n)
        h = _g(h, 0, sigma)
        out = h.to_bytes(64, "little")
        return out[32:] if self.digest_size == 32 else out

    def hexdigest(self) -> str:
        return self.digest().hex()
