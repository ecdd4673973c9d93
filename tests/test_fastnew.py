"""verifier.fastnew.maker: the same instance as the class's own ``__init__``, or a refusal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from verifier.credential import Credential, CredentialInput, CredentialKind
from verifier.fastnew import maker
from verifier.verdict import AnswerSource, Outcome, Reason, RegisterSummary, Verdict


def test_made_instances_equal_init_ones_field_for_field() -> None:
    now = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    make = maker(Verdict, ("outcome", "reasons", "message", "credential", "checks", "source",
                           "checked_at"))  # fmt: skip
    args = (Outcome.VALID, (Reason.HOLDER_NOT_CHECKED,), "m", None, (), AnswerSource.NONE, now)
    made = make(*args)
    init = Verdict(
        outcome=args[0],
        reasons=args[1],
        message=args[2],
        credential=args[3],
        checks=args[4],
        source=args[5],
        checked_at=args[6],
    )
    assert type(made) is Verdict and made == init and hash(made) == hash(init)
    for f in dataclasses.fields(Verdict):  # every slot set, defaults included
        assert getattr(made, f.name) == getattr(init, f.name), f.name
    assert made._shape is None
    credential = maker(Credential, ("kind", "enp"))(CredentialKind.MANUAL, "5047000821004979")
    assert credential == Credential(kind=CredentialKind.MANUAL, enp="5047000821004979")
    assert credential.to_dict() == Credential(CredentialKind.MANUAL, "5047000821004979").to_dict()
    summary = maker(RegisterSummary, [f.name for f in dataclasses.fields(RegisterSummary)])
    s = summary("5047000821004979", "paper", "active", date(2017, 3, 30), None, None, None,
                None, "502000")  # fmt: skip
    assert s == RegisterSummary(
        "5047000821004979", "paper", "active", date(2017, 3, 30), None, None, None, None, "502000"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.message = "x"  # type: ignore[misc]  # still frozen


def test_classes_it_cannot_make_exactly_are_refused() -> None:
    with pytest.raises(TypeError, match="__post_init__"):
        maker(CredentialInput, ("payload",))  # validates its symbology after __init__

    @dataclasses.dataclass
    class Plain:
        a: int

    with pytest.raises(TypeError, match="slots"):
        maker(Plain, ("a",))
    with pytest.raises(TypeError, match="unknown or repeated"):
        maker(Verdict, ("outcome", "outcome"))
    with pytest.raises(TypeError, match="unknown or repeated"):
        maker(Verdict, ("nonsense",))
    with pytest.raises(TypeError, match="no default"):
        maker(Verdict, ("outcome",))  # reasons, message, … have no default to fall back on

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        items: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="no default"):
        maker(Factory, ())  # a factory's value is per instance: not made here
