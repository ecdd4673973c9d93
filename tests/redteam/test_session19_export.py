"""Red team, session 19: ``registry export-national --region`` with hostile values.

Finding (fails on 05fa212): the region is never validated. A value that is not digits
(``50' OR '1'='1``, ``../../x``) reaches ``int(region)`` in ``_columns`` and the CLI dies
with a ``ValueError`` traceback instead of a typed ``bad_argument``; a one-digit region
(``5``) writes ``part-5-E.omsnat`` (an empty part of no region) and lists it in the
manifest. No SQL injection: both sources bind the region as a parameter, and ``int()``
refuses the value before any query runs.

Real registry directory (the generator's signed register), the real CLI, the SQLite source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifier.cli import main
from verifier.devkit.generator import generate


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("s19-export")
    generate(d, persons=50, region="50", seed=7, deltas=0)
    return d


@pytest.mark.parametrize("region", ["50' OR '1'='1", "../../x", "5", "500", "5a", ""])
def test_a_malformed_region_is_a_typed_usage_error(
    data: Path, tmp_path: Path, region: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["registry", "export-national", "--data", str(data), "--out", str(out)]
    code = main([*argv, "--store", "sqlite", "--region", region])
    assert code != 0
    assert "bad_argument" in capsys.readouterr().err
    assert not out.exists() or not list(out.glob("part-*"))


def test_a_plain_region_still_exports(data: Path, tmp_path: Path) -> None:
    """Regression: the well-formed region of the register exports its one part."""
    out = tmp_path / "out"
    argv = ["registry", "export-national", "--data", str(data), "--out", str(out)]
    assert main([*argv, "--store", "sqlite", "--region", "50"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == ["part-50-000001.omsnat"]
