"""A synthetic national register: every region, vectorised with numpy, deterministic per seed.

Writes one signed national part per region (``part-RR-000001.omsnat``, cache/national_format.py),
``K`` per-region deltas in the ordinary snapshot format (``delta-RR-00000k.omssnap``), and
``sample.csv``: every 1000th person (in region, then ENP order) with the columns of the regional
generator's ``persons.csv``, in their final state after the deltas — the ground truth.

Name hashes: only the sampled persons get names, and their hashes are the real
HMAC-Streebog-256 (cache/name_hash.py) over those names. The other records carry a
deterministic stand-in (SplitMix64 of seed, region and ENP): computing 146 M HMACs would take
longer than the whole budget, and nobody can test a name against a record that has none.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cache import name_hash
from cache import national_format as nf
from cache.register_model import (
    EPOCH,
    Alias,
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RevocationReason,
)
from cache.snapshot_format import (
    Section,
    SnapshotHeader,
    SnapshotKind,
    SnapshotWriter,
    pack_alias,
    pack_revoked_doc,
    section_counts,
)
from verifier.crypto.keys import PrivateKey
from verifier.crypto.signatures import sign_digest
from verifier.devkit import generator as regional
from verifier.devkit.generator import CSV_FIELDS, demo_match_key, demo_signing_key
from verifier.identifiers import okato_text
from verifier.private_files import private_opener, write_private, write_private_text

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

# Federal subject codes and rough shares of the insured population (millions; the rest 1.0).
REGIONS: tuple[str, ...] = (*(f"{i:02d}" for i in range(1, 80)), "83", "86", "87", "89", "91", "92")
_BIG = {
    "77": 13.0,
    "50": 8.5,
    "23": 5.8,
    "78": 5.6,
    "66": 4.3,
    "61": 4.2,
    "02": 4.0,
    "16": 4.0,
    "74": 3.4,
    "52": 3.2,
    "63": 3.2,
    "54": 2.8,
    "24": 2.8,
    "59": 2.5,
    "26": 2.8,
    "05": 3.1,
    "38": 2.4,
    "86": 1.7,
    "87": 0.05,
    "83": 0.04,
    "92": 0.5,
}
SAMPLE_EVERY = 1000
_TYPES = np.array([t for t, _ in regional._POLICY_TYPES], dtype=np.uint8)
_TYPE_W = np.array([w for _, w in regional._POLICY_TYPES], dtype=np.float64)
_STATUSES = np.array([s for s, _ in regional._STATUSES], dtype=np.uint8)
_STATUS_W = np.array([w for _, w in regional._STATUSES], dtype=np.float64)
_OLD_SERIES = "АБВГДЕКМНОПРСТУХ"
_DELTA_DTYPE = np.dtype(
    [
        ("enp", ">u8"),
        ("ptype", "u1"),
        ("status", "u1"),
        ("since", ">u2"),
        ("ogrn", ">u8"),
        ("okato", ">u8"),
        ("start", ">u2"),
        ("end", ">u2"),
        ("clinic", ">u4"),
        ("nhash", "S8"),
    ]
)
_ORD_1900 = EPOCH.toordinal()
_ORD_NF = nf.DATE_EPOCH.toordinal()


def region_sizes(persons: int) -> dict[str, int]:
    w = np.array([_BIG.get(r, 1.0) for r in REGIONS])
    raw = np.floor(w / w.sum() * persons).astype(np.int64)
    raw[REGIONS.index("77")] += persons - int(raw.sum())
    return {r: int(n) for r, n in zip(REGIONS, raw, strict=True)}


def splitmix(x: U64) -> U64:
    """SplitMix64 finaliser, vectorised: a fast deterministic stand-in hash."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@functools.lru_cache(maxsize=4)
def _facets(today: date) -> tuple[I64, I64, npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Every (birth day, sex) facet up to 95 years of age: facet, ordinal, male, weight."""
    first = today - timedelta(days=95 * 365)
    n = (today - first).days
    days = np.datetime64(first.isoformat()) + np.arange(n)
    years = days.astype("M8[Y]").astype(np.int64) + 1970
    months = days.astype("M8[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("M8[M]")).astype(np.int64) + 1
    ordinal = np.arange(n, dtype=np.int64) + first.toordinal()
    age = (today.toordinal() - ordinal) / 365.25
    w_day = np.where(age < 60, 1.0, np.maximum(0.05, 1.0 - (age - 60) / 40))
    out_f, out_o, out_m, out_w = [], [], [], []
    for male in (False, True):
        mc = months + np.where(years <= 1950, 20, np.where(years <= 2000, 40, 0))
        dc = dom + (50 if male else 0)
        y = years
        digits = [
            mc // 10,
            mc % 10,
            y % 10,
            y // 10 % 10,
            y // 100 % 10,
            y // 1000,
            dc // 10,
            dc % 10,
        ]
        facet = np.zeros(n, dtype=np.int64)
        for d in digits:
            facet = facet * 10 + (9 - d)
        out_f.append(facet)
        out_o.append(ordinal)
        out_m.append(np.full(n, male))
        out_w.append(w_day * (0.47 if male else 0.53))
    f = np.concatenate(out_f)
    order = np.argsort(f, kind="stable")
    w = np.concatenate(out_w)[order]
    return f[order], np.concatenate(out_o)[order], np.concatenate(out_m)[order], w / w.sum()


def luhn(body: I64, digits: int) -> I64:
    """Check digit per :func:`verifier.identifiers.luhn_check_digit`, vectorised."""
    total = np.zeros(body.shape, dtype=np.int64)
    x = body.copy()
    for i in range(digits):
        d = x % 10
        x //= 10
        if i % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return (10 - total % 10) % 10


def _weighted(
    rng: np.random.Generator, values: npt.NDArray[Any], w: npt.NDArray[np.float64], n: int
) -> npt.NDArray[Any]:
    cum = np.cumsum(w / w.sum())
    return values[np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(values) - 1)]


@dataclass
class RegionData:
    region: str
    v: I64  # ENP mod 10^14, ascending
    born: I64  # ordinal
    male: npt.NDArray[np.bool_]
    ptype: npt.NDArray[np.uint8]
    status: npt.NDArray[np.uint8]
    since: I64  # ordinals, 0 none
    start: I64
    end: I64
    insurer: I64
    clinic: I64
    nhash: U64  # big-endian value of the 8 hash bytes
    insurers: list[int]
    clinics: list[int]
    okato: int
    first_row: int  # global row of the first record
    revoked: npt.NDArray[np.bool_]
    rev_since: I64
    rev_reason: I64

    @property
    def n(self) -> int:
        return len(self.v)

    def enp(self, i: int) -> str:
        return f"{self.region}{int(self.v[i]):014d}"

    def attach(self) -> I64:
        return self.insurer * len(self.clinics) + self.clinic

    def old_number(self, rows: I64) -> list[str]:
        c = (rows * 7919 + 12345) % (16 * 9_000_000)
        return [f"{self.region}{_OLD_SERIES[int(x) % 16]}{1_000_000 + int(x) // 16}" for x in c]

    def temp_number(self, rows: I64) -> list[str]:
        g = rows + self.first_row
        return [str(100_000_000 + int(x)) for x in (g * 982451653 + 7) % 900_000_000]


def make_region(
    region: str, n: int, seed: int, today: date, first_row: int, match_key: bytes
) -> RegionData:
    rng = np.random.default_rng([seed, int(region)])
    facet, ordinal, male_f, weight = _facets(today)
    counts = rng.multinomial(n, weight)
    starts = np.cumsum(counts) - counts
    f_of = np.repeat(np.arange(len(facet)), counts)
    steps = 1 + rng.integers(0, 3, n)
    cs = np.cumsum(steps)
    base = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0)
    serial = rng.integers(0, 500, len(facet))[f_of] + cs - base[f_of] - 1
    if n and int(serial.max()) > 99_999:
        raise ValueError("too many persons per birth date for 5-digit serials")
    body = (int(region) * 10**8 + facet[f_of]) * 100_000 + serial
    v = (facet[f_of] * 100_000 + serial) * 10 + luhn(body, 15)
    born = ordinal[f_of]
    male = male_f[f_of]
    ptype = _weighted(rng, _TYPES, _TYPE_W, n)
    status = _weighted(rng, _STATUSES, _STATUS_W, n)
    t = today.toordinal()
    start = np.maximum(born, date(2011, 5, 1).toordinal()) + rng.integers(0, 3000, n)
    start = np.minimum(start, t - 1)
    end = np.zeros(n, dtype=np.int64)
    temp = ptype == PolicyType.TEMPORARY
    start = np.where(temp, t - rng.integers(0, 60, n), start)
    end = np.where(temp, start + 45, end)
    status = np.where(
        temp & (end < t) & (status == PolicyStatus.ACTIVE), PolicyStatus.EXPIRED, status
    ).astype(np.uint8)
    old = ptype == PolicyType.OLD
    old_start = np.clip(
        born + rng.integers(0, 3650, n),
        date(1993, 1, 1).toordinal(),
        date(2010, 12, 31).toordinal(),
    )
    start = np.where(old, old_start, start)
    expired = (status == PolicyStatus.EXPIRED) & (end == 0)
    end = np.where(expired, t - rng.integers(1, 900, n), end)
    since = np.where(status == PolicyStatus.ACTIVE, start, t - rng.integers(1, 400, n))
    since = np.maximum(since, start)
    r = random_ogrn_list(seed, region)
    clinics = [
        int(region) * 10_000 + int(c)
        for c in np.random.default_rng([seed, int(region), 7]).integers(1, 9999, 40)
    ]
    okato = int(regional._OKATO_BY_REGION.get(region, f"{int(region):02d}000"))
    docs = (ptype == PolicyType.PAPER) | (ptype == PolicyType.CARD)
    revoked = docs & (rng.random(n) < 0.01)
    rev_since = t - rng.integers(1, 700, n)
    rev_reason = rng.integers(1, 5, n)
    key = splitmix(np.uint64(seed * 1_000_003 + int(region)) ^ splitmix(v.astype(np.uint64)))
    data = RegionData(
        region, v, born, male, ptype, status, since, start, end,
        rng.integers(0, len(r), n), rng.integers(0, len(clinics), n), key,
        r, clinics, okato, first_row, revoked, rev_since, rev_reason,
    )  # fmt: skip
    for i in sample_rows(data):
        data.nhash[i] = int.from_bytes(real_hash(data, int(i), match_key), "big")
    return data


def random_ogrn_list(seed: int, region: str) -> list[int]:
    import random

    rng = random.Random(f"{seed}|{region}|insurers")
    return [int(regional._ogrn(rng)) for _ in range(6)]


def sample_rows(d: RegionData) -> I64:
    first = (-d.first_row) % SAMPLE_EVERY
    return np.arange(first, d.n, SAMPLE_EVERY, dtype=np.int64)


def person_name(d: RegionData, i: int) -> tuple[str, str, str]:
    x = int(splitmix(np.array([d.v[i] ^ 0x5A5A], dtype=np.uint64))[0])
    male = bool(d.male[i])
    if x % 100 < 8:
        surname = regional._INVARIANT_SURNAMES[(x >> 8) % len(regional._INVARIANT_SURNAMES)]
    else:
        surname = regional._MALE_SURNAMES[(x >> 8) % len(regional._MALE_SURNAMES)]
        if not male:
            surname += "а"
    root = regional._PATRONYMIC_ROOTS[(x >> 20) % len(regional._PATRONYMIC_ROOTS)]
    if male:
        return surname, regional._MALE_NAMES[(x >> 32) % len(regional._MALE_NAMES)], root + "ич"
    return surname, regional._FEMALE_NAMES[(x >> 32) % len(regional._FEMALE_NAMES)], root + "на"


def real_hash(d: RegionData, i: int, key: bytes) -> bytes:
    s, g, p = person_name(d, i)
    return name_hash.name_hash(key, s, g, p, date.fromordinal(int(d.born[i])))


def _nf_dates(ordinals: I64) -> U64:
    return np.where(ordinals == 0, 0, ordinals - _ORD_NF).astype(np.uint64)


def write_part(
    path: Path,
    d: RegionData,
    *,
    sequence: int,
    created: datetime,
    valid_hours: float,
    key: PrivateKey,
    match_key: bytes,
) -> None:
    """The region's columns handed to the format's one writer (cache/national_format.py)."""
    alias_rows = np.nonzero((d.ptype == PolicyType.OLD) | (d.ptype == PolicyType.TEMPORARY))[0]
    codes = []
    for i, num_old, num_tmp in zip(
        alias_rows, d.old_number(alias_rows), d.temp_number(alias_rows), strict=True
    ):
        kind, num = (1, num_old) if d.ptype[i] == PolicyType.OLD else (2, num_tmp)
        code = nf.alias_code(kind, num)
        assert code is not None  # noqa: S101 - the generator writes only the usual alias shapes
        codes.append(code << nf.ROW_BITS | int(i))
    rev_rows = np.nonzero(d.revoked)[0]
    revp = b"".join(
        pack_revoked_doc(
            DocumentRevocation(
                d.enp(int(i)),
                Carrier.PAPER if d.ptype[i] == PolicyType.PAPER else Carrier.CARD,
                date.fromordinal(int(d.rev_since[i])),
                RevocationReason(int(d.rev_reason[i])),
            )
        )
        for i in rev_rows
    )
    table = [
        (d.insurers[a // len(d.clinics)], d.okato, d.clinics[a % len(d.clinics)])
        for a in range(len(d.insurers) * len(d.clinics))
    ]
    cols = nf.PartColumns(
        v=d.v,
        ptype=d.ptype,
        status=d.status,
        since=_nf_dates(d.since),
        start=_nf_dates(d.start),
        end=_nf_dates(d.end),
        attach=d.attach(),
        nhash=d.nhash,
        attach_table=table,
        alias_codes=np.array(codes, dtype=np.uint64),
        revoked_docs=revp,
    )
    nf.write_part_file(
        path,
        d.region,
        cols,
        sequence=sequence,
        created=created,
        register_valid_until=created + timedelta(hours=valid_hours),
        revocations_valid_until=created + timedelta(hours=valid_hours),
        key_id=key.public_key().key_id(),
        name_key_id=name_hash.key_id(match_key),
        sign=lambda dg: sign_digest(key, dg),
        opener=private_opener,
    )


@dataclass
class DeltaChange:
    rows: I64  # changed rows (new status)
    status: npt.NDArray[np.uint8]
    since: int  # ordinal
    deleted: I64
    born_v: I64  # newborns' ENP values


def make_delta(
    d: RegionData, seq: int, stamp: datetime, seed: int, fraction: float, gone: I64
) -> DeltaChange:
    rng = np.random.default_rng([seed, int(d.region), seq])
    n_change = max(1, int(d.n * fraction))
    picked = rng.choice(d.n, min(d.n, n_change + max(1, n_change // 8)), replace=False)
    picked = picked[~np.isin(picked, gone)]
    n_change = min(n_change, len(picked))
    rows = np.sort(picked[:n_change])
    deleted = np.sort(picked[n_change:])
    shift = rng.integers(1, 5, len(rows)).astype(np.uint8)
    new_status = ((d.status[rows] - 1 + shift) % 5 + 1).astype(np.uint8)
    d.status[rows] = new_status
    d.since[rows] = stamp.date().toordinal()
    # Newborns: facets of the last 30 days, serials from 50000 up (the base stops far below).
    facet, ordinal, _, _ = _facets(stamp.date())
    recent = np.nonzero(ordinal >= stamp.date().toordinal() - 30)[0]
    k = max(1, n_change // 4)
    f = np.sort(rng.choice(recent, k))
    serial = 50_000 + (seq * 1000) + np.arange(k) % 1000 + (np.arange(k) // 1000) * 100_000
    serial = serial[serial <= 99_999]
    f = f[: len(serial)]
    body = (int(d.region) * 10**8 + facet[f]) * 100_000 + serial
    born_v = np.unique((facet[f] * 100_000 + serial) * 10 + luhn(body, 15))
    return DeltaChange(rows, new_status, stamp.date().toordinal(), deleted, born_v)


def _days1900(ordinals: I64) -> I64:
    return np.where(ordinals == 0, 0, ordinals - _ORD_1900)


def write_delta(
    path: Path,
    d: RegionData,
    ch: DeltaChange,
    *,
    seq: int,
    stamp: datetime,
    valid_hours: float,
    key: PrivateKey,
    match_key: bytes,
) -> None:
    rows = ch.rows
    n_old, n_new = len(rows), len(ch.born_v)
    rec = np.zeros(n_old + n_new, dtype=_DELTA_DTYPE)
    region_base = int(d.region) * nf.ENP_MOD
    rec["enp"][:n_old] = region_base + d.v[rows]
    rec["ptype"][:n_old] = d.ptype[rows]
    rec["status"][:n_old] = d.status[rows]
    rec["since"][:n_old] = _days1900(d.since[rows])
    rec["ogrn"][:n_old] = np.array(d.insurers, dtype=np.uint64)[d.insurer[rows]]
    rec["okato"][:n_old] = d.okato
    rec["start"][:n_old] = _days1900(d.start[rows])
    rec["end"][:n_old] = _days1900(d.end[rows])
    rec["clinic"][:n_old] = np.array(d.clinics, dtype=np.uint64)[d.clinic[rows]]
    rec["nhash"][:n_old] = d.nhash[rows].astype(">u8").view("S8")
    t = stamp.date().toordinal()
    rec["enp"][n_old:] = region_base + ch.born_v
    rec["ptype"][n_old:] = PolicyType.DIGITAL
    rec["status"][n_old:] = PolicyStatus.ACTIVE
    rec["since"][n_old:] = t - _ORD_1900
    rec["ogrn"][n_old:] = d.insurers[0]
    rec["okato"][n_old:] = d.okato
    rec["start"][n_old:] = t - _ORD_1900
    rec["clinic"][n_old:] = d.clinics[0]
    rec["nhash"][n_old:] = (
        splitmix(ch.born_v.astype(np.uint64) ^ np.uint64(seq)).astype(">u8").view("S8")
    )
    rec.sort(order="enp")
    raw = rec.tobytes()
    records = [raw[i * 44 : (i + 1) * 44] for i in range(len(rec))]
    aliases = []
    old = rows[d.ptype[rows] == PolicyType.OLD]
    for i, num in zip(old, d.old_number(old), strict=True):
        aliases.append(pack_alias(Alias(d.enp(int(i)), AliasKind.OLD_NUMBER, num)))
    tmp = rows[d.ptype[rows] == PolicyType.TEMPORARY]
    for i, num in zip(tmp, d.temp_number(tmp), strict=True):
        aliases.append(pack_alias(Alias(d.enp(int(i)), AliasKind.TEMP_CERT, num)))
    dels = [int(region_base + d.v[i]).to_bytes(8, "big") for i in ch.deleted]
    valid = stamp + timedelta(hours=valid_hours)
    header = SnapshotHeader(
        kind=SnapshotKind.DELTA,
        region=d.region,
        sequence=seq,
        base_sequence=seq - 1,
        created_at=stamp,
        register_valid_until=valid,
        revocations_valid_until=valid,
        counts=section_counts(records=len(records), aliases=len(aliases), deletions=len(dels)),
        key_id=key.public_key().key_id(),
        name_key_id=name_hash.key_id(match_key),
    )
    part = path.with_suffix(".tmp")
    with open(part, "wb", opener=private_opener) as f:
        w = SnapshotWriter(f, header)
        w.fixed_section(Section.RECORDS, records)
        w.var_section(Section.ALIASES, aliases)
        w.fixed_section(Section.DELETIONS, dels)
        w.fixed_section(Section.REVOKED_DOCS, [])
        w.var_section(Section.REVOKED_KEYS, [])
        w.finish(lambda dg: sign_digest(key, dg))
    part.replace(path)


@dataclass(frozen=True)
class NationalRegister:
    out_dir: Path
    files: list[Path]
    key_id: str
    public_key_pem: Path
    match_key: bytes
    persons: int
    seconds: float


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat() if ordinal else ""


def _sample_rows(
    d: RegionData, changed: dict[int, int], deleted: dict[int, int]
) -> Iterator[list[Any]]:
    for i in sample_rows(d):
        i = int(i)
        enp = d.enp(i)
        if i in deleted:
            yield [enp] + [""] * (len(CSV_FIELDS) - 3) + [deleted[i], "yes"]
            continue
        s, g, p = person_name(d, i)
        ptype = PolicyType(int(d.ptype[i]))
        old = d.old_number(np.array([i]))[0] if ptype is PolicyType.OLD else ""
        tmp = d.temp_number(np.array([i]))[0] if ptype is PolicyType.TEMPORARY else ""
        carrier = ""
        if d.revoked[i]:
            carrier = "paper" if ptype is PolicyType.PAPER else "card"
        yield [
            enp,
            ptype.name.lower(),
            old,
            tmp,
            PolicyStatus(int(d.status[i])).name.lower(),
            _iso(int(d.since[i])),
            str(d.insurers[int(d.insurer[i])]),
            okato_text(d.okato),
            _iso(int(d.start[i])),
            _iso(int(d.end[i])),
            f"{d.clinics[int(d.clinic[i])]:06d}",
            s,
            g,
            p,
            "M" if d.male[i] else "F",
            _iso(int(d.born[i])),
            carrier,
            changed.get(i, 1),
            "",
        ]


def generate_national(
    out_dir: str | Path,
    *,
    persons: int,
    seed: int,
    deltas: int = 1,
    delta_fraction: float = 0.005,
    created_at: datetime | None = None,
    valid_hours: float = 72.0,
    regions: tuple[str, ...] | None = None,
) -> NationalRegister:
    """Generate the national register; region by region so memory follows the largest region."""
    import time

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    latest = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    created = latest - timedelta(hours=deltas)
    key = demo_signing_key(seed)
    match_key = demo_match_key(seed)
    sizes = region_sizes(persons)
    if regions is not None:
        sizes = {r: n for r, n in sizes.items() if r in regions}
    files: list[Path] = []
    first_row = 0
    total = 0
    with open(out / "sample.csv", "w", newline="", encoding="utf-8", opener=private_opener) as fcsv:
        w = csv.writer(fcsv)
        w.writerow(CSV_FIELDS)
        for region, n in sizes.items():
            d = make_region(region, n, seed, created.date(), first_row, match_key)
            part = out / f"part-{region}-000001.omsnat"
            write_part(
                part,
                d,
                sequence=1,
                created=created,
                valid_hours=valid_hours,
                key=key,
                match_key=match_key,
            )
            files.append(part)
            changed: dict[int, int] = {}
            gone: dict[int, int] = {}
            for k in range(deltas):
                seq = k + 2
                stamp = created + timedelta(hours=k + 1)
                ch = make_delta(
                    d, seq, stamp, seed, delta_fraction, np.array(list(gone), dtype=np.int64)
                )
                path = out / f"delta-{region}-{seq:06d}.omssnap"
                write_delta(
                    path,
                    d,
                    ch,
                    seq=seq,
                    stamp=stamp,
                    valid_hours=valid_hours,
                    key=key,
                    match_key=match_key,
                )
                files.append(path)
                changed.update(dict.fromkeys((int(x) for x in ch.rows), seq))
                gone.update(dict.fromkeys((int(x) for x in ch.deleted), seq))
            w.writerows(_sample_rows(d, changed, gone))
            first_row += n
            total += n
            del d
    pub = out / "registry-snapshot.pub.pem"
    pub.write_bytes(key.public_key().to_pem())
    write_private(out / "registry-snapshot.key.pem", key.to_pem())
    write_private_text(out / "match.key", match_key.hex() + "\n")
    manifest = {
        "national": True,
        "seed": seed,
        "persons": total,
        "regions": {r: n for r, n in sizes.items()},
        "files": [f.name for f in files],
        "key_id": key.public_key().key_id(),
        "name_hash": {"alg": name_hash.ALG, "key_id": name_hash.key_id(match_key)},
        "created_at": latest.isoformat(),
        "sample_every": SAMPLE_EVERY,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return NationalRegister(
        out, files, key.public_key().key_id(), pub, match_key, total, time.perf_counter() - t0
    )
