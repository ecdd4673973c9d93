"""JSON from untrusted peers, with bounded nesting and size.

``json.loads`` recurses once per nesting level: ``[`` × 8000 in a 16 KiB body is a
RecursionError, a 500 and, in a background task, a dead task. Every parser of outside JSON
(HTTP bodies, registry answers, trust lists, snapshot headers) goes through :func:`loads`,
which counts the depth in one linear pass before parsing and raises a typed error.
"""

from __future__ import annotations

import json
from typing import Any

from verifier.errors import InputError

MAX_DEPTH = 32  # every document this project reads is at most 5 levels deep
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


class JsonError(InputError):
    """Not JSON, too deep, too large, or not UTF-8."""

    code = "bad_json"


def nesting_depth(raw: bytes) -> int:
    """Deepest ``[``/``{`` nesting outside strings, in one pass; no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def loads(
    raw: bytes | str,
    *,
    max_depth: int = MAX_DEPTH,
    max_bytes: int | None = None,
    what: str = "JSON",
) -> Any:
    """Parse ``raw`` or raise :class:`JsonError` with a stable code."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonError(f"{what} is {len(data)} bytes; at most {max_bytes}", code="json_too_large")
    # The depth is at most the count of openers: most documents need no byte-by-byte pass.
    if data.count(b"[") + data.count(b"{") > max_depth and nesting_depth(data) > max_depth:
        raise JsonError(f"{what} nests deeper than {max_depth} levels", code="json_too_deep")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JsonError(f"{what} is not UTF-8", code="bad_json") from exc
    except (ValueError, RecursionError) as exc:
        raise JsonError(f"{what} does not parse: {exc}", code="bad_json") from exc


def loads_object(raw: bytes | str, **kw: Any) -> dict[str, Any]:
    """Like :func:`loads` but the top level must be an object."""
    doc = loads(raw, **kw)
    if not isinstance(doc, dict):
        what = kw.get("what", "JSON")
        raise JsonError(f"{what} must be a JSON object", code="bad_json")
    return doc
