"""The register commands end to end through ``verifier.cli.main`` with a private state dir."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cache.snapshot_format import SnapshotKind
from cache.snapshot_store import SnapshotStore
from verifier.cli import main
from verifier.identifiers import Sex, make_enp

from .helpers import demo_key, layout, read_csv, record, snapshot_bytes

Run = Callable[..., tuple[int, str, str]]
_ENV = (
    "OMS_VERIFIER_CONFIG",
    "OMS_VERIFIER_STATE_DIR",
    "OMS_VERIFIER_REGISTRY_URL",
    "OMS_VERIFIER_REGISTRY_TOKEN",
    "OMS_VERIFIER_API_TOKEN",
    "STATE_DIRECTORY",
)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(state_dir, *argv, register=...)``: main() with a config that keeps /etc out."""
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)

    def _run(state: Path, *argv: str, region: str | None = None) -> tuple[int, str, str]:
        config = state.with_suffix(".toml")
        text = f'[trust]\ndir = "{state / "trust"}"\n[log]\nlevel = "ERROR"\n'
        if region is not None:
            text += f'[register]\nregion = "{region}"\n'
        config.write_text(text)
        rc = main(["--config", str(config), "--state-dir", str(state), *argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return _run


def _generate(run: Run, tmp: Path, out: str, seed: int, persons: int = 1500) -> dict[str, Any]:
    rc, stdout, _ = run(
        tmp / "gen-state",
        "registry",
        "generate",
        "--persons",
        str(persons),
        "--region",
        "50",
        "--seed",
        str(seed),
        "--valid-hours",
        "48",
        "--out",
        str(tmp / out),
    )
    assert rc == 0
    doc: dict[str, Any] = json.loads(stdout)
    return doc


def test_registry_generate_is_deterministic_for_a_seed(run: Run, tmp_path: Path) -> None:
    day = datetime.now(UTC).date()
    a = _generate(run, tmp_path, "a", seed=7)
    b = _generate(run, tmp_path, "b", seed=7)
    c = _generate(run, tmp_path, "c", seed=8)
    if datetime.now(UTC).date() != day:
        pytest.skip("the runs straddled midnight UTC; the register is relative to today")
    assert (
        a["files"]
        == b["files"]
        == ["full-000001.omssnap", "delta-000002.omssnap", "delta-000003.omssnap"]
    )
    assert a["key_id"] == b["key_id"] != c["key_id"]
    csv_a, csv_b, csv_c = ((tmp_path / d / "persons.csv").read_bytes() for d in "abc")
    assert csv_a == csv_b
    assert csv_a != csv_c
    for name in ("match.key", "registry-snapshot.pub.pem", "registry-snapshot.key.pem"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    # Snapshot files: the records are the same, only header stamps and signatures may differ.
    for name in a["files"]:
        fa, fb = ((tmp_path / d / name).read_bytes() for d in "ab")
        la, lb = layout(fa), layout(fb)
        assert fa[la.header_end : la.sig] == fb[lb.header_end : lb.sig]


def _stranger(rows: list[dict[str, str]]) -> str:
    known = {r["enp"] for r in rows}
    return next(
        e
        for s in range(99999, 0, -1)
        if (e := make_enp("50", date(1990, 1, 1), Sex.FEMALE, s)) not in known
    )


def test_generate_trust_import_status_lookup(run: Run, tmp_path: Path) -> None:
    gen = _generate(run, tmp_path, "registry", seed=11, persons=2000)
    registry = tmp_path / "registry"
    rows = read_csv(registry / "persons.csv")
    live = [r for r in rows if not r["deleted"]]
    state = tmp_path / "state"

    rc, out, _ = run(
        state,
        "trust",
        "add",
        "--purpose",
        "snapshot",
        "--pubkey",
        str(registry / "registry-snapshot.pub.pem"),
    )
    assert rc == 0 and gen["key_id"] in out

    rc, out, err = run(state, "snapshot", "import", str(registry), "--json")
    assert rc == 0, err
    imported = [json.loads(line) for line in out.splitlines()]
    assert [(r["file"], r["kind"], r["sequence"]) for r in imported] == [
        ("full-000001.omssnap", "full", 1),
        ("delta-000002.omssnap", "delta", 2),
        ("delta-000003.omssnap", "delta", 3),
    ]
    assert imported[0]["records"] == 2000

    rc, out, _ = run(state, "snapshot", "status", "--json")
    assert rc == 0
    status = json.loads(out)
    assert status["state"] == "fresh"
    assert status["sequence"] == 3
    assert status["region"] == "50"
    assert status["records"] == len(live)
    assert status["key_id"] == gen["key_id"]
    assert (
        status["parts"]["register"]["state"] == status["parts"]["revocations"]["state"] == "fresh"
    )
    assert status["clock_skewed"] is False and status["clock_skew_s"] is None
    assert 0 <= status["age_s"] < 600
    assert Path(status["db_path"]) == state / "register.sqlite3"

    def lookup(enp: str) -> dict[str, Any]:
        rc, out, err = run(state, "lookup", enp, "--offline", "--json")
        assert rc == 0, err
        verdict: dict[str, Any] = json.loads(out)
        return verdict

    active = next(r for r in live if r["status"] == "active" and r["policy_type"] == "digital")
    v = lookup(active["enp"])
    assert v["outcome"] == "valid"
    assert v["source"] == "snapshot"
    assert v["snapshot"]["state"] == "fresh" and v["snapshot"]["sequence"] == 3

    suspended = next(r for r in live if r["status"] == "suspended")
    v = lookup(suspended["enp"])
    assert v["outcome"] == "suspended"
    assert "register_suspended" in v["reasons"]

    # Offline, a miss is not the register's word (a new policy postdates the copy): unknown.
    v = lookup(_stranger(rows))
    assert v["outcome"] == "unknown"
    assert v["reasons"] == ["not_in_snapshot"]

    gone = next(r for r in rows if r["deleted"])
    assert lookup(gone["enp"])["reasons"] == ["not_in_snapshot"]

    # Importing the directory again: nothing new.
    rc, out, _ = run(state, "snapshot", "import", str(registry))
    assert rc == 0 and "nothing to import" in out


def test_import_without_the_key_trusted_exits_2(run: Run, tmp_path: Path) -> None:
    _generate(run, tmp_path, "registry", seed=12, persons=200)
    state = tmp_path / "state"
    rc, out, err = run(state, "snapshot", "import", str(tmp_path / "registry"))
    assert rc == 2
    assert "error [snapshot_key_unknown]" in err
    assert out == ""
    rc, out, _ = run(state, "snapshot", "status", "--json")
    assert rc == 0
    status = json.loads(out)
    assert (status["state"], status["sequence"], status["records"]) == ("absent", None, 0)


def test_import_of_a_tampered_file_exits_2(run: Run, tmp_path: Path) -> None:
    _generate(run, tmp_path, "registry", seed=13, persons=200)
    registry = tmp_path / "registry"
    state = tmp_path / "state"
    assert (
        run(
            state,
            "trust",
            "add",
            "--purpose",
            "snapshot",
            "--pubkey",
            str(registry / "registry-snapshot.pub.pem"),
        )[0]
        == 0
    )
    data = bytearray((registry / "full-000001.omssnap").read_bytes())
    data[layout(bytes(data)).records_of("RECS") + 9] ^= 0x04  # the status byte of the first record
    bad = tmp_path / "full-000001.omssnap"
    bad.write_bytes(bytes(data))
    rc, _, err = run(state, "snapshot", "import", str(bad))
    assert rc == 2 and "error [snapshot_signature]" in err
    rc, out, err = run(state, "snapshot", "import", str(tmp_path / "missing.omssnap"))
    assert rc == 2 and "error [snapshot_io]" in err
    rc, out, _ = run(state, "snapshot", "status", "--json")
    assert json.loads(out)["sequence"] is None


def test_store_configured_for_another_region_exits_2(run: Run, tmp_path: Path) -> None:
    _generate(run, tmp_path, "registry", seed=14, persons=200)
    registry = tmp_path / "registry"
    state = tmp_path / "state"
    run(
        state,
        "trust",
        "add",
        "--purpose",
        "snapshot",
        "--pubkey",
        str(registry / "registry-snapshot.pub.pem"),
    )
    rc, _, err = run(state, "snapshot", "import", str(registry), region="77")
    assert rc == 2 and "error [snapshot_region]" in err


def test_status_flags_a_skewed_clock(run: Run, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    store = SnapshotStore(state / "register.sqlite3")
    store.record_sync(datetime.now(UTC) - timedelta(minutes=10))
    store.close()
    rc, out, _ = run(state, "snapshot", "status", "--json")
    assert rc == 0
    status = json.loads(out)
    assert status["clock_skewed"] is True
    assert 590 < status["clock_skew_s"] < 700
    assert status["state"] == "absent"


def test_import_directory_skips_what_the_store_holds(run: Run, tmp_path: Path) -> None:
    _generate(run, tmp_path, "registry", seed=15, persons=200)
    registry = tmp_path / "registry"
    state = tmp_path / "state"
    run(
        state,
        "trust",
        "add",
        "--purpose",
        "snapshot",
        "--pubkey",
        str(registry / "registry-snapshot.pub.pem"),
    )
    rc, out, err = run(state, "snapshot", "import", str(registry / "full-000001.omssnap"), "--json")
    assert rc == 0, err
    rc, out, err = run(state, "snapshot", "import", str(registry), "--json")
    assert rc == 0, err
    assert [json.loads(line)["sequence"] for line in out.splitlines()] == [2, 3]


def test_import_directory_takes_a_newer_full_snapshot(run: Run, tmp_path: Path) -> None:
    _generate(run, tmp_path, "registry", seed=16, persons=200)
    registry = tmp_path / "registry"
    state = tmp_path / "state"
    run(
        state,
        "trust",
        "add",
        "--purpose",
        "snapshot",
        "--pubkey",
        str(registry / "registry-snapshot.pub.pem"),
    )
    assert run(state, "snapshot", "import", str(registry))[0] == 0  # holds sequence 3
    key = demo_key(16)
    rebased = tmp_path / "rebased"
    rebased.mkdir()
    (rebased / "full-000005.omssnap").write_bytes(
        snapshot_bytes(key=key, sequence=5, records=[record(5000000000000001)])
    )
    (rebased / "delta-000006.omssnap").write_bytes(
        snapshot_bytes(
            key=key,
            kind=SnapshotKind.DELTA,
            sequence=6,
            base=5,
            records=[record(5000000000000002)],
        )
    )
    rc, out, err = run(state, "snapshot", "import", str(rebased), "--json")
    assert rc == 0, err
    assert [json.loads(line)["sequence"] for line in out.splitlines()] == [5, 6]
