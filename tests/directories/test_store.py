"""The directory store: lookups the verdict uses, atomic replacement per kind, the status, and
the file's mode."""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.directories.helpers import F002, F003, F032, ins, packet, zap
from verifier.directories import (
    Clinic,
    Directories,
    DirectoryError,
    DirectoryFormat,
    DirectoryKind,
    Insurer,
    parse_directory,
    store_path,
)


@pytest.fixture
def store(tmp_path: Path) -> Directories:
    d = Directories(store_path(tmp_path))
    d.import_files([F002, F003])
    return d


def test_insurer_by_ogrn_and_region(store: Directories) -> None:
    branch = store.insurer("1027739008440", "46000")
    assert isinstance(branch, Insurer)
    assert branch.okato == "46000" and branch.region_matched
    assert branch.name == 'Московский филиал АО "СОГАЗ-Мед"'
    head = store.insurer("1027739008440", "45000")
    assert head is not None and head.name == 'АО "СОГАЗ-Мед"' and head.region_matched


def test_insurer_falls_back_to_ogrn_alone_head_office_first(store: Directories) -> None:
    for okato in (None, "", "92000"):  # not given; a region without a branch of this insurer
        found = store.insurer("1027739008440", okato)
        assert found is not None, okato
        assert found.okato == "45000" and found.head_office is True  # the head office
        assert not found.region_matched
        assert found.name == 'АО "СОГАЗ-Мед"'
    only = store.insurer("1028601441274", "45000")
    assert only is not None and only.okato == "46000" and not only.region_matched


def test_unknown_codes_are_none(store: Directories) -> None:
    assert store.insurer("1234567890123", "46000") is None
    assert store.clinic("999999") is None
    assert store.clinic("") is None


def test_clinic_by_code(store: Directories) -> None:
    c = store.clinic("508940")
    assert c == Clinic(
        code="508940",
        name='ГБУЗ МО "Химкинская больница"',
        full_name="Государственное бюджетное учреждение здравоохранения Московской области "
        '"Химкинская больница"',
        okato="46000",
        ogrn="1035009550000",
        excluded_on=None,
    )
    ended = store.clinic("501200")
    assert ended is not None and ended.excluded_on == date(2021, 12, 31)


def test_dataclasses_are_frozen(store: Directories) -> None:
    c = store.clinic("508940")
    assert c is not None and c.code == "508940"
    with pytest.raises(AttributeError):
        c.name = "x"  # type: ignore[misc]


def test_status(tmp_path: Path) -> None:
    d = Directories(store_path(tmp_path))
    assert d.status() == []
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    d.replace([parse_directory(F002), parse_directory(F032)], now=at)
    st = {s.kind: s for s in d.status()}
    assert st[DirectoryKind.INSURERS].format is DirectoryFormat.F002
    assert st[DirectoryKind.INSURERS].records == 4
    assert st[DirectoryKind.INSURERS].file_date == date(2024, 3, 15)
    assert st[DirectoryKind.INSURERS].source == "F002_sample.xml"
    assert st[DirectoryKind.INSURERS].imported_at == at
    assert st[DirectoryKind.CLINICS].format is DirectoryFormat.F032
    assert st[DirectoryKind.CLINICS].records == 2
    assert st[DirectoryKind.CLINICS].to_dict()["file_date"] == "2024-05-20"


def test_new_import_replaces_the_kind_only(store: Directories) -> None:
    store.import_files([F032])  # F032 supersedes F003: the clinics are F032's now
    assert store.clinic("501200") is None  # only in F003
    c = store.clinic("500103")
    assert c is not None and c.name == 'ГБУЗ МО "Подольская ГКБ"'
    assert store.insurer("1027739008440", "46000") is not None  # insurers untouched
    kinds = {s.kind: s.format for s in store.status()}
    assert kinds == {
        DirectoryKind.INSURERS: DirectoryFormat.F002,
        DirectoryKind.CLINICS: DirectoryFormat.F032,
    }


def test_malformed_second_file_leaves_the_first_import_intact(
    store: Directories, tmp_path: Path
) -> None:
    before = (store.insurers(), store.clinics(), store.status())
    bad = tmp_path / "F003-broken.xml"
    bad.write_bytes(packet(zap() + zap(mcod="5001")))  # second record's code is malformed
    with pytest.raises(DirectoryError) as info:
        store.import_files([bad])
    assert info.value.code == "directory_field"
    # A good insurer file together with a bad clinic file: neither is loaded.
    other = tmp_path / "F002-new.xml"
    other.write_bytes(packet(ins(ogrn="1111111111110", short='ООО "Новая СМО"')))
    with pytest.raises(DirectoryError):
        store.import_files([other, bad])
    assert (store.insurers(), store.clinics(), store.status()) == before
    assert store.insurer("1111111111110", None) is None


def test_a_failure_inside_the_transaction_rolls_back(store: Directories) -> None:
    """Past parsing too: a write that fails half-way leaves the previous directory whole."""
    before = (store.clinics(), store.status())
    parsed = parse_directory(F032)
    dup = replace(parsed, clinics=(*parsed.clinics, parsed.clinics[0]))  # a primary-key clash
    with pytest.raises(sqlite3.IntegrityError):
        store.replace([dup])
    assert (store.clinics(), store.status()) == before


def test_two_files_of_one_kind_refused(store: Directories) -> None:
    with pytest.raises(DirectoryError) as info:
        store.import_files([F003, F032])
    assert info.value.code == "directory_kind_twice"


def test_another_connection_sees_an_import_at_once(tmp_path: Path) -> None:
    """The daemon keeps its store open while the CLI imports."""
    daemon = Directories(store_path(tmp_path))
    assert daemon.clinic("500103") is None
    with Directories(store_path(tmp_path)) as cli:
        cli.import_files([F003])
    c = daemon.clinic("500103")
    assert c is not None and c.name == 'ГБУЗ МО "Подольская городская поликлиника № 3"'
    daemon.close()


def test_store_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = store_path(tmp_path / "state")
        d = Directories(path)
        d.import_files([F002])
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        d.close()
        for p in path.parent.glob("directories.sqlite3*"):
            p.chmod(0o644)
        Directories(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_store_that_is_no_database_is_a_typed_error(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DirectoryError) as info:
        Directories(path)
    assert info.value.code == "directory_store"
