"""The online registry client: async httpx, a time budget per call, retries, a breaker.

* Every call has an end-to-end budget (default 1.5 s for a desk lookup); connect and read
  timeouts are cut to what is left of it.
* Retries with full jitter, only for idempotent calls (GET), only while the budget allows.
* A circuit breaker stops calls to a dead registry and lets one probe through after a while.
* Answers are validated (``protocol.parse_*``) and person answers' signatures verified before
  anything uses them; a registry that sends garbage counts as failing.

:class:`RegistryAdapter` is the seam: another protocol (a region's SOAP/HL7 service) is one class.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from cache.register_model import AliasKind
from verifier.errors import OmsError
from verifier.registry import protocol
from verifier.registry.breaker import CircuitBreaker
from verifier.registry.protocol import PersonAnswer, ProtocolError, RegistryProblem, SnapshotIndex

AnswerVerifier = Any  # Callable[[PersonAnswer], bool]; kept loose to avoid a trust import cycle


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


class RegistryAdapter(Protocol):
    async def lookup_enp(self, enp: str, *, budget: float | None = None) -> PersonAnswer | None: ...
    async def lookup_number(
        self, kind: AliasKind, number: str, *, budget: float | None = None
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
    ) -> None:
        self.cfg = cfg
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=cfg.breaker_failures, reset_after=cfg.breaker_reset_s
        )
        self._verify_answer = verify_answer
        headers = {"Accept": "application/json", "User-Agent": "oms-verifier"}
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
        self.stats = {"requests": 0, "retries": 0, "failures": 0, "breaker_rejections": 0}

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
    ) -> httpx.Response:
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
                resp = await self._http.request(
                    method, path, json=json_body, params=params, timeout=timeout
                )
                if resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    self._failed()
                elif len(resp.content) > protocol.MAX_BODY and "snapshots/" not in path:
                    last = "oversized answer"
                    self._failed()
                    raise ProtocolError(f"answer of {len(resp.content)} bytes is too large")
                else:
                    return resp  # 2xx and 4xx: the registry is alive and answered
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}"
                self._failed()
            if attempt + 1 < attempts:
                pause = random.uniform(0, self.cfg.backoff_base_s * 2**attempt)  # full jitter
                if loop.time() + pause >= deadline:
                    break
                self.stats["retries"] += 1
                await asyncio.sleep(pause)
        raise RegistryUnavailable(f"registry gave no usable answer within the budget ({last})")

    def _failed(self) -> None:
        self.stats["failures"] += 1
        self.breaker.record_failure()

    def _answer(self, resp: httpx.Response, parse: Any) -> Any:
        """Parse a 2xx answer; a malformed one counts against the registry's health."""
        try:
            value = parse(resp.content)
        except ProtocolError:
            self._failed()
            raise
        self.breaker.record_success()
        return value

    def _person(self, resp: httpx.Response) -> PersonAnswer | None:
        if resp.status_code == 404:
            problem = protocol.parse_problem(resp.status_code, resp.content)
            if problem.code != "not_found":
                raise problem
            self.breaker.record_success()
            return None
        if resp.status_code >= 400:
            self.breaker.record_success()
            raise protocol.parse_problem(resp.status_code, resp.content)
        answer: PersonAnswer = self._answer(resp, protocol.parse_person_answer)
        self._check_signature(answer)
        return answer

    def _check_signature(self, answer: PersonAnswer) -> None:
        if self._verify_answer is not None and not self._verify_answer(answer):
            self._failed()
            raise ProtocolError(
                "registry answer signature does not verify", code="registry_bad_signature"
            )

    # --- calls ----------------------------------------------------------------------------

    async def lookup_enp(self, enp: str, *, budget: float | None = None) -> PersonAnswer | None:
        answer = self._person(await self._request("GET", f"/v1/persons/{enp}", budget=budget))
        if answer is not None and answer.record.enp != enp:
            raise ProtocolError("registry answered about another ENP")
        return answer

    async def lookup_number(
        self, kind: AliasKind, number: str, *, budget: float | None = None
    ) -> PersonAnswer | None:
        key = "temp_cert" if kind is AliasKind.TEMP_CERT else "old_number"
        resp = await self._request("GET", "/v1/persons", params={key: number}, budget=budget)
        return self._person(resp)

    async def search(
        self, surname: str, given_name: str, patronymic: str | None, birth_date: date
    ) -> list[PersonAnswer]:
        body = {
            "surname": surname,
            "given_name": given_name,
            "patronymic": patronymic or "",
            "birth_date": birth_date.isoformat(),
        }
        # A search is a read, but it is a POST: never retried (idempotency is not promised).
        resp = await self._request("POST", "/v1/persons/search", json_body=body, idempotent=False)
        if resp.status_code >= 400:
            self.breaker.record_success()
            raise protocol.parse_problem(resp.status_code, resp.content)
        answers: list[PersonAnswer] = self._answer(resp, protocol.parse_candidates)
        for a in answers:
            self._check_signature(a)
        return answers

    async def server_time(self) -> datetime:
        resp = await self._request("GET", "/v1/time")
        self._raise_for_problem(resp)
        t: datetime = self._answer(resp, protocol.parse_time)
        return t

    async def snapshot_index(self) -> SnapshotIndex:
        resp = await self._request("GET", "/v1/snapshots")
        self._raise_for_problem(resp)
        idx: SnapshotIndex = self._answer(resp, protocol.parse_snapshot_index)
        return idx

    async def download(self, name: str, dest: Path) -> int:
        """Stream a snapshot file to ``dest``; returns its size. Verified later by the store."""
        if not protocol.SNAPSHOT_FILE.match(name):
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
                    body = await resp.aread()
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
        if doc.status_code == 404:
            self.breaker.record_success()
            return None
        self._raise_for_problem(doc)
        sig = await self._request("GET", "/v1/trust-list.sig")
        self._raise_for_problem(sig)
        self.breaker.record_success()
        return doc.content, sig.content

    def _raise_for_problem(self, resp: httpx.Response) -> None:
        if resp.status_code >= 400:
            self.breaker.record_success()
            raise protocol.parse_problem(resp.status_code, resp.content)


__all__ = [
    "ClientConfig",
    "HttpRegistryClient",
    "RegistryAdapter",
    "RegistryProblem",
    "RegistryUnavailable",
]
