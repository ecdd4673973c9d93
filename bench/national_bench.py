"""National store benchmark: generate, import, size, lookups, deltas — each next to a raw baseline.

    .venv/bin/python bench/national_bench.py --persons 20000000 --work /work/tmp/natbench

Generation and the part import run in child processes so their peak RSS is measured on its
own (``ru_maxrss`` of the child). Deltas are applied in this process while a thread keeps
looking up ENPs. Baselines, measured in the same run on the same bytes: a raw copy + fsync
and a raw Streebog-256 pass over the part files (import), ``numpy.searchsorted`` and a bare
``bisect`` over the same mapped key column (lookup), a bare SQLite ``executemany`` of the same
number of rows (delta).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cache import national_format as nf
from cache.national_store import NationalStore
from verifier.crypto import hashes
from verifier.crypto.signatures import verify_digest
from verifier.devkit.generator import demo_signing_key

SEED = 11


def child(code: str) -> tuple[dict[str, object], float, int]:
    """Run ``code`` in a fresh interpreter; (its JSON output, wall seconds, peak RSS KiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode})")
    wall = time.perf_counter() - t0
    return json.loads(text.strip().splitlines()[-1]), wall, usage.ru_maxrss


def checker_src() -> str:
    return (
        "from verifier.devkit.generator import demo_signing_key\n"
        "from verifier.crypto.signatures import verify_digest\n"
        f"pub = demo_signing_key({SEED}).public_key()\n"
        "def check(k, d, s):\n"
        "    return k == pub.key_id() and verify_digest(pub, d, s)\n"
    )


def raw_copy(files: list[Path], dest: Path) -> tuple[float, float]:
    """(copy + fsync seconds, Streebog seconds) over the same bytes."""
    t0 = time.perf_counter()
    for f in files:
        with f.open("rb") as a, open(dest, "wb") as b:
            while chunk := a.read(4 << 20):
                b.write(chunk)
            b.flush()
            os.fsync(b.fileno())
        dest.unlink()
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for f in files:
        h = hashes.new(hashes.STREEBOG256)
        with f.open("rb") as a:
            while chunk := a.read(4 << 20):
                h.update(chunk)
    return copy_s, time.perf_counter() - t0


def evict(store_dir: Path) -> None:
    """Drop these part files' pages from the page cache (only ours: no global drop)."""
    for f in store_dir.glob("*.omsnat"):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


COLD_SRC = """
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from bench.national_bench import evict, pct
from cache.national_store import NationalStore
store_dir = Path({store!r})
queries = json.loads(Path({qfile!r}).read_text())
pc = time.perf_counter_ns
def run(s):
    out = []
    for q in queries:
        t0 = pc(); s.lookup_enp(q); out.append(pc() - t0)
    return out
res = {{}}
import gc
for rnd in (1, 2):  # both orders' worth: a first pass of a fresh process is not the issue
    for pf in (False, True):
        gc.collect()
        evict(store_dir)
        t0 = time.perf_counter()
        s = NationalStore(store_dir, prefault_maps=pf)
        s.wait_prefault()
        ready = time.perf_counter() - t0
        t = run(s)
        total = time.perf_counter() - t0
        s.close(); del s
        key = ("prefault" if pf else "no_prefault") + f"_{{rnd}}"
        res[key] = {{"p50": round(pct(t, 0.5) / 1000, 2), "p99": round(pct(t, 0.99) / 1000, 2),
                     "open_s": round(ready, 2), "open_and_pass_s": round(total, 2)}}
res["lookups"] = len(queries)
print(json.dumps(res))
"""


def cold_cache(store_dir: Path, queries: list[str], work: Path) -> dict[str, object]:
    """First passes with the part files out of the page cache (a desk after a reboot), in a
    fresh process holding no mapping of them: without, then after, the prefault."""
    qfile = work / "cold_queries.json"
    qfile.write_text(json.dumps(queries))
    root = str(Path(__file__).resolve().parents[1])
    out, _, _ = child(COLD_SRC.format(root=root, store=str(store_dir), qfile=str(qfile)))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def lookups(
    store: NationalStore, store_dir: Path, n_lookups: int
) -> tuple[list[str], dict[str, object]]:
    # 4. lookups: random existing ENPs across regions weighted by size, plus misses
    rng = random.Random(5)
    plist = list(store._parts.values())
    weights = [p.n for p in plist]
    queries = []
    for p in rng.choices(plist, weights, k=n_lookups):
        queries.append(p.row_enp(rng.randrange(p.n)))
    pc = time.perf_counter_ns

    def timed(fn: Any, qs: list[str]) -> tuple[list[int], int]:
        out, hit = [], 0
        for q in qs:
            t0 = pc()
            r = fn(q)
            out.append(pc() - t0)
            hit += r is not None
        return out, hit

    # Same run, each on its own fresh mapping (page tables start empty every time): the
    # previous lookup code (two methods per lookup), the current one without and with the
    # background prefault (MADV_POPULATE_READ) of the lookup columns.
    old_store = NationalStore(store_dir)

    def old_lookup(enp: str) -> object:
        p = old_store._parts.get(enp[:2])
        if p is None:
            return None
        e = int(enp)
        if e in p.side_keys:
            return old_store._side_record(p, e)
        j = p.base_row(e - p.prefix)
        return None if j < 0 else p.decode(j, enp)

    old_times, _ = timed(old_lookup, queries)
    old_store.close()
    nopf = NationalStore(store_dir)
    nopf_times, _ = timed(nopf.lookup_enp, queries)
    nopf.close()
    t0 = time.perf_counter()
    pf_store = NationalStore(store_dir, prefault_maps=True)
    pf_store.wait_prefault()
    prefault_s = time.perf_counter() - t0
    times, found = timed(pf_store.lookup_enp, queries)
    warm_times, _ = timed(pf_store.lookup_enp, queries)
    pf_store.close()
    np_times, bi_times = [], []
    for q in queries[: min(50_000, len(queries))]:
        p = store._parts[q[:2]]
        v = int(q) - p.prefix
        hi, low = v >> nf.ENP_SHIFT, (v & ((1 << nf.ENP_SHIFT) - 1)) << nf.KEY_ATTACH_BITS
        arr = np.frombuffer(p.keys, dtype=np.uint32)
        darr = np.frombuffer(p.dhi, dtype=np.uint32)
        t0 = pc()
        i = int(np.searchsorted(darr, hi))
        j = int(np.searchsorted(arr[p.dst[i] : p.dst[i + 1]], low))
        np_times.append(pc() - t0)
        t0 = pc()
        i = bisect_left(p.dhi, hi)
        j = bisect_left(p.keys, low, p.dst[i], p.dst[i + 1])
        bi_times.append(pc() - t0)
    assert j >= 0
    miss = [q[:-1] + str((int(q[-1]) + 5) % 10) for q in queries[:20_000]]
    mt = []
    for q in miss:
        t0 = pc()
        store.lookup_enp(q)
        mt.append(pc() - t0)
    return queries, {
        "p50": round(pct(times, 0.5) / 1000, 2),
        "p99": round(pct(times, 0.99) / 1000, 2),
        "mean": round(statistics.fmean(times) / 1000, 2),
        "found": f"{found}/{len(queries)}",
        "prefault_s": round(prefault_s, 2),
        "second_pass_p50": round(pct(warm_times, 0.5) / 1000, 2),
        "second_pass_p99": round(pct(warm_times, 0.99) / 1000, 2),
        "no_prefault_first_pass_p50": round(pct(nopf_times, 0.5) / 1000, 2),
        "no_prefault_first_pass_p99": round(pct(nopf_times, 0.99) / 1000, 2),
        "baseline_previous_code_first_pass_p50": round(pct(old_times, 0.5) / 1000, 2),
        "baseline_previous_code_first_pass_p99": round(pct(old_times, 0.99) / 1000, 2),
        "miss_p50": round(pct(mt, 0.5) / 1000, 2),
        "miss_p99": round(pct(mt, 0.99) / 1000, 2),
        "baseline_numpy_searchsorted_p50": round(pct(np_times, 0.5) / 1000, 2),
        "baseline_numpy_searchsorted_p99": round(pct(np_times, 0.99) / 1000, 2),
        "baseline_bare_bisect_p50": round(pct(bi_times, 0.5) / 1000, 2),
        "baseline_bare_bisect_p99": round(pct(bi_times, 0.99) / 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=2_000_000)
    ap.add_argument("--work", default="/work/tmp/natbench")
    ap.add_argument("--lookups", type=int, default=200_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    gen_dir, store_dir = work / "gen", work / "store"
    work.mkdir(parents=True)
    res: dict[str, object] = {"persons": args.persons, "cpus": os.cpu_count()}

    # 1. generator
    code = (
        "import json\nfrom verifier.devkit.national_generator import generate_national\n"
        f"g = generate_national({str(gen_dir)!r}, persons={args.persons}, seed={SEED}, deltas=1)\n"
        "print(json.dumps({'persons': g.persons, 'seconds': g.seconds}))"
    )
    out, wall, rss = child(code)
    res["generate"] = {"seconds": round(wall, 1), "rate_per_s": round(args.persons / wall),
                       "peak_rss_mib": rss // 1024}  # fmt: skip
    parts = sorted(gen_dir.glob("part-*.omsnat"))
    part_bytes = sum(p.stat().st_size for p in parts)

    # 2. import of the parts (child), raw baselines on the same bytes
    code = (
        checker_src() + "import json, time\nfrom pathlib import Path\n"
        "from cache.national_store import NationalStore\n"
        f"s = NationalStore({str(store_dir)!r})\nt = time.perf_counter(); n = 0\n"
        f"for p in sorted(Path({str(gen_dir)!r}).glob('part-*.omsnat')):\n"
        "    n += s.import_file(p, check).records\n"
        "print(json.dumps({'records': n, 'seconds': time.perf_counter() - t}))"
    )
    out, wall, rss = child(code)
    copy_s, hash_s = raw_copy(parts, work / "copy.tmp")
    imp_s = float(out["seconds"])  # type: ignore[arg-type]
    res["import"] = {
        "seconds": round(imp_s, 1),
        "records_per_s": round(args.persons / imp_s),
        "mb_per_s": round(part_bytes / imp_s / 1e6, 1),
        "peak_rss_mib": rss // 1024,
        "baseline_raw_copy_fsync_s": round(copy_s, 1),
        "baseline_raw_streebog_s": round(hash_s, 1),
        "vs_copy_plus_hash": round(imp_s / (copy_s + hash_s), 2),
    }

    # 3. bytes per record
    store = NationalStore(store_dir)
    n = store.info().records
    files = [f for f in store_dir.iterdir() if f.is_file()]
    col = sum(f.stat().st_size for f in files if f.suffix == ".omsnat")
    side = sum(f.stat().st_size for f in files if f.suffix != ".omsnat")
    sections: dict[str, int] = {}
    for p in store._parts.values():
        for tag, (_, length) in p.head.layout().items():
            if tag in nf.TAGS:
                sections[tag] = sections.get(tag, 0) + length
    res["bytes_per_record"] = {
        "total": round((col + side) / n, 2),
        "parts": round(col / n, 2),
        "side_sqlite": round(side / n, 2),
        "records_and_name_index": round(
            sum(
                sections[t]
                for t in ("NKEY", "NPAY", "NHSH", "NNIX", "NNDR", "NDHI", "NDST", "NATT")
            )
            / n,
            2,
        ),
        "by_section": {t: round(v / n, 3) for t, v in sections.items() if v},
        "total_gb": round((col + side) / 1e9, 2),
        "baseline_regional_record_44B_plus_sqlite_main_50_1": 50.1,
    }

    # 4. lookups
    queries, res["lookup_us"] = lookups(store, store_dir, args.lookups)
    pc = time.perf_counter_ns

    # 5. deltas with a thread looking up all the while
    pub = demo_signing_key(SEED).public_key()

    def check(k: str, d: bytes, s: bytes) -> bool:
        return k == pub.key_id() and verify_digest(pub, d, s)

    stop = threading.Event()
    during: list[int] = []

    def looker(lookup: Any) -> None:
        i = 0
        while not stop.is_set():
            q = queries[i % len(queries)]
            t0 = pc()
            lookup(q)
            during.append(pc() - t0)
            i += 1

    th = threading.Thread(target=looker, args=(store.lookup_enp,))
    th.start()
    t0 = time.perf_counter()
    deltas = sorted(gen_dir.glob("delta-*.omssnap"))
    applied = 0
    for f in deltas:
        applied += store.import_file(f, check).records
    delta_s = time.perf_counter() - t0
    stop.set()
    th.join()
    del th
    db = sqlite3.connect(work / "raw.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE r (enp INTEGER PRIMARY KEY, a,b,c,d,e,f,g,h,i,j,k)")
    rows = [(i, 1, 1, 1, 1, 1, 1, 1, 1, b"12345678", 0, 1) for i in range(applied)]
    t0 = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute("COMMIT")
    raw_s = time.perf_counter() - t0
    db.close()
    res["delta"] = {
        "files": len(deltas),
        "records": applied,
        "seconds": round(delta_s, 2),
        "records_per_s": round(applied / delta_s),
        "baseline_raw_sqlite_executemany_per_s": round(applied / raw_s),
        "lookups_during": len(during),
        "lookups_during_p50_us": round(pct(during, 0.5) / 1000, 2) if during else None,
        "lookups_during_p99_us": round(pct(during, 0.99) / 1000, 2) if during else None,
    }
    res["bench_process_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    store.close()
    del store
    import gc

    gc.collect()  # no mapping left in this process: eviction can drop every page
    res["cold_page_cache_lookup_us"] = cold_cache(store_dir, queries[:50_000], work)
    print(json.dumps(res, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
