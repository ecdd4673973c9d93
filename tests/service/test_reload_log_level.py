"""``systemctl reload`` (SIGHUP) re-applies ``[log]``: a real ``oms-verifier serve --demo``.

An admin who sets ``level = "WARNING"`` and reloads stops getting the INFO ``verified`` line of
every check; ``"INFO"`` or ``"DEBUG"`` and another reload bring it back. A bad level is refused
as at start (``bad_config``, logged as an error) and the running level kept. Each switch is one
INFO line, ``log level changed``, codes only. No timing threshold: a line that must not appear
is looked for up to a later line the daemon writes for sure (the verified line is written
before the answer goes out, so it would come first).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.test_daemon_lifecycle import (  # demo_state: a fixture
    WAIT_S,
    Served,
    _json,
    demo_state,
    typed_check,
)

TOKEN = "desk-token-0123456789abcdef"
ENP = "5047000818001962"
FAILED = "reload failed; keeping the running configuration"


def _config(path: Path, level: str) -> None:
    path.write_text(
        f'[log]\njson = true\nlevel = "{level}"\n[http]\nport = 0\n'
        f'[[http.tokens]]\nname = "desk-1"\ntoken = "{TOKEN}"\nrole = "desk"\n',
        encoding="utf-8",
    )


def _verify(port: int) -> None:
    """A typed desk check; its INFO ``verified`` line, if the level lets it through, is
    written before this answer is sent."""
    typed_check(port, TOKEN)


def _events(lines: list[str]) -> list[object]:
    return [_json(x).get("event") for x in lines]


def _reload(daemon: Served, conf: Path, level: str) -> int:
    _config(conf, level)
    mark = len(daemon.lines)
    daemon.proc.send_signal(signal.SIGHUP)
    return mark


__all__ = ["demo_state"]


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def _serve(conf: Path, state: Path, level: str) -> Served:
    _config(conf, level)
    return Served(conf, state)


def _served_at(conf: Path, demo_state: Path, level: str) -> Iterator[Served]:
    daemon = _serve(conf, demo_state, level)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def at_info(conf: Path, demo_state: Path) -> Iterator[Served]:
    yield from _served_at(conf, demo_state, "INFO")


@pytest.fixture
def at_warning(conf: Path, demo_state: Path) -> Iterator[Served]:
    yield from _served_at(conf, demo_state, "WARNING")


def test_warning_then_a_bad_level_then_info(conf: Path, at_info: Served) -> None:
    daemon = at_info
    mark = len(daemon.lines)
    _verify(daemon.port)
    daemon.event_logged("verified", mark)

    mark = _reload(daemon, conf, "WARNING")
    changed = _json(daemon.event_logged("log level changed", mark))
    assert (changed["new_level"], changed["old_level"], changed["json"]) == (
        "WARNING",
        "INFO",
        True,
    )
    assert changed["level"] == "info" and set(changed) == {
        "event", "level", "new_level", "old_level", "json", "timestamp"
    }  # fmt: skip
    mark = len(daemon.lines)
    _verify(daemon.port)
    # A bad level: refused as the loader refuses it, an error line (WARNING lets it through).
    _reload(daemon, conf, "LOUD")
    failed = _json(daemon.event_logged(FAILED, mark))
    assert failed["code"] == "bad_config" and "LOUD" in str(failed["error"]), failed
    assert "verified" not in _events(daemon.lines[mark:]), daemon.lines[mark:]

    # The running level (WARNING) is kept: still no verified line, up to the next refusal.
    mark = len(daemon.lines)
    _verify(daemon.port)
    daemon.proc.send_signal(signal.SIGHUP)  # the file still says "LOUD"
    daemon.event_logged(FAILED, mark)
    assert "verified" not in _events(daemon.lines[mark:]), daemon.lines[mark:]
    assert "log level changed" not in _events(daemon.lines[mark:])

    mark = _reload(daemon, conf, "INFO")
    changed = _json(daemon.event_logged("log level changed", mark))
    assert (changed["new_level"], changed["old_level"]) == ("INFO", "WARNING")
    mark = len(daemon.lines)
    _verify(daemon.port)
    verified = _json(daemon.event_logged("verified", mark))
    assert verified["level"] == "info" and verified["who"] == "desk-1"

    assert daemon.proc.poll() is None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=WAIT_S) == 0
    assert not any(ENP in x for x in daemon.lines)
    assert all(_json(x) for x in daemon.lines if not x.startswith("oms-verifier: serving on"))


def test_debug_after_warning_brings_the_verified_line_back(conf: Path, at_warning: Served) -> None:
    daemon = at_warning
    mark = len(daemon.lines)
    _verify(daemon.port)  # at WARNING: no line
    mark = _reload(daemon, conf, "DEBUG")
    changed = _json(daemon.event_logged("log level changed", mark))
    assert (changed["new_level"], changed["old_level"]) == ("DEBUG", "WARNING")
    assert "verified" not in _events(daemon.lines[:mark]), daemon.lines
    # "configuration reloaded" came before the switch, under WARNING: not written.
    assert "configuration reloaded" not in _events(daemon.lines)

    for _ in range(3):  # the hot line's remembered head, made under the new configuration
        mark = len(daemon.lines)
        _verify(daemon.port)
        verified = _json(daemon.event_logged("verified", mark))
        assert verified["level"] == "info" and verified["channel"] and verified["outcome"]
    assert not any(ENP in x for x in daemon.lines)
