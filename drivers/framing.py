"""Cutting a desk scanner's byte stream into reads (pure, binary-safe).

A serial or HID scanner sends one read as a burst of bytes, optionally followed by a configured
suffix (CR, CRLF, TAB...).  The 130-byte paper-policy record is *binary* and may contain 0x0D
and 0x0A anywhere, so a CR/LF terminator cannot be trusted to end it.  The rules:

``idle`` (default, for binary-capable scanners)
    A read is every byte that arrives until the line is quiet for ``idle_gap`` seconds
    (50 ms by default; a scanner sends one read back to back, at 9600 baud a byte takes about
    1 ms, and no person presents two codes 50 ms apart).  A configured ``suffix`` is *stripped
    once from the end* of the read, never searched for inside it.  Configure the suffix only if
    the scanner really sends it (then it always does, and stripping it is exact).

``suffix`` (text only)
    A read ends at the first ``suffix`` (``b""`` means any of CR, LF or CRLF; empty reads
    are skipped, and so are CR/LF bytes at the start of a read, e.g. the LF of a CRLF when
    only CR is configured).  Length guard: a read whose data (after an optional AIM
    identifier) starts with 0x01 or 0x02, the type byte of a paper-policy record and never
    the start of text, does not end before ``binary_length`` (130) data bytes, so CR/LF
    inside the record cannot cut it.  The 131/132-byte reads with stray bytes that the
    reference code tolerates may still be cut if a terminator byte falls in the stray tail:
    use ``idle`` for such scanners.  A partial read with no terminator for ``stale_after``
    seconds is dropped (counted).

Both modes drop reads longer than ``max_len`` (counted), so a stuck line cannot eat memory.
Time is passed in (``now``, seconds, any monotonic origin): the framer never reads a clock,
which is what makes it testable with recorded timings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.aim import parse_aim

FramingMode = Literal["idle", "suffix"]

PAPER_POLICY_LENGTH = 130
_POLICY_TYPE_BYTES = (0x01, 0x02)

SUFFIXES: dict[str, bytes] = {
    "none": b"",
    "eol": b"",  # suffix mode: any of CR, LF, CRLF
    "cr": b"\r",
    "lf": b"\n",
    "crlf": b"\r\n",
    "tab": b"\t",
    "etx": b"\x03",
    "eot": b"\x04",
}


class FramingError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FramingConfig:
    mode: FramingMode = "idle"
    suffix: bytes = b""
    idle_gap: float = 0.05  # seconds of silence that end a read (idle mode)
    stale_after: float = 2.0  # seconds after which an unterminated read is dropped (suffix mode)
    max_len: int = 8192
    binary_length: int = PAPER_POLICY_LENGTH

    def __post_init__(self) -> None:
        if self.mode not in ("idle", "suffix"):
            raise FramingError(f"unknown framing mode {self.mode!r}: use idle or suffix")
        if self.idle_gap <= 0 or self.stale_after <= 0 or self.max_len < 1:
            raise FramingError("idle_gap, stale_after and max_len must be positive")

    @classmethod
    def parse(cls, text: str) -> FramingConfig:
        """``idle``, ``idle:80ms``, ``idle:50ms+cr``, ``suffix:cr``, ``suffix:crlf``,
        ``suffix:eol``, ``suffix:0x03`` (hex byte(s))."""
        mode, _, rest = text.strip().lower().partition(":")
        if mode == "idle":
            gap_text, _, suffix_text = rest.partition("+")
            gap = _parse_duration(gap_text) if gap_text else 0.05
            return cls("idle", _parse_suffix(suffix_text) if suffix_text else b"", idle_gap=gap)
        if mode == "suffix":
            return cls("suffix", _parse_suffix(rest or "eol"))
        raise FramingError(f"bad framing {text!r}: use idle[:50ms][+cr] or suffix:cr|crlf|lf|eol")

    def __str__(self) -> str:
        sfx = next((k for k, v in SUFFIXES.items() if v == self.suffix and k != "none"), None)
        sfx_text = sfx if sfx is not None else "0x" + self.suffix.hex()
        if self.mode == "idle":
            base = f"idle:{round(self.idle_gap * 1000)}ms"
            return base + (f"+{sfx_text}" if self.suffix else "")
        return f"suffix:{sfx_text}"


def _parse_duration(text: str) -> float:
    try:
        if text.endswith("ms"):
            return float(text[:-2]) / 1000.0
        if text.endswith("s"):
            return float(text[:-1])
        return float(text) / 1000.0  # bare numbers are milliseconds
    except ValueError as exc:
        raise FramingError(f"bad duration {text!r}") from exc


def _parse_suffix(text: str) -> bytes:
    if text in SUFFIXES:
        return SUFFIXES[text]
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError as exc:
            raise FramingError(f"bad suffix bytes {text!r}") from exc
    raise FramingError(f"unknown suffix {text!r}: use {', '.join(SUFFIXES)} or 0xHH")


def looks_binary_policy(buf: bytes | bytearray) -> bool:
    """Data (after an optional AIM identifier) starts with a paper-policy type byte."""
    start = 3 if parse_aim(bytes(buf[:3])) is not None else 0
    return len(buf) > start and buf[start] in _POLICY_TYPE_BYTES


def _data_length(buf: bytes | bytearray) -> int:
    return len(buf) - (3 if parse_aim(bytes(buf[:3])) is not None else 0)


class Framer:
    """Incremental framer: :meth:`feed` bytes as they arrive, :meth:`poll` when idle."""

    def __init__(self, config: FramingConfig | None = None) -> None:
        self.config = config or FramingConfig()
        self._buf = bytearray()
        self._last = 0.0
        self.dropped = 0  # reads dropped: too long, or stale partial reads in suffix mode
        self._overflow = False

    @property
    def pending(self) -> int:
        return len(self._buf)

    def deadline(self) -> float | None:
        """When :meth:`poll` may next produce or drop something (``None``: nothing pending)."""
        if not self._buf and not self._overflow:
            return None
        wait = self.config.idle_gap if self.config.mode == "idle" else self.config.stale_after
        return self._last + wait

    def feed(self, data: bytes, now: float) -> list[bytes]:
        out = self.poll(now)
        self._last = now
        if self.config.mode == "idle":
            self._append(data)
            return out
        end = self.config.suffix[-1:] or b"\r\n"
        for byte in data:  # suffix mode: byte by byte, the guard needs the running length
            if self._overflow:  # swallow an oversized read up to its terminator
                if byte in end:
                    self.dropped += 1
                    self._reset()
                continue
            if not self._buf and byte in b"\r\n":
                continue  # a text read never starts with a line end (CRLF sent, CR configured)
            self._append(bytes((byte,)))
            frame = self._suffix_frame()
            if frame is not None:
                out.append(frame)
        return [f for f in out if f]

    def poll(self, now: float) -> list[bytes]:
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return []
        if self.config.mode == "idle":
            return self._take_idle()
        if self._buf or self._overflow:  # stale partial read with no terminator
            self.dropped += 1
        self._reset()
        return []

    def flush(self) -> list[bytes]:
        """The device went away: an idle-mode read in progress is complete; a suffix-mode
        partial read is dropped."""
        if self.config.mode == "idle":
            return self._take_idle()
        if self._buf:
            self.dropped += 1
        self._reset()
        return []

    # -- internals ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self._buf.clear()
        self._overflow = False

    def _append(self, data: bytes) -> None:
        if self._overflow:
            return
        self._buf += data
        if len(self._buf) > self.config.max_len:
            self._buf.clear()
            self._overflow = True  # swallow the rest of this read, then count it once

    def _take_idle(self) -> list[bytes]:
        if self._overflow:
            self.dropped += 1
            self._reset()
            return []
        frame = bytes(self._buf)
        self._reset()
        sfx = self.config.suffix
        if sfx and frame.endswith(sfx):
            frame = frame[: -len(sfx)]
        return [frame] if frame else []

    def _suffix_frame(self) -> bytes | None:
        buf = self._buf
        if not buf:
            return None
        sfx = self.config.suffix
        if sfx:
            if not buf.endswith(sfx):
                return None
            body = bytes(buf[: -len(sfx)])
        else:
            if buf[-1] not in (0x0D, 0x0A):
                return None
            body = bytes(buf[:-1])
        if looks_binary_policy(body) and _data_length(body) < self.config.binary_length:
            return None  # a CR/LF inside a binary record
        self._buf = bytearray()
        return body


def split_frames(
    chunks: list[tuple[float, bytes]], config: FramingConfig | None = None
) -> list[bytes]:
    """Frame a recorded stream of ``(time, bytes)`` chunks (replay helper, pure)."""
    framer = Framer(config)
    out: list[bytes] = []
    for t, data in chunks:
        out += framer.feed(data, t)
    out += framer.flush()
    return out
