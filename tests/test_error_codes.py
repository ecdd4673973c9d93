"""Every error code the product can emit is in the one registry (verifier/error_codes.py).

The source is read as Python (ast): ``code="…"`` keywords, ``code = "…"`` class attributes,
and the code argument of the HTTP layer's ``ApiError``/``problem``. A code written anywhere
but missing from the registry fails here, so spellings cannot drift apart again.
"""

from __future__ import annotations

import ast
from pathlib import Path

from verifier.error_codes import ErrorCode

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("verifier", "cache", "drivers")


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value
    return None


def emitted_codes() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                values: list[str | None] = []
                if isinstance(node, ast.Call):
                    values += [_literal(k.value) for k in node.keywords if k.arg == "code"]
                    f = node.func
                    name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                    if name in ("ApiError", "problem") and len(node.args) >= 2:
                        values.append(_literal(node.args[1]))
                elif isinstance(node, ast.ClassDef):
                    for st in node.body:
                        target = (
                            st.targets[0]
                            if isinstance(st, ast.Assign)
                            else getattr(st, "target", None)
                        )
                        if isinstance(target, ast.Name) and target.id == "code":
                            values.append(_literal(getattr(st, "value", None)))
                for v in values:
                    if v is not None:
                        found.setdefault(v, where)
    return found


def test_every_emitted_code_is_registered() -> None:
    registered = {c.value for c in ErrorCode}
    missing = {c: where for c, where in emitted_codes().items() if c not in registered}
    assert not missing, f"add to verifier/error_codes.py: {missing}"


def test_the_scan_finds_the_codes_it_should() -> None:
    """The scanner itself: a keyword, a class attribute and an HTTP problem are all seen."""
    found = emitted_codes()
    assert found["snapshot_key_unknown"].endswith(".py")  # keyword
    assert "bad_card_data" in found  # class attribute (CardDataError.code)
    assert "unsupported_media_type" in found  # ApiError(415, "unsupported_media_type", …)
    assert "snapshot_unknown_key" not in found  # the drifted spelling is gone


def test_codes_are_stable_snake_case() -> None:
    for code in ErrorCode:
        assert code.value == code.name.lower()
        assert code.value.replace("_", "").isalnum() and code.value.islower()
