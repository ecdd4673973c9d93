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
from collections.abc import MutableMapping
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
_ENP_RUN = re.compile(r"(?<!\d)(\d{2})\d{10}(\d{4})(?!\d)")
_SNILS_RUN = re.compile(r"(?<!\d)\d{3}-?\d{3}-?\d{3}[ -]?\d{2}(?!\d)")


_SHORTEST_RUN = 11  # neither pattern matches fewer characters (СНИЛС undashed: 11 digits)


def _mask_text(text: str) -> str:
    if len(text) < _SHORTEST_RUN:
        return text  # most values are codes ("api", "valid"): no regex pass for them
    text = _ENP_RUN.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
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
        try:
            return sys.stderr.write(text)
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()


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


def configure(*, json: bool | None = None, level: str = "INFO") -> None:
    """Call once at process start; ``json=None`` picks JSON unless stderr is a terminal."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=render_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        # One write and one flush per line (print() makes two writes of it).
        logger_factory=structlog.WriteLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
