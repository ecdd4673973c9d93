"""Test vectors live as data files under tests/data; this loads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def load_json(relpath: str) -> Any:
    return json.loads((DATA / relpath).read_text(encoding="utf-8"))
