from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest

from verifier.checks.context import CheckContext
from verifier.checks.ports import SignatureResult, StatusResult
from verifier.credential import CredentialInput, SignedPart
from verifier.devkit.demo import card_dump_bytes, demo_person_enp, paper_policy_bytes
from verifier.errors import RecognitionError
from verifier.pipeline import Pipeline
from verifier.verdict import (
    CheckResult,
    CheckStatus,
    Outcome,
    Reason,
    failed,
    passed,
    skipped,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@dataclass
class RegisterStub:
    """A StatusChecker port answering a fixed result and counting calls."""

    result: CheckResult
    calls: list[str] = field(default_factory=list)

    def check_status(self, ctx: CheckContext) -> StatusResult:
        self.calls.append(ctx.credential.enp or "")
        # The answering source also vouches that the document is not revoked.
        return StatusResult(self.result, "snapshot", revocation=passed("revocation", "stub"))


@dataclass
class SignatureStub:
    signature: CheckResult
    key: CheckResult

    def check_signature(self, signed: SignedPart, ctx: CheckContext) -> SignatureResult:
        return SignatureResult(self.signature, self.key)


def _pipeline(register: CheckResult | None = None, **kw: object) -> Pipeline:
    p = Pipeline(clock=lambda: NOW, **kw)  # type: ignore[arg-type]
    if register is not None:
        p.status = RegisterStub(register)
    return p


def _check(verdict_checks: tuple[CheckResult, ...], name: str) -> CheckResult:
    return next(c for c in verdict_checks if c.name == name)


def test_checks_run_in_the_documented_order() -> None:
    v = _pipeline().verify(CredentialInput.from_text(demo_person_enp(), manual=True))
    assert [c.name for c in v.checks] == [
        "decode",
        "format",
        "enp_checksum",
        "enp_facet",
        "expiry",
        "signature",
        "key_trusted",
        "revocation",
        "register_status",
        "holder",
        "insurer",
    ]


def test_good_enp_not_looked_up_is_unknown_never_valid() -> None:
    v = _pipeline().verify(CredentialInput.from_text(demo_person_enp(), manual=True))
    assert v.outcome is Outcome.UNKNOWN
    assert v.reasons == (Reason.NOT_LOOKED_UP,)
    assert "не проверен" in v.message
    assert v.source == "none"


def test_valid_needs_a_passing_register_check() -> None:
    v = _pipeline(passed("register_status", "active")).verify(
        CredentialInput.from_text(demo_person_enp(), manual=True)
    )
    assert v.outcome is Outcome.VALID
    assert v.message.startswith("Полис действителен")
    assert v.source == "snapshot"


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (Reason.NOT_IN_REGISTER, Outcome.NOT_INSURED),
        (Reason.REGISTER_SUSPENDED, Outcome.SUSPENDED),
        (Reason.REGISTER_ANNULLED, Outcome.ANNULLED),
        (Reason.REGISTER_EXPIRED, Outcome.EXPIRED),
        (Reason.REGISTER_NEEDS_CLARIFICATION, Outcome.UNKNOWN),
        (Reason.SNAPSHOT_EXPIRED, Outcome.UNKNOWN),
    ],
)
def test_register_answers_map_to_outcomes(reason: Reason, outcome: Outcome) -> None:
    v = _pipeline(failed("register_status", reason)).verify(
        CredentialInput.from_text(demo_person_enp(), manual=True)
    )
    assert v.outcome is outcome
    assert reason in v.reasons
    assert Reason.NOT_LOOKED_UP not in v.reasons


def test_invalid_credential_never_reaches_the_register() -> None:
    enp = demo_person_enp()
    typo = enp[:-1] + str((int(enp[-1]) + 1) % 10)
    p = _pipeline(passed("register_status"))
    v = p.verify(CredentialInput.from_text(typo, manual=True))
    assert v.outcome is Outcome.INVALID
    assert v.reasons[0] is Reason.ENP_CHECKSUM
    assert isinstance(p.status, RegisterStub) and p.status.calls == []
    assert _check(v.checks, "register_status").status is CheckStatus.SKIP


def test_paper_policy_without_key_says_signature_not_checked() -> None:
    v = _pipeline(passed("register_status")).verify(CredentialInput(paper_policy_bytes()))
    sig = _check(v.checks, "signature")
    assert sig.status is CheckStatus.SKIP and "нет ключа" in sig.detail
    assert Reason.SIGNATURE_NOT_CHECKED in v.reasons
    assert "подпись не проверена" in v.message
    assert v.outcome is Outcome.VALID  # the register, not the paper, says the policy is in force


def test_bad_signature_is_invalid_even_when_the_register_is_happy() -> None:
    sig = SignatureStub(failed("signature", Reason.SIGNATURE_INVALID), passed("key_trusted"))
    v = _pipeline(passed("register_status"), signature=sig).verify(
        CredentialInput(paper_policy_bytes())
    )
    assert v.outcome is Outcome.INVALID
    assert Reason.SIGNATURE_INVALID in v.reasons


def test_valid_signature_by_unknown_key_is_its_own_reason() -> None:
    sig = SignatureStub(passed("signature"), failed("key_trusted", Reason.KEY_UNKNOWN))
    v = _pipeline(passed("register_status"), signature=sig).verify(
        CredentialInput(paper_policy_bytes())
    )
    assert v.outcome is Outcome.UNKNOWN
    assert Reason.KEY_UNKNOWN in v.reasons


def test_expired_paper_policy_by_the_injected_clock() -> None:
    raw = paper_policy_bytes(expiry=date(2026, 11, 21))
    v = _pipeline(passed("register_status")).verify(CredentialInput(raw))
    assert v.outcome is Outcome.EXPIRED
    assert _check(v.checks, "expiry").reason is Reason.POLICY_EXPIRED
    later = Pipeline(clock=lambda: datetime(2026, 11, 20, tzinfo=UTC))
    later.status = RegisterStub(passed("register_status"))
    assert later.verify(CredentialInput(raw)).outcome is Outcome.VALID


def test_facet_mismatch_on_paper_is_invalid() -> None:
    raw = bytearray(paper_policy_bytes())
    raw[51] = 2  # the barcode says woman, the ENP facet says man
    v = _pipeline(passed("register_status")).verify(CredentialInput(bytes(raw)))
    assert v.outcome is Outcome.INVALID
    assert _check(v.checks, "enp_facet").reason is Reason.ENP_FACET_MISMATCH


def test_broken_barcode_is_an_invalid_verdict_with_a_decode_failure() -> None:
    raw = bytearray(paper_policy_bytes())
    raw[9] = (raw[9] & 0xC0) | 50  # a reserved 6-bit code
    v = _pipeline().verify(CredentialInput(bytes(raw)))
    assert v.outcome is Outcome.INVALID
    assert v.checks[0].name == "decode" and v.checks[0].status is CheckStatus.FAIL
    assert "bad_charset" in v.checks[0].detail
    assert v.credential is None


def test_unrecognisable_input_raises() -> None:
    with pytest.raises(RecognitionError):
        _pipeline().verify(CredentialInput.from_text("no policy here"))


def test_unsigned_card_is_never_valid() -> None:
    """Finding 1 of the trust review: stripping the insurer signature must not beat forging it."""
    v = _pipeline(passed("register_status")).verify(
        CredentialInput(card_dump_bytes(), symbology="card")
    )
    assert v.outcome is Outcome.UNKNOWN
    assert Reason.SIGNATURE_MISSING in v.reasons and Reason.HOLDER_DATA_UNVERIFIED in v.reasons
    assert _check(v.checks, "signature").reason is Reason.SIGNATURE_MISSING
    assert "подписи нет" in v.message and "удостоверяющий личность" in v.message
    assert v.to_dict()["credential"]["holder_verified"] is False


def test_skipped_register_with_a_reason_is_not_reported_as_not_looked_up() -> None:
    v = _pipeline(skipped("register_status", "registry down", Reason.REGISTRY_UNAVAILABLE)).verify(
        CredentialInput.from_text(demo_person_enp(), manual=True)
    )
    assert v.outcome is Outcome.UNKNOWN
    assert v.reasons == (Reason.REGISTRY_UNAVAILABLE,)


def test_masked_dict_hides_personal_data() -> None:
    v = _pipeline().verify(CredentialInput(paper_policy_bytes()))
    d = v.to_dict(masked=True)["credential"]
    assert d["enp"] != demo_person_enp() and d["enp"].endswith(demo_person_enp()[-4:])
    assert d["surname"] == "И*****" and d["birth_date"] is None
