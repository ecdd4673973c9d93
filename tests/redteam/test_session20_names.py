"""Red team, session 20: directory names checked for changes at most once a second
(``assembly.DirectoryNames.current``).

The attack: make a stale name book change what a verdict decides. The pipeline's verdicts for
the same people are taken with the book stale (another process has just imported names, with
insurers marked excluded, and the window has not passed) and fresh (after the window): the
names must differ, and the outcome, the reasons and every check's status must not.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from tests.redteam.conftest import Lab
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.directories import Directories
from verifier.service.assembly import DirectoryNames
from verifier.verdict import Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _decision(v: Verdict) -> tuple[object, ...]:
    return (v.outcome, v.reasons, tuple((c.name, c.status, c.reason) for c in v.checks))


@pytest.mark.parametrize("mode", [LookupMode.AUTO, LookupMode.OFFLINE])  # OFFLINE: by group
def test_a_stale_name_book_never_changes_a_decision(
    lab: Lab, tmp_path: Path, mode: LookupMode
) -> None:
    path = tmp_path / "directories.sqlite3"
    clock = Clock()
    with Directories(path) as directories:
        names = DirectoryNames(directories, clock=clock)
        pipeline = dataclasses.replace(lab.pipeline(), names=names)
        people = lab.truth.persons[:80]
        items = [CredentialInput.from_text(p.enp, source="t", manual=True) for p in people]
        before = [pipeline.verify(i, mode=mode) for i in items]
        insurers = {(v.insurer.ogrn, v.insurer.region) for v in before if v.insurer}
        clinics = {v.attachment.code for v in before if v.attachment}
        assert insurers and clinics
        # ``directory import`` in another process: names, every insurer excluded
        with sqlite3.connect(path) as other:
            other.executemany(
                "INSERT INTO insurer VALUES (?,?,?,?,?,?,?)",
                [(o, k, "СМО «Закрыта»", "СМО", None, 1, "2020-01-01") for o, k in insurers],
            )
            other.executemany(
                "INSERT INTO clinic VALUES (?,?,?,?,?,?)",
                [(c, "ГБУЗ «Иная»", "ГБУЗ", None, None, "2020-01-01") for c in clinics],
            )
        stale = [pipeline.verify(i, mode=mode) for i in items]  # inside the window: old view
        clock.now += 5
        fresh = [pipeline.verify(i, mode=mode) for i in items]  # past it: the import is seen
    assert [v.insurer.name for v in fresh if v.insurer] != [
        v.insurer.name for v in stale if v.insurer
    ]
    assert all(v.insurer.name == "СМО «Закрыта»" for v in fresh if v.insurer)
    if mode is LookupMode.OFFLINE:  # the grouped path answered (its kept insurers, clinics)
        assert all(v._shape is not None for v in before + stale + fresh)
    assert [_decision(v) for v in before] == [_decision(v) for v in stale]
    assert [_decision(v) for v in stale] == [_decision(v) for v in fresh]
