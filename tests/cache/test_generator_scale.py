"""The generator never writes a snapshot its own importer refuses (issue 12, item 11).

Real registers hold the same old series+number for several people; the generator draws them
with repeats, and one repeat used to make the importer refuse the whole register
(``duplicate entry in ALIA``). At a million persons repeats are certain, so this is the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cache.register_model import AliasKind
from cache.snapshot_store import SnapshotRefused, SnapshotStore
from tests.cache.helpers import demo_key, generate_register, import_all, key_checker, small_full


@pytest.mark.slow
def test_a_million_persons_import_and_repeated_old_numbers_list_everyone(tmp_path: Path) -> None:
    reg = generate_register(tmp_path / "reg", persons=1_000_000, deltas=1, seed=1)
    store = SnapshotStore(tmp_path / "register.sqlite3")
    import_all(store, reg)
    live = reg.live
    assert store.info().records == len(live)
    holders: dict[str, set[str]] = {}
    for row in live:
        if row["old_number"]:
            holders.setdefault(row["old_number"].replace(" ", ""), set()).add(row["enp"])
    shared = {n: e for n, e in holders.items() if len(e) > 1}
    assert shared, "a million persons should repeat some old numbers"
    number, enps = next(iter(sorted(shared.items())))
    found = {r.enp for r in store.lookup_aliases(AliasKind.OLD_NUMBER, number)}
    assert found == enps
    store.close()


def test_an_untrusted_snapshot_key_names_the_command_that_trusts_it(tmp_path: Path) -> None:
    from verifier.trust import TrustStore

    path = tmp_path / "full-000001.omssnap"
    path.write_bytes(small_full(demo_key()))
    store = SnapshotStore(tmp_path / "register.sqlite3")
    trust = TrustStore()

    check = trust.snapshot_checker()

    with pytest.raises(SnapshotRefused) as err:
        store.import_file(path, check)
    assert err.value.code == "snapshot_key_unknown"
    assert "oms-verifier trust add --purpose snapshot" in err.value.message
    store.import_file(path, key_checker(demo_key().public_key()))  # the right key is accepted
    assert store.info().sequence == 1
