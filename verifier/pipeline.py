"""decode → verify as a chain of small checks, each returning a typed result.

Order: decode, format, enp_checksum, enp_facet, expiry, signature, key_trusted, revocation,
register_status, holder. Once a credential is proven invalid the remaining checks are skipped
rather than run (no registry traffic for forgeries), and the verdict says so.

Three rules hold here whatever the checkers plugged in say, because each is the difference
between a forgery and a genuine document:
- a carrier that is always signed (paper policy, chip card) and arrives unsigned is never
  ``valid`` (``signature_missing``): stripping a signature must not beat forging one;
- a physical document is never ``valid`` unless a fresh source said it is not revoked
  (``revocation_unknown``): the snapshot's list, or the registry's answer;
- a credential carrying a name and birth date is compared with the register's keyed name hash
  (``holder``), since the signature, where there is one, does not bind the holder.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from cache.register_model import RegisterRecord
from verifier import documents
from verifier.checks import basic
from verifier.checks.basic import KIND_RU
from verifier.checks.context import CheckContext, LookupMode
from verifier.checks.holder import NoHolderMatcher
from verifier.checks.ports import (
    HolderChecker,
    NameBook,
    NoNames,
    NoRevocationChecker,
    NoSignatureChecker,
    NoStatusChecker,
    RevocationChecker,
    SignatureChecker,
    StatusChecker,
    StatusResult,
)
from verifier.credential import (
    ALWAYS_SIGNED,
    PHYSICAL,
    Credential,
    CredentialInput,
    CredentialKind,
    ReadSymbology,
)
from verifier.errors import CryptoError, InputError, RecognitionError
from verifier.identifiers import enp_checksum_ok, facet_ok
from verifier.recognize import recognize
from verifier.verdict import (
    AnswerSource,
    AttachmentInfo,
    CheckName,
    CheckResult,
    CheckStatus,
    InsurerInfo,
    MessageFacts,
    Outcome,
    Reason,
    Verdict,
    action_ru,
    decide,
    failed,
    message_ru,
    passed,
    skipped,
)

_HARD_FAIL = Outcome.INVALID
_LOCAL_CHECKS: tuple[Callable[[CheckContext], CheckResult], ...] = (
    basic.check_format,
    basic.check_enp_checksum,
    basic.check_enp_facet,
    basic.check_expiry,
)


_UNSIGNED = (
    skipped(CheckName.SIGNATURE, "документ без подписи"),
    skipped(CheckName.KEY_TRUSTED, "документ без подписи"),
)
_NOT_NEEDED = (
    skipped(CheckName.REVOCATION, "документ уже недействителен"),
    skipped(CheckName.REGISTER_STATUS, "документ уже недействителен"),
    skipped(CheckName.HOLDER, "документ уже недействителен"),
)
_NO_FACTS = MessageFacts()
# A typed ENP's local checks by (check digit right, date facet right): at most four entries,
# each the general checks' own results (see Pipeline._verify_typed).
_TYPED_LOCAL: dict[tuple[bool, bool], tuple[tuple[CheckResult, ...], bool]] = {}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PrefetchScope(Protocol):
    """What :meth:`Pipeline.verify_many` needs of a batch scope: did the store change
    (another connection committed) while the scope was open?"""

    @property
    def changed(self) -> bool: ...


class BatchSource(Protocol):
    """A register store that can read a batch's records at once (``SnapshotStore``): inside
    ``prefetched(enps)`` its ``info`` and ``lookup_enp`` answer from one read on this thread."""

    def prefetched(
        self, enps: Iterable[str]
    ) -> contextlib.AbstractContextManager[PrefetchScope]: ...


class _MemoNames:
    """One batch's name book: each insurer or clinic code asked once of the directories.
    Names are informational (never a verdict's outcome); a batch sees one state of them."""

    def __init__(self, names: NameBook) -> None:
        self.names = names
        self._insurers: dict[tuple[str, str | None], str | None] = {}
        self._clinics: dict[str, str | None] = {}

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        key = (ogrn, okato)
        if key not in self._insurers:
            self._insurers[key] = self.names.insurer_name(ogrn, okato)
        return self._insurers[key]

    def clinic_name(self, code: str) -> str | None:
        if code not in self._clinics:
            self._clinics[code] = self.names.clinic_name(code)
        return self._clinics[code]


def typed_enp(item: CredentialInput) -> str | None:
    """The ENP of exactly a typed 16-digit number (nothing to decode, no document), else None."""
    p = item.payload
    if item.manual and len(p) == 16 and p.isdigit() and p.isascii():
        return p.decode("ascii")
    return None


@dataclass
class Pipeline:
    signature: SignatureChecker = field(default_factory=NoSignatureChecker)
    revocation: RevocationChecker = field(default_factory=NoRevocationChecker)
    status: StatusChecker = field(default_factory=NoStatusChecker)
    holder: HolderChecker = field(default_factory=NoHolderMatcher)
    names: NameBook = field(default_factory=NoNames)  # F002/F003 names for codes
    this_clinic: str | None = None  # [clinic] mo_code
    clock: Callable[[], datetime] = _utcnow

    def verify(
        self, item: CredentialInput, *, mode: LookupMode = LookupMode.AUTO, fresh: bool = False
    ) -> Verdict:
        """Verdict for one read; :class:`RecognitionError` for input that is no credential."""
        enp = typed_enp(item)
        if enp is not None and item.symbology is not ReadSymbology.CARD:
            # What recognize() makes of it, without reading it as text, a label or a document.
            return self._verify_typed(enp, item.source, mode, fresh)
        if _is_document(item):
            credential = _read_document(item)
            return self.verify_credential(
                credential, input_source=item.source, mode=mode, fresh=fresh
            )
        try:
            credential = recognize(item)
        except RecognitionError:
            raise
        except InputError as exc:  # claims a known format but is broken inside
            return self._undecodable(item, exc)
        return self.verify_credential(credential, input_source=item.source, mode=mode, fresh=fresh)

    def verify_many(
        self,
        items: Sequence[CredentialInput],
        *,
        mode: LookupMode = LookupMode.AUTO,
        register: object | None = None,
    ) -> list[Verdict | RecognitionError]:
        """:meth:`verify` of every item, in order, each answer exactly what :meth:`verify`
        gives (a :class:`RecognitionError` in the place of an input that is no credential).

        The same checks run per item; what a batch shares is the reading: with a
        ``register`` that can prefetch (:class:`BatchSource`), the snapshot's meta is read
        once and the typed ENPs' records in a few queries, in one read transaction, and the
        directory names are asked once per code. When another connection committed while
        the batch ran (an import, a sync), the batch is verified again item by item against
        the store as it is now; a store without ``prefetched`` is read item by item."""
        batch = dataclasses.replace(self, names=_MemoNames(self._book()))
        prefetch = getattr(register, "prefetched", None)
        if prefetch is None:
            return batch._each(items, mode)
        enps = [e for e in map(typed_enp, items) if e is not None]
        source: BatchSource = register  # type: ignore[assignment]  # has prefetched, above
        with source.prefetched(enps) as scope:
            answers = batch._each(items, mode)
        if scope.changed:
            return dataclasses.replace(self, names=_MemoNames(self._book()))._each(items, mode)
        return answers

    def _each(
        self, items: Sequence[CredentialInput], mode: LookupMode
    ) -> list[Verdict | RecognitionError]:
        out: list[Verdict | RecognitionError] = []
        for item in items:
            try:
                out.append(self.verify(item, mode=mode))
            except RecognitionError as exc:
                out.append(exc)
        return out

    def verify_credential(
        self,
        credential: Credential,
        *,
        input_source: str = "unknown",
        mode: LookupMode = LookupMode.AUTO,
        fresh: bool = False,
    ) -> Verdict:
        ctx = CheckContext(credential=credential, now=self.clock(), mode=mode, fresh=fresh)
        checks = self._local(ctx)
        return self._finish(ctx, checks, _proven_invalid(checks), input_source)

    def _local(self, ctx: CheckContext) -> list[CheckResult]:
        """decode … key_trusted: what the credential says of itself, and its signature."""
        credential = ctx.credential
        checks: list[CheckResult] = [passed(CheckName.DECODE, KIND_RU[credential.kind])]
        for check in _LOCAL_CHECKS:
            checks.append(check(ctx))
        if credential.signed is not None:
            sig = self.signature.check_signature(credential.signed, ctx)
            checks += [sig.signature, sig.key_trusted]
        elif credential.kind in ALWAYS_SIGNED:
            checks += [
                failed(
                    CheckName.SIGNATURE,
                    Reason.SIGNATURE_MISSING,
                    f"{KIND_RU[credential.kind]}: такой документ всегда подписан, а подписи нет",
                ),
                skipped(CheckName.KEY_TRUSTED, "нет подписи — нечего проверять по ключу"),
            ]
        else:
            checks += _UNSIGNED
        return checks

    def _verify_typed(self, enp: str, source: str, mode: LookupMode, fresh: bool) -> Verdict:
        """:meth:`verify_credential` of a typed ENP (16 ASCII digits). Its local checks
        depend on nothing but whether the check digit and the date facet are right, so they
        are the general checks' results for those two facts, made once and shared."""
        credential = Credential(kind=CredentialKind.MANUAL, enp=enp)
        ctx = CheckContext(credential=credential, now=self.clock(), mode=mode, fresh=fresh)
        key = (enp_checksum_ok(enp), facet_ok(enp[2:10]))
        local = _TYPED_LOCAL.get(key)
        if local is None:
            checks = self._local(ctx)
            local = _TYPED_LOCAL[key] = (tuple(checks), _proven_invalid(checks))
        return self._finish(ctx, list(local[0]), local[1], source)

    def _finish(
        self,
        ctx: CheckContext,
        checks: list[CheckResult],
        proven_invalid: bool,
        input_source: str,
    ) -> Verdict:
        credential = ctx.credential
        status: StatusResult | None = None
        if proven_invalid:
            checks += _NOT_NEEDED
        else:
            revocation = self.revocation.check_revocation(ctx)
            status = self.status.check_status(ctx)
            # One view of the directories for the whole verdict (one change check, not one
            # per name), and none at all when the register gave no record to name.
            names = self._book() if status.record is not None else self.names
            checks += [
                _revocation(credential, revocation, status),
                status.check,
                *status.notes,
                self.holder.check_holder(credential, status.record),
                self._insurer(credential, status.record, names),
            ]
            return self._verdict(ctx.now, credential, tuple(checks), input_source, status, names)
        return self._verdict(ctx.now, credential, tuple(checks), input_source, status)

    def _book(self) -> NameBook:
        """The name book as of now: a book with ``current()`` (DirectoryNames: names cached
        per state of the directories) gives a view checked for changes once."""
        current = getattr(self.names, "current", None)
        return self.names if current is None else current()

    def _insurer_info(self, record: RegisterRecord | None, names: NameBook) -> InsurerInfo | None:
        """The register's insurer with its directory name (asked once per verdict: the
        message's "сейчас …" and the ``insurer`` object name the same)."""
        if record is None or not record.smo_ogrn:
            return None
        name = names.insurer_name(record.smo_ogrn, record.okato)
        return InsurerInfo(record.smo_ogrn, name, record.okato or None)

    def _attachment(self, status: StatusResult | None, names: NameBook) -> AttachmentInfo | None:
        record = status.record if status else None
        if record is None or not record.clinic:
            return None
        mine = None if self.this_clinic is None else record.clinic == self.this_clinic
        return AttachmentInfo(record.clinic, names.clinic_name(record.clinic), mine)

    def describe_insurer(self, ogrn: str, okato: str | None) -> str:
        return _describe(ogrn, self.names.insurer_name(ogrn, okato))

    def _insurer(
        self, c: Credential, record: RegisterRecord | None, names: NameBook
    ) -> CheckResult:
        """Informational: the document names an insurer the register no longer has."""
        if record is None or not c.smo_ogrn or not record.smo_ogrn:
            return skipped(CheckName.INSURER, "нечего сравнивать")
        if c.smo_ogrn == record.smo_ogrn:
            return passed(CheckName.INSURER, "СМО в документе совпадает с реестром")
        return skipped(
            CheckName.INSURER,
            f"в документе ОГРН {c.smo_ogrn}, в реестре "
            f"{_describe(record.smo_ogrn, names.insurer_name(record.smo_ogrn, record.okato))}",
            Reason.INSURER_CHANGED,
        )

    def _undecodable(self, item: CredentialInput, exc: InputError) -> Verdict:
        checks = (failed(CheckName.DECODE, Reason.UNDECODABLE, f"{exc.code}: {exc.message}"),)
        return self._verdict(self.clock(), None, checks, item.source, None)

    def _verdict(
        self,
        now: datetime,
        credential: Credential | None,
        checks: tuple[CheckResult, ...],
        input_source: str,
        status: StatusResult | None,
        names: NameBook | None = None,
    ) -> Verdict:
        outcome, reasons = decide(checks)
        if credential is not None and credential.kind is CredentialKind.CARD:
            reasons = (*reasons, Reason.HOLDER_DATA_UNVERIFIED)
        if credential is not None and credential.kind is CredentialKind.SIGNED_DOCUMENT:
            reasons = (*reasons, Reason.FORMAT_ASSUMED)
        record = status.record if status else None
        book = self.names if names is None else names
        insurer = self._insurer_info(record, book)
        insurer_now = None if insurer is None else _describe(insurer.ogrn, insurer.name)
        return Verdict(
            outcome=outcome,
            reasons=reasons,
            message=message_ru(outcome, reasons, _facts_of(checks, record, insurer_now)),
            action=action_ru(outcome, reasons),
            insurer=insurer,
            attachment=self._attachment(status, book),
            credential=credential,
            checks=checks,
            source=status.source if status else AnswerSource.NONE,
            checked_at=now,
            input_source=input_source,
            snapshot=status.snapshot if status else None,
            answered_at=status.answered_at if status else None,
            proof=status.proof if status else None,
            register=status.register if status else None,
            candidates=status.candidates if status else (),
            registry_error=status.registry_error if status else None,
            disagreement=status.disagreement if status else None,
        )


def _describe(ogrn: str, name: str | None) -> str:
    return f"{name} (ОГРН {ogrn})" if name else f"СМО с ОГРН {ogrn}"


def _facts_of(
    checks: tuple[CheckResult, ...], record: RegisterRecord | None, insurer_now: str | None
) -> MessageFacts:
    signature = None
    for c in checks:
        if c.name == CheckName.SIGNATURE:
            signature = c
            break
    if record is None and insurer_now is None and signature is None:
        return _NO_FACTS
    return MessageFacts(
        status_since=record.status_since if record else None,
        end=record.end if record else None,
        insurer_now=insurer_now,
        signature_checked=signature is not None and signature.status is CheckStatus.PASS,
    )


def _is_document(item: CredentialInput) -> bool:
    """A file, not a scan: a PDF, or XML that did not come from a barcode reader."""
    raw = item.payload
    return documents.is_pdf(raw) or (item.symbology in (None, "document") and documents.is_xml(raw))


def _read_document(item: CredentialInput) -> Credential:
    """A document that cannot be read is no credential (HTTP 422, exit 2), never "invalid"."""
    try:
        return documents.read_document(item.payload, detached_signature=item.detached_signature)
    except RecognitionError:
        raise
    except (InputError, CryptoError) as exc:
        raise RecognitionError(exc.message, code=exc.code) from exc


def _revocation(credential: Credential, local: CheckResult, status: StatusResult) -> CheckResult:
    """The snapshot's word on revocation, or the answering registry's when it has one.

    A revocation found anywhere stands; a physical document nobody vouched for is unknown.
    """
    result = local
    if local.status is not CheckStatus.FAIL and status.revocation is not None:
        result = status.revocation
    if (
        credential.kind in PHYSICAL
        and result.status is CheckStatus.SKIP
        and result.reason not in (Reason.REVOCATION_UNKNOWN, Reason.CLOCK_INCONSISTENT)
    ):
        result = skipped(CheckName.REVOCATION, result.detail, Reason.REVOCATION_UNKNOWN)
    return result


def _proven_invalid(checks: list[CheckResult]) -> bool:
    fails = tuple(c for c in checks if c.status is CheckStatus.FAIL)
    if not fails:
        return False  # what decide(()) says (unknown: no register answer), without the fold
    outcome, _ = decide(fails)
    return outcome is _HARD_FAIL


def unrecognized_verdict(item: CredentialInput, error: InputError, now: datetime) -> Verdict:
    """For screens: a read that is no credential at all still gets an answer, not silence."""
    check = failed(CheckName.DECODE, Reason.UNRECOGNIZED, f"{error.code}: {error.message}")
    return Verdict(
        outcome=Outcome.UNKNOWN,
        reasons=(Reason.UNRECOGNIZED,),
        message=message_ru(Outcome.UNKNOWN, (Reason.UNRECOGNIZED,)),
        action=action_ru(Outcome.UNKNOWN, (Reason.UNRECOGNIZED,)),
        credential=None,
        checks=(check,),
        source=AnswerSource.NONE,
        checked_at=now,
        input_source=item.source,
    )
