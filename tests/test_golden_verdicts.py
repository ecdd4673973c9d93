"""Every verdict the pipeline gives over the demo register, byte for byte as recorded.

A regression net for speed work on the pipeline: the register is generated with a fixed
``created_at`` (the generator's dates hang off it, so ENPs and dates are the same every run)
and each input is verified at three fixed moments (fresh, expired, the snapshot dated after
the clock). Each answer's full ``Verdict.to_dict()`` — and the masked one the desk shows — is
compared with the recorded line in ``tests/data/golden_verdicts/verdicts.jsonl``. The demo
register is synthetic: no real person is in the file.

Regenerate (only when a change of verdict is intended, and say so in review):
``.venv/bin/python -m tests.test_golden_verdicts --write``
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.test_pipeline_many import _inputs, _typed
from verifier.checks.context import LookupMode
from verifier.config import load
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.errors import RecognitionError
from verifier.service.assembly import Assembly, assemble
from verifier.verdict import Verdict

GOLDEN = Path(__file__).parent / "data" / "golden_verdicts" / "verdicts.jsonl"
CREATED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # the newest snapshot part's stamp
PERSONS = 800  # every status, alias and revoked carrier the generator makes, in a small file
CLOCKS: dict[str, datetime] = {
    "fresh": CREATED + timedelta(hours=1, seconds=7),
    "expired": CREATED + timedelta(days=30),
    "clock_behind": CREATED - timedelta(days=3),
}


def build_world(state_dir: Path) -> tuple[Assembly, list[dict[str, str]], demo.DemoState]:
    """The demo world from a register stamped ``CREATED`` (the demo stamps it now by default,
    and its people's dates with it), so the recorded verdicts hold on any day."""
    import csv

    state = demo.ensure_demo(load(None, state_dir), persons=PERSONS, created_at=CREATED)
    with (state.registry_dir / "persons.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return assemble(state.cfg), rows, state


def strata(rows: list[dict[str, str]], per: int = 3) -> list[dict[str, str]]:
    """A few people of every kind the register holds (type, status, deleted, revoked carrier,
    aliases, term, insurer, clinic): the full register would make a file of megabytes."""
    seen: dict[tuple[object, ...], int] = {}
    out: list[dict[str, str]] = []
    for r in rows:
        key = (
            r["policy_type"],
            r["status"],
            bool(r["deleted"]),
            r["revoked_carrier"],
            bool(r["old_number"]),
            bool(r["temp_cert_number"]),
            bool(r["end"]),
            bool(r["status_since"]),
            bool(r["smo_ogrn"]),
            bool(r["clinic"]),
        )
        if seen.get(key, 0) < per:
            seen[key] = seen.get(key, 0) + 1
            out.append(r)
    return out


def corpus(rows: list[dict[str, str]], state: demo.DemoState) -> list[CredentialInput]:
    """The batch test's inputs (every person, typos, aliases, every demo sample) and a few
    more ways a clerk or a scanner hands an ENP over."""
    enp = next(r["enp"] for r in rows if r["status"] == "active" and not r["deleted"])
    return [
        *_inputs(strata(rows), state),
        _typed(f"{enp[:4]} {enp[4:8]} {enp[8:12]} {enp[12:]}"),
        _typed(f"{enp[:8]}-{enp[8:]}"),
        _typed(f"полис ОМС № {enp}"),
        _typed("0000000000000000"),
        _typed(""),
        CredentialInput.from_text(f"https://www.gosuslugi.ru/oms?enp={enp}", source="scan"),
        CredentialInput.from_text(f"ENP:{enp};", source="scan", symbology="qr"),
    ]


def _answer(parts: Assembly, item: CredentialInput, now: datetime) -> dict[str, Any]:
    p = dataclasses.replace(parts.pipeline, clock=lambda: now)
    try:
        v = p.verify(item, mode=LookupMode.OFFLINE)
    except RecognitionError as exc:
        return {"error": exc.code, "message": exc.message}
    assert isinstance(v, Verdict)
    return {"verdict": v.to_dict(), "masked": v.to_dict(masked=True)}


def _many(parts: Assembly, items: list[CredentialInput], now: datetime) -> list[dict[str, Any]]:
    """The batch path over the same inputs: its answers must be the recorded ones too."""
    p = dataclasses.replace(parts.pipeline, clock=lambda: now)
    out: list[dict[str, Any]] = []
    for v in p.verify_many(items, mode=LookupMode.OFFLINE, register=parts.store):
        if isinstance(v, RecognitionError):
            out.append({"error": v.code, "message": v.message})
        else:
            out.append({"verdict": v.to_dict(), "masked": v.to_dict(masked=True)})
    return out


def lines(parts: Assembly, items: list[CredentialInput]) -> Iterator[str]:
    for clock, now in CLOCKS.items():
        for i, item in enumerate(items):
            answer = {"clock": clock, "i": i, **_answer(parts, item, now)}
            yield json.dumps(answer, ensure_ascii=False, sort_keys=True)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Assembly, list[CredentialInput]]]:
    parts, rows, state = build_world(tmp_path_factory.mktemp("golden"))
    yield parts, corpus(rows, state)
    parts.close()


def _recorded() -> list[str]:
    return GOLDEN.read_text(encoding="utf-8").splitlines()


def test_every_verdict_is_the_recorded_one(world: tuple[Assembly, list[CredentialInput]]) -> None:
    parts, items = world
    recorded = _recorded()
    got = list(lines(parts, items))
    assert len(got) == len(recorded)
    for want, have in zip(recorded, got, strict=True):
        assert have == want


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_the_batch_gives_the_recorded_verdicts(
    world: tuple[Assembly, list[CredentialInput]], clock: str
) -> None:
    parts, items = world
    recorded = [json.loads(x) for x in _recorded()]
    want = [{k: v for k, v in r.items() if k not in ("clock", "i")} for r in recorded]
    want = [w for w, r in zip(want, recorded, strict=True) if r["clock"] == clock]
    have = _many(parts, items, CLOCKS[clock])
    assert len(have) == len(want)
    for i, (w, h) in enumerate(zip(want, have, strict=True)):
        assert h == w, i


def test_the_corpus_covers_what_it_claims(world: tuple[Assembly, list[CredentialInput]]) -> None:
    """Not a vacuous net: the recorded answers span the outcomes, kinds and reasons."""
    recorded = [json.loads(x) for x in _recorded()]
    fresh = [r["verdict"] for r in recorded if r["clock"] == "fresh" and "verdict" in r]
    outcomes = {v["outcome"] for v in fresh}
    kinds = {v["credential"]["kind"] for v in fresh if v["credential"]}
    reasons = {r for v in fresh for r in v["reasons"]}
    assert {"valid", "invalid", "suspended", "annulled", "expired", "unknown"} <= outcomes
    assert {
        "manual",
        "paper_policy",
        "card",
        "digital_policy",
        "temporary_certificate",
        "old_policy",
        "register_extract",
        "signed_document",
    } <= kinds
    assert {
        "enp_checksum",
        "not_in_snapshot",
        "other_region",
        "document_revoked",
        "signature_invalid",
        "number_not_found",
        "insurer_changed",
    } & reasons
    assert any("error" in r for r in recorded)
    assert {r["clock"] for r in recorded} == set(CLOCKS)


def main() -> None:
    """Write the golden file from the code as it is now."""
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.test_golden_verdicts --write")
    with tempfile.TemporaryDirectory() as tmp:
        parts, rows, state = build_world(Path(tmp))
        try:
            GOLDEN.parent.mkdir(parents=True, exist_ok=True)
            with GOLDEN.open("w", encoding="utf-8") as f:
                for line in lines(parts, corpus(rows, state)):
                    f.write(line + "\n")
        finally:
            parts.close()


if __name__ == "__main__":
    main()
