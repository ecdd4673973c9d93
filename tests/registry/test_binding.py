"""Registry answers are bound to the question and the time; a hostile registry cannot hurt.

Issue 10, findings 3 (replay, cross-query, clock), 4 (online document revocation), 8 (nested
JSON), 9 (huge bodies). Each attack runs against the real client and pipeline on loopback —
the reference service (with its fault injection), a man in the middle forwarding to it, or a
key holder signing what it likes (tests/registry/hostile.py) — and must end in no `valid`, with
the stable refusal code in the verdict.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cache.register_model import AliasKind, Carrier, PolicyStatus, RegisterRecord
from tests.registry.conftest import NONCE, TOKEN, Register, make_cfg
from tests.registry.hostile import Answer, Asked, HostileRegistry, KeyHolder, json_answer
from verifier.checks.context import CheckContext, LookupMode
from verifier.checks.online import FallbackStatusChecker, OnlineStatusChecker
from verifier.credential import Credential, CredentialKind
from verifier.errors import OmsError
from verifier.registry import protocol
from verifier.registry.client import ClientConfig, HttpRegistryClient
from verifier.registry.protocol import ProtocolError, Query
from verifier.registry.server import ThreadedServer
from verifier.service.assembly import Assembly, answer_verifier, assemble, import_snapshot
from verifier.verdict import CheckStatus, Outcome, Reason, Verdict

AUTH = {"Authorization": f"Bearer {TOKEN}"}
IN_2019 = datetime(2019, 3, 1, 10, 0, tzinfo=UTC)
IN_2099 = datetime(2099, 3, 1, 10, 0, tzinfo=UTC)
OLD_NONCE = "00" * 16  # the nonce of a request made long ago


# --- helpers ------------------------------------------------------------------------------------


def final(register: Register, status: str, **want: str) -> dict[str, str]:
    """A live person (persons.csv is the final state) with ``status`` and ``want`` ("*": set)."""
    return next(
        r
        for r in register.live
        if r["status"] == status
        and all((r[k] != "") if v == "*" else r[k] == v for k, v in want.items())
    )


def record_of(server: ThreadedServer, enp: str) -> RegisterRecord:
    resp = httpx.get(f"{server.url}/v1/persons/{enp}", params={"nonce": NONCE}, headers=AUTH)
    return protocol.parse_person_answer(resp.content).record


def status_of(v: Verdict) -> str:
    return next(c.detail for c in v.checks if c.name == "register_status")


def manual(enp: str) -> Credential:
    return Credential(kind=CredentialKind.MANUAL, enp=enp)


def temp_cert(number: str) -> Credential:
    return Credential(kind=CredentialKind.TEMPORARY_CERTIFICATE, temp_cert_number=number)


def old_policy(number: str) -> Credential:
    return Credential(kind=CredentialKind.OLD_POLICY, old_series=number[:3], old_number=number[3:])


def refused(v: Verdict, code: str, reason: Reason = Reason.REGISTRY_UNAVAILABLE) -> None:
    assert v.outcome is Outcome.UNKNOWN, (v.outcome, v.reasons, status_of(v))
    assert reason in v.reasons, v.reasons
    assert code in status_of(v), status_of(v)


Parts = Callable[..., Assembly]


@pytest.fixture
def parts(tmp_path: Path, register: Register) -> Iterator[Parts]:
    """``parts(url, snapshot=False)``: the daemon's assembled pipeline asking ``url``."""
    made: list[Assembly] = []

    def make(url: str, *, snapshot: bool = False) -> Assembly:
        state = tmp_path / f"state{len(made)}"
        cfg = make_cfg(state, register, url)
        a = assemble(cfg)
        made.append(a)
        if snapshot:
            for f in register.gen.files:
                import_snapshot(cfg, a.store, a.trust, str(f))
        return a

    yield make
    for a in made:
        a.close()


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with HostileRegistry(lambda _a: Answer(500)) as h:
        yield h


@pytest.fixture
def key(register: Register) -> KeyHolder:
    return KeyHolder(register)


@pytest.fixture
def faults(server: ThreadedServer) -> Iterator[Callable[..., None]]:
    def put(**f: Any) -> None:
        assert httpx.put(f"{server.url}/_faults", json=f, headers=AUTH).status_code == 200

    yield put
    httpx.delete(f"{server.url}/_faults", headers=AUTH)


def forward(server: ThreadedServer, rewrite: Callable[[Asked], tuple[str, dict[str, str]]]) -> Any:
    """A man in the middle without the key: rewrites the request, relays the real answer."""

    def handle(asked: Asked) -> Answer:
        path, params = rewrite(asked)
        resp = httpx.get(f"{server.url}{path}", params=params, headers=AUTH)
        return Answer(
            resp.status_code, resp.content, {"Content-Type": resp.headers["content-type"]}
        )

    return handle


def offset_to(when: datetime) -> int:
    return int((when - datetime.now(UTC)).total_seconds())


# --- the reference service binds its answers ---------------------------------------------------


def test_service_signs_nonce_query_alias_and_not_found(
    client: httpx.Client, register: Register
) -> None:
    r = final(register, "active", temp_cert_number="*")
    a = protocol.parse_person_answer(client.get(f"/v1/persons/{r['enp']}").content)
    assert (a.nonce, a.query, a.alias) == (NONCE, Query.enp(r["enp"]), None)
    assert {c for c, _ in a.documents} == set(Carrier)
    resp = client.get("/v1/persons", params={"temp_cert": r["temp_cert_number"]})
    a = protocol.parse_person_answer(resp.content)
    assert a.query == a.alias == Query("temp_cert", r["temp_cert_number"])
    missing = client.get("/v1/persons/0000000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    nf = protocol.parse_not_found(missing.content)
    assert nf.nonce == NONCE and nf.query == Query.enp("0000000000000000")


@pytest.mark.parametrize("nonce", [None, "", "abc", "G" * 32, "0" * 31, "0" * 64])
def test_service_refuses_a_missing_or_malformed_nonce(
    server: ThreadedServer, nonce: str | None
) -> None:
    params = {} if nonce is None else {"nonce": nonce}
    with httpx.Client(base_url=server.url, headers=AUTH, params=params) as c:
        for resp in (
            c.get("/v1/persons/5000000000000000"),
            c.get("/v1/persons", params={"temp_cert": "123456789"}),
            c.post(
                "/v1/persons/search",
                json={"surname": "И", "given_name": "И", "birth_date": "1980-01-01"},
            ),
        ):
            assert resp.status_code == 400 and resp.json()["code"] == "bad_nonce", resp.text


# --- finding 3: replay, clock, cross-query -------------------------------------------------------


@pytest.mark.parametrize(
    ("nonce", "code"), [("old", "answer_nonce_mismatch"), ("echoed", "answer_clock_skew")]
)
def test_2019_answer_saying_active_is_refused(
    parts: Parts,
    hostile: HostileRegistry,
    key: KeyHolder,
    server: ThreadedServer,
    register: Register,
    nonce: str,
    code: str,
) -> None:
    """A genuine 2019 "active" for a person the register has since annulled: replayed verbatim
    (old nonce), or re-dated by a key holder answering this request (echoed nonce)."""
    r = final(register, "annulled")
    active = dataclasses.replace(record_of(server, r["enp"]), status=PolicyStatus.ACTIVE)

    def handle(asked: Asked) -> Answer:
        n = OLD_NONCE if nonce == "old" else asked.params["nonce"]
        return json_answer(
            key.answer(nonce=n, query=Query.enp(r["enp"]), answered_at=IN_2019, record=active)
        )

    hostile.set_handler(handle)
    online = parts(hostile.url)
    refused(online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE), code)
    assert online.cache is not None and len(online.cache) == 0  # a refused answer is not cached
    # Over a fresh snapshot that says annulled, with fresh=true (the registry would win):
    local = parts(hostile.url, snapshot=True)
    v = local.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.AUTO, fresh=True)
    assert v.outcome is Outcome.ANNULLED and v.source == "snapshot", (v.outcome, v.reasons)
    assert code in v.extra["registry_error"]


def test_reference_service_dated_2019_is_refused(
    parts: Parts, server: ThreadedServer, register: Register, faults: Callable[..., None]
) -> None:
    faults(answer_clock_offset_s=offset_to(IN_2019))
    r = final(register, "active")
    v = parts(server.url).pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE)
    refused(v, "answer_clock_skew")
    assert Reason.CLOCK_INCONSISTENT not in v.reasons  # from the past: a replay, not our clock


def test_answer_from_2099_is_clock_inconsistent(
    parts: Parts, server: ThreadedServer, register: Register, faults: Callable[..., None]
) -> None:
    faults(answer_clock_offset_s=offset_to(IN_2099))
    r = final(register, "active")
    online = parts(server.url)
    v = online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE)
    refused(v, "answer_clock_skew", Reason.CLOCK_INCONSISTENT)
    # The same holds for a device whose clock is far behind a correct registry.
    faults()
    behind = dataclasses.replace(
        online.pipeline, clock=lambda: datetime.now(UTC) - timedelta(days=400)
    )
    refused(
        behind.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE),
        "answer_clock_skew",
        Reason.CLOCK_INCONSISTENT,
    )


def test_a_skew_within_the_limit_is_accepted(
    parts: Parts, server: ThreadedServer, register: Register, faults: Callable[..., None]
) -> None:
    faults(answer_clock_offset_s=-120)  # max_clock_skew_s is 300 by default
    r = final(register, "active")
    v = parts(server.url).pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE)
    assert v.outcome is Outcome.VALID and v.source == "registry"


@pytest.mark.parametrize("kind", ["temp_cert", "old_number"])
def test_cross_query_answer_about_another_person_is_refused(
    parts: Parts, hostile: HostileRegistry, server: ThreadedServer, register: Register, kind: str
) -> None:
    """A man in the middle asks about an insured person instead and relays the genuine, signed
    answer (with this request's nonce) to a lookup of someone not insured."""
    field = "temp_cert_number" if kind == "temp_cert" else "old_number"
    asked_row = next(r for r in register.live if r[field] and r["status"] != "active")
    other = final(register, "active", **{field: "*"})
    hostile.set_handler(
        forward(server, lambda a: ("/v1/persons", {kind: other[field], "nonce": a.params["nonce"]}))
    )
    cred = temp_cert(asked_row[field]) if kind == "temp_cert" else old_policy(asked_row[field])
    refused(
        parts(hostile.url).pipeline.verify_credential(cred, mode=LookupMode.ONLINE),
        "answer_query_mismatch",
    )


def test_a_swapped_enp_or_a_signed_not_found_for_another_question_is_refused(
    parts: Parts, hostile: HostileRegistry, server: ThreadedServer, register: Register
) -> None:
    insured, gone = final(register, "active"), register.deleted[0]
    asked_about = final(register, "annulled")
    online = parts(hostile.url)
    for target in (insured["enp"], gone["enp"]):  # a genuine "active", a genuine "not found"

        def to_target(a: Asked, t: str = target) -> tuple[str, dict[str, str]]:
            return f"/v1/persons/{t}", {"nonce": a.params["nonce"]}

        hostile.set_handler(forward(server, to_target))
        v = online.pipeline.verify_credential(manual(asked_about["enp"]), mode=LookupMode.ONLINE)
        refused(v, "answer_query_mismatch")
        assert v.outcome is not Outcome.NOT_INSURED


@pytest.mark.parametrize("kind", ["enp", "temp_cert", "old_number"])
def test_key_holder_record_that_does_not_match_the_query_is_refused(
    parts: Parts,
    hostile: HostileRegistry,
    key: KeyHolder,
    server: ThreadedServer,
    register: Register,
    kind: str,
) -> None:
    """Right nonce, right query, fresh time — but the record is another (insured) person's."""
    field = {"enp": "enp", "temp_cert": "temp_cert_number", "old_number": "old_number"}[kind]
    other = final(register, "active", **({} if kind == "enp" else {field: "*"}))
    asked_row = next(
        r
        for r in register.live
        if r[field] and r["status"] != "active" and r["enp"] != other["enp"]
    )
    rec = record_of(server, other["enp"])
    alias_kind = {"temp_cert": AliasKind.TEMP_CERT, "old_number": AliasKind.OLD_NUMBER}.get(kind)

    def handle(asked: Asked) -> Answer:
        q = (
            Query.enp(asked_row["enp"])
            if alias_kind is None
            else Query.alias(alias_kind, asked_row[field])
        )
        proof = None if alias_kind is None else Query.alias(alias_kind, other[field])
        return json_answer(
            key.answer(
                nonce=asked.params["nonce"],
                query=q,
                answered_at=datetime.now(UTC),
                record=rec,
                alias=proof,
            )
        )

    hostile.set_handler(handle)
    cred = {"enp": manual, "temp_cert": temp_cert, "old_number": old_policy}[kind](asked_row[field])
    refused(
        parts(hostile.url).pipeline.verify_credential(cred, mode=LookupMode.ONLINE),
        "answer_record_mismatch",
    )


def test_a_replay_is_not_cached(
    parts: Parts, hostile: HostileRegistry, server: ThreadedServer, register: Register
) -> None:
    """A genuine answer captured earlier (another request's nonce) is refused and not cached;
    the next lookup asks again and gets the register's real answer."""
    r = final(register, "annulled")
    captured = httpx.get(
        f"{server.url}/v1/persons/{r['enp']}", params={"nonce": OLD_NONCE}, headers=AUTH
    ).content
    hostile.set_handler(lambda _a: Answer(200, captured))
    online = parts(hostile.url)
    refused(
        online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE),
        "answer_nonce_mismatch",
    )
    refused(
        online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE),
        "answer_nonce_mismatch",
    )
    assert len(hostile.asked) == 2 and online.cache is not None and len(online.cache) == 0
    assert online.client is not None and online.client.stats["refused"] == 2
    hostile.set_handler(forward(server, lambda a: (a.path, a.params)))
    v = online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE)
    assert v.outcome is Outcome.ANNULLED and len(hostile.asked) == 3 and len(online.cache) == 1


def test_wrong_nonce_is_refused(
    parts: Parts,
    hostile: HostileRegistry,
    key: KeyHolder,
    server: ThreadedServer,
    register: Register,
) -> None:
    r = final(register, "active")
    rec = record_of(server, r["enp"])

    def flipped(n: str) -> str:
        return ("1" if n[0] == "0" else "0") + n[1:]

    def found(a: Asked) -> Answer:
        return json_answer(
            key.answer(
                nonce=flipped(a.params["nonce"]),
                query=Query.enp(r["enp"]),
                answered_at=datetime.now(UTC),
                record=rec,
            )
        )

    def not_found(a: Asked) -> Answer:
        doc = key.answer(
            nonce=flipped(a.params["nonce"]),
            query=Query.enp(r["enp"]),
            answered_at=datetime.now(UTC),
            record=None,
        )
        return json_answer({**protocol.problem(404, "not_found", "no such person"), **doc}, 404)

    online = parts(hostile.url)
    for handler in (found, not_found):
        hostile.set_handler(handler)
        refused(
            online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE),
            "answer_nonce_mismatch",
        )


def test_old_style_answers_are_refused(
    parts: Parts,
    hostile: HostileRegistry,
    key: KeyHolder,
    server: ThreadedServer,
    register: Register,
) -> None:
    r = final(register, "active")
    rec = record_of(server, r["enp"])
    online = parts(hostile.url)
    # format 1, genuinely signed and fresh: the signature does not bind the question
    hostile.set_handler(lambda _a: json_answer(key.old_style(rec, datetime.now(UTC))))
    refused(
        online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE),
        "answer_old_protocol",
    )
    # format 1's unsigned "not found": not a reason to say "not insured"
    hostile.set_handler(
        lambda _a: json_answer(protocol.problem(404, "not_found", "no such person"), 404)
    )
    v = online.pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE)
    refused(v, "answer_old_protocol")


# --- findings 8, 9: hostile bodies --------------------------------------------------------------


NESTED = b'{"version": "oms-registry-answer/2", "record": ' + b"[" * 8000 + b"]" * 8000 + b"}"


@pytest.mark.parametrize(("status", "code"), [(200, "json_too_deep"), (404, "http_404")])
def test_nested_json_answer_is_a_typed_refusal(
    parts: Parts, hostile: HostileRegistry, register: Register, status: int, code: str
) -> None:
    """8000 nested brackets: a typed refusal (a 404 one is an unusable problem), never a
    RecursionError or a 500."""
    hostile.set_handler(lambda _a: Answer(status, NESTED))
    r = final(register, "active")
    v = parts(hostile.url).pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE)
    refused(v, code)

    async def direct() -> None:
        client = HttpRegistryClient(ClientConfig(hostile.url, budget_s=2))
        try:
            with pytest.raises(OmsError) as exc:
                await client.lookup_enp(r["enp"])
        finally:
            await client.aclose()
        assert exc.value.code == code
        assert not isinstance(exc.value.__cause__, RecursionError)

    asyncio.run(direct())


HUGE = 300 * 1024 * 1024


def _huge() -> Iterator[bytes]:
    chunk = b" " * 65536
    for _ in range(HUGE // len(chunk)):
        yield chunk


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_a_300_mb_answer_is_cut_off_while_streaming(
    hostile: HostileRegistry, register: Register, declared: bool
) -> None:
    """The client stops reading past its cap: the bytes it read and the bytes the server could
    push into the socket stay bounded, and so does the client's memory (tracemalloc peak)."""
    if declared:
        hostile.set_handler(
            lambda _a: Answer(
                200, _huge(), {"Content-Type": "application/json", "Content-Length": str(HUGE)}
            )
        )
    else:
        hostile.set_handler(lambda _a: Answer(200, _huge(), chunked=True))
    enp = final(register, "active")["enp"]

    async def run() -> tuple[ProtocolError, dict[str, int]]:
        client = HttpRegistryClient(ClientConfig(hostile.url, budget_s=5, max_attempts=1))
        try:
            with pytest.raises(ProtocolError) as exc:
                await client.lookup_enp(enp)
            return exc.value, dict(client.stats)
        finally:
            await client.aclose()

    tracemalloc.start()
    try:
        err, stats = asyncio.run(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.code == "answer_too_large"
    assert stats["bytes_read"] <= protocol.MAX_BODY + 2 * 65536
    assert peak < 16 * 1024 * 1024, peak
    assert hostile.sent < 64 * 1024 * 1024, hostile.sent  # the kernel's buffers, not 300 MB


def test_a_huge_answer_gives_unknown(
    parts: Parts, hostile: HostileRegistry, register: Register
) -> None:
    hostile.set_handler(lambda _a: Answer(200, _huge(), chunked=True))
    r = final(register, "active")
    refused(
        parts(hostile.url).pipeline.verify_credential(manual(r["enp"]), mode=LookupMode.ONLINE),
        "answer_too_large",
    )


# --- finding 4: the online answer says whether the physical document is revoked -----------------


def _online_checker(a: Assembly) -> OnlineStatusChecker:
    status = a.pipeline.status
    assert isinstance(status, FallbackStatusChecker) and isinstance(
        status.online, OnlineStatusChecker
    )
    return status.online


@pytest.mark.parametrize(
    ("carrier", "kind"), [("paper", CredentialKind.PAPER_POLICY), ("card", CredentialKind.CARD)]
)
def test_online_answer_carries_document_revocation(
    parts: Parts, server: ThreadedServer, register: Register, carrier: str, kind: CredentialKind
) -> None:
    revoked = next(r for r in register.live if r["revoked_carrier"] == carrier)
    clean = next(
        r for r in register.live if r["policy_type"] == carrier and not r["revoked_carrier"]
    )
    checker = _online_checker(parts(server.url))
    now = datetime.now(UTC)

    def check(enp: str, k: CredentialKind = kind) -> Any:
        ctx = CheckContext(Credential(kind=k, enp=enp), now, mode=LookupMode.ONLINE)
        return checker.check_status(ctx)

    bad = check(revoked["enp"])
    assert bad.record is not None and bad.record.enp == revoked["enp"]
    assert bad.revocation is not None and bad.revocation.name == "revocation"
    assert bad.revocation.status is CheckStatus.FAIL
    assert bad.revocation.reason is Reason.DOCUMENT_REVOKED
    good = check(clean["enp"])
    assert good.revocation is not None and good.revocation.status is CheckStatus.PASS
    assert "онлайн-реестр: об утере или отзыве не заявлено" in good.revocation.detail
    # from the cache the state is the same, and it says so
    again = check(revoked["enp"])
    assert again.revocation is not None and again.revocation.reason is Reason.DOCUMENT_REVOKED
    assert "из кэша" in again.revocation.detail
    # not a physical document: nothing to say
    assert check(clean["enp"], CredentialKind.MANUAL).revocation is None
    other = "card" if carrier == "paper" else "paper"
    cross = check(
        revoked["enp"], {"paper": CredentialKind.PAPER_POLICY, "card": CredentialKind.CARD}[other]
    )
    assert cross.revocation is not None and cross.revocation.status is CheckStatus.PASS


def test_revocation_is_signed_with_the_answer(
    parts: Parts, hostile: HostileRegistry, server: ThreadedServer, register: Register
) -> None:
    """A man in the middle flipping "revoked" to false breaks the signature."""
    revoked = next(r for r in register.live if r["revoked_carrier"] == "paper")

    def handle(a: Asked) -> Answer:
        resp = httpx.get(f"{server.url}{a.path}", params=a.params, headers=AUTH)
        doc = resp.json()
        assert doc["documents"]["paper"]["revoked"] is True
        doc["documents"]["paper"] = {"revoked": False, "since": None, "reason": None}
        return json_answer(doc)

    hostile.set_handler(handle)
    checker = _online_checker(parts(hostile.url))
    ctx = CheckContext(
        Credential(kind=CredentialKind.PAPER_POLICY, enp=revoked["enp"]),
        datetime.now(UTC),
        mode=LookupMode.ONLINE,
    )
    res = checker.check_status(ctx)
    assert (
        res.check.reason is Reason.REGISTRY_UNAVAILABLE
        and "registry_bad_signature" in res.check.detail
    )
    assert res.revocation is None


# --- the binding check itself ------------------------------------------------------------------


def test_check_binding_tells_past_from_future(register: Register, server: ThreadedServer) -> None:
    r = final(register, "active")
    answer = protocol.parse_person_answer(
        httpx.get(
            f"{server.url}/v1/persons/{r['enp']}", params={"nonce": NONCE}, headers=AUTH
        ).content
    )
    q = Query.enp(r["enp"])
    protocol.check_binding(answer, nonce=NONCE, query=q, now=answer.answered_at, max_skew_s=300)
    for shift, future in ((timedelta(seconds=-301), True), (timedelta(seconds=301), False)):
        with pytest.raises(protocol.AnswerClockSkew) as exc:
            protocol.check_binding(
                answer, nonce=NONCE, query=q, now=answer.answered_at + shift, max_skew_s=300
            )
        assert exc.value.future is future and exc.value.code == "answer_clock_skew"
    assert r["enp"] not in str(exc.value)  # no ENP in a message that reaches logs


def test_signed_answers_verify_with_the_trust_store(
    parts: Parts, server: ThreadedServer, register: Register
) -> None:
    verify = answer_verifier(parts(server.url).trust)
    resp = httpx.get(
        f"{server.url}/v1/persons/0000000000000000", params={"nonce": NONCE}, headers=AUTH
    )
    assert verify(protocol.parse_not_found(resp.content))  # type: ignore[operator]
    r = final(register, "active")
    resp = httpx.get(f"{server.url}/v1/persons/{r['enp']}", params={"nonce": NONCE}, headers=AUTH)
    answer = protocol.parse_person_answer(resp.content)
    assert verify(answer)  # type: ignore[operator]
    assert not verify(dataclasses.replace(answer, nonce=OLD_NONCE))  # type: ignore[operator]
