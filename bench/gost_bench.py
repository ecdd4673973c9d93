"""Benchmark: GOST R 34.10 verification (ours vs PyPI gostcrypto) and Streebog-256 backends.

Run: python bench/gost_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.crypto import generate_private_key, hash_backend, hash_digest, sign, verify


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up (also builds the fixed-base table)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    priv = generate_private_key("gost2012_256", "A")  # CryptoPro-A curve
    pub = priv.public_key()
    message = b"OMS policy payload " * 20
    signature = sign(priv, message)
    assert verify(pub, message, signature)
    # First use of a key: wNAF for Q (no per-key table yet).
    fresh = []
    for _ in range(31):
        k = generate_private_key("gost2012_256", "A")
        fresh.append((k.public_key(), sign(k, message)))
    cold = []
    for key, sig in fresh:
        t = time.perf_counter()
        verify(key, message, sig)
        cold.append(time.perf_counter() - t)
    cold_ms = statistics.median(cold) * 1000
    print(f"verify 256-bit CryptoPro-A, ours, key first seen:   {cold_ms:8.3f} ms (median of 31)")
    # Repeated key (the daemon's case): cached window table for Q from the 2nd use on.
    ours = _median_ms(lambda: verify(pub, message, signature), 200)
    print(f"verify 256-bit CryptoPro-A, ours, key in repeat use:{ours:8.3f} ms (median of 200)")

    try:
        import gostcrypto  # type: ignore[import-untyped]
    except ImportError:
        print("gostcrypto not installed (pip install gostcrypto); no ratio")
    else:
        curve = gostcrypto.gostsignature.CURVES_R_1323565_1_024_2019[
            "id-tc26-gost-3410-2012-256-paramSetB"  # = CryptoPro-A
        ]
        gs = gostcrypto.gostsignature.new(gostcrypto.gostsignature.MODE_256, curve)
        digest = hash_digest("streebog256", message)
        # gostcrypto: big-endian x||y key, r||s signature, digest bytes read big-endian.
        size = pub.curve.size
        gkey = bytearray(pub.x.to_bytes(size, "big") + pub.y.to_bytes(size, "big"))
        gsig = bytearray(signature[size:] + signature[:size])
        gdigest = bytearray(digest[::-1])
        assert gs.verify(gkey, gdigest, gsig), "gostcrypto rejected our signature"
        theirs = _median_ms(lambda: gs.verify(gkey, gdigest, gsig), 15)
        label = "verify 256-bit CryptoPro-A, gostcrypto:"
        print(f"{label:52s}{theirs:8.3f} ms (median of 15)")
        print(f"speed-up: {theirs / cold_ms:.1f}x (first use), {theirs / ours:.1f}x (repeat use)")

    data = os.urandom(8 << 20)
    small = data[: 1 << 20]
    for label, pure, blob in (("C (OpenSSL gostprov)", False, data), ("pure Python", True, small)):
        if not pure and hash_backend("streebog256") != "openssl-gostprov":
            print("Streebog-256 C backend: unavailable (install libengine-gost-openssl)")
            continue
        t = time.perf_counter()
        hash_digest("streebog256", blob, pure=pure)
        dt = time.perf_counter() - t
        print(f"Streebog-256 {label:22s} {len(blob) / dt / 1e6:10.2f} MB/s")


if __name__ == "__main__":
    main()
