"""Checks that need nothing but the credential itself: format, check digit, facet, expiry."""

from __future__ import annotations

from verifier.checks.context import CheckContext
from verifier.credential import CredentialKind
from verifier.errors import IdentifierError
from verifier.identifiers import decode_facet, enp_checksum_ok
from verifier.verdict import CheckResult, Reason, failed, passed, skipped

_ENP_KINDS = frozenset(
    {
        CredentialKind.PAPER_POLICY,
        CredentialKind.DIGITAL_POLICY,
        CredentialKind.MANUAL,
        CredentialKind.CARD,
    }
)


def check_format(ctx: CheckContext) -> CheckResult:
    c = ctx.credential
    if c.kind in _ENP_KINDS and (not c.enp or not _well_formed(c.enp)):
        return failed("format", Reason.BAD_FORMAT, "ENP is not 16 digits")
    if c.kind in (CredentialKind.PAPER_POLICY, CredentialKind.CARD) and not c.surname:
        return failed("format", Reason.BAD_FORMAT, "no surname on the credential")
    if c.birth_date is not None and c.birth_date > ctx.today:
        return failed("format", Reason.BAD_FORMAT, f"birth date {c.birth_date} is in the future")
    if c.kind is CredentialKind.TEMPORARY_CERTIFICATE and not (
        c.temp_cert_number and len(c.temp_cert_number) == 9
    ):
        return failed("format", Reason.BAD_FORMAT, "temporary certificate number is not 9 digits")
    if c.kind is CredentialKind.OLD_POLICY and not (c.old_series and c.old_number):
        return failed("format", Reason.BAD_FORMAT, "old-style policy needs series and number")
    return passed("format", c.kind.value)


def _well_formed(enp: str) -> bool:
    return len(enp) == 16 and enp.isascii() and enp.isdigit()


def check_enp_checksum(ctx: CheckContext) -> CheckResult:
    enp = ctx.credential.enp
    if enp is None:
        return skipped("enp_checksum", "credential carries no ENP")
    if not _well_formed(enp):
        return skipped("enp_checksum", "ENP is not 16 digits")
    if not enp_checksum_ok(enp):
        return failed("enp_checksum", Reason.ENP_CHECKSUM, "check digit (Luhn) does not match")
    return passed("enp_checksum")


def check_enp_facet(ctx: CheckContext) -> CheckResult:
    c = ctx.credential
    if c.enp is None:
        return skipped("enp_facet", "credential carries no ENP")
    if not _well_formed(c.enp):
        return skipped("enp_facet", "ENP is not 16 digits")
    try:
        born, sex = decode_facet(c.enp[2:10])
    except IdentifierError as exc:
        return failed("enp_facet", Reason.ENP_FACET_INVALID, exc.message)
    if c.birth_date is None and c.sex is None:
        return passed("enp_facet", "facet decodes; no birth date on the credential to compare")
    if c.birth_date is not None and c.birth_date != born:
        return failed(
            "enp_facet", Reason.ENP_FACET_MISMATCH, "birth date disagrees with the ENP facet"
        )
    if c.sex is not None and c.sex is not sex:
        return failed("enp_facet", Reason.ENP_FACET_MISMATCH, "sex disagrees with the ENP facet")
    return passed("enp_facet", "birth date and sex agree with the ENP")


def check_expiry(ctx: CheckContext) -> CheckResult:
    c = ctx.credential
    if c.kind not in (CredentialKind.PAPER_POLICY, CredentialKind.CARD):
        return skipped("expiry", "the credential carries no expiry date")
    if c.expiry is None:
        return passed("expiry", "no expiry date: indefinite policy")
    if c.expiry < ctx.today:
        return failed("expiry", Reason.POLICY_EXPIRED, f"expired on {c.expiry.isoformat()}")
    return passed("expiry", f"valid until {c.expiry.isoformat()}")
