"""Benchmark: the whole verdict for a Goznak electronic policy card, next to OpenSSL's C loop.

    python bench/card_bench.py [--runs 500] [--cards 200]

A demo state (register, trust store with the demo card root, the demo insurer certificate) is
built in a temporary directory, genuine signed card dumps are made with the dev kit, and
``Pipeline.verify`` is timed on them (decode the dump, the insurer signature, the certificate
chain up to the trusted root, the root's state, revocation, register status, holder match,
the verdict and its Russian message):

* first verdict in a new process (engine load and its known-answer tests included);
* first use of the insurer certificate in a warm process (parse + two certificate signatures
  + the card's signature);
* every verdict with the memo caches emptied first (what each verdict cost before them);
* the same card again (p50/p99);
* distinct cards (another holder and signature each) from the same insurer: the desk's
  normal case.

The C baseline is ``bench/gost_bench.py``'s program (``EVP_DigestVerify`` with the gost
engine, GOST R 34.11-94 + 34.10-2001 on the demo insurer's key and the card's signed bytes),
run before and after ours; the faster run is used. Goal (issue 17.3): a card verdict <= 1 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gost_bench  # noqa: E402  (the C loop is reused from there)

from verifier import config  # noqa: E402
from verifier.credential import CredentialInput, ReadSymbology  # noqa: E402
from verifier.crypto import generate_private_key, x509  # noqa: E402
from verifier.crypto.keys import Algorithm  # noqa: E402
from verifier.devkit import demo  # noqa: E402
from verifier.devkit.persons import PersonRow  # noqa: E402
from verifier.formats import goznak_card  # noqa: E402
from verifier.service.assembly import assemble  # noqa: E402
from verifier.verdict import Outcome  # noqa: E402


def _times(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))]


def _cold_child(state_dir: str, dump_hex: str) -> None:
    """In a fresh process: assemble the demo pipeline, time its first and second verdicts."""
    cfg = demo.demo_config(config.load(None, state_dir))
    pipeline = assemble(cfg).pipeline
    item = CredentialInput(bytes.fromhex(dump_hex), "bench", ReadSymbology.CARD)
    t = time.perf_counter()
    first = pipeline.verify(item)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    pipeline.verify(item)
    t2 = time.perf_counter() - t
    print(json.dumps({"first": t1, "second": t2, "outcome": first.outcome.value}))


def _cold(state_dir: Path, dump: bytes) -> dict[str, float | str]:
    run = subprocess.run(
        [sys.executable, __file__, "--cold-child", str(state_dir), dump.hex()],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float | str] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--cards", type=int, default=200, help="distinct cards for the steady state")
    ap.add_argument("--cold-child", nargs=2, help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.cold_child:
        _cold_child(*opts.cold_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        state = demo.ensure_demo(config.load(None, tmp))
        pipeline = assemble(state.cfg).pipeline
        issuer = state.issuer
        carded = [
            r
            for r in demo._people(state.registry_dir)
            if r["status"] == "active" and r["policy_type"] == "card" and not r["revoked_carrier"]
        ]
        if not carded:
            raise SystemExit("the demo register has no card holders")
        rows_used = [carded[i % len(carded)] for i in range(max(opts.cards, 1))]
        dumps = [
            issuer.card(PersonRow.from_row(r).card_holder(), smo_ogrn=r["smo_ogrn"])
            for r in rows_used
        ]
        items = [CredentialInput(d, "bench", ReadSymbology.CARD) for d in dumps]
        for it in items[:3]:
            outcome = pipeline.verify(it).outcome
            if outcome is not Outcome.VALID:
                raise SystemExit(f"a genuine demo card came out {outcome.value}, not valid")

        insurer = goznak_card.parse_dump(dumps[0]).insurer
        assert insurer is not None and insurer.signature is not None
        key = issuer.insurer_key
        c_args = (
            key.public_key().to_der(),
            key.to_der(),
            insurer.signed_data,
            insurer.signature,
            "md_gost94",
            7,
            300,
        )
        c_before = gost_bench._c_loop(*c_args)

        cold = _cold(Path(tmp), dumps[0])
        # New insurer certificates under the trusted demo root (a new key each): the first
        # card from an insurer the process has not seen yet.
        newcomers = []
        for i in range(max(opts.runs // 20, 10)):
            k = generate_private_key(Algorithm.GOST2001, "XA")
            cert = x509.build_certificate(
                subject=f"Бенч: СМО {i}",
                public_key=k.public_key(),
                issuer_key=issuer.card_root_key,
                issuer=issuer.card_root,
                not_before=issuer.insurer_cert.not_before,
                not_after=issuer.insurer_cert.not_after,
            )
            who = PersonRow.from_row(rows_used[i % len(rows_used)])
            dump = dataclasses.replace(issuer, insurer_key=k, insurer_cert=cert).card(
                who.card_holder(), smo_ogrn=rows_used[i % len(rows_used)]["smo_ogrn"]
            )
            newcomers.append(CredentialInput(dump, "bench", ReadSymbology.CARD))
        x509.clear_caches()
        pipeline.verify(items[0])  # the root's self-signature memo, as the checker warms it
        first_cert = _times(lambda i: pipeline.verify(newcomers[i]), len(newcomers))
        if pipeline.verify(newcomers[0]).outcome is not Outcome.VALID:
            raise SystemExit("a card from a new insurer certificate is not valid")

        def no_memo(i: int) -> None:
            x509.clear_caches()
            pipeline.verify(items[i % len(items)])

        nomemo = _times(no_memo, max(opts.runs // 5, 20))
        pipeline.verify(items[0])
        repeat = _times(lambda _i: pipeline.verify(items[0]), opts.runs)
        distinct = _times(lambda i: pipeline.verify(items[i % len(items)]), opts.runs)
        c_after = gost_bench._c_loop(*c_args)

    print("Goznak card verdict, Pipeline.verify on a genuine demo card (GOST 2001, XchA):")
    rows: list[tuple[str, float, float | None]] = [
        (f"first verdict in a new process ({cold['outcome']})", float(cold["first"]), None),
        ("second verdict in that process", float(cold["second"]), None),
        (
            f"first card of a new insurer certificate ({len(first_cert)})",
            statistics.median(first_cert),
            _pct(first_cert, 0.99),
        ),
        (
            "memo caches emptied before each verdict",
            statistics.median(nomemo),
            _pct(nomemo, 0.99),
        ),
        ("the same card again", statistics.median(repeat), _pct(repeat, 0.99)),
        (f"distinct cards ({len(items)}), same insurer", statistics.median(distinct), None),
    ]
    rows[-1] = (rows[-1][0], rows[-1][1], _pct(distinct, 0.99))
    print(f"{'':52s}{'p50 ms':>9s}{'p99 ms':>9s}")
    for label, p50, p99 in rows:
        tail = f"{p99 * 1e3:9.3f}" if p99 is not None else f"{'':9s}"
        print(f"{label:52s}{p50 * 1e3:9.3f}{tail}")
    if isinstance(c_before, dict) and isinstance(c_after, dict):
        base = min(c_before["digest_verify"], c_after["digest_verify"])
        print(
            f"{'OpenSSL C loop, EVP_DigestVerify (card bytes)':52s}{base * 1e3:9.3f}"
            f"   (runs {c_before['digest_verify'] * 1e3:.3f} / {c_after['digest_verify'] * 1e3:.3f})"
        )
        print(
            f"ratio verdict / C verify: same card {statistics.median(repeat) / base:.2f}x, "
            f"distinct cards {statistics.median(distinct) / base:.2f}x, "
            f"caches emptied {statistics.median(nomemo) / base:.2f}x"
        )
    else:
        print(f"OpenSSL C loop: unavailable ({c_before if isinstance(c_before, str) else c_after})")
    print(
        f"goal: card verdict <= 1 ms -> distinct cards p50 {statistics.median(distinct) * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
