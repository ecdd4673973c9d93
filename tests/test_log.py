from __future__ import annotations

import json
from datetime import date

import pytest
import structlog

from verifier import log
from verifier.devkit.demo import demo_person_enp


def test_processor_masks_personal_fields_by_name() -> None:
    enp = demo_person_enp()
    out = log.mask_personal_data(
        None,
        "info",
        {
            "event": "scan",
            "enp": enp,
            "surname": "Иванов",
            "birth_date": date(1985, 3, 15),
            "credential": {"given_name": "Иван", "enp": enp},
            "snils": "112-233-445 95",
        },
    )
    text = json.dumps(out, default=str, ensure_ascii=False)
    assert enp not in text and "Иван" not in text and "1985" not in text and "445 95" not in text
    assert out["enp"].endswith(enp[-4:])


def test_processor_masks_enps_inside_free_text() -> None:
    enp = demo_person_enp()
    out = log.mask_personal_data(None, "info", {"event": f"lookup of {enp} failed"})
    assert enp not in out["event"]
    assert out["event"].startswith("lookup of 50")


def test_configured_logger_writes_masked_json(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(json=True, level="INFO")
    enp = demo_person_enp()
    log.get_logger("t").info("verified", enp=enp, surname="Петрова", outcome="valid")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    rec = json.loads(line)
    assert rec["outcome"] == "valid" and rec["level"] == "info"
    assert enp not in line and "Петрова" not in line
    structlog.reset_defaults()


def test_short_values_under_personal_keys_are_still_masked() -> None:
    """Short strings skip the regex pass, never the masking by key."""
    out = log.mask_personal_data(
        None, "info", {"event": "x", "name": "Ян", "Surname": "Ли", "dob": "1990", "who": "desk"}
    )
    assert (out["name"], out["Surname"], out["dob"], out["who"]) == (
        "***",
        "***",
        "****-**-**",
        "desk",
    )


def test_orjson_lines_read_as_json_dumps_would_write_them() -> None:
    """The renderer's line parses to what json.dumps(default=repr) gave: dates and other
    objects as their repr, integer keys as text, an integer past 64 bits exact."""
    doc = {"event": "e", 7: "seven", "big": 2**70, "day": date(2024, 1, 2), "text": "ёлка"}
    line = log.render_json(dict(doc))
    assert json.loads(line) == json.loads(json.dumps(doc, default=repr, ensure_ascii=False))
    assert "ёлка" in log.render_json({"text": "ёлка"})  # UTF-8, not \u escapes


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    "fields",
    [
        {
            "channel": "api",
            "who": "mis-1",
            "outcome": "valid",
            "kind": "manual",
            "source": "snapshot",
        },
        {
            "channel": "desk",
            "who": "loopback",
            "outcome": "unknown",
            "kind": None,
            "source": "none",
        },
        {"channel": "api", "who": "mis", "enp": "5047000821004979", "note": "про 5047000821004979"},
    ],
)
def test_a_hot_line_is_the_line_structlog_writes(
    capsys: pytest.CaptureFixture[str], fields: dict[str, object]
) -> None:
    """Same keys in the same order, same values, masked alike; only the moment differs."""
    log.configure(json=True, level="INFO")
    try:
        log.get_logger("oms.service").info("verified", **fields)
        log.HotLine("oms.service", "verified").info(**dict(fields))
        general, hot = _lines(capsys)[-2:]
    finally:
        structlog.reset_defaults()
    a, b = json.loads(general), json.loads(hot)
    assert list(a) == list(b)  # key order too: fields, event, level, timestamp
    assert a.pop("timestamp")[:16] == b.pop("timestamp")[:16]  # ISO, UTC, "Z"
    assert a == b
    assert json.loads(hot)["timestamp"].endswith("Z")
    assert "5047000821004979" not in hot


def test_a_hot_line_follows_a_capture_and_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(json=True, level="INFO")
    line = log.HotLine("oms.service", "verified")
    try:
        with structlog.testing.capture_logs() as captured:
            line.info(channel="api", outcome="valid")
        assert captured == [
            {"channel": "api", "outcome": "valid", "event": "verified", "log_level": "info"}
        ]
        assert _lines(capsys) == []  # captured, not written
        log.configure(json=True, level="WARNING")
        line.info(channel="api", outcome="valid")
        assert _lines(capsys) == []  # below the level: nothing
        log.configure(json=False, level="INFO")
        line.info(channel="api", outcome="valid")
        (console,) = _lines(capsys)
        assert "verified" in console and not console.startswith("{")  # the console renderer
    finally:
        structlog.reset_defaults()


def test_a_hot_line_flushes_a_stream_that_keeps_lines_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A block-buffered stderr gets its flush; Python's own (write-through) needs none."""
    import io

    raw = io.BytesIO()
    buffered = io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding="utf-8")
    monkeypatch.setattr("sys.stderr", buffered)
    log.configure(json=True, level="INFO")
    try:
        log.HotLine("oms.service", "verified").info(channel="api")
        assert b'"event":"verified"' in raw.getvalue()  # flushed, not kept in the buffer
    finally:
        structlog.reset_defaults()


@pytest.mark.parametrize("extra", ["", "1", "12", "123456"])
def test_an_enp_with_digits_run_onto_it_is_masked_too(extra: str) -> None:
    enp = demo_person_enp()
    out = log.mask_personal_data(None, "info", {"event": f"read {enp}{extra} twice"})
    assert enp not in out["event"] and enp[:15] not in out["event"]
    assert out["event"].startswith("read " + enp[:2] + "*")


def test_a_hot_line_made_again_from_its_memo_is_still_the_chains_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The second and later lines of the same fields come from the remembered head: each
    is still exactly the chain's line but for its own moment, and a value the masker
    changes (an ENP, a name) is never remembered."""
    log.configure(json=True, level="INFO")
    hot = log.HotLine("oms.service", "verified")
    codes = {"channel": "api", "who": "mis-1", "outcome": "valid", "kind": None}
    personal = {"channel": "api", "who": "mis-1", "enp": demo_person_enp()}
    try:
        for fields in (codes, codes, codes, personal, personal):
            log.get_logger("oms.service").info("verified", **fields)
            hot.info(**dict(fields))
            general, line = _lines(capsys)[-2:]
            a, b = json.loads(general), json.loads(line)
            assert list(a) == list(b)
            assert a.pop("timestamp")[:16] == b.pop("timestamp")[:16]
            assert a == b
            assert line == line.strip() and line.endswith('Z"}')
        assert len(hot._heads[1]) == 1  # the codes' head; the ENP's line is made in full
        assert all(demo_person_enp() not in h for h in hot._heads[1].values())
        log.configure(json=True, level="INFO")  # a new configuration: the memo starts anew
        hot.info(**dict(codes))
        assert list(hot._heads[1]) == [tuple(codes.items())]
    finally:
        structlog.reset_defaults()


@pytest.mark.parametrize(
    "ns",
    [
        0,
        1_000,  # one microsecond
        999,  # under a microsecond: floored to none, as datetime.now floors
        1_764_600_000_000_000_000,  # a whole second: no fraction written
        1_764_600_000_123_456_789,
        1_764_600_059_999_999_999,  # the last microsecond of a minute
        4_102_444_799_000_001_000,  # 2099-12-31T23:59:59.000001
    ],
)
def test_the_hot_lines_moment_is_structlogs_iso_moment(
    monkeypatch: pytest.MonkeyPatch, ns: int
) -> None:
    """What TimeStamper(fmt="iso", utc=True) writes for the same clock reading."""
    from datetime import UTC, datetime, timedelta

    monkeypatch.setattr(log.time, "time_ns", lambda: ns)
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)
    assert log._utc_stamp() == moment.isoformat().replace("+00:00", "Z")
    assert log._utc_stamp() == moment.isoformat().replace("+00:00", "Z")  # the second, kept


def test_a_hot_line_by_values_is_the_line_by_names(capsys: pytest.CaptureFixture[str]) -> None:
    """``codes(*values)`` writes what ``info(**fields)`` and the chain write for the same
    fields, remembered by the values only when they are codes (an ENP never)."""
    log.configure(json=True, level="INFO")
    names = ("channel", "who", "outcome", "kind")
    hot = log.HotLine("oms.service", "verified", names)
    try:
        for values in (
            ("api", "mis-1", "valid", None),
            ("api", "mis-1", "valid", None),
            ("api", "mis-1", demo_person_enp(), "manual"),
        ):
            fields = dict(zip(names, values, strict=True))
            log.get_logger("oms.service").info("verified", **fields)
            hot.codes(*values)
            general, line = _lines(capsys)[-2:]
            a, b = json.loads(general), json.loads(line)
            assert list(a) == list(b)
            assert a.pop("timestamp")[:16] == b.pop("timestamp")[:16]
            assert a == b
            assert demo_person_enp() not in line
        assert list(hot._heads[1]) == [("api", "mis-1", "valid", None)]
        with structlog.testing.capture_logs() as captured:
            hot.codes("desk", "loopback", "invalid", "manual")
        assert captured == [
            {
                "channel": "desk",
                "who": "loopback",
                "outcome": "invalid",
                "kind": "manual",
                "event": "verified",
                "log_level": "info",
            }
        ]
    finally:
        structlog.reset_defaults()
