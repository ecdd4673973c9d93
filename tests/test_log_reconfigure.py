"""Logging configured again on reload (``verifier.service.daemon.apply_log_settings``).

Every :func:`verifier.log.configure` makes a new configuration object, so a
:class:`verifier.log.HotLine` drops the heads it remembered under the old one: after each
switch its lines are still exactly the structlog chain's (masked), and they follow the new
level — nothing at WARNING, back at INFO or DEBUG. A bad level is refused with the loader's
typed error and the configuration in force is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from verifier import log
from verifier.config import ConfigError, LogConfig
from verifier.devkit.demo import demo_person_enp
from verifier.service.daemon import apply_log_settings

NAMES = ("channel", "who", "outcome", "kind", "source")
CODES = ("api", "mis-1", "valid", None, "snapshot")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def _same_line(general: str, hot: str) -> None:
    """The chain's line and the hot line: same keys in the same order, same values."""
    a, b = json.loads(general), json.loads(hot)
    assert list(a) == list(b)
    assert a.pop("timestamp")[:16] == b.pop("timestamp")[:16]
    assert a == b


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _both(hot: log.HotLine, values: tuple[str | None, ...]) -> None:
    log.get_logger("oms.service").info("verified", **dict(zip(NAMES, values, strict=True)))
    hot.codes(*values)


def test_hot_lines_follow_each_reapplied_level(capsys: pytest.CaptureFixture[str]) -> None:
    enp = demo_person_enp()
    with_enp = ("api", "mis-1", enp, "manual", "snapshot")
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified", NAMES)
    for _ in range(2):
        _both(hot, CODES)
        _same_line(*_lines(capsys)[-2:])
    first = hot._heads[0]
    assert first is not None and list(hot._heads[1]) == [CODES]

    info = LogConfig(json=True, level="INFO")
    warning = LogConfig(json=True, level="WARNING")
    assert apply_log_settings(info, warning)
    (changed,) = _lines(capsys)  # written before the switch: INFO still let it through
    assert json.loads(changed) == {
        "new_level": "WARNING",
        "old_level": "INFO",
        "json": True,
        "event": "log level changed",
        "level": "info",
        "timestamp": json.loads(changed)["timestamp"],
    }
    _both(hot, CODES)
    hot.info(channel="api", who="mis-1")
    log.get_logger("probe").debug("debug probe")
    assert _lines(capsys) == []  # below WARNING: nothing, the remembered head unused
    log.get_logger("probe").warning("warning probe")
    assert [json.loads(x)["event"] for x in _lines(capsys)] == ["warning probe"]

    debug = LogConfig(json=True, level="debug")  # the loader keeps the case as written
    assert apply_log_settings(warning, debug)
    (changed,) = _lines(capsys)  # written after the switch: DEBUG lets it through
    assert (json.loads(changed)["new_level"], json.loads(changed)["old_level"]) == (
        "DEBUG",
        "WARNING",
    )
    for values in (CODES, CODES, with_enp, with_enp):
        _both(hot, values)
        general, line = _lines(capsys)[-2:]
        _same_line(general, line)
        assert enp not in line and enp not in general
    # The heads now belong to the new configuration, and the ENP's line was never remembered.
    assert hot._heads[0] is not first and hot._heads[0] is log._in_force()
    assert list(hot._heads[1]) == [CODES]
    log.get_logger("probe").debug("debug probe", enp=enp)
    (probe,) = _lines(capsys)
    assert json.loads(probe)["event"] == "debug probe" and enp not in probe

    # Unchanged settings: nothing configured again, the heads kept.
    in_force = log._in_force()
    assert not apply_log_settings(debug, LogConfig(json=True, level="DEBUG"))
    assert log._in_force() is in_force and _lines(capsys) == []


def test_a_bad_level_is_refused_and_the_running_one_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log.configure(json=True, level="WARNING")
    hot = log.HotLine("oms.service", "verified", NAMES)
    before = structlog.get_config()
    with pytest.raises(ConfigError) as caught:
        apply_log_settings(LogConfig(json=True, level="WARNING"), LogConfig(level="LOUD"))
    assert caught.value.code == "bad_config" and "LOUD" in caught.value.message
    after = structlog.get_config()  # nothing configured: the WARNING chain still in force
    assert all(after[k] is before[k] for k in ("processors", "wrapper_class", "logger_factory"))
    hot.codes(*CODES)
    assert _lines(capsys) == []


def test_json_off_then_on_again(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified", NAMES)
    hot.codes(*CODES)
    _lines(capsys)
    on, off = LogConfig(json=True), LogConfig(json=False)
    assert apply_log_settings(on, off)
    (changed,) = _lines(capsys)
    assert "log format changed" in changed and not changed.startswith("{")
    hot.codes(*CODES)
    (console,) = _lines(capsys)
    assert "verified" in console and not console.startswith("{")  # the console renderer
    assert apply_log_settings(off, on)
    assert json.loads(_lines(capsys)[0])["event"] == "log format changed"
    _both(hot, CODES)
    _same_line(*_lines(capsys)[-2:])
