"""Red team, session 19: ``/v1/scans?limit=`` after it became strict (b0e343a).

Finding (fails on 05fa212): ``scan_limit`` checks ``isascii() and isdigit()`` and then calls
``int(raw)``; a run of more than 4300 ASCII digits passes both checks and ``int`` raises
``ValueError`` (Python's integer-string limit), which no handler turns into a problem: the
daemon answers 500 where the clamped version before answered 400 ``bad_parameter``.

Real daemon (the code ``serve --demo`` runs) on loopback, over a small demo state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http.conftest import Server, _start
from tests.http.helpers import assert_problem
from verifier.config import Config
from verifier.devkit import demo


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state_dir = tmp_path_factory.mktemp("s19-demo")
    demo.ensure_demo(Config(state_dir=state_dir), persons=300)
    yield from _start(tmp_path_factory, state_dir, "s19-api", "")


@pytest.mark.parametrize("digits", [4301, 5000, 12000])
def test_scans_limit_of_many_digits_is_a_bad_parameter_not_a_crash(
    daemon: Server, digits: int
) -> None:
    with daemon.client() as c:
        r = c.get("/v1/scans", params={"limit": "9" * digits})
    assert r.status_code != 500, r.text
    assert_problem(r, 400, "bad_parameter")


@pytest.mark.parametrize(
    "limit",
    ["0", "201", "-1", "+5", " 5", "5 ", "1e2", "0x10", "5_0", "٥", "５", "1" * 40, "", "NaN"],
)
def test_scans_limit_outside_1_200_is_told(daemon: Server, limit: str) -> None:
    """Regression: every other non-plain spelling is a 400, never clamped to a count."""
    with daemon.client() as c:
        assert_problem(c.get("/v1/scans", params={"limit": limit}), 400, "bad_parameter")
        ok = c.get("/v1/scans", params={"limit": "0200"})  # leading zeros: still 200
        assert ok.status_code == 200
