"""Signature checks and file helpers for the national tests (real GOST verification)."""

from __future__ import annotations

import csv
from pathlib import Path

from verifier.crypto.signatures import verify_digest
from verifier.devkit.generator import demo_signing_key

SEED = 1616
PUB = demo_signing_key(SEED).public_key()


def check(key_id: str, digest: bytes, signature: bytes) -> bool:
    """The registry key by id; any other id is not trusted."""
    return key_id == PUB.key_id() and verify_digest(PUB, digest, signature)


def sample(out: Path) -> list[dict[str, str]]:
    with (out / "sample.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def part(out: Path, region: str) -> Path:
    return out / f"part-{region}-000001.omsnat"


def deltas(out: Path, region: str) -> list[Path]:
    return sorted(out.glob(f"delta-{region}-*.omssnap"))
