from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.framing import Framer, FramingConfig, FramingError, split_frames
from tests.drivers.helpers import TRICKY_POLICY


def test_parse_configs() -> None:
    assert FramingConfig.parse("idle") == FramingConfig("idle", b"", 0.05)
    assert FramingConfig.parse("idle:80ms+crlf") == FramingConfig("idle", b"\r\n", 0.08)
    assert FramingConfig.parse("idle:0.1s").idle_gap == pytest.approx(0.1)
    assert FramingConfig.parse("suffix:cr") == FramingConfig("suffix", b"\r")
    assert FramingConfig.parse("suffix") == FramingConfig("suffix", b"")
    assert FramingConfig.parse("suffix:0x03").suffix == b"\x03"
    for cfg in ("idle:80ms+crlf", "suffix:cr", "suffix:eol", "idle"):
        parsed = FramingConfig.parse(cfg)
        assert FramingConfig.parse(str(parsed)) == parsed
    for bad in ("stx", "suffix:foo", "idle:xms", "suffix:0xzz"):
        with pytest.raises(FramingError):
            FramingConfig.parse(bad)


def test_idle_gap_keeps_binary_record_whole() -> None:
    cfg = FramingConfig("idle", idle_gap=0.05)
    # the record arrives in pieces 10 ms apart, then a second read 1 s later
    chunks = [(0.01 * i, TRICKY_POLICY[i * 20 : (i + 1) * 20]) for i in range(7)]
    chunks.append((1.0, b"5056410834001235"))
    assert split_frames(chunks, cfg) == [TRICKY_POLICY, b"5056410834001235"]


def test_idle_gap_strips_configured_suffix_once() -> None:
    cfg = FramingConfig.parse("idle:50ms+cr")
    frames = split_frames([(0.0, TRICKY_POLICY + b"\r"), (1.0, b"ENP\r")], cfg)
    assert frames == [TRICKY_POLICY, b"ENP"]  # the record's own trailing CR survives


def test_idle_poll_and_deadline() -> None:
    f = Framer(FramingConfig("idle", idle_gap=0.05))
    assert f.deadline() is None
    assert f.feed(b"abc", 1.0) == []
    assert f.deadline() == pytest.approx(1.05)
    assert f.poll(1.04) == []
    assert f.poll(1.05) == [b"abc"]
    assert f.deadline() is None


def test_suffix_text_modes() -> None:
    assert split_frames([(0, b"AB\r\nCD\r\n\r\nEF\n")], FramingConfig("suffix")) == [
        b"AB",
        b"CD",
        b"EF",
    ]
    cfg = FramingConfig.parse("suffix:crlf")
    f = Framer(cfg)
    assert f.feed(b"AB\r", 0) == []  # terminator split across reads
    assert f.feed(b"\nCD\rE\r\n", 0) == [b"AB", b"CD\rE"]


def test_suffix_guard_protects_policy_record() -> None:
    for cfg in (FramingConfig.parse("suffix:cr"), FramingConfig.parse("suffix:crlf")):
        sfx = cfg.suffix
        stream = TRICKY_POLICY + sfx + b"5056410834001235" + sfx
        assert split_frames([(0, stream)], cfg) == [TRICKY_POLICY, b"5056410834001235"]
        aimed = b"]L2" + TRICKY_POLICY + sfx
        assert split_frames([(0, aimed)], cfg) == [b"]L2" + TRICKY_POLICY]


def test_suffix_stale_partial_is_dropped() -> None:
    f = Framer(FramingConfig("suffix", b"\r", stale_after=1.0))
    f.feed(b"garbage", 0.0)
    assert f.poll(2.0) == [] and f.dropped == 1
    assert f.feed(b"ok\r", 2.1) == [b"ok"]


def test_oversize_reads_are_dropped() -> None:
    f = Framer(FramingConfig("suffix", b"\r", max_len=10))
    assert f.feed(b"x" * 50 + b"\rshort\r", 0) == [b"short"]
    assert f.dropped == 1
    g = Framer(FramingConfig("idle", max_len=10))
    g.feed(b"x" * 50, 0)
    assert g.poll(1.0) == [] and g.dropped == 1
    g.feed(b"ok", 2.0)
    assert g.flush() == [b"ok"]


@given(
    st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5),
    st.integers(min_value=1, max_value=64),
)
def test_idle_framing_any_chunking(reads: list[bytes], chunk: int) -> None:
    """However a read is split into chunks, close chunks make one read, gaps separate reads."""
    chunks: list[tuple[float, bytes]] = []
    t = 0.0
    for read in reads:
        for i in range(0, len(read), chunk):
            chunks.append((t, read[i : i + chunk]))
            t += 0.001
        t += 0.5
    assert split_frames(chunks, FramingConfig("idle", idle_gap=0.05)) == reads
