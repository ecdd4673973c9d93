"""structlog set up once: JSON lines for machines (journald), console for people.

Personal data never reaches a log: :func:`mask_personal_data` runs last before rendering and
masks known personal fields by name and any ENP- or СНИЛС-shaped number inside any string.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from verifier.identifiers import mask_enp

_PERSONAL_NAME_KEYS = frozenset(
    {"surname", "given_name", "patronymic", "name", "full_name", "fio", "birthplace"}
)
_PERSONAL_DATE_KEYS = frozenset({"birth_date", "birthdate", "dob"})
_ENP_KEYS = frozenset({"enp", "policy", "policy_number"})
_ENP_RUN = re.compile(r"(?<!\d)(\d{2})\d{10}(\d{4})(?!\d)")
_SNILS_RUN = re.compile(r"(?<!\d)\d{3}-?\d{3}-?\d{3}[ -]?\d{2}(?!\d)")


def _mask_text(text: str) -> str:
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
    for key in list(event_dict):
        if key in ("timestamp", "level", "logger"):
            continue
        event_dict[key] = _mask_value(key, event_dict[key])
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


def configure(*, json: bool | None = None, level: str = "INFO") -> None:
    """Call once at process start; ``json=None`` picks JSON unless stderr is a terminal."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
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
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
