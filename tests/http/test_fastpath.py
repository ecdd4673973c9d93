"""``GET /v1/policies/{enp}`` before routing (verifier/http/fastpath.py) answers exactly what the
route answers: status, headers and body, for good requests and for every kind of bad one.

Two apps on one real :class:`Service` over a copy of the demo state (real SQLite, real audit):
one with the fast path, one without; every request goes to both through ASGI and the answers
are compared (a verdict's ``checked_at`` aside: it is the moment of checking). The fast path's
own counter says which requests it answered, so the comparison is not between two Starlettes.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from tests.http.conftest import DESK_TOKEN, KIOSK_TOKEN, MIS_TOKEN, TOKENS_TOML, auth
from tests.http.helpers import conforms
from verifier import config as config_mod
from verifier.devkit import demo
from verifier.http.app import create_app
from verifier.http.fastpath import lookup_query
from verifier.service.api import LookupMode
from verifier.service.core import Service

BAD_CHECKSUM = "5012345678901234"


@pytest.fixture(scope="module")
def states(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, demo.DemoState]
) -> dict[str, Any]:
    """A copy of the demo state, its people, and two configurations of it: the default
    (token-less loopback callers are admin) and ``loopback_role = "none"``."""
    base = tmp_path_factory.mktemp("fastpath")
    state_dir = base / "state"
    shutil.copytree(demo_template[0], state_dir)
    cfgs = {}
    for name, extra in (("open", ""), ("locked", 'loopback_role = "none"\n')):
        conf = base / f"{name}.toml"
        conf.write_text("[http]\nport = 0\n" + extra + TOKENS_TOML, encoding="utf-8")
        cfgs[name] = demo.demo_config(config_mod.load(conf, state_dir))
    return {"cfgs": cfgs, "state_dir": state_dir}


def _people(state_dir: Path, n: int) -> list[str]:
    import csv

    persons = next((state_dir / "demo").rglob("persons.csv"))
    with persons.open(encoding="utf-8") as f:
        return [r["enp"] for r in csv.DictReader(f)][:n]


class Pair:
    """The same service behind two apps: with and without the fast path."""

    def __init__(
        self, service: Service, client: tuple[str, int], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.service, self.loop = service, loop
        self.fast_app = create_app(service)
        self.slow_app = create_app(service, fast_path=False)
        self.client = client

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    @property
    def served(self) -> int:
        served: int = self.fast_app.state.policy_fast_path.served
        return served

    async def ask(
        self, app: Any, method: str, url: str, headers: dict[str, str], root_path: str = ""
    ) -> httpx.Response:
        transport = httpx.ASGITransport(
            app=app, client=self.client, root_path=root_path, raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8471") as c:
            return await c.request(method, url, headers=headers)

    async def both(
        self, method: str, url: str, headers: dict[str, str], root_path: str = ""
    ) -> tuple[httpx.Response, httpx.Response, bool]:
        before = self.served
        fast = await self.ask(self.fast_app, method, url, headers, root_path)
        answered = self.served > before
        slow = await self.ask(self.slow_app, method, url, headers, root_path)
        return fast, slow, answered


def _timeless(verdict: dict[str, Any]) -> dict[str, Any]:
    """A verdict without what depends on the moment it was made."""
    verdict.pop("checked_at")
    if isinstance(verdict.get("snapshot"), dict):
        verdict["snapshot"].pop("age_s", None)
    return verdict


def _same(fast: httpx.Response, slow: httpx.Response) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    fast_body, slow_body = fast.content, slow.content
    fast_headers = [(k, v) for k, v in fast.headers.multi_items() if k != "content-length"]
    slow_headers = [(k, v) for k, v in slow.headers.multi_items() if k != "content-length"]
    assert fast_headers == slow_headers
    if fast.content and fast.headers.get("content-type") == "application/json":
        conforms("Verdict", fast.json())
        assert _timeless(fast.json()) == _timeless(slow.json())
    else:
        assert fast_body == slow_body
        if fast.headers.get("content-type") != "application/json":  # a HEAD's verdict: its size
            assert fast.headers.get("content-length") == slow.headers.get("content-length")


@pytest.fixture
def pair(states: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Pair]:
    name, client = getattr(request, "param", ("open", ("127.0.0.1", 50000)))
    loop = asyncio.new_event_loop()
    service = Service(states["cfgs"][name])
    loop.run_until_complete(service.start())
    try:
        yield Pair(service, client, loop)
    finally:
        loop.run_until_complete(service.stop())
        loop.close()


GOOD: list[tuple[str, dict[str, str]]] = [
    ("?mode=offline", auth(MIS_TOKEN)),
    ("?mode=offline", {}),  # the loopback role (admin) may verify
    ("?mode=offline&fresh=TRUE", auth(MIS_TOKEN)),
    ("?mode=offline&fresh=0", auth(MIS_TOKEN)),
    ("?mode=online&mode=offline", auth(MIS_TOKEN)),  # the last one counts, as Starlette's
    ("?mode=online", auth(MIS_TOKEN)),  # no registry in the demo config: unknown, typed
    ("", auth(MIS_TOKEN)),  # auto
    ("?mode=offline", auth(DESK_TOKEN)),
    ("?mode=offline", {"Authorization": f"bearer   {MIS_TOKEN}  "}),
    ("?mode=offline", {"Origin": "http://127.0.0.1:8471", **auth(MIS_TOKEN)}),
]


@pytest.mark.parametrize(("query", "headers"), GOOD)
def test_good_requests_are_answered_by_the_fast_path_as_by_the_route(
    pair: Pair, states: dict[str, Any], query: str, headers: dict[str, str]
) -> None:
    enps = [*_people(states["state_dir"], 5), BAD_CHECKSUM]
    for enp in enps:
        fast, slow, answered = pair.run(pair.both("GET", f"/v1/policies/{enp}{query}", headers))
        assert answered, (enp, query)
        assert fast.status_code == 200
        _same(fast, slow)


BAD: list[tuple[str, str, dict[str, str]]] = [
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=bogus", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=OFFLINE", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?fresh=yes", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline&x=1", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?access_token={MIS_TOKEN}", {}),
    ("GET", "/v1/policies/501234567890123?mode=offline", auth(MIS_TOKEN)),
    ("GET", "/v1/policies/50123456789012345?mode=offline", auth(MIS_TOKEN)),
    ("GET", "/v1/policies/abcdefghijklmnop", auth(MIS_TOKEN)),
    ("GET", "/v1/policies/%D9%A5%D9%A0" + "1" * 14, auth(MIS_TOKEN)),  # Arabic-Indic digits
    ("GET", f"/v1/policies/{BAD_CHECKSUM}%0A", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}/x", auth(MIS_TOKEN)),
    ("GET", "/v1/policies/", auth(MIS_TOKEN)),
    ("HEAD", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", auth(MIS_TOKEN)),
    ("POST", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", auth(MIS_TOKEN)),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", auth("wrong-token")),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", {"Authorization": "Basic eDp5"}),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", {"Authorization": ""}),
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", auth(KIOSK_TOKEN)),  # 403
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", {"Host": "evil.example"}),  # 421
    ("GET", f"/v1/policies/{BAD_CHECKSUM}?mode=offline", {"Sec-Fetch-Site": "cross-site"}),
]


@pytest.mark.parametrize(("method", "url", "headers"), BAD)
def test_bad_requests_go_on_to_the_route(
    pair: Pair, method: str, url: str, headers: dict[str, str]
) -> None:
    fast, slow, answered = pair.run(pair.both(method, url, headers))
    assert not answered
    assert fast.status_code >= 400 or method == "HEAD", fast.status_code
    _same(fast, slow)


def test_a_root_path_goes_on_to_the_route(pair: Pair) -> None:
    url = f"/base/v1/policies/{BAD_CHECKSUM}?mode=offline"
    fast, slow, answered = pair.run(pair.both("GET", url, auth(MIS_TOKEN), root_path="/base"))
    assert not answered
    _same(fast, slow)


@pytest.mark.parametrize(
    "pair", [("locked", ("127.0.0.1", 50000)), ("open", ("10.1.2.3", 50000))], indirect=True
)
def test_without_a_loopback_role_a_token_is_needed(pair: Pair) -> None:
    url = f"/v1/policies/{BAD_CHECKSUM}?mode=offline"
    fast, slow, answered = pair.run(pair.both("GET", url, {}))
    assert not answered and fast.status_code == 401
    _same(fast, slow)
    fast, slow, answered = pair.run(pair.both("GET", url, auth(MIS_TOKEN)))
    assert answered and fast.status_code == 200
    _same(fast, slow)


def test_a_fast_answer_is_audited_logged_and_timed(pair: Pair, states: dict[str, Any]) -> None:
    enp = _people(states["state_dir"], 1)[0]
    before = pair.service.audit.count()
    # An earlier test may have left the process's logging at WARNING (a daemon started in
    # process with its own [log] level): capture at INFO here, then put it back.
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with structlog.testing.capture_logs() as logs:
            r = pair.run(
                pair.ask(pair.fast_app, "GET", f"/v1/policies/{enp}?mode=offline", auth(MIS_TOKEN))
            )
    finally:
        structlog.configure(**saved)
    assert r.status_code == 200 and pair.served == 1
    rows = pair.service.audit.recent(1)
    assert pair.service.audit.count() == before + 1
    assert (rows[0].who, rows[0].channel, rows[0].enp_masked) == (
        "mis-main",
        "api",
        rows[0].enp_masked,
    )
    assert rows[0].enp_masked is not None and enp not in rows[0].enp_masked
    verified = [e for e in logs if e["event"] == "verified"]
    assert verified and verified[0]["who"] == "mis-main" and verified[0]["channel"] == "api"
    metrics = pair.run(pair.ask(pair.fast_app, "GET", "/metrics", {}))
    assert (
        'oms_http_request_duration_seconds_count{code="200",method="GET",'
        'route="/v1/policies/{enp}"} 1.0' in metrics.text
    )


def test_an_internal_error_is_the_same_500(pair: Pair) -> None:
    """An audit that can no longer take rows: the verification fails, as a 500 problem."""
    pair.service.audit.close()
    url = f"/v1/policies/{BAD_CHECKSUM}?mode=offline"
    fast, slow, answered = pair.run(pair.both("GET", url, auth(MIS_TOKEN)))
    assert answered and fast.status_code == 500
    _same(fast, slow)
    assert fast.json()["code"] == "internal_error"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", (LookupMode.AUTO, False)),
        ("mode=offline", (LookupMode.OFFLINE, False)),
        ("fresh=1&mode=online", (LookupMode.ONLINE, True)),
        ("mode=offline&mode=auto", (LookupMode.AUTO, False)),
        ("mode", None),  # a blank value: LookupMode("") is no mode
        ("mode=offline&other", None),
        ("fresh=2", None),
        ("Mode=offline", None),
    ],
)
def test_lookup_query_reads_as_the_route(
    query: str, expected: tuple[LookupMode, bool] | None
) -> None:
    assert lookup_query(query) == expected
