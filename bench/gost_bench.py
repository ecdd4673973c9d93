"""Benchmark: GOST R 34.10 verify/sign: ours (OpenSSL engine and pure Python), OpenSSL's own C
loop measured in the same run, PyPI gostcrypto; and Streebog-256 backends.

The C baseline is a tiny program compiled here with gcc against the system libcrypto: it loads
the ``gost`` engine and calls ``EVP_DigestVerify`` / ``EVP_DigestSign`` (hash + curve
arithmetic, like ``openssl dgst``) and ``EVP_PKEY_verify`` (curve arithmetic only) in loops.
Goals (issue 17.3): verify <= 2x the C loop; the registry signs >= 2,000 answers/s.

Run: python bench/gost_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.crypto import generate_private_key, hash_backend, hash_digest, sign, verify
from verifier.crypto.signatures import backend, sign_digest

C_LOOP = r"""
#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char *unhex(const char *h, size_t *n) {
    size_t len = strlen(h) / 2;
    unsigned char *out = malloc(len);
    for (size_t i = 0; i < len; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
    *n = len;
    return out;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* argv: spki_hex pkcs8_hex message_hex signature_hex md_name rounds iterations */
int main(int argc, char **argv) {
    if (argc != 8) return 2;
    size_t spki_n, key_n, msg_n, sig_n;
    unsigned char *spki = unhex(argv[1], &spki_n), *key = unhex(argv[2], &key_n);
    unsigned char *msg = unhex(argv[3], &msg_n), *sig = unhex(argv[4], &sig_n);
    int rounds = atoi(argv[6]), iters = atoi(argv[7]);
    ENGINE *e = ENGINE_by_id("gost");
    if (!e || !ENGINE_init(e)) { ERR_print_errors_fp(stderr); return 3; }
    ENGINE_set_default(e, ENGINE_METHOD_ALL);
    const unsigned char *p = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_n);
    p = key;
    EVP_PKEY *priv = d2i_AutoPrivateKey(NULL, &p, (long)key_n);
    const EVP_MD *md = EVP_get_digestbyname(argv[5]);
    if (!pub || !priv || !md) { ERR_print_errors_fp(stderr); return 4; }
    unsigned char dg[64], out[128];
    unsigned int dg_n = 0;
    EVP_Digest(msg, msg_n, dg, &dg_n, md, e);
    double *t = calloc(rounds, sizeof(double));
    const char *names[3] = {"digest_verify", "pkey_verify", "digest_sign"};
    for (int op = 0; op < 3; op++) {
        for (int r = 0; r < rounds; r++) {
            double t0 = now();
            for (int i = 0; i < iters; i++) {
                int ok;
                if (op == 0) {
                    EVP_MD_CTX *m = EVP_MD_CTX_new();
                    ok = EVP_DigestVerifyInit(m, NULL, md, e, pub) == 1
                         && EVP_DigestVerify(m, sig, sig_n, msg, msg_n) == 1;
                    EVP_MD_CTX_free(m);
                } else if (op == 1) {
                    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, e);
                    ok = EVP_PKEY_verify_init(c) == 1
                         && EVP_PKEY_verify(c, sig, sig_n, dg, dg_n) == 1;
                    EVP_PKEY_CTX_free(c);
                } else {
                    size_t out_n = sizeof(out);
                    EVP_MD_CTX *m = EVP_MD_CTX_new();
                    ok = EVP_DigestSignInit(m, NULL, md, e, priv) == 1
                         && EVP_DigestSign(m, out, &out_n, msg, msg_n) == 1;
                    EVP_MD_CTX_free(m);
                }
                if (!ok) { ERR_print_errors_fp(stderr); return 5; }
            }
            t[r] = (now() - t0) / iters;
        }
        qsort(t, rounds, sizeof(double), cmp);
        printf("%s %.9f\n", names[op], t[rounds / 2]);
    }
    return 0;
}
"""


def _median_s(fn: Callable[[], object], rounds: int, iters: int) -> float:
    """Median over ``rounds`` of the mean time of ``iters`` calls (seconds per call)."""
    fn()  # warm-up (engine KAT, key caches, fixed-base tables)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        times.append((time.perf_counter() - t) / iters)
    return statistics.median(times)


def _c_loop(
    spki: bytes, pkcs8: bytes, message: bytes, sig: bytes, md: str, rounds: int, iters: int
) -> dict[str, float] | str:
    """Seconds per operation from the C program, or why it could not run."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return "no C compiler (apt-get install gcc libssl-dev)"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "gostloop.c"
        exe = Path(tmp) / "gostloop"
        src.write_text(C_LOOP, encoding="utf-8")
        build = subprocess.run(
            [gcc, "-O2", "-o", str(exe), str(src), "-lcrypto"],
            capture_output=True,
            text=True,
            check=False,
        )
        if build.returncode != 0:
            return f"build failed: {build.stderr.strip()[:300]}"
        args = [spki.hex(), pkcs8.hex(), message.hex(), sig.hex(), md, str(rounds), str(iters)]
        run = subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            return f"C loop failed ({run.returncode}): {run.stderr.strip()[:300]}"
    return {name: float(val) for name, val in (ln.split() for ln in run.stdout.splitlines())}


def _gostcrypto(pub_x: int, pub_y: int, size: int, signature: bytes, digest: bytes) -> None:
    try:
        import gostcrypto  # type: ignore[import-untyped]
    except ImportError:
        print("gostcrypto not installed (pip install gostcrypto); no comparison")
        return
    curve = gostcrypto.gostsignature.CURVES_R_1323565_1_024_2019[
        "id-tc26-gost-3410-2012-256-paramSetB"  # = CryptoPro-A
    ]
    gs = gostcrypto.gostsignature.new(gostcrypto.gostsignature.MODE_256, curve)
    # gostcrypto: big-endian x||y key, r||s signature, digest bytes read big-endian.
    gkey = bytearray(pub_x.to_bytes(size, "big") + pub_y.to_bytes(size, "big"))
    gsig = bytearray(signature[size:] + signature[:size])
    gdigest = bytearray(digest[::-1])
    assert gs.verify(gkey, gdigest, gsig), "gostcrypto rejected our signature"
    theirs = _median_s(lambda: gs.verify(gkey, gdigest, gsig), 5, 3)
    print(f"{'verify, gostcrypto (PyPI, pure Python)':52s}{theirs * 1e3:9.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    opts = parser.parse_args()
    rounds, iters = (3, 50) if opts.quick else (7, 300)

    print(f"signature backend: {backend().name} ({backend().reason})")
    priv = generate_private_key("gost2012_256", "A")  # CryptoPro-A curve
    pub = priv.public_key()
    message = b"OMS policy payload " * 20
    signature = sign(priv, message)
    assert verify(pub, message, signature) and verify(pub, message, signature, pure=True)
    digest = hash_digest("streebog256", message)

    c_args = (pub.to_der(), priv.to_der(), message, signature, "md_gost12_256", rounds, iters)
    c_before = _c_loop(*c_args)  # the C loop runs before and after ours: the machine is shared
    ours = _median_s(lambda: verify(pub, message, signature), rounds, iters)
    fresh = []
    for _ in range(31):
        k = generate_private_key("gost2012_256", "A")
        fresh.append((k.public_key(), sign(k, message)))
    cold = []
    for key, sig in fresh:
        t = time.perf_counter()
        assert verify(key, message, sig)
        cold.append(time.perf_counter() - t)
    ours_cold = statistics.median(cold)
    py = _median_s(lambda: verify(pub, message, signature, pure=True), rounds, max(iters // 10, 5))
    c_after = _c_loop(*c_args)
    c: dict[str, float] | str = c_before
    if isinstance(c_before, dict) and isinstance(c_after, dict):
        c = {name: min(c_before[name], c_after[name]) for name in c_before}  # the faster run

    print("GOST R 34.10-2012-256, CryptoPro-A, 380-byte message (Streebog-256 + verify):")
    rows = [
        ("verify, ours, OpenSSL engine, repeat key", ours),
        ("verify, ours, OpenSSL engine, key first seen", ours_cold),
        ("verify, ours, pure Python, repeat key", py),
    ]
    if isinstance(c_before, dict) and isinstance(c_after, dict):
        runs = f"{c_before['digest_verify'] * 1e3:.3f} / {c_after['digest_verify'] * 1e3:.3f} ms"
        print(f"(C loop EVP_DigestVerify before / after ours: {runs}; the faster one is used)")
    if isinstance(c, dict):
        rows += [
            ("verify, OpenSSL C loop (EVP_DigestVerify)", c["digest_verify"]),
            ("verify, OpenSSL C loop (EVP_PKEY_verify, no hash)", c["pkey_verify"]),
        ]
    for label, sec in rows:
        print(f"{label:52s}{sec * 1e3:9.3f} ms")
    if isinstance(c, dict):
        base = c["digest_verify"]
        print(
            f"ratio to the C loop: engine {ours / base:.2f}x (goal <= 2x), "
            f"first use {ours_cold / base:.2f}x, pure Python {py / base:.1f}x"
        )
    else:
        print(f"OpenSSL C loop: unavailable ({c})")

    # Two threads (this machine has 2 cores): ctypes drops the GIL around the C calls.
    batch = [(pub, message, signature)] * (iters * 4)
    with ThreadPoolExecutor(max_workers=2) as pool:
        t = time.perf_counter()
        assert all(pool.map(lambda a: verify(*a), batch))
        rate2 = len(batch) / (time.perf_counter() - t)
    print(f"{'verify, ours, engine, 2 threads':52s}{rate2:9.0f} /s")

    # Signing: what the reference registry does per answer (Streebog-256, then sign the digest).
    answer = os.urandom(600)
    sign_engine = _median_s(
        lambda: sign_digest(priv, hash_digest("streebog256", answer)), rounds, iters
    )
    sign_py = _median_s(
        lambda: sign_digest(priv, hash_digest("streebog256", answer), pure=True),
        rounds,
        max(iters // 10, 5),
    )
    print("signing a 600-byte registry answer (Streebog-256 + sign):")
    print(f"{'sign, ours, OpenSSL engine':52s}{1 / sign_engine:9.0f} /s (goal >= 2,000)")
    print(f"{'sign, ours, pure Python':52s}{1 / sign_py:9.0f} /s")
    if isinstance(c, dict):
        print(
            f"{'sign, OpenSSL C loop (EVP_DigestSign, 380 bytes)':52s}{1 / c['digest_sign']:9.0f} /s"
        )

    _gostcrypto(pub.x, pub.y, pub.curve.size, signature, digest)

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
