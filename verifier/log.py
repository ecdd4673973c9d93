"""structlog set up once: JSON lines for machines (journald), console for people.

Personal data never reaches a log: :func:`mask_personal_data` runs last before rendering and
masks known personal fields by name and any ENP- or СНИЛС-shaped number inside any string.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from verifier.identifiers import mask_enp

_PERSONAL_NAME_KEYS = frozenset(
    {"surname", "given_name", "patronymic", "name", "full_name", "fio", "birthplace"}
)
_PERSONAL_DATE_KEYS = frozenset({"birth_date", "birthdate", "dob"})
_ENP_KEYS = frozenset({"enp", "policy", "policy_number"})
_MASKED_KEYS = _PERSONAL_NAME_KEYS | _PERSONAL_DATE_KEYS | _ENP_KEYS | {"snils"}
_UNMASKED_KEYS = frozenset({"timestamp", "level", "logger"})
# Any run of 16 or more digits: an ENP, or an ENP with digits run onto it.
_ENP_RUN = re.compile(r"(?<!\d)(\d{2})(\d{10,})(\d{4})(?!\d)")
_SNILS_RUN = re.compile(r"(?<!\d)\d{3}-?\d{3}-?\d{3}[ -]?\d{2}(?!\d)")


_SHORTEST_RUN = 11  # neither pattern matches fewer characters (СНИЛС undashed: 11 digits)


def _mask_text(text: str) -> str:
    if len(text) < _SHORTEST_RUN:
        return text  # most values are codes ("api", "valid"): no regex pass for them
    text = _ENP_RUN.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
    return _SNILS_RUN.sub("***-***-*** **", text)


def _mask_value(key: str, value: Any) -> Any:
    k = key.lower()
    if value is None:
        return None
    if k in _ENP_KEYS:
        return mask_enp(str(value))
    if k in _PERSONAL_NAME_KEYS:
        return "***"
    if k in _PERSONAL_DATE_KEYS:
        return "****-**-**"
    if k == "snils":
        return "***-***-*** **"
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, dict):
        return {kk: _mask_value(str(kk), vv) for kk, vv in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(key, v) for v in value)
    return value


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask ENPs, names, birth dates and СНИЛС everywhere."""
    for key, value in list(event_dict.items()):
        if key in _UNMASKED_KEYS:
            continue
        if type(value) is str and len(value) < _SHORTEST_RUN and key.lower() not in _MASKED_KEYS:
            continue  # a short code under an ordinary key: what _mask_value returns as is
        event_dict[key] = _mask_value(key, value)
    return event_dict


class _Stderr:
    """Whatever ``sys.stderr`` is at write time; a log line that cannot be written is dropped —
    logging must never take the service down (a closed or full stderr, a test's capture)."""

    def write(self, text: str) -> int:
        stream = sys.stderr
        if stream is None:  # started with descriptor 2 closed: nowhere to write
            return 0
        try:
            return stream.write(text)
        except (OSError, ValueError, AttributeError):
            return 0

    def flush(self) -> None:
        stream = sys.stderr
        if stream is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()

    def write_line(self, line: str) -> None:
        """``write`` then ``flush``, the flush left out where the stream keeps nothing back
        (Python's own stderr writes through to the descriptor, whatever it points to)."""
        self.write(line)
        stream = sys.stderr
        kept_back = not getattr(stream, "write_through", False)
        if kept_back and not getattr(stream, "line_buffering", False):
            self.flush()


def _fallback(obj: Any) -> Any:
    """What structlog's own JSON renderer does with a value JSON has no form for."""
    structlog_form = getattr(obj, "__structlog__", None)
    return structlog_form() if structlog_form is not None else repr(obj)


# Dates and dataclasses go through _fallback (their repr), as with json.dumps: orjson would
# otherwise spell them its own way.
_ORJSON_OPTS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def render_json(obj: Any, **_kw: Any) -> str:
    """A log line's JSON, made by orjson (UTF-8 text, not ``\\u`` escapes, as
    ``ensure_ascii=False`` gave): several times faster than ``json.dumps`` for the line every
    verification writes. What orjson refuses (an integer past 64 bits) goes to json.dumps."""
    try:
        return orjson.dumps(obj, default=_fallback, option=_ORJSON_OPTS).decode()
    except TypeError:
        return json.dumps(obj, default=_fallback, ensure_ascii=False)


@dataclass(frozen=True)
class _Configured:
    """What :func:`configure` set up last, for :class:`HotLine` to know it is still in force."""

    processors: list[Any]  # the very list structlog holds (capture_logs edits it in place)
    expected: tuple[Any, ...]  # what it held when configured
    wrapper: Any  # the level filter it set
    factory: Any  # the output it set
    info_enabled: bool
    out: _Stderr


_configured: _Configured | None = None  # JSON mode only


def configure(*, json: bool | None = None, level: str = "INFO") -> None:
    """Call once at process start; ``json=None`` picks JSON unless stderr is a terminal."""
    global _configured
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=render_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_personal_data,
        renderer,
    ]
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    out = _Stderr()
    wrapper = structlog.make_filtering_bound_logger(level_no)
    factory = structlog.WriteLoggerFactory(file=out)  # type: ignore[arg-type]
    structlog.configure(
        processors=processors,
        wrapper_class=wrapper,
        # One write and one flush per line (print() makes two writes of it).
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    _configured = (
        _Configured(processors, tuple(processors), wrapper, factory, level_no <= logging.INFO, out)
        if as_json
        else None
    )


class HotLine:
    """An INFO line written on every verification: the very JSON line the configured
    structlog chain writes (the fields, ``event``, ``level``, ``timestamp``; masked), made
    without the chain's per-call machinery — a new bound logger, six processor calls and a
    lock per line were a tenth of the MIS path's time. Whenever the configuration is not
    the JSON one :func:`configure` made (console output, a level above INFO, a test's
    ``capture_logs`` or any other change to the processors), the line goes through
    structlog as any other. No context variables are bound anywhere in this code base, so
    ``merge_contextvars`` has nothing to add (tests/test_log.py compares the two lines)."""

    __slots__ = ("_heads", "event", "fields", "logger")

    def __init__(self, name: str, event: str, fields: tuple[str, ...] = ()) -> None:
        self.event = event
        self.fields = fields  # the names :meth:`codes` gives values for, in order
        self.logger = get_logger(name)
        # A line's text up to its timestamp, by its fields, for the configuration it was made
        # under: codes only (see _head_key), so what it holds is never personal data.
        self._heads: tuple[_Configured | None, dict[tuple[Any, ...], str]] = (None, {})

    def info(self, **fields: Any) -> None:
        configured = _in_force()
        if configured is None:
            self.logger.info(self.event, **fields)
            return
        self._write(configured, _head_key(fields), fields)

    def codes(self, *values: str | None) -> None:
        """``info(**dict(zip(self.fields, values)))``, the line's head found by the values
        themselves (the MIS path's line: no keyword dict to make and walk each time)."""
        configured = _in_force()
        if configured is None:
            self.logger.info(self.event, **dict(zip(self.fields, values, strict=True)))
            return
        self._write(configured, values, None)

    def _write(
        self, configured: _Configured, key: tuple[Any, ...] | None, fields: dict[str, Any] | None
    ) -> None:
        stamp = _utc_stamp()  # no JSON escapes in it
        made_under, heads = self._heads
        if made_under is not configured:
            heads = {}
            self._heads = (configured, heads)
        try:
            head = heads.get(key) if key is not None else None
        except TypeError:  # codes() given a value that cannot be hashed: not a code
            if fields is None:
                fields = dict(zip(self.fields, key or (), strict=True))
            key, head = None, None
        if head is None:
            if fields is None:  # codes(): the values' own fields
                fields = dict(zip(self.fields, key or (), strict=True))
                if _head_key(fields) is None:
                    key = None  # not codes after all: made in full, never remembered
            fields["event"] = self.event
            fields["level"] = "info"
            fields["timestamp"] = stamp
            masked = mask_personal_data(None, "info", dict(fields))
            line = render_json(masked)
            if key is None or masked != fields:
                configured.out.write_line(line + "\n")
                return
            fields["timestamp"] = ""
            head = render_json(fields)[:-2]  # ... "timestamp":"
            if len(heads) >= _HEADS_MAX:
                heads.clear()
            heads[key] = head
        configured.out.write_line(f'{head}{stamp}"}}\n')


def _in_force() -> _Configured | None:
    """The JSON configuration :func:`configure` made, when it is still the one in force and
    lets INFO through; else ``None`` (the line goes through structlog)."""
    configured = _configured
    if configured is None or not configured.info_enabled:
        return None
    current = structlog.get_config()
    if (
        current["processors"] is not configured.processors
        or current["wrapper_class"] is not configured.wrapper
        or current["logger_factory"] is not configured.factory
        or tuple(configured.processors) != configured.expected
    ):
        return None
    return configured


_second: list[tuple[int, str]] = [(-1, "")]  # the last second's "YYYY-MM-DDTHH:MM:SS"


def _utc_stamp() -> str:
    """``datetime.now(UTC).isoformat().replace("+00:00", "Z")``, what structlog's
    ``TimeStamper(fmt="iso", utc=True)`` writes (the clock read as ``datetime.now`` reads it,
    microseconds floored, none written when zero), with the date and time of day made once a
    second."""
    seconds, ns = divmod(time.time_ns(), 1_000_000_000)
    last = _second[0]  # one read and one write of the slot: safe across threads
    if last[0] != seconds:
        last = (seconds, datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        _second[0] = last
    micro = ns // 1000
    return f"{last[1]}.{micro:06d}Z" if micro else f"{last[1]}Z"


_HEADS_MAX = 256  # distinct field sets remembered per line (channels × callers × outcomes)
_HEAD_VALUE_MAX = 64


def _head_key(fields: dict[str, Any]) -> tuple[Any, ...] | None:
    """The fields as a memo key when they are codes (short strings, ``None``), else ``None``:
    such a line is made in full each time."""
    for value in fields.values():
        if value is not None and (type(value) is not str or len(value) > _HEAD_VALUE_MAX):
            return None
    return tuple(fields.items())


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
