"""Random byte mutations of small valid snapshots: refused cleanly, the store never changes.

Targets are the committed golden vectors (every section present): the full snapshot #7 offered
to a store at #3, and the delta #8 offered to a store holding #7.
"""

from __future__ import annotations

import io
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cache.register_model import AliasKind
from cache.snapshot_store import SignatureCheck, SnapshotRefused, SnapshotStore

from . import golden
from .helpers import Served, demo_key, key_checker, layout, served, small_full, stage_tables

DOC = golden.load()
KEY = demo_key(DOC["key_seed"])
CHECK: SignatureCheck = key_checker(KEY.public_key())
BASE = small_full(KEY, sequence=3)  # what the store holds before the golden full snapshot
ENPS = sorted(
    {r["enp"] for p in ("full", "delta") for r in DOC[p]["records"]}
    | {f"{5000000000000001 + i:016d}" for i in range(20)}
)
ALIASES = [(AliasKind.OLD_NUMBER, "50А1234567"), (AliasKind.TEMP_CERT, "123456789")]

# Nothing but SnapshotRefused may escape an import (test_out_of_range_integers_are_refused).
KNOWN_CRASHES: tuple[type[BaseException], ...] = ()


@dataclass(frozen=True)
class Target:
    name: str
    data: bytes
    held: tuple[bytes, ...]  # imported, in order, before the target is offered


TARGETS = {
    "full": Target("full", golden.file_bytes(DOC, "full"), (BASE,)),
    "delta": Target("delta", golden.file_bytes(DOC, "delta"), (golden.file_bytes(DOC, "full"),)),
}

_POS = st.integers(min_value=0, max_value=1 << 20)
MUTATION = st.one_of(
    st.tuples(st.just("xor"), _POS, st.integers(min_value=1, max_value=255)),
    st.tuples(st.just("set"), _POS, st.integers(min_value=0, max_value=255)),
    st.tuples(st.just("insert"), _POS, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), _POS, st.integers(min_value=1, max_value=48)),
    st.tuples(st.just("truncate"), _POS),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=80)),
)


def mutate(data: bytes, mutations: list[tuple[Any, ...]]) -> bytes:
    out = bytearray(data)
    for m in mutations:
        op = m[0]
        at = m[1] % (len(out) + 1) if op != "append" else 0
        if op == "xor" and out:
            out[at % len(out)] ^= m[2]
        elif op == "set" and out:
            out[at % len(out)] = m[2]
        elif op == "insert":
            out[at:at] = m[2]
        elif op == "delete":
            del out[at : at + m[2]]
        elif op == "truncate":
            del out[at:]
        elif op == "append":
            out += m[1]
    return bytes(out)


def _store(root: Path, target: Target) -> tuple[SnapshotStore, Served]:
    store = SnapshotStore(root / "register.sqlite3")
    for data in target.held:
        store.import_stream(io.BytesIO(data), CHECK)
    return store, served(store, ENPS, ALIASES)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(sorted(TARGETS)),
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
)
def test_mutated_snapshot_is_refused_and_changes_nothing(
    target: str, mutations: list[tuple[Any, ...]]
) -> None:
    t = TARGETS[target]
    data = mutate(t.data, mutations)
    with tempfile.TemporaryDirectory() as tmp:
        store, before = _store(Path(tmp), t)
        try:
            store.import_stream(io.BytesIO(data), CHECK)
        except SnapshotRefused as exc:
            assert isinstance(exc.code, str) and exc.code  # noqa: PT017 - the call may succeed; only a refusal must carry a code
        except KNOWN_CRASHES:
            pass
        else:
            # Only the untouched file may go in: every byte is signed or is the signature.
            assert data == t.data
            return
        finally:
            assert stage_tables(store.path) == []
            store.close()
        assert served(store, ENPS, ALIASES) == before
        store.close()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_unmutated_targets_import(target: str, tmp_path: Path) -> None:
    """The control: the fuzz targets are valid and do change the store."""
    t = TARGETS[target]
    store, before = _store(tmp_path, t)
    store.import_stream(io.BytesIO(t.data), CHECK)
    assert served(store, ENPS, ALIASES) != before


# --- the crash the fuzzer finds ----------------------------------------------------------------

_FIELDS = {
    # (target, section, offset of the u64 inside one record)
    "RECS enp": ("full", "RECS", 0),
    "RECS insurer": ("full", "RECS", 12),
    "RECS okato": ("full", "RECS", 20),
    "ALIA enp": ("full", "ALIA", 2),  # after the u16 length prefix
    "DELS enp": ("delta", "DELS", 0),
    "REVP enp": ("delta", "REVP", 0),
}


@pytest.mark.parametrize("field", sorted(_FIELDS))
def test_out_of_range_integers_are_refused(field: str, tmp_path: Path) -> None:
    name, section, offset = _FIELDS[field]
    t = TARGETS[name]
    at = layout(t.data).records_of(section) + offset
    data = bytearray(t.data)
    data[at] |= 0x80
    assert struct.unpack_from(">Q", data, at)[0] >= 1 << 63
    store, before = _store(tmp_path, t)
    with pytest.raises(SnapshotRefused) as err:
        store.import_stream(io.BytesIO(bytes(data)), CHECK)
    assert err.value.code == "bad_snapshot"
    assert served(store, ENPS, ALIASES) == before
