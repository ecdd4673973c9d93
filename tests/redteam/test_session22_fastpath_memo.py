"""Red team, session 22: the fast path's memo of accepted callers (447dea8,
``PolicyFastPath._accepted`` in verifier/http/fastpath.py).

The memo maps ``(client address, *header pairs)`` to the caller the Host/Origin gate and the
token check accepted, for one configuration and port. It is a cache of a pure function of
those inputs, so it is only as safe as (a) its reset on a reload and (b) its key: every input
the two checks read must be in it. Pinned here, each as a request the full checks refuse (or
would mask) sent right after the memo took a near twin: a reload that drops the loopback
role, re-roles a token to kiosk or drops an allowed host name; the same headers from no
address or another one; two ``Authorization`` headers either way round; a kiosk token beside
a remembered desk one; header values of another type; and nothing of it in the logs.

The one finding: what the memo keeps is bounded in entries but not in size. A head of many
tiny headers (h11 takes ~4,000 in its 16 KiB) is kept whole, ~375 KiB of Python objects per
entry, so any accepted caller — with the default ``loopback_role``, any local process —
pins ~24 MiB in 64 entries that a MIS's own remembered head never evicts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.http.conftest import DESK_TOKEN, KIOSK_TOKEN, MIS_TOKEN, TOKENS_TOML, auth
from tests.http.helpers import policy_scope as _scope
from tests.http.test_fastpath import Pair, _people, _same, pair, states
from verifier import config as config_mod
from verifier.config import Config, ConfigError, Role
from verifier.devkit import demo
from verifier.http.auth import Caller
from verifier.http.fastpath import ApiApp
from verifier.service.core import Service

__all__ = ["pair", "states"]

# A MIS's head has a dozen headers; anything remembered beyond this is an attacker's.
GENEROUS_HEAD = 64


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoState]:
    """A small demo state for this module (the ``states`` fixture copies it)."""
    state_dir = tmp_path_factory.mktemp("s22-memo-demo")
    return state_dir, demo.ensure_demo(Config(state_dir=state_dir), persons=200)


def _cfg(states: dict[str, Any], name: str, http: str) -> Config:
    conf = Path(states["state_dir"]).parent / f"s22-{name}.toml"
    conf.write_text("[http]\nport = 0\n" + http, encoding="utf-8")
    return demo.demo_config(config_mod.load(conf, states["state_dir"]))


@pytest.fixture
def hosts_pair(states: dict[str, Any]) -> Iterator[Pair]:
    """No loopback role, one extra allowed host name, the usual tokens."""
    cfg = _cfg(
        states, "hosts", 'loopback_role = "none"\nallowed_hosts = ["desk-3.clinic"]\n' + TOKENS_TOML
    )
    loop = asyncio.new_event_loop()
    service = Service(cfg)
    loop.run_until_complete(service.start())
    try:
        yield Pair(service, ("127.0.0.1", 50000), loop)
    finally:
        loop.run_until_complete(service.stop())
        loop.close()


def _url(states: dict[str, Any]) -> str:
    return f"/v1/policies/{_people(states['state_dir'], 1)[0]}?mode=offline"


def _memo(app: ApiApp) -> dict[tuple[object, ...], Caller]:
    assert app.fast_path is not None
    return app.fast_path._accepted[-1]


async def _call(app: Any, scope: dict[str, Any]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def _both_raw(
    pair: Pair, enp: str, headers: list[Any], client: tuple[str, int] | None
) -> tuple[int, int, bool]:
    """The fast app's status, the stack's status, and whether the fast path answered."""
    before = pair.served
    fast, _ = pair.run(_call(pair.fast_app, _scope(enp, list(headers), client)))
    answered = pair.served > before
    slow, _ = pair.run(_call(pair.slow_app, _scope(enp, list(headers), client)))
    return fast, slow, answered


HOST = (b"host", b"127.0.0.1:8471")


def _bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


# -- the finding -------------------------------------------------------------------------------


def test_a_head_of_many_tiny_headers_is_not_remembered_whole(
    pair: Pair, states: dict[str, Any]
) -> None:
    """2,000 empty ``x-a`` headers (~12 KiB on the wire, within h11's 16 KiB head) from an accepted
    caller: served, but what the memo keeps of one request stays a MIS's head in size, so 64
    such heads cannot pin tens of MiB for as long as the MIS's own entry keeps hitting."""
    enp = _people(states["state_dir"], 1)[0]
    headers = [HOST, _bearer(MIS_TOKEN), *[(b"x-a", b"")] * 2000]
    before = pair.served
    for _ in range(2):
        status, _ = pair.run(_call(pair.fast_app, _scope(enp, headers)))
        assert status == 200
    assert pair.served == before + 2
    kept = max((len(key) - 1 for key in _memo(pair.fast_app)), default=0)
    assert kept <= GENEROUS_HEAD, f"{kept} header pairs kept for one request"


# -- reloads -----------------------------------------------------------------------------------


def test_a_reload_to_no_loopback_role_forgets_the_loopback_caller(
    pair: Pair, states: dict[str, Any]
) -> None:
    url = _url(states)
    for _ in range(2):  # found, then remembered
        fast, _, answered = pair.run(pair.both("GET", url, {}))
        assert answered and fast.status_code == 200
    pair.run(pair.service.reload(states["cfgs"]["locked"]))
    fast, slow, answered = pair.run(pair.both("GET", url, {}))
    assert not answered and fast.status_code == 401
    _same(fast, slow)


def test_a_reload_re_roling_a_token_to_kiosk_is_obeyed_and_masks(
    pair: Pair, states: dict[str, Any]
) -> None:
    """The same token string, the same name, now a kiosk's: no verify (403), so never the
    MIS's unmasked verdict the memo held."""
    url = _url(states)
    for _ in range(2):
        fast, _, answered = pair.run(pair.both("GET", url, auth(MIS_TOKEN)))
        assert answered and fast.status_code == 200
    re_roled = TOKENS_TOML.replace(
        f'name = "mis-main"\ntoken = "{MIS_TOKEN}"\nrole = "mis"',
        f'name = "mis-main"\ntoken = "{MIS_TOKEN}"\nrole = "kiosk"',
    )
    assert re_roled != TOKENS_TOML
    pair.run(pair.service.reload(_cfg(states, "re-roled", re_roled)))
    fast, slow, answered = pair.run(pair.both("GET", url, auth(MIS_TOKEN)))
    assert not answered and fast.status_code == 403
    _same(fast, slow)
    assert "holder" not in fast.text and _people(states["state_dir"], 1)[0] not in fast.text


def test_a_reload_dropping_an_allowed_host_forgets_requests_naming_it(
    hosts_pair: Pair, states: dict[str, Any]
) -> None:
    pair = hosts_pair
    url = _url(states)
    named = {"Host": "desk-3.clinic", **auth(DESK_TOKEN)}
    for _ in range(2):
        fast, _, answered = pair.run(pair.both("GET", url, named))
        assert answered and fast.status_code == 200
    pair.run(
        pair.service.reload(_cfg(states, "no-hosts", 'loopback_role = "none"\n' + TOKENS_TOML))
    )
    fast, slow, answered = pair.run(pair.both("GET", url, named))
    assert not answered and fast.status_code == 421
    _same(fast, slow)


def test_the_configuration_cannot_change_in_place(pair: Pair) -> None:
    """The memo is dropped when the configuration object (or its value) changes; a reload
    always brings a new frozen one, never an edit of the one the memo was made for."""
    http = pair.service.cfg.http
    with pytest.raises(dataclasses.FrozenInstanceError):
        http.loopback_role = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        http.tokens[0].role = Role.ADMIN  # type: ignore[misc]
    assert isinstance(http.tokens, tuple) and isinstance(http.allowed_hosts, tuple)


# -- the client address ------------------------------------------------------------------------


def test_the_loopback_caller_is_not_given_to_a_client_without_an_address_or_another_one(
    pair: Pair, states: dict[str, Any]
) -> None:
    """Token-less from 127.0.0.1 is the loopback role (admin here); the very same header list
    from no address, or from a non-loopback spelling, is whatever the full checks say."""
    enp = _people(states["state_dir"], 1)[0]
    headers = [HOST]
    for _ in range(2):
        fast, slow, answered = _both_raw(pair, enp, headers, ("127.0.0.1", 50000))
        assert answered and fast == slow == 200
    for client in (None, ("", 0), ("localhost.", 1), ("::ffff:127.0.0.1", 1), ("10.0.0.1", 1)):
        fast, slow, answered = _both_raw(pair, enp, headers, client)
        assert fast == slow, client
        assert answered == (fast == 200), client
    fast, slow, answered = _both_raw(pair, enp, headers, None)
    assert not answered and fast == slow == 401
    fast, slow, answered = _both_raw(pair, enp, headers, ("::1", 50000))  # loopback too
    assert answered and fast == slow == 200


# -- header lists ------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", [("locked", ("127.0.0.1", 50000))], indirect=True)
def test_two_authorization_headers_the_first_counts_remembered_or_not(
    pair: Pair, states: dict[str, Any]
) -> None:
    """As Starlette's ``Headers.get``: the first one. A remembered [good, bad] admits
    neither [bad, good] nor [bad]."""
    enp = _people(states["state_dir"], 1)[0]
    good, bad = _bearer(MIS_TOKEN), _bearer(MIS_TOKEN[:-1] + "x")
    for _ in range(2):
        fast, slow, answered = _both_raw(pair, enp, [HOST, good, bad], ("127.0.0.1", 1))
        assert answered and fast == slow == 200
    for headers, code in (
        ([HOST, bad, good], 401),
        ([HOST, bad], 401),
        ([HOST, good, bad, (b"host", b"evil.example")], 421),
        ([HOST, (b"authorization", b"Basic " + MIS_TOKEN.encode()), good], 401),
        ([HOST, (b"Authorization", f"Bearer {MIS_TOKEN}".encode())], 401),  # not the name
    ):
        fast, slow, answered = _both_raw(pair, enp, headers, ("127.0.0.1", 1))
        assert not answered and fast == slow == code, headers


def test_a_remembered_desk_token_is_no_kiosks(pair: Pair, states: dict[str, Any]) -> None:
    """The desk's unmasked verdict is remembered by its whole header list; a kiosk token with
    every other header the same is refused by the full checks, and no kiosk is remembered."""
    url = _url(states)
    extra = {"Sec-Fetch-Site": "same-origin", "User-Agent": "desk"}
    for _ in range(2):
        fast, slow, answered = pair.run(pair.both("GET", url, {**extra, **auth(DESK_TOKEN)}))
        assert answered and fast.status_code == 200
        _same(fast, slow)
    for _ in range(2):
        fast, slow, answered = pair.run(pair.both("GET", url, {**extra, **auth(KIOSK_TOKEN)}))
        assert not answered and fast.status_code == 403
        _same(fast, slow)
    memo = _memo(pair.fast_app)
    assert memo and all(c.may("verify") and not c.is_kiosk for c in memo.values())


@pytest.mark.parametrize("pair", [("locked", ("127.0.0.1", 50000))], indirect=True)
def test_header_values_of_another_type_take_the_full_checks(
    pair: Pair, states: dict[str, Any]
) -> None:
    """A bytearray equals bytes but cannot be a key: the request is checked, not looked up,
    so a wrong token in one is refused even right after the right one was remembered."""
    enp = _people(states["state_dir"], 1)[0]
    right = f"Bearer {MIS_TOKEN}".encode()
    fast, slow, answered = _both_raw(pair, enp, [HOST, (b"authorization", right)], ("::1", 1))
    assert answered and fast == slow == 200
    as_array = [HOST, (b"authorization", bytearray(right))]
    fast, _, answered = _both_raw(pair, enp, as_array, ("::1", 1))
    assert answered and fast == 200
    wrong = [HOST, (b"authorization", bytearray(right[:-1] + b"x"))]
    fast, slow, answered = _both_raw(pair, enp, wrong, ("::1", 1))
    assert not answered and fast == slow == 401
    kept = [p for key in _memo(pair.fast_app) for p in key[1:]]
    assert kept and all(isinstance(p, tuple) and type(p[1]) is bytes for p in kept)


# -- what is kept is never said ----------------------------------------------------------------


def test_the_remembered_headers_are_never_logged(pair: Pair, states: dict[str, Any]) -> None:
    """The memo holds whole header lists (a token, whatever a MIS adds); neither the miss
    that fills it nor the hit that uses it writes any of them to a log."""
    url = _url(states)
    secret_header = "Ivanov Ivan Ivanovich 1980-01-02"
    headers = {"X-Patient": secret_header, **auth(MIS_TOKEN)}
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                r = pair.run(pair.ask(pair.fast_app, "GET", url, headers))
                assert r.status_code == 200
    finally:
        structlog.configure(**saved)
    assert pair.served == 3 and logs
    text = repr(logs)
    assert MIS_TOKEN not in text
    assert secret_header not in text and "X-Patient" not in text and "x-patient" not in text


# -- the reload the memo follows -----------------------------------------------------------------


def test_a_reload_that_fails_leaves_the_running_http_configuration(
    pair: Pair, states: dict[str, Any]
) -> None:
    """The daemon says "reload failed; keeping the running configuration" when the new one
    cannot be assembled (here: its name-hash key file is missing). The HTTP checks, and so the
    fast path's memo, follow ``Service.cfg``: it must still be the running one, not the new
    file's tokens, loopback role and host names beside the old pipeline."""
    url = _url(states)
    fast, _, answered = pair.run(pair.both("GET", url, {}))
    assert answered and fast.status_code == 200  # token-less loopback: admin
    locked = states["cfgs"]["locked"]
    broken = dataclasses.replace(
        locked,
        register=dataclasses.replace(
            locked.register, match_key_file=Path(states["state_dir"]) / "no-such.key"
        ),
    )
    with pytest.raises(ConfigError):
        pair.run(pair.service.reload(broken))
    assert pair.service.cfg.source == states["cfgs"]["open"].source  # the running file
    fast, slow, answered = pair.run(pair.both("GET", url, {}))
    assert answered and fast.status_code == 200
    _same(fast, slow)
