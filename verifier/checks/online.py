"""``register_status`` from the online registry, and the per-request fallback policy.

Modes (per request): ``offline`` — the snapshot only; ``online`` — the registry only; ``auto`` —
the snapshot first and the registry when the snapshot cannot answer (absent, expired, another
region, the ENP not in it); with ``fresh`` the registry first. When both answer and disagree,
the registry wins and the disagreement is reported in the verdict.

Only answers the client accepted (signature, nonce, query, record, clock: protocol.check_binding)
reach the cache; a cached answer is as fresh as its TTL and its origin says "cached". A signed
answer also carries the revocation state of the person's paper policy and card, which becomes
``StatusResult.revocation`` for a paper policy or card credential.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from cache.online_cache import OnlineCache
from cache.register_model import AliasKind, Carrier
from verifier.checks.context import CheckContext, LookupMode
from verifier.checks.ports import StatusChecker, StatusResult
from verifier.checks.register import miss, register_summary, revoked_detail, status_check
from verifier.credential import Credential, CredentialKind
from verifier.errors import OmsError
from verifier.registry.client import RegistryAdapter
from verifier.registry.protocol import AnswerClockSkew, PersonAnswer
from verifier.verdict import (
    AnswerSource,
    CheckName,
    CheckResult,
    CheckStatus,
    Disagreement,
    Reason,
    failed,
    passed,
    skipped,
)

T = TypeVar("T")
# Runs a coroutine factory on the client's loop with a timeout (see registry/blocking.py).
Runner = Callable[..., T]


def cache_key(c: Credential) -> str | None:
    if c.enp is not None:
        return f"enp:{c.enp}"
    if c.temp_cert_number is not None:
        return f"temp:{c.temp_cert_number}"
    if c.old_series is not None and c.old_number is not None:
        return f"old:{c.old_series}{c.old_number}"
    return None


class OnlineStatusChecker:
    def __init__(
        self,
        client: RegistryAdapter,
        run: Runner[PersonAnswer | None],
        cache: OnlineCache[PersonAnswer] | None = None,
        budget_s: float = 1.5,
    ) -> None:
        self.client = client
        self.run = run
        self.cache = cache
        self.budget_s = budget_s

    def _ask(self, c: Credential, now: datetime) -> PersonAnswer | None:
        budget = self.budget_s
        if c.enp is not None:
            enp = c.enp
            return self.run(
                lambda: self.client.lookup_enp(enp, budget=budget, now=now), budget + 0.25
            )
        if c.temp_cert_number is not None:
            num = c.temp_cert_number
            return self.run(
                lambda: self.client.lookup_number(AliasKind.TEMP_CERT, num, budget=budget, now=now),
                budget + 0.25,
            )
        old = f"{c.old_series}{c.old_number}"
        return self.run(
            lambda: self.client.lookup_number(AliasKind.OLD_NUMBER, old, budget=budget, now=now),
            budget + 0.25,
        )

    def check_status(self, ctx: CheckContext) -> StatusResult:
        c = ctx.credential
        key = cache_key(c)
        if key is None:
            return StatusResult(
                skipped(CheckName.REGISTER_STATUS, "нет номера для поиска в реестре"),
                AnswerSource.NONE,
            )
        cached = None if ctx.fresh or self.cache is None else self.cache.get(key)
        if cached is not None:
            answer = cached.value
            origin = "онлайн-реестр (из кэша)"
        else:
            try:
                answer = self._ask(c, ctx.now)
            except AnswerClockSkew as exc:
                # Refused, never cached. From the future: this device's clock (or the
                # registry's) is wrong — say so. From the past: a replay or a stale answer.
                reason = Reason.CLOCK_INCONSISTENT if exc.future else Reason.REGISTRY_UNAVAILABLE
                return StatusResult(
                    skipped(
                        CheckName.REGISTER_STATUS,
                        f"онлайн-реестр: ответ отклонён ({exc.code}: {exc.message})",
                        reason,
                    ),
                    AnswerSource.REGISTRY,
                )
            except OmsError as exc:  # ProtocolError, RegistryProblem, RegistryUnavailable…
                return StatusResult(
                    skipped(
                        CheckName.REGISTER_STATUS,
                        f"онлайн-реестр не ответил ({exc.code}: {exc.message})",
                        Reason.REGISTRY_UNAVAILABLE,
                    ),
                    AnswerSource.REGISTRY,
                )
            # Only answers that passed signature and binding checks get here: a refused one
            # raised above and is never cached.
            if self.cache is not None:
                self.cache.put(key, answer)
            origin = "онлайн-реестр"
        if answer is None:
            if c.enp is None:  # an old number or certificate: more likely mistyped than void
                return StatusResult(miss(c, origin), AnswerSource.REGISTRY)
            return StatusResult(
                failed(
                    CheckName.REGISTER_STATUS, Reason.NOT_IN_REGISTER, f"{origin}: полис не найден"
                ),
                AnswerSource.REGISTRY,
            )
        revocation = document_revocation(answer, c, origin)
        origin = f"{origin}, ответ от {answer.answered_at.astimezone(UTC):%d.%m.%Y %H:%M:%S} UTC"
        return StatusResult(
            status_check(answer.record, ctx.today, origin),
            AnswerSource.REGISTRY,
            answered_at=answer.answered_at,
            proof=answer.raw,
            register=register_summary(answer.record),
            record=answer.record,
            revocation=revocation,
        )


_CARRIER = {CredentialKind.PAPER_POLICY: Carrier.PAPER, CredentialKind.CARD: Carrier.CARD}


def document_revocation(answer: PersonAnswer, c: Credential, origin: str) -> CheckResult | None:
    """What the signed answer says of the credential's physical document (None: not one).

    The answer is about the asked ENP (the client checked), and its ``documents`` are signed
    with it, so "not revoked" here is a fresh source's word.
    """
    carrier = _CARRIER.get(c.kind)
    if carrier is None:
        return None
    state = answer.document(carrier)
    if state is None:
        return skipped(
            CheckName.REVOCATION,
            f"{origin}: об отзыве документа не сообщил",
            Reason.REVOCATION_UNKNOWN,
        )
    if not state.revoked:
        return passed(CheckName.REVOCATION, f"{origin}: об утере или отзыве не заявлено")
    return failed(
        CheckName.REVOCATION,
        Reason.DOCUMENT_REVOKED,
        f"{origin}: {revoked_detail(carrier, state.reason, state.since)}",
    )


def _answered(r: StatusResult) -> bool:
    """Did this source actually state a status (rather than say it cannot answer)?"""
    return r.check.status is not CheckStatus.SKIP


def _snapshot_can_answer(r: StatusResult) -> bool:
    """A snapshot miss is no answer: the registry is asked (misses are ``skip``)."""
    return _answered(r)


class FallbackStatusChecker:
    def __init__(self, snapshot: StatusChecker, online: StatusChecker | None) -> None:
        self.snapshot = snapshot
        self.online = online

    def check_status(self, ctx: CheckContext) -> StatusResult:
        if ctx.mode is LookupMode.OFFLINE or self.online is None:
            if ctx.mode is LookupMode.ONLINE:
                return StatusResult(
                    skipped(
                        CheckName.REGISTER_STATUS,
                        "онлайн-реестр не настроен",
                        Reason.REGISTRY_UNAVAILABLE,
                    ),
                    AnswerSource.NONE,
                )
            return self.snapshot.check_status(ctx)
        if ctx.mode is LookupMode.ONLINE:
            return self.online.check_status(ctx)
        if ctx.fresh:
            online = self.online.check_status(ctx)
            local = self.snapshot.check_status(ctx)
            if not _answered(online):
                return _with_note(local, online)
            return _compare(online, local)
        local = self.snapshot.check_status(ctx)
        if _snapshot_can_answer(local):
            return local
        online = self.online.check_status(ctx)
        if _answered(online):
            return _compare(online, local)
        return _with_note(local, online)


def _with_note(kept: StatusResult, failed_online: StatusResult) -> StatusResult:
    """The registry could not answer: keep the snapshot's answer and say why it stands alone."""
    error = failed_online.check.detail
    if _answered(kept):  # the snapshot's answer stands on its own
        return dataclasses.replace(kept, registry_error=error)
    # Neither could answer: the verdict names both (e.g. not_in_snapshot + registry_unavailable)
    tried = skipped(CheckName.REGISTRY, failed_online.check.detail, failed_online.check.reason)
    return dataclasses.replace(kept, registry_error=error, notes=(*kept.notes, tried))


def _compare(online: StatusResult, local: StatusResult) -> StatusResult:
    disagreement = None
    if _answered(local) and (local.check.status, local.check.reason) != (
        online.check.status,
        online.check.reason,
    ):
        disagreement = Disagreement(
            snapshot=local.check.reason.value if local.check.reason else "active",
            registry=online.check.reason.value if online.check.reason else "active",
        )
    return dataclasses.replace(online, snapshot=local.snapshot, disagreement=disagreement)
