"""Every sampled person of a 200 k national register answers exactly as sample.csv says."""

from __future__ import annotations

from datetime import date

from cache import name_hash
from cache.national_store import NationalStore
from cache.register_model import AliasKind, Carrier
from tests.national.helpers import SEED, sample
from verifier.devkit.generator import demo_match_key
from verifier.devkit.national_generator import REGIONS, NationalRegister


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def test_sample_rows_answer_as_generated(
    national: NationalRegister, national_store: NationalStore
) -> None:
    rows = sample(national.out_dir)
    assert len(rows) >= 200_000 // 1000
    assert {r["enp"][:2] for r in rows} >= {"77", "50", "01"}  # other regions than the home
    key = demo_match_key(SEED)
    deleted = changed = 0
    for r in rows:
        rec = national_store.lookup_enp(r["enp"])
        if r["deleted"] == "yes":
            assert rec is None, r["enp"]
            deleted += 1
            continue
        assert rec is not None, r["enp"]
        got = (
            rec.policy_type.name.lower(),
            rec.status.name.lower(),
            _iso(rec.status_since),
            rec.smo_ogrn,
            rec.okato,
            _iso(rec.start),
            _iso(rec.end),
            rec.clinic or "",
        )
        want = (r["policy_type"], r["status"], r["status_since"], r["smo_ogrn"], r["okato"],
                r["start"], r["end"], r["clinic"])  # fmt: skip
        assert got == want, r["enp"]
        born = date.fromisoformat(r["birth_date"])
        assert name_hash.matches(
            key, rec.name_hash, r["surname"], r["given_name"], r["patronymic"], born
        )
        assert r["enp"] in national_store.find_by_name_hash(rec.name_hash)
        changed += r["sequence"] != "1"
        if r["old_number"]:
            assert national_store.lookup_alias(AliasKind.OLD_NUMBER, r["old_number"]) == rec
        if r["temp_cert_number"]:
            assert national_store.lookup_alias(AliasKind.TEMP_CERT, r["temp_cert_number"]) == rec
        for carrier in Carrier:
            rev = national_store.document_revocation(r["enp"], carrier)
            assert (rev is not None) == (r["revoked_carrier"] == carrier.name.lower()), r["enp"]
    assert changed + deleted >= 1  # the deltas reached the sample


def test_every_region_is_held(national_store: NationalStore) -> None:
    assert national_store.regions() == sorted(REGIONS)
    assert national_store.info().records > 190_000


def test_absent_enps_are_not_found(
    national: NationalRegister, national_store: NationalStore
) -> None:
    for r in sample(national.out_dir)[:200]:
        enp = r["enp"]
        wrong = enp[:-1] + str((int(enp[-1]) + 1) % 10)
        assert national_store.lookup_enp(wrong) is None
    assert national_store.lookup_enp("9912345678901234") is None  # a region with no part
    assert national_store.lookup_enp("77abc") is None
    assert national_store.lookup_alias(AliasKind.TEMP_CERT, "000000000") is None
    assert national_store.lookup_alias(AliasKind.OLD_NUMBER, "not a number") is None
