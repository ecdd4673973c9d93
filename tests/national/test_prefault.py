"""The background prefault maps the lookup columns ahead of the first lookups.

Measured in pages, not time: the resident size of this process's mappings of the part files
(``/proc/self/smaps``) right after opening a store, and after its prefault.
"""

from __future__ import annotations

import mmap
import random
import re
from pathlib import Path

from cache.national_store import NationalStore, prefault
from tests.national.helpers import SEED, check
from verifier.devkit.national_generator import NationalRegister, generate_national

COLUMNS = ("NDHI", "NDST", "NKEY", "NPAY", "NHSH", "NALI")


def mapped_kib(root: Path) -> int:
    """Resident KiB of every mapping of a part file under ``root`` in this process."""
    total, current = 0, False
    prefix = str(root.resolve()) + "/"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = line.split()[-1]
            current = name.startswith(prefix) and name.endswith(".omsnat")
        elif current and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_prefault_maps_the_lookup_columns(tmp_path: Path) -> None:
    big: NationalRegister = generate_national(
        tmp_path / "gen", persons=20_000_000, seed=SEED, deltas=0, regions=("77", "01")
    )  # region 77 alone: ~1.7 M records, ~40 MB of lookup columns
    root = tmp_path / "store"
    importer = NationalStore(root)
    for part in sorted(big.out_dir.glob("part-*.omsnat")):
        importer.import_file(part, check)
    importer.close()
    del importer

    cold = NationalStore(root)
    parts = list(cold._parts.values())
    columns = sum(p.head.layout()[t][1] for p in parts for t in COLUMNS)
    assert columns > 20 << 20  # big enough to tell populated from not
    fresh_kib = mapped_kib(root)
    assert fresh_kib * 1024 < columns // 4, fresh_kib  # opening maps, it does not read

    warm = NationalStore(root, prefault_maps=True)
    assert warm.wait_prefault(timeout=120)
    assert (mapped_kib(root) - fresh_kib) * 1024 >= columns  # the lookup columns are mapped

    rng = random.Random(3)
    for p in rng.choices(parts, [p.n for p in parts], k=2000):
        enp = p.row_enp(rng.randrange(p.n))
        assert warm.lookup_enp(enp) == cold.lookup_enp(enp) is not None
    # What prefault reports: those columns in whole pages.
    want = sum(
        lay[t][1] + lay[t][0] % mmap.PAGESIZE
        for lay in (p.head.layout() for p in warm._parts.values())
        for t in COLUMNS
    )
    assert prefault(list(warm._parts.values())) == want
    cold.close()
    warm.close()
