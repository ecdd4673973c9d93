"""Snapshot store benchmark, each figure next to a raw sqlite3 baseline from the same run.

    python bench/snapshot_bench.py --persons 2000000

Reports: import rate (records/s, signature check included) vs a plain ``executemany`` insert of
the same rows; delta apply rate; database bytes per record; lookup median/p99 vs a plain
primary-key select; peak RSS of the importing process at N and N/4 (flat memory means the two
stay close); and a linear projection to 13 M records (Moscow).
Targets: import >= 0.6x raw, lookup <= 2x raw, <= 64 bytes/record, memory flat in N.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cache.register_model import PolicyStatus, PolicyType, RegisterRecord
from cache.snapshot_format import (
    RECORD,
    Section,
    SnapshotHeader,
    SnapshotKind,
    SnapshotWriter,
    pack_record,
)
from cache.snapshot_store import SnapshotStore
from verifier.crypto.signatures import sign_digest, verify_digest
from verifier.devkit.generator import demo_signing_key
from verifier.identifiers import Sex, make_enp

KEY = demo_signing_key("bench")
PUB = KEY.public_key()


def records(n: int, seed: int = 7) -> list[RegisterRecord]:
    rng = random.Random(seed)
    out: dict[str, RegisterRecord] = {}
    today = date(2026, 11, 1)
    statuses = list(PolicyStatus)
    while len(out) < n:
        born = today - timedelta(days=rng.randrange(0, 95 * 365))
        enp = make_enp(
            "77", born, Sex.MALE if rng.random() < 0.5 else Sex.FEMALE, rng.randrange(100000)
        )
        start = date(2012, 1, 1) + timedelta(days=rng.randrange(5000))
        out[enp] = RegisterRecord(
            enp=enp,
            policy_type=rng.choice(list(PolicyType)),
            status=statuses[0] if rng.random() < 0.93 else rng.choice(statuses),
            status_since=start,
            smo_ogrn=str(1027700000000 + rng.randrange(10)),
            okato="45000",
            start=start,
            end=None,
            clinic=f"77{rng.randrange(1, 9999):04d}",
            name_hash=rng.randbytes(8),
        )
    return sorted(out.values(), key=lambda r: int(r.enp))


def write(
    path: Path, recs: list[RegisterRecord], kind: SnapshotKind, seq: int, base: int | None
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    head = SnapshotHeader(
        kind=kind,
        region="77",
        sequence=seq,
        base_sequence=base,
        created_at=now,
        register_valid_until=now + timedelta(days=2),
        revocations_valid_until=now + timedelta(days=2),
        counts={Section.RECORDS.value: len(recs)},
        key_id=PUB.key_id(),
    )
    with path.open("wb") as f:
        w = SnapshotWriter(f, head)
        w.fixed_section(Section.RECORDS, [pack_record(r) for r in recs])
        w.finish(lambda d: sign_digest(KEY, d))


def check(key_id: str, digest: bytes, sig: bytes) -> bool:
    return key_id == PUB.key_id() and verify_digest(PUB, digest, sig)


def import_in_child(snapshot: Path, db: Path) -> dict[str, float]:
    """Import in a fresh process so its peak RSS is the import's own.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from the (large) parent.
    """
    code = (
        "import json,sys,time;"
        "sys.path.insert(0, %r);"
        "from bench.snapshot_bench import check;"
        "from cache.snapshot_store import SnapshotStore;"
        "s=SnapshotStore(sys.argv[2]);t=time.perf_counter();r=s.import_file(sys.argv[1], check);"
        "print(json.dumps({'seconds': time.perf_counter()-t, 'records': r.records,"
        "'rss_mb': [int(l.split()[1]) for l in open('/proc/self/status')"
        " if l.startswith('VmHWM')][0]/1024}))"
    ) % str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code, str(snapshot), str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def raw_insert(rows: list[tuple[object, ...]], db: Path) -> float:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE t (enp INTEGER PRIMARY KEY, ptype INT, status INT, since INT, ogrn INT,"
        " okato INT, start INT, end_ INT, clinic INT, nhash BLOB)"
    )
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.execute("COMMIT")
    dt = time.perf_counter() - t0
    con.close()
    return dt


def timings(fn: object, keys: list[str], runs: int) -> tuple[float, float]:
    samples = []
    for k in keys[:runs]:
        t0 = time.perf_counter_ns()
        fn(k)  # type: ignore[operator]
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=200_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    args = ap.parse_args()
    n = args.persons
    res: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        recs = records(n)
        small = recs[::4]
        print(f"generated {n} records in {time.perf_counter() - t0:.1f} s")
        write(d / "full.snap", recs, SnapshotKind.FULL, 1, None)
        write(d / "small.snap", small, SnapshotKind.FULL, 1, None)
        changed = [
            RegisterRecord(
                **{**{f: getattr(r, f) for f in r.__slots__}, "status": PolicyStatus.SUSPENDED}
            )
            for r in random.Random(3).sample(recs, max(1, n // 100))
        ]
        changed.sort(key=lambda r: int(r.enp))
        write(d / "delta.snap", changed, SnapshotKind.DELTA, 2, 1)
        rows = [RECORD.unpack(pack_record(r)) for r in recs]

        raw_s = raw_insert(rows, d / "raw.db")
        ours = import_in_child(d / "full.snap", d / "ours.db")
        ours_small = import_in_child(d / "small.snap", d / "small.db")
        res["raw_insert_rps"] = n / raw_s
        res["import_rps"] = n / ours["seconds"]
        res["import_ratio"] = res["import_rps"] / res["raw_insert_rps"]
        store = SnapshotStore(d / "ours.db")
        t0 = time.perf_counter()
        store.import_file(d / "delta.snap", check)
        res["delta_rps"] = len(changed) / (time.perf_counter() - t0)
        db_bytes = sum(os.path.getsize(p) for p in d.glob("ours.db*"))
        store_db = store.stats()["db_bytes"]
        res["bytes_per_record"] = store_db / n
        res["files_bytes_per_record"] = db_bytes / n
        keys = [r.enp for r in random.Random(5).choices(recs, k=args.lookups)]
        raw = sqlite3.connect(d / "raw.db")
        stmt = "SELECT * FROM t WHERE enp = ?"
        res["raw_select_median_us"], res["raw_select_p99_us"] = timings(
            lambda k: raw.execute(stmt, (int(k),)).fetchone(), keys, args.lookups
        )
        res["lookup_median_us"], res["lookup_p99_us"] = timings(
            store.lookup_enp, keys, args.lookups
        )
        res["lookup_ratio"] = res["lookup_median_us"] / res["raw_select_median_us"]
        res["rss_mb_N"] = ours["rss_mb"]
        res["rss_mb_N_over_4"] = ours_small["rss_mb"]
        res["projected_13M_import_s"] = 13_000_000 / res["import_rps"]
        res["projected_13M_db_gb"] = 13_000_000 * res["bytes_per_record"] / 1e9
    print(f"\nN = {n:,} records")
    print(
        f"import         {res['import_rps']:>12,.0f} rec/s   raw executemany {res['raw_insert_rps']:>12,.0f} rec/s"
        f"   ratio {res['import_ratio']:.2f}  (target >= 0.6)"
    )
    print(f"delta apply    {res['delta_rps']:>12,.0f} rec/s")
    print(
        f"db size        {res['bytes_per_record']:>12.1f} B/record (main db file; {res['files_bytes_per_record']:.1f} with WAL)"
        "  (target <= 64)"
    )
    print(
        f"lookup         median {res['lookup_median_us']:.1f} µs p99 {res['lookup_p99_us']:.1f} µs   raw select "
        f"median {res['raw_select_median_us']:.1f} µs p99 {res['raw_select_p99_us']:.1f} µs   ratio {res['lookup_ratio']:.2f}"
        "  (target <= 2)"
    )
    print(
        f"peak RSS       {res['rss_mb_N']:.0f} MB importing N, {res['rss_mb_N_over_4']:.0f} MB importing N/4"
    )
    print(
        f"projection     13 M records: import {res['projected_13M_import_s']:.0f} s, db {res['projected_13M_db_gb']:.2f} GB"
    )
    out = Path("artifacts")
    if out.is_dir():
        (out / f"snapshot_bench_{n}.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
