"""Red team, session 21b: the verification's line found by its values (``HotLine.codes``,
30c2bff) and the log moment made once a second (``_utc_stamp``, 676f292).

Finding (fails on 30c2bff): ``codes`` looks its values up in the heads memo before asking
whether they are codes, so a value that cannot be hashed (a list) raises ``TypeError`` out
of the log call — the verification it logs would fail — where ``info(**fields)`` and the
structlog chain it promises to equal write the line. Low: the daemon passes only strings
and ``None`` today.

The rest pin what held: byte for byte the chain's line (but for the moment) for values the
masker changes (an ENP or a СНИЛС by position, under any key), values JSON must escape,
``None``, long values; nothing personal remembered; a wrong number of values is the same
``ValueError`` whatever the configuration; a new configuration, a level above INFO and
``capture_logs`` obeyed at the next call; eight threads writing at once give whole lines;
the moment stays ``datetime.now``'s across a clock stepped back.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from tests.redteam import test_session21_hotline as hotline
from verifier import log
from verifier.devkit.demo import demo_person_enp

NAMES = ("channel", "who", "outcome", "kind", "source")


_reset = hotline._reset  # autouse: structlog and the hot line's configuration put back


def _split(line: str) -> tuple[str, str]:
    at = line.index('"timestamp":')  # json.dumps's fallback (a lone surrogate) adds a space
    return line[:at], line[at:]


VALUES: list[tuple[str | None, ...]] = [
    ("api", "mis-1", "valid", "oms_card", "snapshot"),
    ("api", "mis-1", "valid", None, None),
    (None, None, None, None, None),
    ("api", demo_person_enp(), "valid", None, "snapshot"),  # an ENP by position
    ("api", "112-233-445 95", "valid", None, "snapshot"),  # a СНИЛС by position
    ("api", "x" * 64, "valid", None, "snapshot"),
    ("api", "x" * 65, "valid", None, "snapshot"),
    ("api", "x" * 5000, "valid", None, "snapshot"),
    ("api", 'рег"ис\\тр\u2028\t\x00\x1f', "valid", None, "snapshot"),
    ("api", "😀 é", "valid", None, "snapshot"),
    ("", "", "", "", ""),
]


@pytest.mark.parametrize("values", VALUES)
def test_codes_writes_the_chains_line_and_remembers_nothing_personal(
    capsys: pytest.CaptureFixture[str], values: tuple[str | None, ...]
) -> None:
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified", NAMES)
    fields = dict(zip(NAMES, values, strict=True))
    for _ in range(3):
        log.get_logger("oms.service").info("verified", **dict(fields))
        hot.codes(*values)
        chain, line = capsys.readouterr().err.rstrip("\n").split("\n")[-2:]
        assert _split(chain)[0] == _split(line)[0]
        assert json.loads(chain).keys() == json.loads(line).keys()
        assert line.endswith('Z"}')  # the moment last, as the chain writes it
    for secret in (demo_person_enp(), "112-233-445 95"):
        assert secret not in line
        assert secret not in "".join(hot._heads[1].values())
    masked = log.mask_personal_data(None, "info", dict(fields))
    codes = all(v is None or len(v) <= 64 for v in values)
    assert len(hot._heads[1]) == (1 if masked == fields and codes else 0)


@pytest.mark.parametrize("key", sorted(log._MASKED_KEYS))
def test_a_personal_key_given_by_position_is_masked(
    capsys: pytest.CaptureFixture[str], key: str
) -> None:
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified", ("channel", key))
    secret = demo_person_enp() if key in log._ENP_KEYS else "Ян"
    for _ in range(2):
        log.get_logger("oms.service").info("verified", channel="api", **{key: secret})
        hot.codes("api", secret)
        chain, line = capsys.readouterr().err.rstrip("\n").split("\n")[-2:]
        assert _split(chain)[0] == _split(line)[0]
        assert secret not in line
    assert hot._heads[1] == {}


@pytest.mark.parametrize("json_mode", [True, False])
@pytest.mark.parametrize("count", [0, 4, 6])
def test_a_wrong_number_of_values_is_a_value_error_either_way(
    capsys: pytest.CaptureFixture[str], json_mode: bool, count: int
) -> None:
    log.configure(json=json_mode, level="INFO")
    hot = log.HotLine("oms.service", "verified", NAMES)
    hot.codes("api", "mis-1", "valid", None, "snapshot")  # a remembered head first
    capsys.readouterr()
    with pytest.raises(ValueError, match="zip"):
        hot.codes(*(["api"] * count))
    assert capsys.readouterr().err == ""  # no half line


def test_an_unhashable_value_is_written_as_info_writes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified", ("channel", "who"))
    hot.info(channel="api", who=["a", "b"])
    expected = _split(capsys.readouterr().err)[0]
    hot.codes("api", ["a", "b"])  # type: ignore[arg-type]
    assert _split(capsys.readouterr().err)[0] == expected


def test_configuration_changes_between_calls_are_obeyed_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = ("api", "mis-1", "valid", None, "snapshot")
    hot = log.HotLine("oms.service", "verified", NAMES)
    log.configure(json=True, level="INFO")
    hot.codes(*values)
    first = capsys.readouterr().err
    log.configure(json=True, level="WARNING")
    hot.codes(*values)
    assert capsys.readouterr().err == ""
    log.configure(json=False, level="INFO")
    hot.codes(*values)
    console = capsys.readouterr().err
    assert "verified" in console and not console.startswith("{")
    log.configure(json=True, level="INFO")
    with structlog.testing.capture_logs() as captured:
        hot.codes(*values)
    assert captured == [
        {**dict(zip(NAMES, values, strict=True)), "event": "verified", "log_level": "info"}
    ]
    assert capsys.readouterr().err == ""
    hot.codes(*values)
    assert _split(capsys.readouterr().err)[0] == _split(first)[0]
    structlog.configure(processors=[structlog.processors.JSONRenderer()])  # someone else's
    hot.codes(*values)
    other = json.loads(capsys.readouterr().err or "{}")
    assert other == {**dict(zip(NAMES, values, strict=True)), "event": "verified"}


def test_threads_writing_at_once_give_whole_lines(capfd: pytest.CaptureFixture[str]) -> None:
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified", NAMES)
    gate = threading.Barrier(8)

    def write(n: int) -> None:
        gate.wait()
        for i in range(300):
            hot.codes("api", f"mis-{n}", "valid" if i % 2 else "invalid", None, "snapshot")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 8 * 300
    seen = {(d["who"], d["outcome"]) for d in map(json.loads, lines)}
    assert seen == {(f"mis-{n}", o) for n in range(8) for o in ("valid", "invalid")}


def test_the_moment_follows_a_clock_stepped_back(monkeypatch: pytest.MonkeyPatch) -> None:
    base = 1_764_600_000_000_000_000
    for ns in (base + 5_000_000_001_000, base + 1_000, base - 86_400 * 10**9, base + 999):
        monkeypatch.setattr(log.time, "time_ns", lambda ns=ns: ns)
        seconds, rest = divmod(ns, 1_000_000_000)
        moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)
        assert log._utc_stamp() == moment.isoformat().replace("+00:00", "Z")
