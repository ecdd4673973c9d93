"""Regenerate the committed snapshot vectors under tests/data/cache/ (run once by hand).

    python -m tests.cache.make_vectors      (from the repository root)

Writes ``golden-full-000007.omssnap`` and ``golden-delta-000008.omssnap`` (signed with the demo
snapshot key of seed ``"golden"``) and ``golden.json``: what each file holds, the Streebog-256
digest of its signed part, and what a store must answer after importing the full snapshot and
after the delta. The tests only read these files; a change to the on-disk format shows up as a
failing golden test.
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from cache import name_hash
from cache.snapshot_format import SnapshotKind, SnapshotReader
from verifier.identifiers import Sex, make_enp

from .golden import golden_snapshot
from .helpers import REGION, demo_key

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "cache"
KEY_SEED = "golden"
MATCH_KEY = bytes(range(32))


def _person(
    n: int, born: date, sex: Sex, surname: str, given: str, patronymic: str, **fields: Any
) -> dict[str, Any]:
    enp = make_enp(REGION, born, sex, 700 + n)
    rec = {
        "enp": enp,
        "policy_type": "paper",
        "status": "active",
        "status_since": "2015-06-01",
        "smo_ogrn": "1027739008440",
        "okato": "46000",
        "start": "2015-06-01",
        "end": None,
        "clinic": "500123",
        "person": {
            "surname": surname,
            "given_name": given,
            "patronymic": patronymic,
            "birth_date": born.isoformat(),
        },
    }
    rec.update(fields)
    rec["name_hash"] = name_hash.name_hash(MATCH_KEY, surname, given, patronymic, born).hex()
    return rec


def spec() -> dict[str, Any]:
    p1 = _person(1, date(1980, 2, 29), Sex.MALE, "Фёдоров", "Пётр", "Ильич")
    p2 = _person(
        2,
        date(1992, 7, 1),
        Sex.FEMALE,
        "Семёнова",
        "Алёна",
        "Игоревна",
        policy_type="digital",
        status="suspended",
        status_since="2025-11-03",
    )
    p3 = _person(
        3,
        date(1961, 1, 15),
        Sex.MALE,
        "Ткаченко",
        "Олег",
        "Петрович",
        policy_type="old",
        start="2004-03-01",
        status_since="2004-03-01",
    )
    p4 = _person(
        4,
        date(2001, 12, 31),
        Sex.FEMALE,
        "Орлова",
        "Мария",
        "Сергеевна",
        policy_type="temporary",
        start="2026-02-20",
        status_since="2026-02-20",
        end="2026-04-06",
    )
    p5 = _person(
        5,
        date(1975, 5, 5),
        Sex.MALE,
        "Киселёв",
        "Юрий",
        "Олегович",
        policy_type="card",
        status="expired",
        status_since="2025-12-01",
        end="2025-12-01",
        clinic="500007",
    )
    p6 = _person(
        6,
        date(1949, 10, 10),
        Sex.FEMALE,
        "Черных",
        "Вера",
        "Павловна",
        policy_type="uec",
        status="needs_clarification",
        status_since="2026-01-09",
    )
    p7 = _person(
        7,
        date(2026, 3, 1),
        Sex.MALE,
        "Орлов",
        "Тимофей",
        "Андреевич",
        policy_type="digital",
        start="2026-03-01",
        status_since="2026-03-01",
    )
    full_aliases = [
        {"enp": p3["enp"], "kind": "old_number", "number": "50А1234567"},
        {"enp": p4["enp"], "kind": "temp_cert", "number": "123456789"},
    ]
    full_revoked = [
        {"enp": p1["enp"], "carrier": "paper", "since": "2025-10-01", "reason": "lost"},
        {"enp": p5["enp"], "carrier": "card", "since": "2025-12-01", "reason": "stolen"},
    ]
    key_a, key_b = "aa" * 16, "bb" * 16
    # The delta: p2 back to active, p4 replaced by a digital policy (its temporary certificate
    # goes), newborn p7, p6 deleted, p3's paper document revoked, one more key revoked.
    p2_new = dict(p2, status="active", status_since="2026-03-10")
    p4_new = dict(p4, policy_type="digital", end=None, status_since="2026-03-10")
    delta_revoked = [
        {"enp": p3["enp"], "carrier": "paper", "since": "2026-03-09", "reason": "annulled"}
    ]
    return {
        "comment": "Written by tests/cache/make_vectors.py; do not edit by hand.",
        "key_seed": KEY_SEED,
        "match_key": MATCH_KEY.hex(),
        "region": REGION,
        "full": {
            "file": "golden-full-000007.omssnap",
            "kind": "full",
            "sequence": 7,
            "base_sequence": None,
            "created_at": "2026-03-10T09:00:00+00:00",
            "valid_until": "2026-03-13T09:00:00+00:00",
            "records": [p1, p2, p3, p4, p5, p6],
            "aliases": full_aliases,
            "deletions": [],
            "revoked_docs": full_revoked,
            "revoked_keys": [key_a],
        },
        "delta": {
            "file": "golden-delta-000008.omssnap",
            "kind": "delta",
            "sequence": 8,
            "base_sequence": 7,
            "created_at": "2026-03-10T10:00:00+00:00",
            "valid_until": "2026-03-13T10:00:00+00:00",
            "records": [p2_new, p4_new, p7],
            "aliases": [],
            "deletions": [p6["enp"]],
            "revoked_docs": delta_revoked,
            "revoked_keys": [key_b],
        },
        "after_delta": {
            "records": [p1, p2_new, p3, p4_new, p5, p7],
            "absent": [p6["enp"]],
            "aliases": [full_aliases[0]],
            "gone_aliases": [full_aliases[1]],
            "revoked_docs": [*full_revoked, *delta_revoked],
            "revoked_keys": [key_a, key_b],
        },
    }


def main() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    doc = spec()
    key = demo_key(KEY_SEED)
    for part in ("full", "delta"):
        data = golden_snapshot(doc, part, key)
        (DATA_DIR / doc[part]["file"]).write_bytes(data)
        reader = SnapshotReader(io.BytesIO(data))
        assert reader.header.kind is SnapshotKind(doc[part]["kind"])
        for _ in reader.chunks():
            pass
        digest, _sig = reader.finish()
        doc[part]["digest"] = digest.hex()
        doc[part]["size"] = len(data)
    doc["key_id"] = key.public_key().key_id()
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    (DATA_DIR / "golden.json").write_text(text, encoding="utf-8")
    print(f"wrote {DATA_DIR}")


if __name__ == "__main__":
    main()
