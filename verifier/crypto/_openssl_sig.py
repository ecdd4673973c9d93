"""GOST R 34.10 verify/sign in C through OpenSSL's GOST engine, when it is there and proves itself.

Why the ENGINE API: Debian's ``libengine-gost-openssl`` ships a ``gostprov`` provider that, in
this version, has the digests but no signatures; the ``gost`` engine has both.  We open the same
libcrypto hashlib uses (``_openssl.load_libcrypto``), ``ENGINE_by_id("gost")`` (OpenSSL loads the
dynamic engine from ``OPENSSL_ENGINES`` or its ENGINESDIR), register only the engine's ASN.1 key
methods (so ``d2i_PUBKEY``/``d2i_AutoPrivateKey`` understand GOST keys) and pass the engine
explicitly to every ``EVP_PKEY_CTX``: nothing else in the process changes its defaults.

Trust: before the first answer the engine must reproduce the RFC 7091 examples (accept them, refuse
them with a bit flipped); before its first answer about a parameter set it must also pass that
set's vector from ``_gost_kat`` (verify, refuse a flipped bit, sign with the vector's key and
accept its own signature).  Anything failing -> the caller's pure-Python path, with the reason in
``backend()`` / ``backend_for()``.  ``OMS_GOST_BACKEND=python`` turns the engine off.

Callers (``verifier.crypto.signatures``) do every length/range check first, so typed errors and
False-for-out-of-range come from one place whichever backend answers; this module only does the
arithmetic and returns None when the engine cannot answer (the caller then asks Python).

EVP_PKEY objects are cached per key (LRU, bounded) inside small owner objects that free them when
the last reference goes: a thread still using a key that was just evicted keeps it alive.
ctypes drops the GIL around each C call, so the daemon's thread pool verifies in parallel.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
from threading import Lock
from typing import Any, Final, NamedTuple

from cachetools import LRUCache

from . import _gost_kat
from ._openssl import load_libcrypto
from .keys import Algorithm, PrivateKey, PublicKey, default_digest_param

__all__ = ["ENGINE", "PYTHON", "Backend", "EngineBackend", "backend", "backend_for", "engine_for"]

log = logging.getLogger(__name__)

ENGINE: Final = "openssl-engine"
PYTHON: Final = "python"
PUBLIC_CACHE_SIZE: Final = 256
PRIVATE_CACHE_SIZE: Final = 8

_P = ctypes.c_void_p


class Backend(NamedTuple):
    """Which implementation answers (``"openssl-engine"`` or ``"python"``) and why."""

    name: str
    reason: str


class _Api:
    """The few libcrypto functions we call, with their C signatures.

    ``lib[name]`` makes a fresh function object, so these argtypes cannot clash with other
    users of the same CDLL (``_openssl`` sets its own on attribute access).
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        def fn(name: str, restype: Any, *argtypes: Any) -> Any:
            f = lib[name]
            f.restype = restype
            f.argtypes = list(argtypes)
            return f

        pp = ctypes.POINTER(ctypes.c_char_p)
        self.engine_by_id = fn("ENGINE_by_id", _P, ctypes.c_char_p)
        self.engine_init = fn("ENGINE_init", ctypes.c_int, _P)
        self.engine_free = fn("ENGINE_free", ctypes.c_int, _P)
        self.register_asn1 = fn("ENGINE_register_pkey_asn1_meths", ctypes.c_int, _P)
        self.d2i_pubkey = fn("d2i_PUBKEY", _P, _P, pp, ctypes.c_long)
        self.d2i_private = fn("d2i_AutoPrivateKey", _P, _P, pp, ctypes.c_long)
        self.pkey_free = fn("EVP_PKEY_free", None, _P)
        self.ctx_new = fn("EVP_PKEY_CTX_new", _P, _P, _P)
        self.ctx_free = fn("EVP_PKEY_CTX_free", None, _P)
        self.verify_init = fn("EVP_PKEY_verify_init", ctypes.c_int, _P)
        self.verify = fn(
            "EVP_PKEY_verify",
            ctypes.c_int,
            _P,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
        )
        self.sign_init = fn("EVP_PKEY_sign_init", ctypes.c_int, _P)
        self.sign = fn(
            "EVP_PKEY_sign",
            ctypes.c_int,
            _P,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_char_p,
            ctypes.c_size_t,
        )
        self.clear_errors = fn("ERR_clear_error", None)


class _Pkey:
    """Owns one EVP_PKEY*; freed when the last Python reference (cache or caller) goes."""

    __slots__ = ("_free", "ptr")

    def __init__(self, ptr: int, free: Any) -> None:
        self.ptr = ptr
        self._free = free

    def __del__(self) -> None:
        ptr, self.ptr = self.ptr, 0
        if ptr:
            with contextlib.suppress(Exception):  # interpreter shutdown: the OS reclaims it
                self._free(ptr)


class EngineBackend:
    """A loaded, KAT-checked GOST engine; thread-safe."""

    def __init__(
        self,
        api: _Api,
        engine: int,
        public_cache: int = PUBLIC_CACHE_SIZE,
        private_cache: int = PRIVATE_CACHE_SIZE,
    ) -> None:
        self._api = api
        self._engine = engine
        self._lock = Lock()
        self._public: LRUCache[PublicKey, _Pkey] = LRUCache(public_cache)
        self._private: LRUCache[PrivateKey, _Pkey] = LRUCache(private_cache)
        self._paramsets: dict[tuple[str, str], Backend] = {}

    # --- key objects ---

    def _load_der(self, der: bytes, private: bool) -> _Pkey | None:
        api = self._api
        buf = ctypes.c_char_p(der)
        loader = api.d2i_private if private else api.d2i_pubkey
        ptr = loader(None, ctypes.byref(buf), len(der))
        if not ptr:
            api.clear_errors()
            return None
        return _Pkey(ptr, api.pkey_free)

    def _public_pkey(self, key: PublicKey) -> _Pkey | None:
        with self._lock:
            pkey = self._public.get(key)
        if pkey is None:
            pkey = self._load_der(key.to_der(), private=False)
            if pkey is not None:
                with self._lock:
                    pkey = self._public.setdefault(key, pkey)
        return pkey

    def _private_pkey(self, key: PrivateKey) -> _Pkey | None:
        with self._lock:
            pkey = self._private.get(key)
        if pkey is None:
            pkey = self._load_der(key.to_der(), private=True)
            if pkey is not None:
                with self._lock:
                    pkey = self._private.setdefault(key, pkey)
        return pkey

    # --- raw operations (inputs already checked by the caller) ---

    def _verify_raw(self, pkey: _Pkey, digest: bytes, signature: bytes) -> bool | None:
        api = self._api
        ctx = api.ctx_new(pkey.ptr, self._engine)
        if not ctx:
            api.clear_errors()
            return None
        try:
            if api.verify_init(ctx) != 1:
                api.clear_errors()
                return None
            rc = api.verify(ctx, signature, len(signature), digest, len(digest))
        finally:
            api.ctx_free(ctx)
        if rc == 1:
            return True
        api.clear_errors()
        return False if rc == 0 else None

    def _sign_raw(self, pkey: _Pkey, digest: bytes, size: int) -> bytes | None:
        api = self._api
        ctx = api.ctx_new(pkey.ptr, self._engine)
        if not ctx:
            api.clear_errors()
            return None
        out = ctypes.create_string_buffer(2 * size)
        length = ctypes.c_size_t(2 * size)
        try:
            if api.sign_init(ctx) != 1:
                api.clear_errors()
                return None
            rc = api.sign(ctx, out, ctypes.byref(length), digest, len(digest))
        finally:
            api.ctx_free(ctx)
        if rc != 1 or length.value != 2 * size:
            api.clear_errors()
            return None
        return out.raw

    def verify(self, key: PublicKey, digest: bytes, signature: bytes) -> bool | None:
        """Engine's answer for a length- and range-checked signature; None = ask Python."""
        pkey = self._public_pkey(key)
        if pkey is None:
            return None
        return self._verify_raw(pkey, digest, signature)

    def sign(self, key: PrivateKey, digest: bytes) -> bytes | None:
        """s||r over a length-checked digest; None = ask Python."""
        pkey = self._private_pkey(key)
        if pkey is None:
            return None
        return self._sign_raw(pkey, digest, key.curve.size)

    # --- known answers ---

    def check_vector(self, vec: _gost_kat.KatVector, *, sign: bool) -> str | None:
        """None if the engine reproduces ``vec``, else what went wrong."""
        pub = self._load_der(bytes.fromhex(vec.spki), private=False)
        if pub is None:
            return "engine does not load the public key"
        digest = bytes.fromhex(vec.digest)
        sig = bytes.fromhex(vec.signature)
        if self._verify_raw(pub, digest, sig) is not True:
            return "engine rejects the known signature"
        flipped = bytes([sig[0] ^ 0x01]) + sig[1:]
        if self._verify_raw(pub, digest, flipped) is not False:
            return "engine accepts a tampered signature"
        other = bytes([digest[0] ^ 0x01]) + digest[1:]
        if self._verify_raw(pub, other, sig) is not False:
            return "engine accepts the signature for another digest"
        if not sign:
            return None
        alg = Algorithm(vec.algorithm_oid)
        priv_key = PrivateKey(
            alg, vec.paramset_oid, int(vec.d, 16), default_digest_param(alg, vec.paramset_oid)
        )
        priv = self._load_der(priv_key.to_der(), private=True)
        if priv is None:
            return "engine does not load the private key"
        ours = self._sign_raw(priv, digest, priv_key.curve.size)
        if ours is None:
            return "engine fails to sign"
        if self._verify_raw(pub, digest, ours) is not True:
            return "engine's own signature does not verify"
        return None

    def paramset(self, algorithm_oid: str, paramset_oid: str) -> Backend:
        """Backend for one (key algorithm, parameter set), running its KAT the first time."""
        key = (algorithm_oid, paramset_oid)
        found = self._paramsets.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._paramsets.get(key)
            if found is None:
                found = self._check_paramset(algorithm_oid, paramset_oid)
                self._paramsets[key] = found
                if found.name != ENGINE:
                    log.warning(
                        "GOST %s %s: pure-Python signatures (%s)",
                        algorithm_oid,
                        paramset_oid,
                        found.reason,
                    )
        return found

    def _check_paramset(self, algorithm_oid: str, paramset_oid: str) -> Backend:
        for vec in _gost_kat.PARAMSETS:
            if (vec.algorithm_oid, vec.paramset_oid) == (algorithm_oid, paramset_oid):
                problem = self.check_vector(vec, sign=True)
                if problem is None:
                    return Backend(ENGINE, "parameter-set known-answer test passed")
                return Backend(PYTHON, f"parameter-set known-answer test failed: {problem}")
        return Backend(PYTHON, "no known-answer vector for this parameter set")


def _load(
    rfc: tuple[_gost_kat.KatVector, ...] = _gost_kat.RFC,
    *,
    public_cache: int = PUBLIC_CACHE_SIZE,
    private_cache: int = PRIVATE_CACHE_SIZE,
) -> tuple[EngineBackend | None, Backend]:
    """Open libcrypto, load and initialise the engine, run the RFC KAT (no global side effects
    beyond registering the engine's GOST key ASN.1 methods)."""
    if os.environ.get("OMS_GOST_BACKEND", "").lower() == PYTHON:
        return None, Backend(PYTHON, "disabled by OMS_GOST_BACKEND=python")
    lib = load_libcrypto()
    if lib is None:
        return None, Backend(PYTHON, "libcrypto could not be opened")
    try:
        api = _Api(lib)
    except AttributeError as exc:
        return None, Backend(PYTHON, f"libcrypto lacks the ENGINE API ({exc})")
    engine = api.engine_by_id(b"gost")
    if not engine:
        api.clear_errors()
        return None, Backend(
            PYTHON, "OpenSSL GOST engine not found (Debian package libengine-gost-openssl)"
        )
    if api.engine_init(engine) != 1:
        api.clear_errors()
        api.engine_free(engine)
        return None, Backend(PYTHON, "OpenSSL GOST engine failed to initialise")
    api.register_asn1(engine)
    backend_obj = EngineBackend(api, engine, public_cache, private_cache)
    for vec in rfc:
        problem = backend_obj.check_vector(vec, sign=True)
        if problem is not None:
            return None, Backend(PYTHON, f"RFC 7091 known-answer test failed: {problem}")
    return backend_obj, Backend(ENGINE, "OpenSSL GOST engine passed the RFC 7091 known-answer test")


_lock = Lock()
_state: list[tuple[EngineBackend | None, Backend]] = []


def _get() -> tuple[EngineBackend | None, Backend]:
    if _state:
        return _state[0]
    with _lock:
        if not _state:
            loaded = _load()
            if loaded[1].name != ENGINE:
                log.warning("GOST signatures in pure Python: %s", loaded[1].reason)
            _state.append(loaded)
        return _state[0]


def backend() -> Backend:
    """Process-wide answer: does the engine work at all (loads it and runs the RFC KAT once)."""
    return _get()[1]


def backend_for(algorithm: Algorithm, paramset_oid: str) -> Backend:
    """The backend that will answer for keys of this algorithm and parameter set."""
    eng, glob = _get()
    if eng is None:
        return glob
    return eng.paramset(algorithm.value, paramset_oid)


def engine_for(algorithm: Algorithm, paramset_oid: str) -> EngineBackend | None:
    """The engine if it may answer for this parameter set, else None (use Python)."""
    eng = _get()[0]
    if eng is None or eng.paramset(algorithm.value, paramset_oid).name != ENGINE:
        return None
    return eng
