"""What a caller may see of a scan event, and which channel a subscriber reads.

Scan events belong to the desk channel or to one kiosk screen (see
:mod:`verifier.service.events`). A kiosk caller, or any caller naming ``?screen=``, gets only
that hall screen's events, masked for the hall; everyone else gets the desk channel, masked —
except a ``desk`` token, which gets it in full (the clerk compares the name with the passport
and copies the ENP).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from verifier.config import DEFAULT_KIOSK
from verifier.http.auth import Caller
from verifier.http.problems import ApiError
from verifier.service.api import Channel, ScanEvent

_KIOSK_HIDDEN = ("old_series", "old_number", "temp_cert_number")
# ОГРН, ОКАТО and the clinic code name an insurer, a region and a clinic, not a person; the
# ENP is masked already; timestamps carry microseconds.
_KEEP_DIGITS = frozenset(
    {"smo_ogrn", "okato", "clinic", "id", "at", "checked_at", "answered_at", "status_since"}
    | {"ogrn", "code"}  # insurer {ogrn} and attachment {code}: an insurer and a clinic
)
_DIGITS = re.compile(r"(?<![0-9*])[0-9]{6,}(?![0-9])")
_SCREEN = re.compile(r"[A-Za-z0-9_-]{1,32}")


def viewer(request: Request, caller: Caller) -> tuple[Channel, str | None]:
    """Which channel a subscriber reads: a named ``screen`` (a kiosk page) or, for a kiosk
    token, the default hall screen — a hall screen never gets the desk's channel."""
    screen = request.query_params.get("screen")
    if screen is not None:
        if not _SCREEN.fullmatch(screen):
            raise ApiError(400, "bad_parameter", "screen: имя экрана из [[screens.kiosk]]")
        return Channel.KIOSK, screen
    if caller.is_kiosk:
        return Channel.KIOSK, DEFAULT_KIOSK
    return Channel.DESK, None


def event_view(event: ScanEvent, caller: Caller) -> dict[str, Any]:
    """A scan event as ``caller`` may see it. The desk channel is in full for a desk token
    only, masked for everyone else; a kiosk screen's events are masked for the hall: also
    temporary-certificate and old-policy numbers, and every other run of 6+ digits that
    could be a personal number (insurer, region, clinic codes and timestamps stay)."""
    if event.channel is Channel.DESK:
        view = event.to_dict(masked=not caller.sees_desk_unmasked)
        if not caller.is_kiosk:
            return view
    else:
        view = event.to_dict(masked=True)
    verdict = view.get("verdict") or {}
    cred = verdict.get("credential")
    if isinstance(cred, dict):
        for key in _KIOSK_HIDDEN:
            if cred.get(key):
                cred[key] = _mask_number(str(cred[key]))
    result: dict[str, Any] = _scrub(view)
    return result


def _mask_number(value: str) -> str:
    """Last two characters kept (as a clerk would read them aloud), the rest starred."""
    return "*" * max(0, len(value) - 2) + value[-2:] if len(value) > 4 else "*" * len(value)


def _scrub(value: Any) -> Any:
    """Star every run of 6+ digits inside strings, except in already-masked values and dates."""
    if isinstance(value, str):
        return _DIGITS.sub(lambda m: _mask_number(m.group(0)), value)
    if isinstance(value, dict):
        return {k: v if k in _KEEP_DIGITS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value
