"""Prime-field elliptic-curve arithmetic and the raw GOST R 34.10 sign/verify equations.

Points are Jacobian triples ``(X, Y, Z)`` representing ``(X/Z^2, Y/Z^3)``; ``Z == 0`` is the
point at infinity.  Verification computes ``z1*G + z2*Q`` with a per-curve fixed-base window
table for G (no doublings) and a width-5 wNAF for Q (or, from a key's second use on, a cached
window table for Q as well, for up to 32 keys), and compares ``x(C) mod q`` with ``r``
without a field inversion.  Signing multiplies a blinded nonce by G with a Montgomery ladder
(one addition and one doubling per bit whatever the bit is).  CPython big-int arithmetic is not
constant time; see docs/crypto.md for what that means.

Everything here works on integers: the digest-to-integer and byte-layout conventions live in
``verifier.crypto.signatures``.
"""

from __future__ import annotations

import secrets
from threading import Lock
from typing import Final

from .curves import Curve

Jacobian = tuple[int, int, int]
Affine = tuple[int, int]
INFINITY: Final[Jacobian] = (1, 1, 0)

_FIXED_WINDOW: Final = 4
_WNAF_WIDTH: Final = 5


def is_on_curve(curve: Curve, x: int, y: int) -> bool:
    """Affine point check, coordinates must already be reduced (0 <= x, y < p)."""
    p = curve.p
    if not (0 <= x < p and 0 <= y < p):
        return False
    return (y * y - (x * x * x + curve.a * x + curve.b)) % p == 0


def _double(pt: Jacobian, p: int, a: int) -> Jacobian:
    x1, y1, z1 = pt
    if z1 == 0 or y1 == 0:
        return INFINITY
    yy = y1 * y1 % p
    s = 4 * x1 * yy % p
    zz = z1 * z1 % p
    m = (3 * x1 * x1 + a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y1 * z1 % p


def _add_affine(pt: Jacobian, x2: int, y2: int, p: int, a: int) -> Jacobian:
    """Jacobian + affine ("mixed") addition; handles equal and opposite points."""
    x1, y1, z1 = pt
    if z1 == 0:
        return x2, y2, 1
    z1z1 = z1 * z1 % p
    h = (x2 * z1z1 - x1) % p
    r = (y2 * z1 * z1z1 - y1) % p
    if h == 0:
        return _double(pt, p, a) if r == 0 else INFINITY
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - y1 * hhh) % p, z1 * h % p


def _add(p1: Jacobian, p2: Jacobian, p: int, a: int) -> Jacobian:
    """Full Jacobian addition; handles infinity, equal and opposite points."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if h == 0:
        return _double(p1, p, a) if r == 0 else INFINITY
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - s1 * hhh) % p, z1 * z2 * h % p


def to_affine(curve: Curve, pt: Jacobian) -> Affine | None:
    """Affine coordinates, or None for the point at infinity."""
    x, y, z = pt
    if z == 0:
        return None
    p = curve.p
    zi = pow(z, -1, p)
    zi2 = zi * zi % p
    return x * zi2 % p, y * zi2 * zi % p


def _batch_affine(points: list[Jacobian], p: int) -> list[Affine]:
    """Montgomery's trick: one inversion for the whole list (no point may be infinity)."""
    acc = [1] * (len(points) + 1)
    for i, (_, _, z) in enumerate(points):
        acc[i + 1] = acc[i] * z % p
    inv = pow(acc[-1], -1, p)
    out: list[Affine] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zi = inv * acc[i] % p
        inv = inv * z % p
        zi2 = zi * zi % p
        out[i] = (x * zi2 % p, y * zi2 * zi % p)
    return out


_TABLES: dict[tuple[int, int, int], list[list[Affine]]] = {}
_TABLES_LOCK = Lock()
# Public keys seen in verify_e: a key's own window table is built on its second use, for up
# to _KEY_TABLE_LIMIT keys (a daemon checks many signatures from few issuer keys).
_KEY_SEEN: dict[tuple[int, int, int], int] = {}
_KEY_TABLE_LIMIT: Final = 32


def _window_table(curve: Curve, x: int, y: int, extra_bits: int = 0) -> list[list[Affine]]:
    """table[i][j-1] = j * 2^(4i) * P, built once per (curve, P) (about 15 ms for 256-bit);
    ``extra_bits`` adds windows for blinded scalars longer than q."""
    key = (id(curve), x, y) if not extra_bits else (id(curve) ^ extra_bits, x, y)
    table = _TABLES.get(key)
    if table is not None:
        return table
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is not None:
            return table
        p, a = curve.p, curve.a
        windows = (curve.q.bit_length() + extra_bits + _FIXED_WINDOW - 1) // _FIXED_WINDOW
        count = (1 << _FIXED_WINDOW) - 1
        flat: list[Jacobian] = []
        base: Jacobian = (x, y, 1)
        for _ in range(windows):
            acc = base
            row = [acc]
            for _ in range(count - 1):
                acc = _add(acc, base, p, a)
                row.append(acc)
            flat.extend(row)
            base = _double(row[count // 2], p, a)  # 2 * 8 * base = 16 * base
        aff = _batch_affine(flat, p)
        table = [aff[i * count : (i + 1) * count] for i in range(windows)]
        _TABLES[key] = table
        return table


def _fixed_base_table(curve: Curve) -> list[list[Affine]]:
    return _window_table(curve, curve.gx, curve.gy)


def _mul_table(curve: Curve, table: list[list[Affine]], k: int) -> Jacobian:
    """k*P from P's window table (public k): one mixed addition per non-zero nibble."""
    p, a = curve.p, curve.a
    acc = INFINITY
    i = 0
    while k:
        d = k & 15
        if d:
            x, y = table[i][d - 1]
            acc = _add_affine(acc, x, y, p, a)
        k >>= 4
        i += 1
    return acc


def _mul_base_vartime(curve: Curve, k: int) -> Jacobian:
    """k*G for public k (verification)."""
    return _mul_table(curve, _fixed_base_table(curve), k)


def _mul_key_vartime(curve: Curve, k: int, x: int, y: int) -> Jacobian:
    """k*Q for a public key Q: cached window table for keys in repeated use, else wNAF."""
    key = (id(curve), x, y)
    table = _TABLES.get(key)
    if table is not None:
        return _mul_table(curve, table, k)
    seen = _KEY_SEEN.get(key, 0) + 1
    if seen >= 2 and len(_TABLES) <= _KEY_TABLE_LIMIT:
        _KEY_SEEN.pop(key, None)
        return _mul_table(curve, _window_table(curve, x, y), k)
    if len(_KEY_SEEN) > 4 * _KEY_TABLE_LIMIT:
        _KEY_SEEN.clear()
    _KEY_SEEN[key] = seen
    return _mul_vartime(curve, k, x, y)


def _wnaf(k: int, width: int) -> list[int]:
    out: list[int] = []
    full = 1 << width
    half = full >> 1
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        out.append(d)
        k >>= 1
    return out


def _mul_vartime(curve: Curve, k: int, x: int, y: int) -> Jacobian:
    """k*(x, y) for public k using wNAF over precomputed odd multiples."""
    p, a = curve.p, curve.a
    digits = _wnaf(k, _WNAF_WIDTH)
    if not digits:
        return INFINITY
    pt: Jacobian = (x, y, 1)
    twice = _double(pt, p, a)
    odd = [pt]
    for _ in range((1 << (_WNAF_WIDTH - 2)) - 1):
        odd.append(_add(odd[-1], twice, p, a))
    if any(z == 0 for _, _, z in odd):  # only for points of tiny order: no fast path
        return _ladder(curve, k, x, y)
    aff = _batch_affine(odd, p)
    neg = [(ax, p - ay) for ax, ay in aff]
    # Doubling and mixed addition are inlined: this loop is most of a verification.
    a_is_m3 = a == p - 3
    x1, y1, z1 = 1, 1, 0
    for d in reversed(digits):
        if z1:
            yy = y1 * y1 % p
            s = 4 * x1 * yy % p
            zz = z1 * z1 % p
            m = 3 * (x1 - zz) * (x1 + zz) % p if a_is_m3 else (3 * x1 * x1 + a * zz * zz) % p
            x1 = (m * m - 2 * s) % p
            z1 = 2 * y1 * z1 % p
            y1 = (m * (s - x1) - 8 * yy * yy) % p  # y1 == 0 gives z1 == 0: infinity
        if d:
            ax, ay = aff[d >> 1] if d > 0 else neg[(-d) >> 1]
            if z1 == 0:
                x1, y1, z1 = ax, ay, 1
                continue
            z1z1 = z1 * z1 % p
            h = (ax * z1z1 - x1) % p
            r = (ay * z1 * z1z1 - y1) % p
            if h == 0:
                x1, y1, z1 = _double((x1, y1, z1), p, a) if r == 0 else INFINITY
                continue
            hh = h * h % p
            hhh = h * hh % p
            v = x1 * hh % p
            x1n = (r * r - hhh - 2 * v) % p
            y1 = (r * (v - x1n) - y1 * hhh) % p
            z1 = z1 * h % p
            x1 = x1n
    return x1, y1, z1


def _ladder(curve: Curve, k: int, x: int, y: int, bits: int | None = None) -> Jacobian:
    """Montgomery ladder: the same add+double sequence for every bit of k."""
    p, a = curve.p, curve.a
    r0 = INFINITY
    r1: Jacobian = (x, y, 1)
    nbits = bits if bits is not None else k.bit_length()
    for i in range(nbits - 1, -1, -1):
        bit = (k >> i) & 1
        # Swap-add-double-swap keeps the operation sequence independent of the bit.
        if bit:
            r0, r1 = r1, r0
        r1 = _add(r0, r1, p, a)
        r0 = _double(r0, p, a)
        if bit:
            r0, r1 = r1, r0
    return r0


_BLIND_BITS: Final = 64


def _comb_base_blinded(curve: Curve, k: int) -> Jacobian:
    """k*G for a blinded secret k from G's window table: exactly one mixed addition per window
    (into a dummy accumulator when the nibble is zero), so the operation sequence does not
    depend on k. Table rows are indexed by secret nibbles: CPython offers no constant-time
    memory access, which is why every call also blinds the scalar (see mul_secret)."""
    table = _window_table(curve, curve.gx, curve.gy, _BLIND_BITS)
    p, a = curve.p, curve.a
    acc = dummy = INFINITY
    for i, row in enumerate(table):
        d = (k >> (_FIXED_WINDOW * i)) & 15
        x, y = row[d - 1] if d else row[0]
        if d:
            acc = _add_affine(acc, x, y, p, a)
        else:
            dummy = _add_affine(dummy, x, y, p, a)
    return acc


def mul_secret(curve: Curve, k: int, x: int | None = None, y: int | None = None) -> Jacobian:
    """k*P (P defaults to G) for a secret k: scalar blinding, then a fixed operation sequence —
    a comb over G's precomputed table for the base point (signing: ~10x faster than the ladder),
    a Montgomery ladder for any other point."""
    q = curve.q
    # k' = k + m*q with a 64-bit m whose top bit is set, so k' has a fixed bit length and
    # differs on every call; k'*P == k*P because q*P == O.
    m = secrets.randbits(_BLIND_BITS) | (1 << (_BLIND_BITS - 1))
    blinded = k % q + m * q
    if x is None or y is None or (x, y) == (curve.gx, curve.gy):
        return _comb_base_blinded(curve, blinded)
    return _ladder(curve, blinded, x, y, bits=q.bit_length() + _BLIND_BITS)


def mul_public(curve: Curve, k: int, x: int, y: int) -> Jacobian:
    """k*P for public k (variable time)."""
    return _mul_vartime(curve, k, x, y)


def has_order_q(curve: Curve, x: int, y: int) -> bool:
    """True if q*(x, y) is the point at infinity (needed only when the cofactor is not 1)."""
    if curve.cofactor == 1:
        return True
    return _ladder(curve, curve.q, x, y)[2] == 0


def public_point(curve: Curve, d: int) -> Affine:
    """Q = d*G for a private scalar d in [1, q-1]."""
    pt = to_affine(curve, mul_secret(curve, d))
    if pt is None:  # impossible for d in range
        raise ValueError("private scalar is a multiple of q")
    return pt


def verify_e(curve: Curve, qx: int, qy: int, e: int, r: int, s: int) -> bool:
    """GOST R 34.10 verification for a digest already reduced to the integer e.

    Caller guarantees (qx, qy) is a valid public point; r and s are range-checked here.
    """
    q, p = curve.q, curve.p
    if not (0 < r < q and 0 < s < q):
        return False
    e %= q
    if e == 0:
        e = 1
    v = pow(e, -1, q)
    z1 = s * v % q
    z2 = (q - r) * v % q
    c = _add(_mul_base_vartime(curve, z1), _mul_key_vartime(curve, z2, qx, qy), p, curve.a)
    cx, _, cz = c
    if cz == 0:
        return False
    zz = cz * cz % p
    # x(C) = cx / zz; accept if x(C) mod q == r, i.e. x(C) in {r, r + q, ...} below p.
    cand = r
    while cand < p:
        if cand * zz % p == cx:
            return True
        cand += q
    return False


def sign_e(curve: Curve, d: int, e: int, k: int | None = None) -> tuple[int, int]:
    """GOST R 34.10 signature (r, s) of the integer e; k is random unless given (tests only)."""
    q = curve.q
    if not 0 < d < q:
        raise ValueError("private scalar out of range")
    e %= q
    if e == 0:
        e = 1
    while True:
        kk = k if k is not None else secrets.randbelow(q - 1) + 1
        pt = to_affine(curve, mul_secret(curve, kk))
        if pt is None:
            raise ValueError("nonce is a multiple of q")
        r = pt[0] % q
        s = (r * d + kk * e) % q
        if r and s:
            return r, s
        if k is not None:
            raise ValueError("the given nonce yields r == 0 or s == 0")
