"""Pure-Python GOST R 34.11-94 (with its GOST 28147-89 step cipher).

Two S-box parameter sets: CryptoPro (``1.2.643.2.2.30.1``, the one used in practice and the
only one OpenSSL's ``md_gost94`` knows) and the test set (``1.2.643.2.2.30.0``) that RFC 5831's
examples use.  Byte conventions follow the OpenSSL GOST engine: blocks, the checksum and the
bit length are little-endian 256-bit numbers.
"""

from __future__ import annotations

from typing import Final

BLOCK_SIZE: Final = 32
DIGEST_SIZE: Final = 32
_MASK256: Final = (1 << 256) - 1

# Rows k8..k1, as in the GOST engine's gost_subst_block (k1 substitutes the lowest nibble).
SBOX_CRYPTOPRO: Final = (
    (0x1, 0x3, 0xA, 0x9, 0x5, 0xB, 0x4, 0xF, 0x8, 0x6, 0x7, 0xE, 0xD, 0x0, 0x2, 0xC),
    (0xD, 0xE, 0x4, 0x1, 0x7, 0x0, 0x5, 0xA, 0x3, 0xC, 0x8, 0xF, 0x6, 0x2, 0x9, 0xB),
    (0x7, 0x6, 0x2, 0x4, 0xD, 0x9, 0xF, 0x0, 0xA, 0x1, 0x5, 0xB, 0x8, 0xE, 0xC, 0x3),
    (0x7, 0x6, 0x4, 0xB, 0x9, 0xC, 0x2, 0xA, 0x1, 0x8, 0x0, 0xE, 0xF, 0xD, 0x3, 0x5),
    (0x4, 0xA, 0x7, 0xC, 0x0, 0xF, 0x2, 0x8, 0xE, 0x1, 0x6, 0x5, 0xD, 0xB, 0x9, 0x3),
    (0x7, 0xF, 0xC, 0xE, 0x9, 0x4, 0x1, 0x0, 0x3, 0xB, 0x5, 0x2, 0x6, 0xA, 0x8, 0xD),
    (0x5, 0xF, 0x4, 0x0, 0x2, 0xD, 0xB, 0x9, 0x1, 0x7, 0x6, 0x3, 0xC, 0xE, 0xA, 0x8),
    (0xA, 0x4, 0x5, 0x6, 0x8, 0x1, 0x3, 0x7, 0xD, 0xC, 0xE, 0x0, 0x9, 0x2, 0xB, 0xF),
)
SBOX_TEST: Final = (
    (0x1, 0xF, 0xD, 0x0, 0x5, 0x7, 0xA, 0x4, 0x9, 0x2, 0x3, 0xE, 0x6, 0xB, 0x8, 0xC),
    (0xD, 0xB, 0x4, 0x1, 0x3, 0xF, 0x5, 0x9, 0x0, 0xA, 0xE, 0x7, 0x6, 0x8, 0x2, 0xC),
    (0x4, 0xB, 0xA, 0x0, 0x7, 0x2, 0x1, 0xD, 0x3, 0x6, 0x8, 0x5, 0x9, 0xC, 0xF, 0xE),
    (0x6, 0xC, 0x7, 0x1, 0x5, 0xF, 0xD, 0x8, 0x4, 0xA, 0x9, 0xE, 0x0, 0x3, 0xB, 0x2),
    (0x7, 0xD, 0xA, 0x1, 0x0, 0x8, 0x9, 0xF, 0xE, 0x4, 0x6, 0xC, 0xB, 0x2, 0x5, 0x3),
    (0x5, 0x8, 0x1, 0xD, 0xA, 0x3, 0x4, 0x2, 0xE, 0xF, 0xC, 0x7, 0x6, 0x0, 0x9, 0xB),
    (0xE, 0xB, 0x4, 0xC, 0x6, 0xD, 0xF, 0xA, 0x2, 0x3, 0x8, 0x1, 0x0, 0x7, 0x5, 0x9),
    (0x4, 0xA, 0x9, 0x2, 0xD, 0x8, 0x0, 0xE, 0x6, 0xB, 0x1, 0xC, 0x7, 0xF, 0x5, 0x3),
)
PARAMSET_CRYPTOPRO: Final = "1.2.643.2.2.30.1"
PARAMSET_TEST: Final = "1.2.643.2.2.30.0"
_SBOXES: Final = {PARAMSET_CRYPTOPRO: SBOX_CRYPTOPRO, PARAMSET_TEST: SBOX_TEST}

Tables = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _rol11(x: int) -> int:
    return ((x << 11) | (x >> 21)) & 0xFFFFFFFF


def _tables(sbox: tuple[tuple[int, ...], ...]) -> Tables:
    """Byte-wide substitution tables with the 11-bit rotation already applied."""
    k8, k7, k6, k5, k4, k3, k2, k1 = sbox
    t87 = tuple(_rol11(((k8[i >> 4] << 4) | k7[i & 15]) << 24) for i in range(256))
    t65 = tuple(_rol11(((k6[i >> 4] << 4) | k5[i & 15]) << 16) for i in range(256))
    t43 = tuple(_rol11(((k4[i >> 4] << 4) | k3[i & 15]) << 8) for i in range(256))
    t21 = tuple(_rol11((k2[i >> 4] << 4) | k1[i & 15]) for i in range(256))
    return t87, t65, t43, t21


_TABLE_CACHE: dict[str, Tables] = {oid: _tables(s) for oid, s in _SBOXES.items()}
_ORDER: Final = (0, 1, 2, 3, 4, 5, 6, 7) * 3 + (7, 6, 5, 4, 3, 2, 1, 0)


def _encrypt(tab: Tables, key: bytes, block: int) -> int:
    """GOST 28147-89 ECB encryption of one 64-bit little-endian block."""
    t87, t65, t43, t21 = tab
    k = [int.from_bytes(key[i : i + 4], "little") for i in range(0, 32, 4)]
    n1 = block & 0xFFFFFFFF
    n2 = block >> 32
    for idx in _ORDER:
        x = (n1 + k[idx]) & 0xFFFFFFFF
        n1, n2 = n2 ^ (t87[x >> 24] ^ t65[(x >> 16) & 255] ^ t43[(x >> 8) & 255] ^ t21[x & 255]), n1
    return n2 | (n1 << 32)


def _a(y: bytes) -> bytes:
    """A(y4||y3||y2||y1) = (y1^y2)||y4||y3||y2, little-endian byte layout."""
    return y[8:] + bytes(a ^ b for a, b in zip(y[:8], y[8:16], strict=True))


def _p(y: bytes) -> bytes:
    return bytes(y[8 * (k % 4) + k // 4] for k in range(32))


# C3 flips these bytes of U (GOST engine hash_step); the rest of C2..C4 is zero.
_C3_BYTES: Final = (1, 3, 5, 7, 8, 10, 12, 14, 17, 18, 20, 23, 24, 28, 29, 31)
_C3: Final = bytes(0xFF if i in _C3_BYTES else 0 for i in range(32))
_C3_INT: Final = int.from_bytes(_C3, "little")


def _psi_n(s: int, times: int) -> int:
    """Apply the psi shift register ``times`` times to a 256-bit little-endian value."""
    w = [(s >> (16 * i)) & 0xFFFF for i in range(16)]
    for _ in range(times):
        w.append(w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[12] ^ w[15])
        del w[0]
    out = 0
    for i, v in enumerate(w):
        out |= v << (16 * i)
    return out


def _step(tab: Tables, h: bytes, m: bytes) -> bytes:
    """Step function f(H, M) of GOST R 34.11-94."""
    hi = int.from_bytes(h, "little")
    mi = int.from_bytes(m, "little")
    u, v = h, m
    s = 0
    for j in range(4):
        if j:
            u = _a(u)
            if j == 2:
                u = (int.from_bytes(u, "little") ^ _C3_INT).to_bytes(32, "little")
            v = _a(_a(v))
        w = (int.from_bytes(u, "little") ^ int.from_bytes(v, "little")).to_bytes(32, "little")
        key = _p(w)
        s |= _encrypt(tab, key, (hi >> (64 * j)) & 0xFFFFFFFFFFFFFFFF) << (64 * j)
    s = _psi_n(s, 12) ^ mi
    s = _psi_n(s, 1) ^ hi
    return _psi_n(s, 61).to_bytes(32, "little")


class Gost94:
    """Incremental GOST R 34.11-94 with a hashlib-like interface (pure Python)."""

    digest_size: Final = DIGEST_SIZE
    block_size: Final = BLOCK_SIZE
    __slots__ = ("_buf", "_h", "_length", "_sigma", "_tab", "paramset")

    def __init__(self, data: bytes = b"", paramset: str = PARAMSET_CRYPTOPRO) -> None:
        if paramset not in _TABLE_CACHE:
            raise ValueError(f"unknown GOST R 34.11-94 parameter set {paramset}")
        self.paramset = paramset
        self._tab = _TABLE_CACHE[paramset]
        self._h = bytes(32)
        self._sigma = 0
        self._length = 0
        self._buf = b""
        if data:
            self.update(data)

    @property
    def name(self) -> str:
        return "gost94" if self.paramset == PARAMSET_CRYPTOPRO else "gost94-test"

    def update(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._buf + bytes(data)
        full = len(buf) - len(buf) % BLOCK_SIZE
        h, sigma, tab = self._h, self._sigma, self._tab
        for off in range(0, full, BLOCK_SIZE):
            m = buf[off : off + BLOCK_SIZE]
            h = _step(tab, h, m)
            sigma = (sigma + int.from_bytes(m, "little")) & _MASK256
        self._h, self._sigma = h, sigma
        self._length += 8 * full
        self._buf = buf[full:]

    def copy(self) -> Gost94:
        other = Gost94.__new__(Gost94)
        other.paramset, other._tab = self.paramset, self._tab
        other._h, other._sigma, other._length, other._buf = (
            self._h,
            self._sigma,
            self._length,
            self._buf,
        )
        return other

    def digest(self) -> bytes:
        h, sigma, length = self._h, self._sigma, self._length
        if self._buf:
            m = self._buf + bytes(BLOCK_SIZE - len(self._buf))
            h = _step(self._tab, h, m)
            sigma = (sigma + int.from_bytes(m, "little")) & _MASK256
            length += 8 * len(self._buf)
        h = _step(self._tab, h, (length & _MASK256).to_bytes(32, "little"))
        return _step(self._tab, h, sigma.to_bytes(32, "little"))

    def hexdigest(self) -> str:
        return self.digest().hex()
