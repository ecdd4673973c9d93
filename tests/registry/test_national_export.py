"""The reference registry producing national parts and deltas from its PostgreSQL tables.

A real PostgreSQL (``pg_cluster``), the tables loaded by the real ``PostgresStore``, the files
imported by the real desk importer (``NationalStore.import_dir``, GOST signatures checked), and
every lookup compared with the rows PostgreSQL holds.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cache.national_store import NationalStore
from cache.register_model import AliasKind, Carrier, RegisterRecord
from cache.snapshot_format import SnapshotReader
from verifier.crypto.signatures import verify_digest
from verifier.registry.server.cli import add_export_parser
from verifier.registry.server.data import build_snapshot_store, load_registry_data
from verifier.registry.server.national_export import (
    ExportError,
    PostgresSource,
    SqliteSource,
    export_national,
    name_key_id_for,
)
from verifier.registry.server.stores import PostgresStore, _pg_record

from .conftest import PgCluster, Register

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
_db_numbers = itertools.count(1)


def _check(register: Register) -> Any:
    pub = register.public_key

    def check(key_id: str, digest: bytes, sig: bytes) -> bool:
        return key_id == pub.key_id() and verify_digest(pub, digest, sig)

    return check


@pytest.fixture
def pg_dsn(pg_cluster: PgCluster, register: Register) -> Iterator[str]:
    """A database of its own (the shared one serves the other PostgreSQL tests), loaded by the
    real PostgresStore from the generated register, plus region 77 rows written directly."""
    import psycopg

    name = f"oms_export_{next(_db_numbers)}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name}")
        c.execute(f"CREATE DATABASE {name}")
    dsn = pg_cluster.dsn.replace("dbname=postgres", f"dbname={name}")
    PostgresStore.build(dsn, load_registry_data(register.data_dir)).close()
    with psycopg.connect(dsn, autocommit=True) as c:
        rows = [
            # a start date before 1990: no column holds it, so it goes as an exception
            ("7700000000000018", "old", "active", date(1985, 5, 1), date(1985, 5, 1), None),
            ("7700000000000026", "paper", "active", date(2015, 1, 2), date(2015, 1, 2), None),
            ("7700000000000034", "temporary", "expired", date(2025, 1, 1), date(2024, 11, 1),
             date(2024, 12, 16)),
        ]  # fmt: skip
        for enp, ptype, status, since, start, end in rows:
            c.execute(
                "INSERT INTO oms_registry_records VALUES (%s, %s, %s, %s, '1027700000001',"
                " '45000000000', %s, %s, '770001', %s)",
                (enp, ptype, status, since, start, end, bytes.fromhex(enp[:16])),
            )
        c.execute("INSERT INTO oms_registry_aliases VALUES (1, '77А1234567', '7700000000000018')")
        c.execute("INSERT INTO oms_registry_aliases VALUES (2, '123456789', '7700000000000034')")
        c.execute("INSERT INTO oms_registry_aliases VALUES (1, 'XX 12', '7700000000000026')")
        c.execute(
            "INSERT INTO oms_registry_revoked_docs VALUES ('7700000000000026', 1, '2025-02-03', 2)"
        )
    yield dsn
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _pg_rows(dsn: str) -> dict[str, RegisterRecord]:
    import psycopg

    with psycopg.connect(dsn) as c:
        rows = c.execute(
            "SELECT enp, policy_type, status, status_since, smo_ogrn, okato, start_date,"
            " end_date, clinic, name_hash FROM oms_registry_records"
        ).fetchall()
    return {str(r[0]): _pg_record(r) for r in rows}


def _pg(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        cur = c.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _export(register: Register, dsn: str, out: Path, since: int | None = None) -> Any:
    data = load_registry_data(register.data_dir)
    with PostgresSource.open(dsn) as src:
        return export_national(
            src, out, data.signing_key, name_key_id_for(register.data_dir), since=since, now=NOW
        )


def _assert_matches(store: NationalStore, dsn: str) -> int:
    rows = _pg_rows(dsn)
    for enp, want in rows.items():
        assert store.lookup_enp(enp) == want, enp
    for kind, number, enp in _pg(dsn, "SELECT kind, number, enp FROM oms_registry_aliases"):
        found = store.lookup_alias(AliasKind(kind), number)
        assert found is not None and found.enp == enp, (kind, number)
    for enp, carrier, since, reason in _pg(dsn, "SELECT * FROM oms_registry_revoked_docs"):
        rev = store.document_revocation(str(enp), Carrier(carrier))
        assert rev is not None and rev.since == since and int(rev.reason) == reason
    return len(rows)


def test_full_parts_from_postgres_import_and_match(
    register: Register, pg_dsn: str, tmp_path: Path
) -> None:
    result = _export(register, pg_dsn, tmp_path / "national")
    assert sorted(f.region for f in result.files) == ["50", "77"]
    assert all(f.kind == "part" and f.sequence == result.sequence for f in result.files)
    manifest = json.loads((tmp_path / "national" / "manifest.json").read_text())
    assert {e["name"] for e in manifest["files"]} == {f.name for f in result.files}
    store = NationalStore(tmp_path / "store")
    imported = store.import_dir(tmp_path / "national", _check(register))
    assert len(imported) == 2
    n = _assert_matches(store, pg_dsn)
    assert n == len(register.live) + 3
    assert store.region_info("77").sequence == result.sequence
    assert store.region_info("77").records == 3  # one of them an exception row
    store.close()


def test_sqlite_source_gives_the_same_records(
    register: Register, pg_dsn: str, tmp_path: Path
) -> None:
    """Parity: the verified SQLite store and PostgreSQL export the same register."""
    data = load_registry_data(register.data_dir)
    snap = build_snapshot_store(data, tmp_path / "reg.sqlite")
    seq = snap.info().sequence or 0
    snap.close()
    src = SqliteSource(tmp_path / "reg.sqlite", seq)
    try:
        export_national(src, tmp_path / "lite", data.signing_key, name_key_id_for(data.data_dir))
    finally:
        src.close()
    lite = NationalStore(tmp_path / "s1")
    lite.import_dir(tmp_path / "lite", _check(register))
    rows = _pg_rows(pg_dsn)
    region50 = {e: r for e, r in rows.items() if e.startswith("50")}
    assert region50 and all(lite.lookup_enp(e) == r for e, r in region50.items())
    with pytest.raises(ExportError) as err:
        export_national(
            SqliteSource(tmp_path / "reg.sqlite", seq),
            tmp_path / "x",
            data.signing_key,
            "k",
            since=1,
        )
    assert err.value.code == "export_since_unknown"
    lite.close()


def test_delta_holds_only_the_changes_and_applies(
    register: Register, pg_dsn: str, tmp_path: Path
) -> None:
    out = tmp_path / "national"
    first = _export(register, pg_dsn, out)
    store = NationalStore(tmp_path / "store")
    store.import_dir(out, _check(register))
    live = sorted(r["enp"] for r in register.live)
    changed, gone = live[10:15], live[20:22]
    _pg(pg_dsn, "UPDATE oms_registry_records SET status = 'suspended' WHERE enp = ANY(%s)",
        (changed,))  # fmt: skip
    _pg(pg_dsn, "DELETE FROM oms_registry_aliases WHERE enp = ANY(%s)", (gone,))
    _pg(pg_dsn, "DELETE FROM oms_registry_records WHERE enp = ANY(%s)", (gone,))
    _pg(
        pg_dsn,
        "INSERT INTO oms_registry_records VALUES ('5000000000000017', 'digital', 'active',"
        " '2026-03-01', '1027700000001', '46000000000', '2026-03-01', NULL, NULL, %s)",
        (b"\x01" * 8,),
    )
    second = _export(register, pg_dsn, out, since=first.sequence)
    assert second.sequence > first.sequence
    by_region = {f.region: f for f in second.files}
    assert by_region["50"].kind == "delta" and by_region["50"].base_sequence == first.sequence
    with open(out / by_region["50"].name, "rb") as f:
        counts = SnapshotReader(f).header.counts
    assert counts["RECS"] == 6 and counts["DELS"] == 2  # only the changed records
    with open(out / by_region["77"].name, "rb") as f:
        assert sum(SnapshotReader(f).header.counts.values()) == 0  # unchanged: freshness only
    results = store.import_dir(out, _check(register))
    assert sorted(r.sequence for r in results) == [second.sequence] * 2
    for enp in gone:
        assert store.lookup_enp(enp) is None
    rec = store.lookup_enp(changed[0])
    assert rec is not None and rec.status.name == "SUSPENDED"
    assert _assert_matches(store, pg_dsn) == len(register.live) + 3 - 2 + 1
    assert store.region_info("77").sequence == second.sequence
    # Nothing changed since: the next delta is empty for every region.
    third = _export(register, pg_dsn, out, since=second.sequence)
    assert all(f.records == 0 for f in third.files)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["files"]) == 6
    store.close()


def test_delta_since_before_the_change_log_is_refused(
    register: Register, pg_dsn: str, tmp_path: Path
) -> None:
    first = _export(register, pg_dsn, tmp_path / "n")
    # The service reloads its tables at startup: the triggers go with them.
    PostgresStore.build(pg_dsn, load_registry_data(register.data_dir)).close()
    with pytest.raises(ExportError) as err:
        _export(register, pg_dsn, tmp_path / "n", since=first.sequence)
    assert err.value.code == "export_since_unknown"
    again = _export(register, pg_dsn, tmp_path / "n")  # a full export restarts the log
    _export(register, pg_dsn, tmp_path / "n", since=again.sequence)


def test_cli_export_national(register: Register, pg_dsn: str, tmp_path: Path, capsys: Any) -> None:
    p = argparse.ArgumentParser(prog="oms-verifier")
    rg = p.add_subparsers(dest="command").add_parser("registry")
    add_export_parser(rg.add_subparsers(dest="registry_command"))
    out = tmp_path / "cli"
    args = p.parse_args(
        ["registry", "export-national", "--data", str(register.data_dir), "--out", str(out),
         "--dsn", pg_dsn, "--region", "77"]
    )  # fmt: skip
    assert args.func(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in doc["files"]] == [f"part-77-{doc['sequence']:06d}.omsnat"]
    args = p.parse_args(
        ["registry", "export-national", "--data", str(register.data_dir), "--out", str(out),
         "--dsn", pg_dsn, "--since-sequence", "0"]
    )  # fmt: skip
    assert args.func(args) == 2
    assert "export_since_unknown" in capsys.readouterr().err
