"""The verdict's name book caches names per state of the directories: an import, here or by
``oms-verifier directory import`` in another process, is seen on the next verdict; between
imports, a name is read from the store once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.directories.helpers import F002, F003, F032, run_cli
from verifier.directories import Clinic, Directories, Insurer, store_path
from verifier.service.assembly import DirectoryNames

CLINIC = "500103"  # in F003_sample.xml
CLINIC_NAME = 'ГБУЗ МО "Подольская городская поликлиника № 3"'


class CountingDirectories(Directories):
    """The real store, counting the lookups that reach SQLite."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lookups = 0

    def insurer(self, ogrn: str, okato: str | None) -> Insurer | None:
        self.lookups += 1
        return super().insurer(ogrn, okato)

    def clinic(self, code: str) -> Clinic | None:
        self.lookups += 1
        return super().clinic(code)


@pytest.fixture
def daemon_side(tmp_path: Path) -> CountingDirectories:
    d = CountingDirectories(store_path(tmp_path))
    yield d  # type: ignore[misc]
    d.close()


def test_data_version_moves_with_an_import_by_another_process(
    tmp_path: Path, daemon_side: CountingDirectories
) -> None:
    first = daemon_side.data_version()
    assert daemon_side.data_version() == first  # nothing changed: the same value
    proc = run_cli(tmp_path, "directory", "import", str(F003))
    assert proc.returncode == 0, proc.stderr
    second = daemon_side.data_version()
    assert second != first
    assert daemon_side.data_version() == second


def test_data_version_moves_with_this_connections_own_import(
    daemon_side: CountingDirectories,
) -> None:
    """SQLite's data_version does not move for a connection's own commits: the count does."""
    first = daemon_side.data_version()
    daemon_side.import_files([F002])
    assert daemon_side.data_version() != first


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_names_are_read_once_per_state_and_an_import_elsewhere_is_seen_within_a_second(
    tmp_path: Path, daemon_side: CountingDirectories
) -> None:
    clock = _Clock()
    names = DirectoryNames(daemon_side, clock=clock)
    assert names.current().clinic_name(CLINIC) is None  # nothing loaded yet
    assert names.current().clinic_name(CLINIC) is None
    assert daemon_side.lookups == 1  # the second answer came from the cache

    proc = run_cli(tmp_path, "directory", "import", str(F003))  # a real second process
    assert proc.returncode == 0, proc.stderr
    clock.now += 0.5  # inside the recheck window: the change check has not run again
    assert names.current().clinic_name(CLINIC) is None
    clock.now += 0.6  # past NAME_RECHECK_S since the last check
    assert names.current().clinic_name(CLINIC) == CLINIC_NAME
    assert names.clinic_name(CLINIC) == CLINIC_NAME
    assert daemon_side.lookups == 2

    proc = run_cli(tmp_path, "directory", "import", str(F032))  # F032 renames the clinic
    assert proc.returncode == 0, proc.stderr
    clock.now += 1.0
    assert names.current().clinic_name(CLINIC) == 'ГБУЗ МО "Подольская ГКБ"'
    assert daemon_side.lookups == 3


def test_the_change_check_runs_at_most_once_a_window(daemon_side: CountingDirectories) -> None:
    clock = _Clock()
    names = DirectoryNames(daemon_side, clock=clock)
    checks = 0
    real = daemon_side.data_version

    def counted() -> tuple[int, int]:
        nonlocal checks
        checks += 1
        return real()

    daemon_side.data_version = counted  # type: ignore[method-assign]
    for _ in range(50):
        names.current()
        clock.now += 0.01
    assert checks == 1
    clock.now += 1.0
    names.current()
    assert checks == 2


def test_an_import_by_the_daemons_own_connection_is_seen_too(
    daemon_side: CountingDirectories,
) -> None:
    names = DirectoryNames(daemon_side)
    assert names.clinic_name(CLINIC) is None
    daemon_side.import_files([F003])
    assert names.clinic_name(CLINIC) == CLINIC_NAME


def test_insurer_names_are_cached_by_ogrn_and_region(daemon_side: CountingDirectories) -> None:
    daemon_side.import_files([F002])
    insurer = daemon_side.insurers()[0]
    names = DirectoryNames(daemon_side)
    view = names.current()
    found = view.insurer_name(insurer.ogrn, insurer.okato)
    assert found == daemon_side.insurer(insurer.ogrn, insurer.okato).name  # type: ignore[union-attr]
    lookups = daemon_side.lookups
    assert view.insurer_name(insurer.ogrn, insurer.okato) == found
    assert daemon_side.lookups == lookups
    view.insurer_name(insurer.ogrn, None)  # another key: asked of the store
    assert daemon_side.lookups == lookups + 1


def test_the_cache_is_bounded(daemon_side: CountingDirectories) -> None:
    names = DirectoryNames(daemon_side, maxsize=8)
    for i in range(100):
        names.clinic_name(f"{i:06d}")
    assert len(names._cache) == 8
