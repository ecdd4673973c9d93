"""``oms-verifier audit list|export`` in real subprocesses, over an audit database written by the
real Service and AuditLog: periods, limits, CSV, masking, file modes and refusals."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import stat
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.directories.helpers import run_cli
from verifier import config
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.service.audit import CSV_FIELDS, AuditLog, audit_path
from verifier.service.core import Service
from verifier.verdict import Verdict


@dataclass(frozen=True)
class World:
    state: Path  # the demo's state dir: its audit.sqlite3 is what the CLI reads
    enps: set[str]  # every full ENP that was checked
    live: int  # rows written by the Service
    dated: dict[str, int]  # rows written with fixed times: label -> audit id


DATED = {
    "jan": datetime(2026, 1, 10, 12, 0, tzinfo=UTC),
    "feb-late": datetime(2026, 2, 10, 20, 30, tzinfo=UTC),  # 23:30 in Moscow, the 10th
    "feb-night": datetime(2026, 2, 10, 21, 30, tzinfo=UTC),  # 00:30 in Moscow, the 11th
    "mar": datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("audit-cli")
    st = demo.ensure_demo(config.load(None, base), persons=1000)
    with (st.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["deleted"]]
    picks = [next(r for r in rows if r["status"] == s) for s in ("active", "suspended", "expired")]
    enps = {r["enp"] for r in picks}

    async def verify_all() -> list[Verdict]:
        svc = Service(st.cfg)
        try:
            out = []
            for i, r in enumerate(picks):
                item = CredentialInput.from_text(r["enp"], source="test", manual=True)
                who = '=HYPERLINK("x")' if i == 0 else "desk-1"  # a hostile token name
                out.append(await svc.verify(item, who=who, channel="api", mode=LookupMode.OFFLINE))
            return out
        finally:
            await svc.stop()

    verdicts = asyncio.run(verify_all())
    log = AuditLog(audit_path(st.cfg.state_dir))
    dated = {
        label: log.record(replace(verdicts[0], checked_at=at), who=f"desk-{label}", channel="api")
        for label, at in DATED.items()
    }
    log.close()
    return World(st.cfg.state_dir, enps, len(verdicts), dated)


def _list(world: World, *argv: str, tz: str = "UTC") -> list[dict[str, object]]:
    proc = run_cli(world.state, "audit", "list", "--json", *argv, tz=tz)
    assert proc.returncode == 0, proc.stderr
    assert not any(e in proc.stdout for e in world.enps)
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def test_list_newest_first_masked(world: World) -> None:
    rows = _list(world)
    assert len(rows) == world.live + len(DATED)
    ats = [str(r["at"]) for r in rows]
    assert ats == sorted(ats, reverse=True)
    live = [r for r in rows if not str(r["who"]).startswith("desk-") or r["who"] == "desk-1"]
    assert len(live) == world.live
    masked = {str(r["enp_masked"]) for r in live}
    assert {e[:2] + "*" * 10 + e[-4:] for e in world.enps} == masked
    assert {r["outcome"] for r in live} >= {"valid"}
    assert all(isinstance(r["reasons"], list) for r in rows)


def test_limit(world: World) -> None:
    assert len(_list(world, "--limit", "2")) == 2
    proc = run_cli(world.state, "audit", "list", "--limit", "0")
    assert proc.returncode == 2 and "error [bad_argument]" in proc.stderr


def test_since_until_with_offsets(world: World) -> None:
    rows = _list(world, "--since", "2026-02-01T00:00+00:00", "--until", "2026-03-01T00:00Z")
    assert sorted(int(str(r["id"])) for r in rows) == sorted(
        [world.dated["feb-late"], world.dated["feb-night"]]
    )
    rows = _list(world, "--since", "2026-03-10T12:00:00+00:00", "--until", "2026-03-10T12:00:01Z")
    assert [r["id"] for r in rows] == [world.dated["mar"]]  # since inclusive
    rows = _list(world, "--since", "2026-01-01", "--until", "2026-03-10T12:00Z", "--limit", "99")
    assert world.dated["mar"] not in [r["id"] for r in rows]  # until exclusive


def test_bare_dates_are_local_days(world: World) -> None:
    """In Moscow (UTC+3) 20:30Z is still the 10th and 21:30Z already the 11th."""
    rows = _list(world, "--since", "2026-02-10", "--until", "2026-02-10", tz="Europe/Moscow")
    assert [r["id"] for r in rows] == [world.dated["feb-late"]]
    rows = _list(world, "--since", "2026-02-11", "--until", "2026-02-11", tz="Europe/Moscow")
    assert [r["id"] for r in rows] == [world.dated["feb-night"]]
    rows = _list(world, "--since", "2026-02-10", "--until", "2026-02-10", tz="UTC")
    assert len(rows) == 2


def test_plain_list_in_russian(world: World) -> None:
    proc = run_cli(world.state, "audit", "list", "--limit", "3", tz="UTC")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("время (местное)") and len(lines) == 4
    assert not any(e in proc.stdout for e in world.enps)
    proc = run_cli(world.state, "audit", "list", "--since", "2030-01-01")
    assert proc.returncode == 0 and proc.stdout.strip() == "проверок за этот период нет"


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_to_file_owner_only_masked(world: World, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    old = os.umask(0o022)  # the subprocess inherits it
    try:
        proc = run_cli(world.state, "audit", "export", "--since", "2000-01-01", "--out", str(out))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    total = world.live + len(DATED)
    assert proc.stdout.strip() == f"выгружено записей: {total} в {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(CSV_FIELDS)
    assert not any(e in text for e in world.enps)
    rows = _csv(text)
    assert len(rows) == total
    ats = [r["at"] for r in rows]
    assert ats == sorted(ats)  # oldest first
    assert {r["enp_masked"] for r in rows} >= {e[:2] + "*" * 10 + e[-4:] for e in world.enps}
    # A token name that a spreadsheet would run as a formula is quoted.
    assert '\'=HYPERLINK("x")' in {r["who"] for r in rows}
    assert not any(r["who"].startswith("=") for r in rows)


def test_export_period_to_stdout(world: World) -> None:
    proc = run_cli(
        world.state, "audit", "export", "--since", "2026-02-01", "--until", "2026-02-28", tz="UTC"
    )
    assert proc.returncode == 0, proc.stderr
    rows = _csv(proc.stdout)
    assert [int(r["id"]) for r in rows] == [world.dated["feb-late"], world.dated["feb-night"]]
    assert rows[0]["who"] == "desk-feb-late" and rows[0]["channel"] == "api"


def test_export_refusals(world: World, tmp_path: Path) -> None:
    proc = run_cli(world.state, "audit", "export")
    assert proc.returncode == 2 and "--since" in proc.stderr  # required
    proc = run_cli(world.state, "audit", "export", "--since", "2026-01-01", "--unmasked")
    assert proc.returncode == 2 and "unrecognized arguments: --unmasked" in proc.stderr
    proc = run_cli(world.state, "audit", "export", "--since", "yesterday")
    assert proc.returncode == 2
    assert proc.stderr.startswith("oms-verifier: error [bad_time]: "), proc.stderr
    proc = run_cli(world.state, "audit", "list", "--since", "2026-03-01", "--until", "2026-02-01")
    assert proc.returncode == 2 and "error [bad_time]" in proc.stderr
    proc = run_cli(
        world.state, "audit", "export", "--since", "2026-01-01", "--out", str(tmp_path / "no/x.csv")
    )
    assert proc.returncode == 2 and "error [bad_file]" in proc.stderr


def test_no_audit_log_is_said_not_created(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "audit", "list")
    assert proc.returncode == 2
    assert proc.stderr.startswith("oms-verifier: error [no_audit]: "), proc.stderr
    assert not audit_path(tmp_path).exists()
