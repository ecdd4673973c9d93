"""Which snapshot files bring a store up to date, and in what order: one rule for every caller.

The sync (over a registry's index), ``snapshot import`` (over a directory), the demo and the
reference registry's data loading all need the same answer: the deltas from the held sequence
on when such a chain reaches the newest sequence, otherwise the newest full snapshot and the
deltas that follow it. Pure (a directory is read only for its files' headers): the store still
verifies every file it is given, so a wrong plan costs a refusal, never a wrong register.

A delta whose sequence does not exceed its base is ignored: following it would loop forever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cache.snapshot_format import SnapshotKind, SnapshotReader

SNAPSHOT_FILE = re.compile(r"^(full|delta)-\d{6}\.omssnap$")


@dataclass(frozen=True, slots=True)
class Link:
    """One snapshot file of a chain; ``base_sequence`` is None for a full snapshot."""

    name: str
    sequence: int
    base_sequence: int | None = None


def _by_base(deltas: Iterable[Link]) -> dict[int, Link]:
    return {
        d.base_sequence: d
        for d in deltas
        if d.base_sequence is not None and d.sequence > d.base_sequence
    }


def _follow(start: int, by_base: dict[int, Link], stop: int | None = None) -> list[Link]:
    chain: list[Link] = []
    seq = start
    while seq in by_base and (stop is None or seq < stop):
        chain.append(by_base[seq])
        seq = by_base[seq].sequence
    return chain


def follow_full(full: Link, deltas: Iterable[Link]) -> list[Link]:
    """The deltas that apply, in order, on top of ``full``."""
    return _follow(full.sequence, _by_base(deltas))


def plan(
    full: Link | None, deltas: Iterable[Link], held: int | None, latest: int | None = None
) -> list[Link]:
    """Files to import, in order, to bring a store at ``held`` to ``latest``.

    ``latest`` defaults to the end of the full snapshot's delta chain (with no full snapshot:
    wherever the deltas from ``held`` lead).
    """
    by_base = _by_base(deltas)
    full_chain = [] if full is None else _follow(full.sequence, by_base)
    if latest is None and full is not None:
        latest = full_chain[-1].sequence if full_chain else full.sequence
    if held is not None:
        if latest is not None and held >= latest:
            return []
        chain = _follow(held, by_base, latest)
        end = chain[-1].sequence if chain else held
        if latest is None or end == latest:
            return chain
    return [] if full is None else [full, *full_chain]


@dataclass(frozen=True, slots=True)
class DirectoryChain:
    """The snapshot files of a directory: the newest full snapshot and the deltas beside it."""

    directory: Path
    region: str | None
    full: Link | None
    deltas: tuple[Link, ...]  # every delta of the full snapshot's region, by name

    @property
    def linked(self) -> list[Link]:
        """The deltas that follow the full snapshot, in order."""
        return [] if self.full is None else follow_full(self.full, self.deltas)

    def files(self, held: int | None = None) -> list[Path]:
        """The paths to import, in order, for a store at ``held``."""
        return [self.directory / link.name for link in plan(self.full, self.deltas, held)]


def read_chain(directory: Path) -> DirectoryChain:
    """Read the headers of ``full-NNNNNN.omssnap``/``delta-NNNNNN.omssnap`` in ``directory``.

    Raises OSError or :class:`~cache.snapshot_format.SnapshotFormatError` for a file that
    cannot be read as a snapshot (its name promises one).
    """
    directory = Path(directory)
    fulls: list[tuple[int, str, str]] = []
    deltas: list[tuple[str, Link]] = []
    for path in sorted(directory.iterdir()):
        if not SNAPSHOT_FILE.match(path.name):
            continue
        with path.open("rb") as f:
            head = SnapshotReader(f).header
        if head.kind is SnapshotKind.FULL:
            fulls.append((head.sequence, path.name, head.region))
        else:
            deltas.append((head.region, Link(path.name, head.sequence, head.base_sequence)))
    if not fulls:
        return DirectoryChain(directory, None, None, tuple(d for _, d in deltas))
    seq, name, region = max(fulls)
    return DirectoryChain(
        directory, region, Link(name, seq), tuple(d for r, d in deltas if r == region)
    )


def chain_files(directory: Path, held: int | None = None) -> list[Path]:
    """The snapshot files of ``directory`` to import, in order, for a store at ``held``."""
    return read_chain(directory).files(held)
