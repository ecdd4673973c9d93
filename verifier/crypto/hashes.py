"""GOST hash functions with a hashlib-like interface and two backends.

Names: ``streebog256``, ``streebog512`` (GOST R 34.11-2012), ``gost94`` (GOST R 34.11-94 with
the CryptoPro parameter set) and ``gost94-test`` (the RFC 5831 test parameter set, pure Python
only).  OpenSSL spellings ``md_gost12_256``, ``md_gost12_512``, ``md_gost94`` are accepted.

Backend: OpenSSL's ``gostprov`` via ``hashlib`` when it can be activated and passes a
known-answer test (about two orders of magnitude faster), else pure Python.  Both give identical
digests; one quirk is papered over: OpenSSL's GOST engine hashes the *empty* message for
34.11-94 as if it were one zero block, so an empty ``gost94`` input is always hashed in Python
(RFC 5831 semantics).
"""

from __future__ import annotations

import hashlib
from threading import Lock
from typing import Final, Protocol

from ._openssl import gost_provider_active
from .errors import UnsupportedAlgorithmError
from .hazmat.gost94 import PARAMSET_CRYPTOPRO, PARAMSET_TEST, Gost94
from .hazmat.streebog import Streebog

__all__ = [
    "DIGEST_OIDS",
    "HashObject",
    "digest",
    "hash_backend",
    "new",
]

STREEBOG256: Final = "streebog256"
STREEBOG512: Final = "streebog512"
GOST94: Final = "gost94"
GOST94_TEST: Final = "gost94-test"

_ALIASES: Final = {
    "streebog256": STREEBOG256,
    "streebog-256": STREEBOG256,
    "md_gost12_256": STREEBOG256,
    "streebog512": STREEBOG512,
    "streebog-512": STREEBOG512,
    "md_gost12_512": STREEBOG512,
    "gost94": GOST94,
    "md_gost94": GOST94,
    "gostr3411-94": GOST94,
    "gost94-test": GOST94_TEST,
}
_OPENSSL_NAMES: Final = {
    STREEBOG256: "md_gost12_256",
    STREEBOG512: "md_gost12_512",
    GOST94: "md_gost94",
}
# Digest algorithm OIDs (RFC 4357, RFC 9215).
DIGEST_OIDS: Final = {
    "1.2.643.2.2.9": GOST94,
    "1.2.643.7.1.1.2.2": STREEBOG256,
    "1.2.643.7.1.1.2.3": STREEBOG512,
}

# Known answers: RFC 6986 M1 for Streebog, the CryptoPro-paramset 32-byte example for 34.11-94.
_M1: Final = b"012345678901234567890123456789012345678901234567890123456789012"
_KAT: Final = {
    STREEBOG256: (_M1, "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
    STREEBOG512: (
        _M1,
        "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
        "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
    ),
    GOST94: (
        b"This is message, length=32 bytes",
        "2cefc2f7b7bdc514e18ea57fa74ff357e7fa17d652c75f69cb1be7893ede48eb",
    ),
}


class HashObject(Protocol):
    """What ``new()`` returns, whichever backend."""

    @property
    def name(self) -> str: ...
    @property
    def digest_size(self) -> int: ...
    @property
    def block_size(self) -> int: ...
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> HashObject: ...


class _OpenSSLHash:
    """Wraps a hashlib object so names, copy() and the empty-gost94 quirk match ours."""

    __slots__ = ("_h", "_name", "_seen")

    def __init__(self, name: str, h: hashlib._Hash, seen: bool) -> None:
        self._name = name
        self._h = h
        self._seen = seen

    @property
    def name(self) -> str:
        return self._name

    @property
    def digest_size(self) -> int:
        return self._h.digest_size

    @property
    def block_size(self) -> int:
        return self._h.block_size

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        if len(data):
            self._seen = True
            self._h.update(data)

    def digest(self) -> bytes:
        if not self._seen and self._name == GOST94:
            return Gost94().digest()
        return self._h.digest()

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> _OpenSSLHash:
        return _OpenSSLHash(self._name, self._h.copy(), self._seen)


_fast: dict[str, bool] = {}
_fast_lock = Lock()


def _fast_ok(name: str) -> bool:
    with _fast_lock:
        if name not in _fast:
            ok = False
            if name in _OPENSSL_NAMES and gost_provider_active():
                msg, want = _KAT[name]
                try:
                    ok = hashlib.new(_OPENSSL_NAMES[name], msg).hexdigest() == want
                except ValueError:
                    ok = False
            _fast[name] = ok
        return _fast[name]


def _canonical(name: str) -> str:
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise UnsupportedAlgorithmError(f"unknown GOST hash {name!r}") from None


def new(name: str, data: bytes | bytearray | memoryview = b"", *, pure: bool = False) -> HashObject:
    """A new hash object; ``pure=True`` forces the Python backend (tests, benchmarks)."""
    canon = _canonical(name)
    if not pure and _fast_ok(canon):
        h = _OpenSSLHash(canon, hashlib.new(_OPENSSL_NAMES[canon]), False)
        h.update(data)
        return h
    obj: HashObject
    if canon == STREEBOG256:
        obj = Streebog(32)
    elif canon == STREEBOG512:
        obj = Streebog(64)
    elif canon == GOST94:
        obj = Gost94(paramset=PARAMSET_CRYPTOPRO)
    else:
        obj = Gost94(paramset=PARAMSET_TEST)
    obj.update(data)
    return obj


def digest(name: str, data: bytes | bytearray | memoryview, *, pure: bool = False) -> bytes:
    """One-shot digest."""
    return new(name, data, pure=pure).digest()


def hash_backend(name: str = STREEBOG256) -> str:
    """``"openssl-gostprov"`` if ``name`` runs in C via OpenSSL, else ``"python"``."""
    return "openssl-gostprov" if _fast_ok(_canonical(name)) else "python"
