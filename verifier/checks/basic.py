"""Checks that need nothing but the credential itself: format, check digit, facet, expiry."""

from __future__ import annotations

from verifier.checks.context import CheckContext
from verifier.credential import CredentialKind
from verifier.errors import IdentifierError
from verifier.identifiers import decode_facet, enp_checksum_ok
from verifier.verdict import CheckName, CheckResult, Reason, failed, passed, skipped

_ENP_KINDS = frozenset(
    {
        CredentialKind.PAPER_POLICY,
        CredentialKind.DIGITAL_POLICY,
        CredentialKind.MANUAL,
        CredentialKind.CARD,
        CredentialKind.REGISTER_EXTRACT,
        CredentialKind.SIGNED_DOCUMENT,
    }
)

# What the clerk sees in the ``format`` check for each kind of document.
KIND_RU: dict[CredentialKind, str] = {
    CredentialKind.PAPER_POLICY: "бумажный полис (штрихкод)",
    CredentialKind.DIGITAL_POLICY: "цифровой полис",
    CredentialKind.MANUAL: "номер введён вручную",
    CredentialKind.TEMPORARY_CERTIFICATE: "временное свидетельство",
    CredentialKind.OLD_POLICY: "полис старого образца",
    CredentialKind.CARD: "электронный полис (карта)",
    CredentialKind.REGISTER_EXTRACT: "выписка из реестра (PDF)",
    CredentialKind.SIGNED_DOCUMENT: "полис — подписанный XML-документ",
}


def check_format(ctx: CheckContext) -> CheckResult:
    c = ctx.credential
    if c.kind in _ENP_KINDS and (not c.enp or not _well_formed(c.enp)):
        return failed(CheckName.FORMAT, Reason.BAD_FORMAT, "ЕНП — не 16 цифр")
    if c.kind in (CredentialKind.PAPER_POLICY, CredentialKind.CARD) and not c.surname:
        return failed(CheckName.FORMAT, Reason.BAD_FORMAT, "на документе нет фамилии")
    if c.birth_date is not None and c.birth_date > ctx.today:
        return failed(CheckName.FORMAT, Reason.BAD_FORMAT, "дата рождения позже сегодняшней")
    if c.kind is CredentialKind.TEMPORARY_CERTIFICATE and not (
        c.temp_cert_number and len(c.temp_cert_number) == 9
    ):
        return failed(
            CheckName.FORMAT, Reason.BAD_FORMAT, "номер временного свидетельства — не 9 цифр"
        )
    if c.kind is CredentialKind.OLD_POLICY and not (c.old_series and c.old_number):
        return failed(
            CheckName.FORMAT, Reason.BAD_FORMAT, "у полиса старого образца нужны серия и номер"
        )
    return passed(CheckName.FORMAT, KIND_RU[c.kind])


def _well_formed(enp: str) -> bool:
    return len(enp) == 16 and enp.isascii() and enp.isdigit()


def check_enp_checksum(ctx: CheckContext) -> CheckResult:
    enp = ctx.credential.enp
    if enp is None:
        return skipped(CheckName.ENP_CHECKSUM, "в документе нет ЕНП")
    if not _well_formed(enp):
        return skipped(CheckName.ENP_CHECKSUM, "ЕНП — не 16 цифр")
    if not enp_checksum_ok(enp):
        return failed(CheckName.ENP_CHECKSUM, Reason.ENP_CHECKSUM, "контрольная цифра не совпадает")
    return passed(CheckName.ENP_CHECKSUM)


def check_enp_facet(ctx: CheckContext) -> CheckResult:
    c = ctx.credential
    if c.enp is None:
        return skipped(CheckName.ENP_FACET, "в документе нет ЕНП")
    if not _well_formed(c.enp):
        return skipped(CheckName.ENP_FACET, "ЕНП — не 16 цифр")
    try:
        born, sex = decode_facet(c.enp[2:10])
    except IdentifierError:
        return failed(
            CheckName.ENP_FACET,
            Reason.ENP_FACET_INVALID,
            "в ЕНП закодирована несуществующая дата рождения",
        )
    if c.birth_date is None and c.sex is None:
        return passed(
            CheckName.ENP_FACET, "дата в ЕНП корректна; на документе нет даты рождения для сверки"
        )
    if c.birth_date is not None and c.birth_date != born:
        return failed(
            CheckName.ENP_FACET,
            Reason.ENP_FACET_MISMATCH,
            "дата рождения не совпадает с закодированной в ЕНП",
        )
    if c.sex is not None and c.sex is not sex:
        return failed(
            CheckName.ENP_FACET,
            Reason.ENP_FACET_MISMATCH,
            "пол не совпадает с закодированным в ЕНП",
        )
    return passed(CheckName.ENP_FACET, "дата рождения и пол совпадают с ЕНП")


def check_expiry(ctx: CheckContext) -> CheckResult:
    c = ctx.credential
    if c.kind not in (
        CredentialKind.PAPER_POLICY,
        CredentialKind.CARD,
        CredentialKind.SIGNED_DOCUMENT,
    ):
        return skipped(CheckName.EXPIRY, "у этого документа срок действия не указывается")
    if c.expiry is None:
        return passed(CheckName.EXPIRY, "срок не указан: полис бессрочный")
    if c.expiry < ctx.today:
        return failed(CheckName.EXPIRY, Reason.POLICY_EXPIRED, f"срок истёк {c.expiry:%d.%m.%Y}")
    return passed(CheckName.EXPIRY, f"действует до {c.expiry:%d.%m.%Y}")
