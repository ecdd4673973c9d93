"""Red team, session 19: the pipeline's memos (f1dcd59) against what each result depends on.

Attacks that failed, kept as regressions (each would fail if its memo were keyed on less than
its result depends on): the typed-ENP table of local checks against the general checks at any
clock; the byte-table check digit and the memoised facet against their definitions; ``decide``
with the same reasons and another register answer; the clerk's line with other dates; the
shared results' JSON copied per verdict; ``answered_at`` by identity with recycled objects.
A differential run of 251fa32 against 0c8f636 in two processes (25,186 verdicts: random typed,
scanned, labelled, card/QR/PDF417-tagged inputs at seven clocks, modes, batch) found no
difference; it is not repeated here (it needs the old tree).
"""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from verifier.credential import Credential, CredentialInput, CredentialKind
from verifier.errors import IdentifierError
from verifier.identifiers import (
    Sex,
    decode_facet,
    encode_facet,
    enp_checksum_ok,
    facet_ok,
    luhn_check_digit,
)
from verifier.pipeline import Pipeline
from verifier.verdict import (
    AnswerSource,
    CheckName,
    MessageFacts,
    Outcome,
    Reason,
    Verdict,
    decide,
    failed,
    message_ru,
    passed,
    skipped,
)

CLOCKS = [
    datetime(1990, 1, 1, tzinfo=UTC),
    datetime(2026, 6, 1, 9, tzinfo=UTC),
    datetime(2200, 12, 31, 23, 59, tzinfo=UTC),
]


def _enp(prefix: str, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(15 - len(prefix)))
    return body + str(luhn_check_digit(body))


def _typed(enp: str) -> CredentialInput:
    return CredentialInput(enp.encode(), source="api:t", manual=True)


def _local(v: Verdict) -> list[dict[str, object]]:
    return [c.to_dict() for c in v.checks]


@pytest.mark.parametrize("now", CLOCKS)
def test_the_typed_table_gives_the_general_checks_at_any_clock(now: datetime) -> None:
    """Every (check digit, facet) combination, including a facet born after the clock: the
    typed shortcut's verdict is the one ``verify_credential`` makes of the same number."""
    rng = random.Random(19)
    p = Pipeline(clock=lambda: now)
    future = encode_facet(date(2199, 5, 5), Sex.FEMALE)
    enps = [_enp("50", rng) for _ in range(200)] + [_enp("50" + future, rng)]
    enps += [e[:-1] + str((int(e[-1]) + 1) % 10) for e in enps[:50]]  # wrong check digit
    enps += [_enp("50" + "99999999", rng), _enp("50" + "00000000", rng)]  # no real date
    seen = set()
    for enp in enps:
        fast = p.verify(_typed(enp))
        slow = p.verify_credential(
            Credential(kind=CredentialKind.MANUAL, enp=enp), input_source="api:t"
        )
        assert fast.to_dict() == slow.to_dict(), enp
        seen.add((enp_checksum_ok(enp), facet_ok(enp[2:10])))
    assert seen == {(True, True), (True, False), (False, True), (False, False)}


def test_the_byte_table_check_digit_is_luhn() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        payload = "".join(rng.choice("0123456789") for _ in range(15))
        good = luhn_check_digit(payload)
        for d in range(10):
            assert enp_checksum_ok(payload + str(d)) is (d == good), payload
    for bad in (
        "501234567890123",
        "50123456789012345",
        "５０１２３４５６７８９０１２３４５",
        "501234567890123x",
    ):
        with pytest.raises(IdentifierError):
            enp_checksum_ok(bad)


def _reference_facet(facet: str) -> tuple[date, Sex] | None:
    """decode_facet as 251fa32 wrote it (before the memo), None where it raised."""
    plain = "".join(str(9 - int(c)) for c in facet)
    month, year, day = int(plain[0:2]), int(plain[2:6][::-1]), int(plain[6:8])
    if month > 40:
        month -= 40
        era_ok = 1951 <= year <= 2000
    elif month > 20:
        month -= 20
        era_ok = year <= 1950
    else:
        era_ok = year > 2000
    sex = Sex.FEMALE
    if day > 50:
        day -= 50
        sex = Sex.MALE
    if not era_ok:
        return None
    try:
        return date(year, month, day), sex
    except ValueError:
        return None


def test_the_memoised_facet_is_its_definition_both_ways() -> None:
    day = date(1900, 1, 1)
    while day < date(2100, 1, 1):
        for sex in Sex:
            facet = encode_facet(day, sex)
            assert facet_ok(facet)
            assert decode_facet(facet) == (day, sex)
            assert decode_facet(facet) == (day, sex)  # the memo's answer: the same
        day += timedelta(days=17)
    rng = random.Random(3)
    for _ in range(3):  # each facet asked again: a remembered answer is the same answer
        for _ in range(10000):
            facet = "".join(rng.choice("0123456789") for _ in range(8))
            want = _reference_facet(facet)
            assert facet_ok(facet) is (want is not None), facet
            if want is None:
                with pytest.raises(IdentifierError) as exc:
                    decode_facet(facet)
                assert exc.value.code == "enp_facet"
            else:
                assert decode_facet(facet) == want
        rng.seed(3)


def test_decide_is_keyed_on_the_register_answer_too() -> None:
    """The same reasons (none), with and without a passing register check, in turns."""
    ok = (passed(CheckName.FORMAT, "x"), passed(CheckName.REGISTER_STATUS, "в реестре"))
    no = (passed(CheckName.FORMAT, "x"), skipped(CheckName.REGISTER_STATUS, "не искали"))
    fail = (
        passed(CheckName.FORMAT, "x"),
        failed(CheckName.REGISTER_STATUS, Reason.NOT_IN_REGISTER),
    )
    for _ in range(3):
        assert decide(ok) == (Outcome.VALID, ())
        assert decide(no)[0] is Outcome.UNKNOWN
        assert decide(fail)[0] is not Outcome.VALID


def test_the_clerks_line_is_keyed_on_its_facts() -> None:
    reasons = (Reason.REGISTER_SUSPENDED,)
    lines = {
        message_ru(Outcome.SUSPENDED, reasons, MessageFacts(status_since=date(2024, 1, d)))
        for d in range(1, 29)
    }
    assert len(lines) == 28
    a = message_ru(Outcome.VALID, (Reason.INSURER_CHANGED,), MessageFacts(insurer_now="А"))
    b = message_ru(Outcome.VALID, (Reason.INSURER_CHANGED,), MessageFacts(insurer_now="Б"))
    assert a != b and a.endswith("А") and b.endswith("Б")


def test_a_callers_change_to_one_verdicts_json_never_reaches_another() -> None:
    p = Pipeline(clock=lambda: CLOCKS[1])
    rng = random.Random(5)
    first, second = (p.verify(_typed(_enp("50", rng))) for _ in range(2))
    one = first.to_dict()
    for check in one["checks"]:
        check["detail"] = "подменено"
        check["status"] = "pass"
        check["reason"] = None
    one["reasons"].append("x")
    two = second.to_dict()
    assert all(c["detail"] != "подменено" for c in two["checks"])
    assert first.to_dict() != one
    assert [c["status"] for c in two["checks"]] == [c.status.value for c in second.checks]


def test_answered_at_is_each_moments_own_text_even_for_recycled_objects() -> None:
    """Many short-lived moments (their ids are reused at once), equal instants in other
    zones, and one moment rendered again after others: each verdict writes its own."""
    base = Verdict(
        outcome=Outcome.UNKNOWN,
        reasons=(),
        message="",
        credential=None,
        checks=(),
        source=AnswerSource.NONE,
        checked_at=CLOCKS[1],
    )
    import dataclasses

    for i in range(3000):
        zone = timezone(timedelta(hours=i % 5))
        moment = datetime(2026, 1, 1, tzinfo=UTC).astimezone(zone) + timedelta(seconds=i)
        v = dataclasses.replace(base, answered_at=moment)
        assert v.to_dict()["answered_at"] == moment.isoformat()
        del v, moment
        if i % 500 == 0:
            gc.collect()
    kept = datetime(2026, 2, 2, tzinfo=UTC)
    v = dataclasses.replace(base, answered_at=kept)
    assert v.to_dict()["answered_at"] == kept.isoformat()
    other = dataclasses.replace(base, answered_at=kept.astimezone(timezone(timedelta(hours=3))))
    assert other.to_dict()["answered_at"].endswith("+03:00")
    assert v.to_dict()["answered_at"].endswith("+00:00")
