"""The pipeline shares immutable results between verdicts (memoised checks, their JSON, the
clerk's lines); what it hands out must still be the caller's own to change."""

from __future__ import annotations

from verifier.verdict import CheckName, Outcome, Reason, action_ru, message_ru, passed, skipped


def test_a_shared_results_json_is_a_fresh_dict_each_time() -> None:
    a = skipped(CheckName.SIGNATURE, "документ без подписи")
    b = skipped(CheckName.SIGNATURE, "документ без подписи")
    assert a is b  # memoised: one shared result
    first = a.to_dict()
    first["detail"] = "changed by a caller"
    first["extra"] = 1
    assert b.to_dict() == {"name": "signature", "status": "skip", "detail": "документ без подписи"}


def test_the_json_memo_is_no_part_of_equality_or_repr() -> None:
    a = passed(CheckName.FORMAT, "x" * 300)  # too long to memoise: a result of its own
    b = passed(CheckName.FORMAT, "x" * 300)
    a.to_dict()
    assert a is not b
    assert a == b and hash(a) == hash(b)
    assert "_json" not in repr(a)


def test_memoised_lines_take_lists_as_their_callers_gave_them() -> None:
    """message_ru/action_ru are memoised on a tuple of reasons; a list still works."""
    reasons = [Reason.REGISTER_SUSPENDED]
    assert message_ru(Outcome.SUSPENDED, reasons) == message_ru(  # type: ignore[arg-type]
        Outcome.SUSPENDED, tuple(reasons)
    )
    assert action_ru(Outcome.SUSPENDED, reasons) == action_ru(  # type: ignore[arg-type]
        Outcome.SUSPENDED, tuple(reasons)
    )
