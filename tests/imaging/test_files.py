"""The committed PNG/JPEG fixtures decode, through bytes and through a path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verifier.imaging import Symbology, decode_image_bytes, decode_image_file

DATA = Path(__file__).resolve().parents[1] / "data" / "imaging"
MANIFEST: list[dict[str, Any]] = json.loads((DATA / "manifest.json").read_text())


def test_fixtures_are_small() -> None:
    assert len(MANIFEST) >= 5
    for entry in MANIFEST:
        assert (DATA / entry["file"]).stat().st_size < 16 * 1024


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_fixture_decodes_exactly(entry: dict[str, Any]) -> None:
    path = DATA / entry["file"]
    expected = bytes.fromhex(entry["payload_hex"])
    sym = Symbology(entry["symbology"])
    by_path = decode_image_file(path)
    by_bytes = decode_image_bytes(path.read_bytes(), {sym})
    by_str_path = decode_image_file(str(path), [sym])
    for found in (by_path, by_bytes, by_str_path):
        hits = [b for b in found if b.symbology is sym]
        assert [b.payload for b in hits] == [expected]
        assert hits[0].deskewed == entry["needs_deskew"]
