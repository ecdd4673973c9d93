"""Red team, session 21: the remembered heads of the verification's log line (``HotLine``,
5c1af77). What held, pinned: the line stays the structlog chain's byte for byte (but for its
moment) for values at the memo's edges and values JSON must escape; a value the masker
changes is never remembered nor written unmasked; a new configuration, a level above INFO and
a test's ``capture_logs`` are obeyed on the very next line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from verifier import log
from verifier.devkit.demo import demo_person_enp


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    try:
        yield
    finally:
        structlog.reset_defaults()
        log._configured = None


def _pair(capsys: pytest.CaptureFixture[str], hot: log.HotLine, fields: dict[str, Any]) -> None:
    log.get_logger("oms.service").info("verified", **dict(fields))
    hot.info(**dict(fields))
    chain, line = capsys.readouterr().err.rstrip("\n").split("\n")[-2:]
    assert chain[: chain.index('"timestamp":"')] == line[: line.index('"timestamp":"')]
    assert json.loads(chain).keys() == json.loads(line).keys()


EDGES: list[dict[str, Any]] = [
    {"channel": "api", "who": "x" * 64, "outcome": "valid"},  # remembered: 64 characters
    {"channel": "api", "who": "x" * 65, "outcome": "valid"},  # made in full
    {"channel": "api", "who": 'рег"истр\\атура\u2028\t', "kind": None},
    {"channel": "api", "who": "12345678901", "outcome": "valid"},  # СНИЛС-shaped: masked
    {"channel": "api", "who": demo_person_enp(), "outcome": "valid"},  # an ENP: masked
    {"channel": "api", "name": "Ян", "outcome": "valid"},  # a personal key: masked
    {"channel": "api", "enp": None, "outcome": "valid"},
    {},
]


@pytest.mark.parametrize("fields", EDGES)
def test_each_line_is_the_chains_and_personal_data_is_never_remembered(
    capsys: pytest.CaptureFixture[str], fields: dict[str, Any]
) -> None:
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified")
    for _ in range(3):
        _pair(capsys, hot, fields)
    heads = "".join(hot._heads[1].values())
    for secret in (demo_person_enp(), "12345678901", "Ян"):
        assert secret not in heads
    masked = log.mask_personal_data(None, "info", dict(fields))
    codes = all(v is None or (type(v) is str and len(v) <= 64) for v in fields.values())
    assert len(hot._heads[1]) == (1 if masked == fields and codes else 0)


def test_a_new_configuration_level_and_capture_are_obeyed_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fields = {"channel": "api", "who": "mis-1", "outcome": "valid"}
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified")
    hot.info(**dict(fields))
    hot.info(**dict(fields))
    assert len(capsys.readouterr().err.splitlines()) == 2
    log.configure(json=True, level="WARNING")
    hot.info(**dict(fields))
    assert capsys.readouterr().err == ""
    log.configure(json=False, level="INFO")
    hot.info(**dict(fields))
    line = capsys.readouterr().err
    assert "verified" in line and not line.startswith("{")
    log.configure(json=True, level="INFO")
    hot.info(**dict(fields))
    with structlog.testing.capture_logs() as logs:
        hot.info(**dict(fields))
    assert logs == [{**fields, "event": "verified", "log_level": "info"}]
    assert len(capsys.readouterr().err.splitlines()) == 1
