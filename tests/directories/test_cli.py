"""``oms-verifier directory import|list`` in real subprocesses, and the generator's directories
naming every code its register uses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.directories.helpers import F002, F003, F032, packet, run_cli, zap
from tests.directories.test_parse import BILLION_LAUGHS
from verifier.devkit import demo
from verifier.devkit.generator import generate
from verifier.directories import Directories, DirectoryFormat, parse_directory, store_path


def test_import_detects_kind_by_content_and_list(tmp_path: Path) -> None:
    renamed = tmp_path / "export-2024.xml"  # the name says nothing: the records do
    renamed.write_bytes(F003.read_bytes())
    proc = run_cli(tmp_path / "st", "directory", "import", str(F002), str(renamed), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["format"], r["kind"], r["records"]) for r in rows] == [
        ("F002", "insurers", 4),
        ("F003", "clinics", 3),
    ]
    assert rows[0]["file_date"] == "2024-03-15"
    proc = run_cli(tmp_path / "st", "directory", "list", "--json", "--entries")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {d["kind"]: d["format"] for d in out["directories"]} == {
        "insurers": "F002",
        "clinics": "F003",
    }
    names = {e.get("code") or e["ogrn"]: e["name"] for e in out["entries"]}
    assert names["508940"] == 'ГБУЗ МО "Химкинская больница"'
    proc = run_cli(tmp_path / "st", "directory", "list")
    assert proc.returncode == 0
    assert "СМО: F002, записей: 4, файл F002_sample.xml от 15.03.2024, загружен " in proc.stdout
    assert "МО: F003, записей: 3" in proc.stdout


def test_plain_import_output_in_russian(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "directory", "import", str(F032))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "загружен F032_sample.xml: F032 (МО) от 20.05.2024, записей: 2, пропущено без кода МО: 1"
    )


def test_list_of_an_empty_state_creates_nothing(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "directory", "list")
    assert proc.returncode == 0, proc.stderr
    assert "СМО: справочник не загружен" in proc.stdout
    assert not store_path(tmp_path).exists()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (BILLION_LAUGHS, "directory_dtd"),
        (b"<packet><zap>", "directory_xml"),
        (packet(zap(mcod="12")), "directory_field"),
        (b"<html/>", "directory_format"),
    ],
)
def test_hostile_or_malformed_file_exit_2_with_code(tmp_path: Path, data: bytes, code: str) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(data)
    proc = run_cli(tmp_path / "st", "directory", "import", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"oms-verifier: error [{code}]: {bad}: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_file_in_one_command_imports_none(tmp_path: Path) -> None:
    st = tmp_path / "st"
    assert run_cli(st, "directory", "import", str(F003)).returncode == 0
    bad = tmp_path / "F032.xml"
    bad.write_bytes(packet(zap() + "<zap><MCOD>50</MCOD></zap>"))
    proc = run_cli(st, "directory", "import", str(F002), str(bad))
    assert proc.returncode == 2 and "[directory_field]" in proc.stderr
    proc = run_cli(st, "directory", "list", "--json")
    assert [d["format"] for d in json.loads(proc.stdout)["directories"]] == ["F003"]


def test_missing_file_and_usage(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "directory", "import", str(tmp_path / "nope.xml"))
    assert proc.returncode == 2 and "error [bad_file]" in proc.stderr
    proc = run_cli(tmp_path, "directory", "import")
    assert proc.returncode == 2  # argparse: FILE required


def test_generator_writes_directories_naming_every_code_it_uses(tmp_path: Path) -> None:
    g = generate(tmp_path / "reg", persons=3000, region="50", seed=7, deltas=1)
    assert [p.name for p in g.directories] == ["F002.xml", "F003.xml"]
    for p in g.directories:
        assert p.read_bytes().startswith(b"<?xml version='1.0' encoding='windows-1251'?>")
    f002, f003 = (parse_directory(p) for p in g.directories)
    assert f002.format is DirectoryFormat.F002 and f003.format is DirectoryFormat.F003
    with (g.out_dir / "persons.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["deleted"]]
    pairs = {(r["smo_ogrn"], r["okato"]) for r in rows}
    clinics = {r["clinic"] for r in rows if r["clinic"]}
    assert len(pairs) >= 5 and len(clinics) >= 20
    st = tmp_path / "st"
    proc = run_cli(st, "directory", "import", *map(str, g.directories))
    assert proc.returncode == 0, proc.stderr
    with Directories(store_path(st)) as d:
        for ogrn, okato in pairs:
            found = d.insurer(ogrn, okato)
            assert found is not None and found.region_matched, (ogrn, okato)
            assert found.name and not found.name.isdigit()
        for code in clinics:
            c = d.clinic(code)
            assert c is not None and c.name.startswith('ГБУЗ МО "'), code
        # The demo's own paper policies and cards name this insurer.
        sogaz = d.insurer(demo.DEMO_SMO_OGRN, demo.DEMO_OKATO)
        assert sogaz is not None and sogaz.name == 'АО "СОГАЗ-Мед"'
        assert sogaz.region_matched
        names = {d.insurer(o, k).name for o, k in pairs}  # type: ignore[union-attr]
        assert len(names) == len({o for o, _ in pairs})  # one name per insurer, no repeats
