"""Activate OpenSSL's GOST provider (Debian ``libengine-gost-openssl``) inside this process.

Why this route: ``hashlib`` already has libcrypto loaded and initialised when we run, so
setting ``OPENSSL_CONF`` now is too late, and re-exec'ing the daemon is heavy-handed.  Instead
we find the libcrypto that ``_hashlib`` itself is linked against (via /proc/self/maps, falling
back to the soname), and call ``OSSL_LIB_CTX_load_config(NULL, openssl-gost.cnf)`` on it, which
loads ``default`` + ``gostprov`` into the default library context that ``hashlib.new()`` fetches
from.  If that fails we try ``OSSL_PROVIDER_load(NULL, "gostprov")``.  Callers must check the
result with a known-answer test before trusting it (``verifier.crypto.hashes`` does).

Set ``OMS_GOST_BACKEND=python`` to skip all of this and use the pure-Python hashes.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path
from threading import Lock

CONFIG_PATH = Path(__file__).with_name("openssl-gost.cnf")
_lock = Lock()
_state: dict[str, bool] = {}
_lib_lock = Lock()
_lib: dict[str, ctypes.CDLL | None] = {}


def _libcrypto_path() -> str:
    """The libcrypto that ``_hashlib`` uses, not another one mapped into the process.

    Wheels such as opencv bundle their own (older) libcrypto; loading our config into that one
    would do nothing for hashlib. The right library reports the same version string as ``ssl``.
    """
    import _hashlib  # noqa: F401  (make sure the module and its libcrypto are mapped)
    import ssl

    candidates: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if (
                    "libcrypto" in Path(path).name
                    and path.startswith("/")
                    and path not in candidates
                ):
                    candidates.append(path)
    except OSError:
        pass
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            version = lib.OpenSSL_version
            version.argtypes = [ctypes.c_int]
            version.restype = ctypes.c_char_p
            if version(0).decode() == ssl.OPENSSL_VERSION:
                return path
        except (OSError, AttributeError, UnicodeDecodeError):
            continue
    return "libcrypto.so.3"


def load_libcrypto() -> ctypes.CDLL | None:
    """The libcrypto hashlib uses, opened once per process (None if it cannot be opened).

    Shared with the signature backend (``_openssl_sig``) so both talk to the same library.
    """
    with _lib_lock:
        if "lib" not in _lib:
            try:
                _lib["lib"] = ctypes.CDLL(_libcrypto_path())
            except OSError:
                _lib["lib"] = None
        return _lib["lib"]


def _digest_available(name: str) -> bool:
    try:
        hashlib.new(name)
    except (ValueError, TypeError):
        return False
    return True


def _activate() -> bool:
    if os.environ.get("OMS_GOST_BACKEND", "").lower() == "python":
        return False
    if _digest_available("md_gost12_256"):
        return True  # OPENSSL_CONF already did it
    lib = load_libcrypto()
    if lib is None:
        return False
    try:
        load_config = lib.OSSL_LIB_CTX_load_config
        load_config.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        load_config.restype = ctypes.c_int
        if load_config(None, os.fsencode(CONFIG_PATH)) == 1 and _digest_available("md_gost12_256"):
            return True
    except AttributeError:  # not OpenSSL 3
        return False
    try:
        load_provider = lib.OSSL_PROVIDER_load
        load_provider.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        load_provider.restype = ctypes.c_void_p
        load_provider(None, b"default")
        if load_provider(None, b"gostprov"):
            return _digest_available("md_gost12_256")
    except AttributeError:
        pass
    return False


def gost_provider_active() -> bool:
    """Try once per process to make hashlib's libcrypto know the GOST digests."""
    with _lock:
        if "active" not in _state:
            _state["active"] = _activate()
        return _state["active"]
