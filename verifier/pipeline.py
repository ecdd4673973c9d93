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
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol, TypeVar

from cache.freshness import Freshness, assess, from_the_future
from cache.register_model import PolicyStatus, RegisterRecord
from cache.snapshot_store import Prefetch, SnapshotStore
from verifier import documents
from verifier.checks import basic
from verifier.checks.basic import KIND_RU
from verifier.checks.context import CheckContext, LookupMode, local_date
from verifier.checks.holder import HolderMatcher, NoHolderMatcher
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
from verifier.checks.register import (
    SnapshotRevocationChecker,
    SnapshotStatusChecker,
    register_summary,
    snapshot_info,
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
from verifier.fastnew import maker
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
    VerdictShape,
    action_ru,
    decide,
    facts_used,
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


GroupsHolder = list[tuple[tuple[object, ...] | None, dict[tuple[object, ...], "_Group"]]]


def _new_groups() -> GroupsHolder:
    return [(None, {})]


NamedHolder = list[
    tuple[
        object,
        dict[tuple[str, str], tuple["InsurerInfo | None", str | None]],
        dict[str | None, "AttachmentInfo | None"],
    ]
]


def _new_named() -> NamedHolder:
    return [(None, {}, {})]


@dataclass
class Pipeline:
    signature: SignatureChecker = field(default_factory=NoSignatureChecker)
    revocation: RevocationChecker = field(default_factory=NoRevocationChecker)
    status: StatusChecker = field(default_factory=NoStatusChecker)
    holder: HolderChecker = field(default_factory=NoHolderMatcher)
    names: NameBook = field(default_factory=NoNames)  # F002/F003 names for codes
    this_clinic: str | None = None  # [clinic] mo_code
    clock: Callable[[], datetime] = _utcnow
    # The typed-ENP groups (see _TypedColumns), one context at a time; shared by the copies
    # dataclasses.replace makes (a batch's), never by two pipelines built apart.
    groups: GroupsHolder = field(default_factory=_new_groups, repr=False, compare=False)
    # Single lookups' insurers and clinics, by the version of the names that made them.
    named: NamedHolder = field(default_factory=_new_named, repr=False, compare=False)
    # Each thread's last single-lookup context (_TypedColumns.for_one), kept while it holds.
    single: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def verify(
        self, item: CredentialInput, *, mode: LookupMode = LookupMode.AUTO, fresh: bool = False
    ) -> Verdict:
        """Verdict for one read; :class:`RecognitionError` for input that is no credential."""
        enp = typed_enp(item)
        if enp is not None and item.symbology is not ReadSymbology.CARD:
            # What recognize() makes of it, without reading it as text, a label or a document.
            return self.verify_typed(enp, item.source, mode=mode, fresh=fresh)
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

    def verify_typed(
        self,
        enp: str,
        source: str,
        *,
        mode: LookupMode = LookupMode.AUTO,
        fresh: bool = False,
    ) -> Verdict:
        """:meth:`verify` of a typed ENP, given as :func:`typed_enp` gives it (16 ASCII
        digits): the MIS's lookup, with no input to read first."""
        if mode is LookupMode.OFFLINE and not fresh:
            snapshot = self._columnar(mode, None)
            if snapshot is not None:
                # Checked by its group, as a batch's typed ENPs are.
                store: SnapshotStore = snapshot.store  # type: ignore[assignment]
                read = store.read_one(enp)  # the meta and the record in one read
                return _TypedColumns.for_one(self, snapshot, store, read).typed(enp, source)
        return self._verify_typed(enp, source, mode, fresh)

    def verify_many(
        self,
        items: Sequence[CredentialInput],
        *,
        mode: LookupMode = LookupMode.AUTO,
        register: object | None = None,
    ) -> list[Verdict | RecognitionError]:
        """:meth:`verify` of every item, in order, each answer exactly what :meth:`verify`
        gives at the batch's moment (a :class:`RecognitionError` in the place of an input
        that is no credential).

        A batch is checked as of one moment: the clock is read once, so every verdict of it
        carries the same ``checked_at`` and the snapshot's freshness is judged once. With a
        ``register`` that can prefetch (:class:`BatchSource`), the snapshot's meta is read
        once and the typed ENPs' records in a few queries, in one read transaction, and the
        directory names are asked once per code; offline, over the snapshot store, the typed
        ENPs are then checked by what their verdicts depend on (:class:`_TypedColumns`).
        When another connection committed while the batch ran (an import, a sync), the
        batch is verified again item by item against the store as it is now; a store
        without ``prefetched`` is read item by item."""
        batch = self._batch()
        prefetch = getattr(register, "prefetched", None)
        if prefetch is None:
            return batch._each(items, mode)
        typed = [typed_enp(item) for item in items]
        source: BatchSource = register  # type: ignore[assignment]  # has prefetched, above
        with source.prefetched([e for e in typed if e is not None]) as scope:
            snapshot = batch._columnar(mode, register)
            if snapshot is None or not isinstance(register, SnapshotStore):
                answers = batch._each(items, mode)
            else:
                answers = _TypedColumns(batch, snapshot, register, scope).verify(items, typed)
        if scope.changed:
            return self._batch()._each(items, mode)
        return answers

    def _batch(self) -> Pipeline:
        """This pipeline for one batch: one moment, one view of the directory names."""
        now = self.clock()
        return dataclasses.replace(self, names=_MemoNames(self._book()), clock=lambda: now)

    def _columnar(self, mode: LookupMode, register: object | None) -> SnapshotStatusChecker | None:
        """The snapshot checker when typed ENPs may be checked by group (:class:`_TypedColumns`):
        offline, over a snapshot store (the one a batch prefetched, when ``register`` is
        given), and checkers whose answers for a typed ENP are known to depend on nothing but
        what :class:`_TypedColumns` keys on."""
        if mode is not LookupMode.OFFLINE:
            return None
        status = _columnar_status(self.status, self.revocation, self.holder)
        if status is None or (register is not None and status.store is not register):
            return None
        return status

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

    def _verify_typed(
        self, enp: str, source: str, mode: LookupMode, fresh: bool, now: datetime | None = None
    ) -> Verdict:
        """:meth:`verify_credential` of a typed ENP (16 ASCII digits). Its local checks
        depend on nothing but whether the check digit and the date facet are right, so they
        are the general checks' results for those two facts, made once and shared. ``now``:
        the moment a group it starts is keyed on (else the clock, read here)."""
        credential = Credential(kind=CredentialKind.MANUAL, enp=enp)
        moment = self.clock() if now is None else now
        ctx = CheckContext(credential=credential, now=moment, mode=mode, fresh=fresh)
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
        return self._attachment_of(status.record if status else None, names)

    def _attachment_of(
        self, record: RegisterRecord | None, names: NameBook
    ) -> AttachmentInfo | None:
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


_fallback_type: list[type] = []  # verifier.checks.online.FallbackStatusChecker, once asked


def _columnar_status(
    status: StatusChecker, revocation: RevocationChecker, holder: HolderChecker
) -> SnapshotStatusChecker | None:
    """See :meth:`Pipeline._columnar`: a few type comparisons (asked by every offline lookup;
    not cached: a checker need not be hashable, and a cache would keep old stores alive)."""
    if not _fallback_type:
        from verifier.checks.online import FallbackStatusChecker  # the registry client: lazily

        _fallback_type.append(FallbackStatusChecker)
    found: object = status
    if type(found) is _fallback_type[0]:
        found = found.snapshot  # type: ignore[attr-defined]  # a FallbackStatusChecker
    if type(found) is not SnapshotStatusChecker or type(found.store) is not SnapshotStore:
        return None
    if type(revocation) not in (SnapshotRevocationChecker, NoRevocationChecker):
        return None
    if type(holder) not in (HolderMatcher, NoHolderMatcher):
        return None
    return found


class _Group:
    """Typed ENPs whose verdicts share their checks (see :class:`_TypedColumns`): what the
    first one's verdict, made by :meth:`Pipeline._verify_typed` itself, says for them all."""

    __slots__ = (
        "action",
        "checks",
        "message",
        "messages",
        "outcome",
        "reasons",
        "record_based",
        "shape",
        "snapshot",
        "source",
        "use",
    )

    def __init__(self, first: Verdict) -> None:
        self.checks, self.outcome, self.reasons = first.checks, first.outcome, first.reasons
        self.action, self.source, self.message = first.action, first.source, first.message
        self.record_based = first.register is not None  # else: no record, nothing per ENP
        self.snapshot = first.snapshot is not None  # else: no status asked (proven invalid)
        self.shape = VerdictShape(first)
        self.use = facts_used(first.outcome, first.reasons)
        self.messages: dict[tuple[object, ...], str] = {}


# Groups live across batches and lookups while what their checks say cannot change: the same
# checkers, the same snapshot meta, freshness state and calendar day (the context). One
# context at a time, bounded, held by the pipeline (Pipeline.groups: dropped with it at a
# reload); a batch of another context starts afresh.
_GROUPS_MAX = 4096
_MESSAGES_MAX = 256  # a group's lines by the dates they name
# Insurers and clinics as verdicts name them, shared across batches (their JSON is made once).
_INTERNED_MAX = 4096
_interned: dict[object, object] = {}
_Named = TypeVar("_Named", InsurerInfo | None, AttachmentInfo | None)


def _intern(value: _Named) -> _Named:
    """The one shared object equal to ``value`` (values, not identities, are compared)."""
    if value is None:
        return None
    if len(_interned) > _INTERNED_MAX:
        _interned.clear()
    found: _Named = _interned.setdefault(value, value)  # type: ignore[assignment]
    return found


# A batch member's verdict and credential, as Verdict(...) and Credential(MANUAL, enp) make
# them (verifier/fastnew.py: the same instance at half the cost of __init__).
_member = maker(
    Verdict,
    (
        "outcome",
        "reasons",
        "message",
        "credential",
        "checks",
        "source",
        "checked_at",
        "input_source",
        "snapshot",
        "answered_at",
        "register",
        "action",
        "insurer",
        "attachment",
        "_shape",
    ),
)
_typed_credential = maker(Credential, ("kind", "enp"))


def _status_key(record: RegisterRecord, today: date) -> tuple[object, ...]:
    """What ``status_check`` reads of a record at ``today``: a policy in force reads only its
    insurer (the detail names it); anything else every field it may name."""
    end, start = record.end, record.start
    if (
        record.status is PolicyStatus.ACTIVE
        and (end is None or end >= today)
        and (start is None or start <= today)
    ):
        return (record.status, record.smo_ogrn)
    return (record.status, record.status_since, start, end, record.smo_ogrn)


class _TypedColumns:
    """One offline batch's typed ENPs, checked by what their verdicts depend on.

    A typed ENP's verdict depends on its check digit and date facet (the local checks), the
    snapshot's meta and state at the batch's moment (one for the batch) and, when the
    snapshot is looked up, on the record's status fields (``_status_key``) or, for a miss,
    on the ENP's region. ENPs alike in these get the same checks, outcome, reasons and
    action: the first of each group is verified by :meth:`Pipeline._verify_typed` itself,
    the others are made from it with their own credential, register summary, insurer,
    clinic and message (those asked once per code, the message once per fact it names), and
    the batch's moment and snapshot state. Everything else goes through
    :meth:`Pipeline.verify`."""

    def __init__(
        self,
        pipeline: Pipeline,
        snapshot: SnapshotStatusChecker,
        store: SnapshotStore,
        scope: PrefetchScope | None,
        *,
        single: bool = False,
        now: datetime | None = None,
    ) -> None:
        self.p = pipeline
        self.now = now = pipeline.clock() if now is None else now
        self.today = local_date(now)
        self.store = store
        # A single lookup's own read (Prefetch), which a group's first full check answers
        # from (SnapshotStore.answering); a batch's scope is open around the whole batch.
        self.read = scope if single and isinstance(scope, Prefetch) else None
        self.info = info = self.read.info if self.read is not None else store.info()
        policy = snapshot.policy
        fresh = assess(info.created_at, info.register_valid_until, now, policy)
        # What SnapshotStatusChecker.check_status says of the snapshot for every ENP.
        self.snap = snapshot_info(info, fresh)
        # It looks the record up only past these three.
        self.lookup = fresh.state not in (
            Freshness.ABSENT,
            Freshness.EXPIRED,
        ) and not from_the_future(info.created_at, now, policy)
        self.records = scope.records if isinstance(scope, Prefetch) else {}
        self.groups: dict[tuple[object, ...], _Group] = {}
        if self.lookup:  # else a few groups, and the clock in their texts: this batch's own
            context = (snapshot, pipeline.revocation, pipeline.holder, info, fresh.state)
            holder = pipeline.groups
            held = holder[0]
            if held[0] == (*context, self.today) and len(held[1]) <= _GROUPS_MAX:
                self.groups = held[1]
            else:
                holder[0] = ((*context, self.today), self.groups)
        self.insurers: dict[tuple[str, str], tuple[InsurerInfo | None, str | None]] = {}
        self.clinics: dict[str | None, AttachmentInfo | None] = {}
        self.book: NameBook = pipeline.names
        self.single = single
        if single:
            # A single lookup: one view of the directory names, and the insurers and clinics
            # it named kept across lookups while that view's version stands.
            self.book = book = pipeline._book()
            version = getattr(book, "version", None)
            if version is not None:
                named = pipeline.named
                kept = named[0]
                key = (version, pipeline.this_clinic)  # "our patient" is the clinic's word
                if kept[0] == key and len(kept[1]) + len(kept[2]) <= _INTERNED_MAX:
                    self.insurers, self.clinics = kept[1], kept[2]
                else:
                    named[0] = (key, self.insurers, self.clinics)

    @classmethod
    def for_one(
        cls,
        pipeline: Pipeline,
        snapshot: SnapshotStatusChecker,
        store: SnapshotStore,
        read: Prefetch,
    ) -> _TypedColumns:
        """The columns of one typed ENP's lookup, from its :meth:`SnapshotStore.read_one`.

        The context a lookup is checked in (the snapshot's meta as read, its freshness state,
        the clock's verdict on it, the local day, the names' view, the clinic) changes
        rarely; while it holds, this thread's columns of the last lookup are used again with
        this lookup's moment, snapshot age and record — what a new one would be made of."""
        now = pipeline.clock()
        info = read.info
        policy = snapshot.policy
        fresh = assess(info.created_at, info.register_valid_until, now, policy)
        book = pipeline._book()
        key = (
            snapshot,
            pipeline.revocation,
            pipeline.holder,
            info,
            fresh.state,
            from_the_future(info.created_at, now, policy),
            local_date(now),
            book,
            getattr(book, "version", None),
            pipeline.this_clinic,
        )
        local = pipeline.single
        held: tuple[tuple[object, ...], _TypedColumns] | None = getattr(local, "columns", None)
        if (
            held is not None
            and held[0] == key
            and held[1].lookup  # else its groups' texts name their own moment
            and held[1].groups is pipeline.groups[0][1]  # the groups the pipeline holds now
            and len(held[1].groups) <= _GROUPS_MAX
            and len(held[1].insurers) + len(held[1].clinics) <= _INTERNED_MAX
        ):
            columns = held[1]
            columns.now, columns.read, columns.records = now, read, read.records
            columns.snap = snapshot_info(info, fresh)
            return columns
        columns = cls(pipeline, snapshot, store, read, single=True, now=now)
        local.columns = (key, columns)
        return columns

    def verify(
        self, items: Sequence[CredentialInput], typed: Sequence[str | None]
    ) -> list[Verdict | RecognitionError]:
        out: list[Verdict | RecognitionError] = []
        p = self.p
        for item, enp in zip(items, typed, strict=True):
            if enp is not None and item.symbology is not ReadSymbology.CARD:
                out.append(self.typed(enp, item.source))
                continue
            try:
                out.append(p.verify(item, mode=LookupMode.OFFLINE))
            except RecognitionError as exc:
                out.append(exc)
        return out

    def typed(self, enp: str, source: str) -> Verdict:
        """``Pipeline._verify_typed(enp, source, OFFLINE, False)``, from its group."""
        local_key = (enp_checksum_ok(enp), facet_ok(enp[2:10]))
        local = _TYPED_LOCAL.get(local_key)
        record: RegisterRecord | None = None
        key: tuple[object, ...]
        if (local is not None and local[1]) or not self.lookup:
            key = (source, local_key)  # proven invalid, or no record read: nothing per ENP
        else:
            records = self.records
            record = records[enp] if enp in records else self.store.lookup_enp(enp)
            if record is not None:
                key = (source, local_key, _status_key(record, self.today))
            else:
                region = self.info.region
                other = region is not None and enp[:2] != region
                key = (source, local_key, None, enp[:2] if other else None)
        group = self.groups.get(key)
        if group is None:
            first = self._first(enp, source)
            group = self.groups[key] = _Group(first)
            object.__setattr__(first, "_shape", group.shape)
            return first
        credential = _typed_credential(CredentialKind.MANUAL, enp)
        snap = self.snap if group.snapshot else None
        if not group.record_based or record is None:
            return _member(
                group.outcome,
                group.reasons,
                group.message,
                credential,
                group.checks,
                group.source,
                self.now,
                source,
                snap,
                None,
                None,
                group.action,
                None,
                None,
                group.shape,
            )
        insurer, insurer_now = self._insurer(record)
        clinic = record.clinic
        if clinic in self.clinics:
            attachment = self.clinics[clinic]
        else:
            attachment = self.clinics[clinic] = _intern(self.p._attachment_of(record, self.book))
        since, end, now_text, _ = group.use
        fact_key = (
            record.status_since if since else None,
            record.end if end else None,
            insurer_now if now_text else None,
        )
        message = group.messages.get(fact_key)
        if message is None:
            message = message_ru(
                group.outcome, group.reasons, _facts_of(group.checks, record, insurer_now)
            )
            if len(group.messages) < _MESSAGES_MAX:
                group.messages[fact_key] = message
        return _member(
            group.outcome,
            group.reasons,
            message,
            credential,
            group.checks,
            group.source,
            self.now,
            source,
            snap,
            self.info.created_at,
            register_summary(record),
            group.action,
            insurer,
            attachment,
            group.shape,
        )

    def _first(self, enp: str, source: str) -> Verdict:
        """A group's first verdict, by the full checks, at the columns' moment (a single
        lookup's full checks answer from the lookup's own read)."""
        read = self.read
        if read is None:
            return self.p._verify_typed(enp, source, LookupMode.OFFLINE, False, self.now)
        with self.store.answering(read):
            return self.p._verify_typed(enp, source, LookupMode.OFFLINE, False, self.now)

    def _insurer(self, record: RegisterRecord) -> tuple[InsurerInfo | None, str | None]:
        """The verdict's insurer and its "сейчас …" text, once per code (Pipeline._verdict)."""
        key = (record.smo_ogrn, record.okato)
        found = self.insurers.get(key)
        if found is None:
            insurer = self.p._insurer_info(record, self.book)
            now_text = None if insurer is None else _describe(insurer.ogrn, insurer.name)
            found = self.insurers[key] = (_intern(insurer), now_text)
        return found


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
