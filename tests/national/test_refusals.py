"""Refused parts and deltas leave the previous data serving, with a stable code."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from cache.national_store import NationalStore
from cache.snapshot_store import SnapshotRefused
from tests.national.helpers import check, deltas, part, sample
from verifier.devkit.national_generator import NationalRegister


def _serving(store: NationalStore, rows: list[dict[str, str]]) -> int:
    return sum(store.lookup_enp(r["enp"]) is not None for r in rows if r["enp"][:2] == "50")


def _newer(src: Path, tmp: Path, sequence: int = 2) -> bytes:
    """The same part re-stamped with a higher sequence and re-signed: a valid newer part."""
    from cache import national_format as nf
    from tests.national.helpers import SEED
    from verifier.crypto.signatures import sign_digest
    from verifier.devkit.generator import demo_signing_key

    with src.open("rb") as f:
        head, first = nf.read_header(f)
        rest = f.read()
    body_len = head.layout()["total"][0] - len(first)
    import dataclasses

    new = dataclasses.replace(head, sequence=sequence)
    out = io.BytesIO()
    w = nf.PartWriter(out, new)
    w._emit(rest[: body_len - 16])  # same sections, same order; finish() adds "END "
    w._next = len(nf.TAGS)
    w.finish(lambda d: sign_digest(demo_signing_key(SEED), d))
    return out.getvalue()


def test_bad_signature_mid_stream_keeps_old_part(
    small: NationalRegister, fresh_store: NationalStore, tmp_path: Path
) -> None:
    fresh_store.import_file(part(small.out_dir, "50"), check)
    rows = sample(small.out_dir)
    before = _serving(fresh_store, rows)
    assert before > 0
    data = bytearray(_newer(part(small.out_dir, "50"), tmp_path))
    data[len(data) // 2] ^= 0x01  # one bit in the middle of the columns
    with pytest.raises(SnapshotRefused) as exc:
        fresh_store.import_part(io.BytesIO(bytes(data)), check)
    assert exc.value.code == "snapshot_signature"
    assert fresh_store.region_info("50").sequence == 1
    assert _serving(fresh_store, rows) == before
    held = [
        p.name for p in fresh_store.root.glob("part-*") if not p.name.endswith(("-wal", "-shm"))
    ]
    assert sorted(held) == ["part-50-000001.omsnat", "part-50-000001.sqlite3"]
    # the intact newer part is then taken
    fresh_store.import_part(io.BytesIO(_newer(part(small.out_dir, "50"), tmp_path)), check)
    assert fresh_store.region_info("50").sequence == 2
    assert _serving(fresh_store, rows) == before


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b[: len(b) // 3], "snapshot_truncated"),
        (lambda b: b + b"x", "bad_snapshot"),
        (lambda b: b"OMSNATP\x02" + b[8:], "snapshot_magic"),
        (lambda b: b[:-10], "snapshot_truncated"),
    ],
)
def test_malformed_parts_are_refused(
    small: NationalRegister, fresh_store: NationalStore, mutate: object, code: str
) -> None:
    raw = part(small.out_dir, "01").read_bytes()
    with pytest.raises(SnapshotRefused) as exc:
        fresh_store.import_part(io.BytesIO(mutate(raw)), check)  # type: ignore[operator]
    assert exc.value.code == code
    assert fresh_store.regions() == []


def test_unknown_key_and_old_sequence(small: NationalRegister, fresh_store: NationalStore) -> None:
    with pytest.raises(SnapshotRefused) as exc:
        fresh_store.import_file(part(small.out_dir, "01"), lambda k, d, s: False)
    assert exc.value.code == "snapshot_signature"
    fresh_store.import_file(part(small.out_dir, "01"), check)
    with pytest.raises(SnapshotRefused) as exc:
        fresh_store.import_file(part(small.out_dir, "01"), check)
    assert exc.value.code == "snapshot_old"


def test_delta_refusals(
    small: NationalRegister, fresh_store: NationalStore, tmp_path: Path
) -> None:
    d2, d3 = deltas(small.out_dir, "01")
    with pytest.raises(SnapshotRefused) as exc:
        fresh_store.import_file(d2, check)
    assert exc.value.code == "delta_no_base"
    fresh_store.import_file(part(small.out_dir, "01"), check)
    with pytest.raises(SnapshotRefused) as exc:
        fresh_store.import_file(d3, check)
    assert exc.value.code == "delta_base_mismatch"
    bad = tmp_path / d2.name
    raw = bytearray(d2.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    bad.write_bytes(bytes(raw))
    with pytest.raises(SnapshotRefused):
        fresh_store.import_file(bad, check)
    assert fresh_store.region_info("01").sequence == 1
    fresh_store.import_file(d2, check)
    fresh_store.import_file(d3, check)
    assert fresh_store.region_info("01").sequence == 3
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
