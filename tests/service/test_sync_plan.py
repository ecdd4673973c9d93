from __future__ import annotations

from verifier.registry.protocol import DeltaRef, SnapshotIndex
from verifier.service.sync import plan

INDEX = SnapshotIndex(
    region="50",
    full_name="full-000005.omssnap",
    full_sequence=5,
    latest_sequence=8,
    deltas=(
        DeltaRef("delta-000006.omssnap", 6, 5),
        DeltaRef("delta-000007.omssnap", 7, 6),
        DeltaRef("delta-000008.omssnap", 8, 7),
    ),
)


def test_nothing_to_do_when_current() -> None:
    assert plan(INDEX, 8) == []
    assert plan(INDEX, 9) == []


def test_deltas_from_the_held_sequence() -> None:
    assert plan(INDEX, 6) == ["delta-000007.omssnap", "delta-000008.omssnap"]


def test_full_snapshot_when_no_chain_reaches() -> None:
    full_chain = [
        "full-000005.omssnap",
        "delta-000006.omssnap",
        "delta-000007.omssnap",
        "delta-000008.omssnap",
    ]
    assert plan(INDEX, None) == full_chain
    assert plan(INDEX, 3) == full_chain  # older than the oldest delta base


def test_broken_chain_falls_back_to_full() -> None:
    gap = SnapshotIndex(
        "50", "full-000005.omssnap", 5, 8, (DeltaRef("delta-000008.omssnap", 8, 7),)
    )
    assert plan(gap, 6) == ["full-000005.omssnap"]
