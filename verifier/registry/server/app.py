"""The reference registry service: a Starlette app speaking protocol v1.

See docs/registry-service.md for the operator's view and docs/registry-openapi.yaml for the wire.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cache.name_hash import normalize_name
from cache.register_model import AliasKind, RegisterRecord
from verifier import safejson
from verifier.crypto import hashes
from verifier.crypto.signatures import sign_digest
from verifier.registry import protocol
from verifier.registry.protocol import (
    API_PREFIX,
    MAX_CANDIDATES,
    PROBLEM_TYPE,
    Query,
    problem,
    snapshot_index_to_wire,
)

from .config import ServerConfig
from .data import RegistryData, ServerSetupError, load_registry_data
from .faults import CLOCK_OFFSET, WRONG_SIGNATURE, FaultInjector
from .stores import RegistryStore, open_store

_ENP = re.compile(r"^\d{16}$")
_TEMP_CERT = re.compile(r"^\d{1,20}$")  # after protocol.normalize_number
_OLD_NUMBER = re.compile(r"^[0-9A-ZА-Я]{1,32}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_MAX = 200
_DOCS = Path(__file__).resolve().parents[3] / "docs" / "registry-openapi.yaml"
_STATUS_CODES = {
    400: "bad_request",  # also bad_enp, bad_query, bad_nonce from the endpoints
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "bad_request",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_TYPE


def problem_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    return ProblemResponse(problem(status, code, detail), status_code=status, headers=headers)


def load_openapi() -> bytes | None:
    """The packaged ``openapi.yaml`` (canonical copy), else the repository's docs copy."""
    try:
        return resources.files(__package__).joinpath("openapi.yaml").read_bytes()
    except (FileNotFoundError, OSError):
        try:
            return _DOCS.read_bytes()
        except OSError:
            return None


class Authorizer:
    """The Bearer token check; no tokens means auth is off (``--insecure-no-auth``)."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    def deny(self, scope: Scope) -> Response | None:
        """None when ``scope`` carries an accepted token (or auth is off), else a 401."""
        if not self._tokens:
            return None
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, cred = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = cred.strip()
                break
        ok = False
        for token in self._tokens:  # compare with every token: time does not tell which
            ok |= hmac.compare_digest(given, token)
        if ok and given:
            return None
        return problem_response(
            401,
            "unauthorized",
            "a valid Bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="oms-registry"'},
        )


def is_public_national(scope: Scope) -> bool:
    """A GET/HEAD of one national file (``/v1/national/NAME``, no further slash): the route a
    deployment may open to a CDN with ``public_national`` — the files are signed and immutable,
    and the desk trusts them only after the signature check."""
    path = scope["path"]
    prefix = API_PREFIX + "/national/"
    return (
        scope.get("method") in ("GET", "HEAD")
        and path.startswith(prefix)
        and "/" not in path[len(prefix) :]
        and len(path) > len(prefix)
    )


class BearerAuth:
    """ASGI middleware: everything under /v1 needs ``Authorization: Bearer <token>`` (the
    national files too, unless ``public_national``)."""

    def __init__(self, app: ASGIApp, authorizer: Authorizer, public_national: bool = False) -> None:
        self.app = app
        self.authorizer = authorizer
        self.public_national = public_national

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (scope["path"] == API_PREFIX or scope["path"].startswith(API_PREFIX + "/"))
            and not (self.public_national and is_public_national(scope))
        ):
            denied = self.authorizer.deny(scope)
            if denied is not None:
                await denied(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Registry:
    """The endpoints; blocking work (store lookups, GOST signing) runs in the thread pool."""

    def __init__(self, config: ServerConfig, data: RegistryData, store: RegistryStore) -> None:
        self.config = config
        self.data = data
        self.store = store
        self.openapi = load_openapi()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # --- answers ---------------------------------------------------------------------------

    def sign(
        self,
        query: Query,
        nonce: str,
        record: RegisterRecord | None,
        *,
        alias: Query | None = None,
        documents: protocol.Documents = (),
        wrong: bool = False,
        offset_s: int = 0,
    ) -> dict[str, Any]:
        """A signed answer (format 2) to ``query`` with the client's ``nonce``; record None is
        the signed "not found". ``wrong``/``offset_s`` are fault injection only."""
        answered_at = self.clock() + timedelta(seconds=offset_s)
        fields: dict[str, Any] = {
            "nonce": nonce,
            "query": query,
            "answered_at": answered_at,
            "record": record,
            "alias": alias,
            "documents": documents,
        }
        payload = protocol.signed_payload(**fields)
        if wrong:  # fault injection: a well-formed signature over other bytes
            payload += b"\n"
        signature = sign_digest(self.data.signing_key, hashes.digest(hashes.STREEBOG256, payload))
        return protocol.answer_to_wire(**fields, key_id=self.data.key_id, signature=signature)

    def _found(self, query: Query, nonce: str, record: RegisterRecord, **kw: Any) -> dict[str, Any]:
        return self.sign(
            query,
            nonce,
            record,
            documents=protocol.documents_of(self.store.document_revocations(record.enp)),
            **kw,
        )

    @staticmethod
    def _faults(request: Request) -> dict[str, Any]:
        state = request.scope.get("state", {})
        return {
            "wrong": bool(state.get(WRONG_SIGNATURE)),
            "offset_s": int(state.get(CLOCK_OFFSET, 0)),
        }

    @staticmethod
    def _nonce(request: Request) -> str | None:
        given = request.query_params.getlist(protocol.NONCE_PARAM)
        return given[0] if len(given) == 1 and protocol.valid_nonce(given[0]) else None

    async def _person(
        self,
        request: Request,
        query: Query,
        find: Callable[[], RegisterRecord | None],
        *,
        alias: bool = False,
    ) -> Response:
        nonce = self._nonce(request)
        if nonce is None:
            return _bad_nonce()
        faults = self._faults(request)

        def work() -> dict[str, Any]:
            record = find()
            if record is None:
                return self.sign(query, nonce, None, **faults)
            return self._found(query, nonce, record, alias=query if alias else None, **faults)

        doc = await run_in_threadpool(work)
        headers = {"Cache-Control": "no-store"}
        if not doc["found"]:
            body = {**problem(404, "not_found", "no such person in the register"), **doc}
            return ProblemResponse(body, status_code=404, headers=headers)
        return JSONResponse(doc, headers=headers)

    # --- endpoints -------------------------------------------------------------------------

    async def time(self, request: Request) -> Response:
        return JSONResponse(
            {"now": self.clock().isoformat()}, headers={"Cache-Control": "no-store"}
        )

    async def ping(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def person(self, request: Request) -> Response:
        enp = request.path_params["enp"]
        if not _ENP.match(enp):
            return problem_response(400, "bad_enp", "an ENP is exactly 16 digits")
        return await self._person(request, Query.enp(enp), lambda: self.store.by_enp(enp))

    async def person_by_alias(self, request: Request) -> Response:
        q = request.query_params
        temp, old = q.getlist("temp_cert"), q.getlist("old_number")
        if len(temp) + len(old) != 1:
            return problem_response(
                400, "bad_query", "give exactly one of temp_cert=NUMBER or old_number=SERIESNUMBER"
            )
        if temp:
            kind = AliasKind.TEMP_CERT
            number = protocol.normalize_number(kind, temp[0])
            valid = _TEMP_CERT.match(number)
        else:
            kind = AliasKind.OLD_NUMBER
            number = protocol.normalize_number(kind, old[0])
            valid = _OLD_NUMBER.match(number)
        if not valid:
            return problem_response(400, "bad_query", f"{kind.name.lower()} is malformed")
        query = Query.alias(kind, number)
        return await self._person(
            request, query, lambda: self.store.by_alias(kind, number), alias=True
        )

    async def search(self, request: Request) -> Response:
        limit = self.config.max_body
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return problem_response(413, "too_large", f"the body is limited to {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return problem_response(413, "too_large", f"the body is limited to {limit} bytes")
            chunks.append(chunk)
        nonce = self._nonce(request)
        if nonce is None:
            return _bad_nonce()
        try:
            names = _search_query(b"".join(chunks))
        except ValueError as exc:
            return problem_response(422, "bad_request", str(exc))
        query = Query("search", protocol.search_digest(*names))
        faults = self._faults(request)

        def work() -> list[dict[str, Any]]:
            found = self.store.search(*names, MAX_CANDIDATES)[:MAX_CANDIDATES]
            return [self._found(query, nonce, r, **faults) for r in found]

        found = await run_in_threadpool(work)
        return JSONResponse({"candidates": found}, headers={"Cache-Control": "no-store"})

    async def snapshots(self, request: Request) -> Response:
        return JSONResponse(snapshot_index_to_wire(self.data.index))

    async def snapshot_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = self.data.snapshot_path(name)
        if path is None:
            return problem_response(404, "not_found", f"no snapshot file {name!r}")
        return FileResponse(path, media_type="application/octet-stream")

    async def national_file(self, request: Request) -> Response:
        """National parts and regional deltas as static files: ETag, Last-Modified and byte
        ranges (206) come from FileResponse, so downloads resume and any cache can front them.
        Part and delta names carry their sequence and never change content: immutable."""
        name = request.path_params["name"]
        if not NATIONAL_NAME.match(name):
            return problem_response(404, "not_found", f"no national file {name!r}")
        path = self.data.data_dir / "national" / name
        if not path.is_file():
            return problem_response(404, "not_found", f"no national file {name!r}")
        cache = "no-cache" if name == "manifest.json" else "public, max-age=31536000, immutable"
        return FileResponse(
            path, media_type="application/octet-stream", headers={"Cache-Control": cache}
        )

    def _data_file(self, name: str, media_type: str) -> Response:
        path = self.data.data_dir / name
        if not path.is_file():
            return problem_response(404, "not_found", f"this registry publishes no {name}")
        return FileResponse(path, media_type=media_type)

    async def trust_list(self, request: Request) -> Response:
        return self._data_file("trust-list.json", "application/json")

    async def trust_list_sig(self, request: Request) -> Response:
        return self._data_file("trust-list.sig", "application/octet-stream")

    async def openapi_yaml(self, request: Request) -> Response:
        if self.openapi is None:
            return problem_response(404, "not_found", "the OpenAPI document is not installed")
        return Response(self.openapi, media_type="application/yaml")


NATIONAL_NAME = re.compile(r"^(part-\d\d-\d{6}\.omsnat|delta-\d\d-\d{6}\.omssnap|manifest\.json)$")


def _bad_nonce() -> Response:
    return problem_response(
        400, "bad_nonce", "give nonce=<32 hex digits>, fresh for every request (protocol v1)"
    )


def _search_query(body: bytes) -> tuple[str, str, str | None, date]:
    try:
        doc = safejson.loads(body, what="search query")
    except safejson.JsonError as exc:
        raise ValueError(f"the body is not usable JSON ({exc.code})") from exc
    if not isinstance(doc, dict):
        raise ValueError("the body must be a JSON object")
    surname = _required_name(doc, "surname")
    given = _required_name(doc, "given_name")
    patronymic = None if doc.get("patronymic") is None else _name_text(doc, "patronymic")
    born = doc.get("birth_date")
    if not isinstance(born, str) or not _DATE.match(born):
        raise ValueError("birth_date must be YYYY-MM-DD")
    try:
        birth_date = date.fromisoformat(born)
    except ValueError as exc:
        raise ValueError("birth_date is not a calendar date") from exc
    return surname, given, patronymic, birth_date


def _name_text(doc: dict[str, Any], field: str) -> str:
    v = doc.get(field)
    if not isinstance(v, str) or len(v) > _NAME_MAX:
        raise ValueError(f"{field} must be a string of at most {_NAME_MAX} characters")
    return normalize_name(v)


def _required_name(doc: dict[str, Any], field: str) -> str:
    name = _name_text(doc, field)
    if not name:
        raise ValueError(f"{field} must not be empty")
    return name


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only; starlette types handlers with Exception
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return problem_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return problem_response(500, "internal", "the registry failed to answer")


def create_app(
    config: ServerConfig, *, data: RegistryData | None = None, store: RegistryStore | None = None
) -> Starlette:
    """Load and verify the register (blocking), then return the app; raises ServerSetupError.

    ``data``/``store`` may be passed in (tests, several apps on one store); a store passed in is
    not closed at shutdown, one built here is.
    """
    if not config.tokens and not config.insecure_no_auth:
        raise ServerSetupError(
            "no token configured: give --token/OMS_REGISTRY_TOKENS or --insecure-no-auth",
            code="no_auth",
        )
    if any(not t or any(c.isspace() for c in t) for t in config.tokens):
        raise ServerSetupError("tokens must be non-empty and without spaces", code="bad_token")
    data = data or load_registry_data(config.data_dir)
    owned = store is None
    the_store = store if store is not None else open_store(config, data)
    reg = Registry(config, data, the_store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                the_store.close()

    p = API_PREFIX
    routes = [
        Route(f"{p}/time", reg.time, methods=["GET"]),
        Route(f"{p}/ping", reg.ping, methods=["GET"]),
        Route(f"{p}/persons/search", reg.search, methods=["POST"]),
        Route(f"{p}/persons/{{enp}}", reg.person, methods=["GET"]),
        Route(f"{p}/persons", reg.person_by_alias, methods=["GET"]),
        Route(f"{p}/snapshots", reg.snapshots, methods=["GET"]),
        Route(f"{p}/snapshots/{{name}}", reg.snapshot_file, methods=["GET"]),
        Route(f"{p}/national/{{name}}", reg.national_file, methods=["GET", "HEAD"]),
        Route(f"{p}/trust-list", reg.trust_list, methods=["GET"]),
        Route(f"{p}/trust-list.sig", reg.trust_list_sig, methods=["GET"]),
        Route(f"{p}/openapi.yaml", reg.openapi_yaml, methods=["GET"]),
    ]
    authorizer = Authorizer(config.tokens)
    middleware = [
        Middleware(BearerAuth, authorizer=authorizer, public_national=config.public_national)
    ]
    if config.faults:  # outermost: faults hit before auth, like a flaky network would
        middleware.insert(0, Middleware(FaultInjector, authorize=authorizer.deny))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
    app.state.registry = reg
    return app
