"""Trust directories for tests: descriptor files exactly as the demo and `trust add` write."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return json.dumps(v, ensure_ascii=False)


def write_key(
    d: Path,
    name: str,
    purpose: str,
    pem: bytes,
    *,
    field: str = "public_key",
    layout: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """A descriptor ``<name>.toml`` naming ``<name>.pem``, as the demo and ``trust add`` write."""
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.pem").write_bytes(pem)
    lines = [f'purpose = "{purpose}"', f'{field} = "{name}.pem"']
    lines += [f"{k} = {_toml_value(v)}" for k, v in extra.items()]
    if layout:
        lines.append("[paper_layout]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in layout.items()]
    (d / f"{name}.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
