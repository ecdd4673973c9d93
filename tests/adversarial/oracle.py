"""The oracle: what must be true of the world before ``valid`` may be said.

Computed from what the suite made (the setup, the generator's ground truth, the mint of real
signatures), never from the pipeline's own checks. The verdict is used only for *what the
credential claims* (its decoded number, name, and the signed bytes the product checked); whether
those claims are true is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from tests.adversarial.world import TRUSTED_CARD, TRUSTED_PAPER, Mint, Person, Truth
from verifier.checks.context import LookupMode
from verifier.credential import CredentialKind
from verifier.verdict import Outcome, Reason, Verdict

SKEW = timedelta(seconds=300)


@dataclass(frozen=True)
class Setup:
    """One deployment the daemon could be in, as configured and as the world really is."""

    name: str
    trust: str = "full"  # full | nopaper | snaponly | revlist
    snapshot: str = "fresh"  # fresh | revexp | expired | absent
    match: bool = True  # [register] match_key_file configured
    registry: str = "honest"  # honest | down | plus400 | a forger mode
    clock_offset: timedelta = timedelta(0)  # device clock minus true time
    modes: tuple[tuple[LookupMode, bool], ...] = ((LookupMode.AUTO, False),)
    reassemble_every: int = 0  # forged registries trip the breaker: start over every N cases

    @property
    def clock_ok(self) -> bool:
        return abs(self.clock_offset) <= SKEW

    @property
    def paper_key(self) -> bool:
        return self.trust in ("full", "revlist")

    @property
    def card_root(self) -> bool:
        return self.trust in ("full", "nopaper", "revlist")

    @property
    def keys_revoked(self) -> bool:
        return self.trust == "revlist"

    def snapshot_register_fresh(self) -> bool:
        return self.snapshot in ("fresh", "revexp") and self.clock_ok

    def snapshot_revocations_fresh(self) -> bool:
        return self.snapshot == "fresh" and self.clock_ok

    def registry_honest(self) -> bool:
        return self.registry == "honest" and self.clock_ok


@dataclass
class Judgement:
    problems: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.problems.append(what)


def claimed_person(truth: Truth, v: Verdict) -> Person | None:
    c = v.credential
    if c is None:
        return None
    if c.enp is not None:
        return truth.by_enp.get(c.enp)
    if c.temp_cert_number is not None:
        return truth.by_temp.get(c.temp_cert_number)
    if c.old_series is not None and c.old_number is not None:
        return truth.by_old.get(f"{c.old_series}{c.old_number}")
    return None


def today() -> date:
    return datetime.now(UTC).astimezone().date()


def judge(setup: Setup, mode: LookupMode, truth: Truth, mint: Mint, v: Verdict) -> list[str]:  # noqa: C901 - one numbered checklist of what a valid needs, read top to bottom
    """Empty when the verdict is allowed; else what a ``valid`` here would have needed."""
    if v.outcome is not Outcome.VALID:
        return []
    j = Judgement()
    c = v.credential
    if c is None:
        return ["valid_without_credential"]
    p = claimed_person(truth, v)
    # 1. a fresh register answer saying active, for exactly this person
    if p is None or not p.active_on(today()):
        j.add("register_not_active")
    snapshot_counts = setup.snapshot_register_fresh() and mode is not LookupMode.ONLINE
    registry_counts = setup.registry_honest() and mode is not LookupMode.OFFLINE
    if not (snapshot_counts or registry_counts):
        j.add("no_fresh_register_source")
    summary = v.extra.get("register")
    if p is not None and isinstance(summary, dict):
        want = {
            "status": "active",
            "start": p.start.isoformat() if p.start else None,
            "end": p.end.isoformat() if p.end else None,
            "policy_type": p.policy_type,
        }
        got = {k: summary.get(k) for k in want}
        if got != want:
            j.add("register_record_not_the_persons")
    physical = c.kind in (CredentialKind.PAPER_POLICY, CredentialKind.CARD)
    if physical:
        # 2. a genuine signature by a trusted, unrevoked key
        s = c.signed
        if c.kind is CredentialKind.PAPER_POLICY:
            have_key, trusted = setup.paper_key, TRUSTED_PAPER
            signer = mint.paper_signer(s.data, s.signature) if s is not None else None
        else:
            have_key, trusted = setup.card_root, TRUSTED_CARD
            signer = mint.card_signer(s.data, s.signature, s.certificate) if s is not None else None
        if s is None:
            j.add("signature_absent")
        elif have_key:
            if signer != trusted:
                j.add(f"signature_not_genuine_trusted(signer={signer})")
            elif setup.keys_revoked:
                j.add("signer_revoked")
        elif Reason.SIGNATURE_NOT_CHECKED not in v.reasons:
            j.add("unchecked_signature_not_said")
        # 3. the name is the register's
        parts = (c.surname, c.given_name, c.birth_date)
        complete = all(parts)
        if p is not None and complete and setup.match:
            same = p.name_matches(c.surname, c.given_name, c.patronymic) and (
                c.birth_date == p.birth_date
            )
            if not same:
                j.add("holder_not_the_registers")
        elif setup.match and p is not None:
            # a paper policy or card always names its holder: with the key configured, one
            # that leaves out the given name or birth date dodges the comparison
            j.add("holder_incomplete_not_compared")
        elif Reason.HOLDER_NOT_CHECKED not in v.reasons:
            # no key: allowed only if the verdict says the name was not checked
            j.add("holder_not_checked_not_said" + ("" if complete else "(incomplete_holder)"))
        # 4. the document is not revoked, per a fresh source
        carrier = "paper" if c.kind is CredentialKind.PAPER_POLICY else "card"
        if p is not None and p.revoked_carrier == carrier:
            j.add("document_revoked")
        revocation_source = setup.snapshot_revocations_fresh() or registry_counts
        if not revocation_source:
            j.add("no_fresh_revocation_source")
    return j.problems
