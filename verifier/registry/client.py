"""The online registry client: async httpx, a time budget per call, retries, a breaker.

* Every call has an end-to-end budget (default 1.5 s for a desk lookup); connect and read
  timeouts are cut to what is left of it.
* Retries with full jitter, only for idempotent calls (GET), only while the budget allows.
* A circuit breaker stops calls to a dead registry and lets one probe through after a while.
* Bodies are streamed and reading stops past a cap (256 KiB a person, 1 MiB a search), within
  one deadline; JSON is parsed depth- and size-bounded (``verifier.safejson``).
* Answers are validated (``protocol.parse_*``) and person answers' signatures verified before
  anything uses them; a registry that sends garbage counts as failing.
* Every person lookup and search sends a fresh random nonce; a signed answer (or signed "not
  found") is used only if it carries that nonce, the exact query, a record matching it and an
  ``answered_at`` within ``max_clock_skew_s`` of the (injectable) clock — else a typed
  refusal (``protocol.check_binding``), so replays and cross-query answers never count.

:class:`RegistryAdapter` is the seam: another protocol (a region's SOAP/HL7 service) is one class.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from cache.register_model import AliasKind
from cache.snapshot_chain import SNAPSHOT_FILE
from verifier.backoff import Backoff, Jitter
from verifier.errors import OmsError
from verifier.registry import protocol
from verifier.registry.breaker import CircuitBreaker
from verifier.registry.protocol import (
    NotFoundAnswer,
    PersonAnswer,
    ProtocolError,
    RegistryProblem,
    SnapshotIndex,
)

# Callable[[PersonAnswer | NotFoundAnswer], bool]; kept loose to avoid a trust import cycle
AnswerVerifier = Any


def _record_missing_sniffio() -> None:
    """httpcore runs ``import sniffio`` each time it sets up a lock or an event, several times
    per request. Without sniffio installed (anyio 4 no longer pulls it in) every one of those
    imports fails after searching all of ``sys.path`` again: about a fifth of the client's CPU
    per lookup (issue 17.4). A ``None`` entry in ``sys.modules`` makes the same import fail at
    once, so httpcore takes its own "not installed" branch (asyncio) as before, only cheaply.
    Only done when sniffio really cannot be found; an installed one is left alone."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # "absent", per importlib


_record_missing_sniffio()


@dataclass(frozen=True, slots=True)
class Reply:
    """A status and a body read within its cap."""

    status: int
    body: bytes


class RegistryUnavailable(OmsError):
    """No usable answer within the budget: down, slow, breaker open, or talking garbage."""

    code = "registry_unavailable"


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    token: str | None = None
    budget_s: float = 1.5  # end to end, for one desk lookup
    connect_timeout_s: float = 0.5
    max_attempts: int = 3
    backoff_base_s: float = 0.05
    breaker_failures: int = 5
    breaker_reset_s: float = 10.0
    max_connections: int = 32
    verify_tls: bool | str = True  # or a CA bundle path
    client_cert: tuple[str, str] | None = None  # mutual TLS: (cert PEM, key PEM)
    download_budget_s: float = 600.0
    max_clock_skew_s: float = 300.0  # answered_at outside now ± this is refused


class RegistryAdapter(Protocol):
    async def lookup_enp(
        self, enp: str, *, budget: float | None = None, now: datetime | None = None
    ) -> PersonAnswer | None: ...
    async def lookup_number(
        self,
        kind: AliasKind,
        number: str,
        *,
        budget: float | None = None,
        now: datetime | None = None,
    ) -> PersonAnswer | None: ...
    async def search(
        self, surname: str, given_name: str, patronymic: str | None, birth_date: date
    ) -> list[PersonAnswer]: ...
    async def server_time(self) -> datetime: ...
    async def snapshot_index(self) -> SnapshotIndex: ...
    async def download(self, name: str, dest: Path) -> int: ...
    async def trust_list(self) -> tuple[bytes, bytes] | None: ...
    async def aclose(self) -> None: ...


class HttpRegistryClient:
    """Protocol v1 over HTTP(S). One instance per process: it pools connections."""

    def __init__(
        self,
        cfg: ClientConfig,
        *,
        verify_answer: AnswerVerifier | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        nonce: Callable[[], str] = protocol.new_nonce,
    ) -> None:
        self.cfg = cfg
        # Full jitter, uncapped: the request's budget is what bounds the retries.
        self._retry = Backoff(cfg.backoff_base_s, float("inf"), jitter=Jitter.FULL)
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._nonce = nonce
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=cfg.breaker_failures, reset_after=cfg.breaker_reset_s
        )
        self._verify_answer = verify_answer
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "oms-verifier",
        }
        if cfg.token:
            headers["Authorization"] = f"Bearer {cfg.token}"
        self._http = httpx.AsyncClient(
            base_url=cfg.base_url.rstrip("/"),
            headers=headers,
            limits=httpx.Limits(
                max_connections=cfg.max_connections, max_keepalive_connections=cfg.max_connections
            ),
            verify=cfg.verify_tls,
            cert=cfg.client_cert,
            transport=transport,
            timeout=httpx.Timeout(cfg.budget_s, connect=cfg.connect_timeout_s),
        )
        self.stats = {
            "requests": 0,
            "retries": 0,
            "failures": 0,
            "breaker_rejections": 0,
            "refused": 0,  # signed answers refused as not bound to the question or the time
            "bytes_read": 0,
        }

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport with budget, retries and breaker ------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        budget: float | None = None,
        idempotent: bool = True,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        cap: int = protocol.MAX_BODY,
    ) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (budget if budget is not None else self.cfg.budget_s)
        attempts = self.cfg.max_attempts if idempotent else 1
        last: str = "no attempt made"
        for attempt in range(attempts):
            remaining = deadline - loop.time()
            if remaining <= 0.005:
                break
            if not self.breaker.allow():
                self.stats["breaker_rejections"] += 1
                raise RegistryUnavailable(
                    f"circuit open after repeated failures ({last}); next probe in "
                    f"{self.breaker.seconds_until_probe():.1f} s",
                    code="registry_breaker_open",
                )
            self.stats["requests"] += 1
            timeout = httpx.Timeout(remaining, connect=min(self.cfg.connect_timeout_s, remaining))
            try:
                # One deadline for the whole exchange: a registry dribbling bytes cannot
                # stretch it (httpx's read timeout is per read, not per answer).
                async with asyncio.timeout(remaining):
                    reply = await self._exchange(method, path, json_body, params, timeout, cap)
                if reply.status >= 500:
                    last = f"HTTP {reply.status}"
                    self._failed()
                else:
                    return reply  # 2xx and 4xx: the registry is alive and answered
            except ProtocolError:
                self._failed()
                raise
            except (TimeoutError, httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}"
                self._failed()
            if attempt + 1 < attempts:
                pause = self._retry.delay(attempt)
                if loop.time() + pause >= deadline:
                    break
                self.stats["retries"] += 1
                await asyncio.sleep(pause)
        raise RegistryUnavailable(f"registry gave no usable answer within the budget ({last})")

    async def _exchange(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: dict[str, str] | None,
        timeout: httpx.Timeout,
        cap: int,
    ) -> Reply:
        """Send, then read the body as a stream and stop past ``cap``: never buffer more.

        The body is read raw (``Accept-Encoding: identity``, anything else refused), so a
        compressed bomb cannot expand behind the count either.
        """
        request = self._http.build_request(
            method, path, json=json_body, params=params, timeout=timeout
        )
        resp = await self._http.send(request, stream=True)
        try:
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise ProtocolError(
                    f"answer is {encoding[:20]}-encoded; only identity is accepted",
                    code="answer_encoding",
                )
            declared = resp.headers.get("content-length")
            if declared is not None and declared.strip().isdigit() and int(declared) > cap:
                raise ProtocolError(
                    f"answer declares {int(declared)} bytes, at most {cap}",
                    code=protocol.TOO_LARGE,
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_raw():
                size += len(chunk)
                self.stats["bytes_read"] += len(chunk)
                if size > cap:
                    raise ProtocolError(
                        f"answer is longer than {cap} bytes; stopped reading",
                        code=protocol.TOO_LARGE,
                    )
                chunks.append(chunk)
            return Reply(resp.status_code, b"".join(chunks))
        finally:
            await resp.aclose()  # unread rest: the connection is dropped, not drained

    def _failed(self) -> None:
        self.stats["failures"] += 1
        self.breaker.record_failure()

    def _answer(self, reply: Reply, parse: Any) -> Any:
        """Parse a 2xx answer; a malformed one counts against the registry's health."""
        try:
            value = parse(reply.body)
        except ProtocolError:
            self._failed()
            raise
        self.breaker.record_success()
        return value

    def _person(
        self, reply: Reply, nonce: str, query: protocol.Query, now: datetime | None = None
    ) -> PersonAnswer | None:
        """A verified answer to exactly this question, None for a verified "not found"."""
        if reply.status == 404:
            problem = protocol.parse_problem(reply.status, reply.body)
            if problem.code != "not_found":
                self.breaker.record_success()
                raise problem
            not_found: NotFoundAnswer = self._answer(reply, protocol.parse_not_found)
            self._check(not_found, nonce, query, now)
            return None
        if reply.status >= 400:
            self.breaker.record_success()
            raise protocol.parse_problem(reply.status, reply.body)
        answer: PersonAnswer = self._answer(reply, protocol.parse_person_answer)
        self._check(answer, nonce, query, now)
        return answer

    def _check(
        self,
        answer: PersonAnswer | NotFoundAnswer,
        nonce: str,
        query: protocol.Query,
        now: datetime | None = None,
    ) -> None:
        """Signature first (a forgery says so), then the binding to question and time."""
        if self._verify_answer is not None and not self._verify_answer(answer):
            self._failed()
            raise ProtocolError(
                "registry answer signature does not verify", code="registry_bad_signature"
            )
        try:
            protocol.check_binding(
                answer,
                nonce=nonce,
                query=query,
                now=now if now is not None else self._clock(),
                max_skew_s=self.cfg.max_clock_skew_s,
            )
        except ProtocolError:
            self.stats["refused"] += 1
            self._failed()
            raise

    # --- calls ----------------------------------------------------------------------------

    async def _lookup(
        self,
        path: str,
        query: protocol.Query,
        params: dict[str, str],
        budget: float | None,
        now: datetime | None,
    ) -> PersonAnswer | None:
        nonce = self._nonce()
        reply = await self._request(
            "GET", path, params={**params, protocol.NONCE_PARAM: nonce}, budget=budget
        )
        return self._person(reply, nonce, query, now)

    async def lookup_enp(
        self, enp: str, *, budget: float | None = None, now: datetime | None = None
    ) -> PersonAnswer | None:
        """``now``: the verification's time (else the client's clock) for the skew check."""
        return await self._lookup(f"/v1/persons/{enp}", protocol.Query.enp(enp), {}, budget, now)

    async def lookup_number(
        self,
        kind: AliasKind,
        number: str,
        *,
        budget: float | None = None,
        now: datetime | None = None,
    ) -> PersonAnswer | None:
        query = protocol.Query.alias(kind, number)
        return await self._lookup("/v1/persons", query, {query.kind: query.number}, budget, now)

    async def search(
        self, surname: str, given_name: str, patronymic: str | None, birth_date: date
    ) -> list[PersonAnswer]:
        body = {
            "surname": surname,
            "given_name": given_name,
            "patronymic": patronymic,  # None: any patronymic (the protocol's meaning)
            "birth_date": birth_date.isoformat(),
        }
        query = protocol.Query(
            "search", protocol.search_digest(surname, given_name, patronymic, birth_date)
        )
        nonce = self._nonce()
        # A search is a read, but it is a POST: never retried (idempotency is not promised).
        reply = await self._request(
            "POST",
            "/v1/persons/search",
            json_body=body,
            params={protocol.NONCE_PARAM: nonce},
            idempotent=False,
            cap=protocol.MAX_SEARCH_BODY,
        )
        if reply.status >= 400:
            self.breaker.record_success()
            raise protocol.parse_problem(reply.status, reply.body)
        answers: list[PersonAnswer] = self._answer(reply, protocol.parse_candidates)
        for a in answers:
            self._check(a, nonce, query)
        return answers

    async def server_time(self) -> datetime:
        reply = await self._request("GET", "/v1/time")
        self._raise_for_problem(reply)
        t: datetime = self._answer(reply, protocol.parse_time)
        return t

    async def snapshot_index(self) -> SnapshotIndex:
        reply = await self._request("GET", "/v1/snapshots")
        self._raise_for_problem(reply)
        idx: SnapshotIndex = self._answer(reply, protocol.parse_snapshot_index)
        return idx

    async def download(self, name: str, dest: Path) -> int:
        """Stream a snapshot file to ``dest``; returns its size. Verified later by the store."""
        if not SNAPSHOT_FILE.match(name):
            raise ProtocolError(f"refusing to download {name!r}")
        if not self.breaker.allow():
            raise RegistryUnavailable("circuit open", code="registry_breaker_open")
        size = 0
        tmp = dest.with_suffix(dest.suffix + ".part")
        try:
            async with self._http.stream(
                "GET", f"/v1/snapshots/{name}", timeout=self.cfg.download_budget_s
            ) as resp:
                if resp.status_code >= 400:
                    body = b""
                    async for chunk in resp.aiter_raw():  # a problem is small: read a little
                        body += chunk
                        if len(body) > protocol.MAX_BODY:
                            body = b""
                            break
                    self.breaker.record_success()
                    raise protocol.parse_problem(resp.status_code, body)
                with tmp.open("wb") as f:
                    async for chunk in resp.aiter_bytes(1 << 20):
                        f.write(chunk)
                        size += len(chunk)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            tmp.unlink(missing_ok=True)
            self._failed()
            raise RegistryUnavailable(f"download of {name} failed: {type(exc).__name__}") from exc
        tmp.replace(dest)
        self.breaker.record_success()
        return size

    async def trust_list(self) -> tuple[bytes, bytes] | None:
        doc = await self._request("GET", "/v1/trust-list")
        if doc.status == 404:
            self.breaker.record_success()
            return None
        self._raise_for_problem(doc)
        sig = await self._request("GET", "/v1/trust-list.sig")
        self._raise_for_problem(sig)
        self.breaker.record_success()
        return doc.body, sig.body

    def _raise_for_problem(self, reply: Reply) -> None:
        if reply.status >= 400:
            self.breaker.record_success()
            raise protocol.parse_problem(reply.status, reply.body)


__all__ = [
    "ClientConfig",
    "HttpRegistryClient",
    "RegistryAdapter",
    "RegistryProblem",
    "RegistryUnavailable",
]
