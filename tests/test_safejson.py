"""The bounded JSON loader: the depth check, including its shortcut (a document with no more
openers than the limit cannot nest deeper than it, so it skips the byte-by-byte pass)."""

from __future__ import annotations

import pytest

from verifier.safejson import JsonError, loads, nesting_depth


@pytest.mark.parametrize("depth", [1, 5, 32])
def test_nesting_up_to_the_limit_parses(depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    assert nesting_depth(raw) == depth
    assert loads(raw, max_depth=32) is not None


@pytest.mark.parametrize("depth", [33, 100, 5000])
def test_deeper_is_refused_typed(depth: int) -> None:
    with pytest.raises(JsonError) as err:
        loads(b"[" * depth + b"]" * depth, max_depth=32)
    assert err.value.code == "json_too_deep"


def test_openers_inside_strings_do_not_count() -> None:
    """More openers than the limit, all inside a string: the full pass runs and says 1."""
    raw = b'{"a": "' + b"[{" * 40 + b'"}'
    assert loads(raw, max_depth=32) == {"a": "[{" * 40}


def test_many_shallow_openers_parse() -> None:
    raw = b"[" + b",".join(b"[]" for _ in range(1000)) + b"]"  # 1,001 openers, depth 2
    assert len(loads(raw, max_depth=2)) == 1000


def test_the_shortcut_is_exact_at_the_limit() -> None:
    raw = b"[" * 3 + b"]" * 3
    assert loads(raw, max_depth=3) == [[[]]]
    with pytest.raises(JsonError):
        loads(raw, max_depth=2)
