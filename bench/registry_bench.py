"""Online lookups per second and p99 through the client, against the reference service,
next to a bare httpx GET of the static ``/v1/ping`` endpoint on the same server, same run.

    python bench/registry_bench.py [--persons 5000] [--requests 2000] [--concurrency 16]

Target: client lookups >= 0.5x the bare GET rate. The client path includes JSON validation and
GOST verification of each signed answer; the server signs every answer (GOST, pure Python),
which bounds both paths' throughput on this machine — that is the point of the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from verifier.crypto import hashes
from verifier.crypto.keys import load_public_key
from verifier.crypto.signatures import verify_digest
from verifier.devkit.generator import generate
from verifier.registry.client import ClientConfig, HttpRegistryClient
from verifier.registry.protocol import PersonAnswer
from verifier.registry.server import ServerConfig, ThreadedServer, create_app

TOKEN = "bench-token-0123456789abcdef"


async def run_load(n: int, conc: int, call: object) -> tuple[float, list[float]]:
    lat: list[float] = []
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            await call(i)  # type: ignore[operator]
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0), lat


def p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[int(len(xs) * 0.99)] * 1000


async def main_async(args: argparse.Namespace, url: str, enps: list[str], pub_pem: bytes) -> None:
    pub = load_public_key(pub_pem)

    def check(a: PersonAnswer) -> bool:
        return verify_digest(pub, hashes.digest("streebog256", a.signed_bytes()), a.signature)

    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as bare:

        async def ping(_i: int) -> None:
            r = await bare.get("/v1/ping")
            r.raise_for_status()

        await run_load(100, args.concurrency, ping)
        bare_rps, bare_lat = await run_load(args.requests, args.concurrency, ping)

    client = HttpRegistryClient(
        ClientConfig(url, TOKEN, budget_s=10, max_connections=args.concurrency), verify_answer=check
    )

    async def lookup(i: int) -> None:
        answer = await client.lookup_enp(enps[i % len(enps)])
        assert answer is not None

    await run_load(100, args.concurrency, lookup)
    ours_rps, ours_lat = await run_load(args.requests, args.concurrency, lookup)
    await client.aclose()
    print(f"{'path':34} {'req/s':>9} {'median ms':>10} {'p99 ms':>8}")
    print(
        f"{'bare httpx GET /v1/ping':34} {bare_rps:9.0f} {statistics.median(bare_lat) * 1000:10.2f} {p99(bare_lat):8.2f}"
    )
    print(
        f"{'client lookup (signed, verified)':34} {ours_rps:9.0f} {statistics.median(ours_lat) * 1000:10.2f} {p99(ours_lat):8.2f}"
    )
    print(f"\nratio client/bare = {ours_rps / bare_rps:.2f}  (target >= 0.5)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        g = generate(Path(tmp) / "reg", persons=args.persons, region="50", seed=11)
        import csv

        with (g.out_dir / "persons.csv").open() as f:
            enps = [r["enp"] for r in csv.DictReader(f) if not r["deleted"]]
        random.Random(1).shuffle(enps)
        cfg = ServerConfig(
            data_dir=g.out_dir,
            port=0,
            tokens=(TOKEN,),
            state_dir=Path(tmp) / "s",
            log_level="warning",
        )
        with ThreadedServer(create_app(cfg), cfg) as srv:
            asyncio.run(main_async(args, srv.url, enps, g.public_key_pem.read_bytes()))


if __name__ == "__main__":
    main()
