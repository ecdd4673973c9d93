"""Red team, session 19: the national sync loop against hostile registry answers, the
``[register] national = true`` empty store, and the registry's ``--public-national``.

Real parts: the national generator's signed parts and deltas, the real reference registry
on loopback (time, trust list, national files), and where the attack needs a registry that
lies, a real HTTP server on loopback (``http.server``) serving the lie; real SQLite and
mapped national stores; the real importer with GOST signature checks.

Findings (fail on the code of 05fa212):
* ``test_hostile_manifest_memory_is_bounded``: the manifest is read whole into memory
  (``http.get`` + ``r.content``) before its 4 MiB limit is checked, and a
  ``Content-Encoding: gzip`` answer is inflated although the desk asked for ``identity``.
* ``test_a_complete_partial_left_by_a_crash_does_not_block_the_region_forever``: a
  ``.partial`` holding the whole file (killed between the last write and the rename) is
  resumed with ``Range: bytes=SIZE-``; the registry answers 416 and the region never syncs.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import json
import shutil
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cache.national_store import NationalStore
from tests.national.conftest import CREATED
from tests.national.helpers import SEED, check, sample
from verifier import config
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.devkit.generator import generate
from verifier.devkit.national_generator import NationalRegister, generate_national
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.service.assembly import Assembly, assemble, national_dir
from verifier.service.national_sync_loop import (
    MAX_MANIFEST,
    NationalManifestError,
    NationalSync,
)
from verifier.verdict import Outcome, Reason

TOKEN = "redteam-s19-national-token-0123"
REGIONS = ("01", "50")

# make_client hands httpx a CA-bundle path (deprecated there); not ours
pytestmark = pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def nreg(tmp_path_factory: pytest.TempPathFactory) -> NationalRegister:
    out = tmp_path_factory.mktemp("s19nat")
    return generate_national(
        out, persons=120_000, seed=SEED, deltas=1, created_at=CREATED, regions=REGIONS
    )


@dataclass
class Registry:
    data: Path
    url: str

    @property
    def national(self) -> Path:
        return self.data / "national"


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _registry_data(nreg: NationalRegister, base: Path) -> Path:
    data = base / "data"
    generate(data, persons=50, region="50", seed=SEED, deltas=0)  # same demo key as nreg
    shutil.copytree(nreg.out_dir, data / "national")
    (data / "national" / "sample.csv").unlink()
    return data


@pytest.fixture
def registry(nreg: NationalRegister, tmp_path: Path) -> Iterator[Registry]:
    data = _registry_data(nreg, tmp_path)
    cfg = ServerConfig(
        data_dir=data, port=0, tokens=(TOKEN,), state_dir=tmp_path / "srv", log_level="warning"
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        yield Registry(data, srv.url)


def _desk(tmp_path: Path, nreg: NationalRegister, url: str, seed: list[str]) -> config.Config:
    state = tmp_path / "state"
    trust = state / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(nreg.public_key_pem, trust / "registry.pub.pem")
    (trust / "registry.toml").write_text('purpose = "snapshot"\npublic_key = "registry.pub.pem"\n')
    cfg = config.load(None, str(state), registry_url=url, registry_token=TOKEN)
    store = NationalStore(national_dir(cfg))
    for name in seed:
        store.import_file(nreg.out_dir / name, check)
    store.close()
    return cfg


def _sync(parts: Assembly, state: Path, url: str) -> NationalSync:
    assert parts.client is not None and isinstance(parts.store, NationalStore)

    def http() -> httpx.Client:
        return httpx.Client(base_url=url, headers=_auth(), timeout=60)

    return NationalSync(parts.client, parts.store, parts.trust, download_dir=state, http=http)


def _round(parts: Assembly, sync: NationalSync) -> list[object]:
    assert parts.loop is not None
    return list(parts.loop.call(sync.run_once, 300))


# --- a registry (or a CDN in front of it) that lies ----------------------------------------


Answer = tuple[int, dict[str, str], bytes]


class _Liar(http.server.BaseHTTPRequestHandler):
    answers: dict[str, Callable[[dict[str, str]], Answer]] = {}  # noqa: RUF012 - set per server
    asked: list[str] = []  # noqa: RUF012

    def _answer(self, body: bool) -> None:
        self.asked.append(self.path)
        make = self.answers.get(self.path)
        headers: dict[str, str]
        if make is None:
            status, headers, payload = 404, {}, b"{}"
        else:
            status, headers, payload = make({k.lower(): v for k, v in self.headers.items()})
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(payload)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def liar() -> Iterator[tuple[str, type[_Liar]]]:
    handler = type("Liar", (_Liar,), {"answers": {}, "asked": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    finally:
        srv.shutdown()
        srv.server_close()


def _static(path: Path) -> Callable[[dict[str, str]], Answer]:
    def make(_headers: dict[str, str]) -> Answer:
        return 200, {"Content-Type": "application/octet-stream"}, path.read_bytes()

    return make


def _manifest(names: list[object]) -> Callable[[dict[str, str]], Answer]:
    body = json.dumps({"files": names}).encode()
    return lambda _h: (200, {"Content-Type": "application/json"}, body)


# --- findings --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_hostile_manifest_memory_is_bounded(
    nreg: NationalRegister,
    registry: Registry,
    liar: tuple[str, type[_Liar]],
    tmp_path: Path,
    encoding: str,
) -> None:
    """A 96 MiB manifest — sent as is, or as a ~100 KiB gzip bomb the desk never asked for
    (it sends ``Accept-Encoding: identity``) — must be refused after about ``MAX_MANIFEST``
    bytes, not held in memory whole. Today ``r.content`` holds all of it (and more while
    httpx joins the chunks), then the size check refuses it."""
    url, handler = liar
    huge = b'{"files": [' + b" " * (96 << 20) + b"]}"
    if encoding == "gzip":
        wire = gzip.compress(huge, compresslevel=9)
        assert len(wire) < MAX_MANIFEST  # small on the wire: only the inflated size is huge
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    else:
        wire, headers = huge, {"Content-Type": "application/json"}
    del huge
    handler.answers["/v1/national/manifest.json"] = lambda _h: (200, dict(headers), wire)
    cfg = _desk(tmp_path, nreg, registry.url, ["part-01-000001.omsnat"])
    parts = assemble(cfg)
    try:
        sync = _sync(parts, tmp_path / "state", url)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            with pytest.raises(NationalManifestError) as err:
                _round(parts, sync)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert err.value.code == "national_manifest"
        assert isinstance(parts.store, NationalStore)
        assert parts.store.region_info("01").sequence == 1  # nothing else happened
        assert peak < 8 * MAX_MANIFEST, f"{peak / 2**20:.0f} MiB held for a refused manifest"
    finally:
        parts.close()


def test_a_complete_partial_left_by_a_crash_does_not_block_the_region_forever(
    nreg: NationalRegister, registry: Registry, tmp_path: Path
) -> None:
    """The daemon is killed after the last byte of a part reached ``.partial`` but before
    ``partial.replace(dest)``: the ``.partial`` is the whole file, its ``.partial.json``
    the registry's ETag. Every later round asks ``Range: bytes=SIZE-``, the registry answers
    416 (nothing at or past the end), ``download_resumable`` raises and keeps the partial, so
    region 50 never syncs again (until its data expires: ``unknown`` for the whole region)."""
    cfg = _desk(tmp_path, nreg, registry.url, ["part-01-000001.omsnat"])
    name = "part-50-000001.omsnat"
    with httpx.Client(base_url=registry.url, headers=_auth()) as c:
        head = c.head(f"/v1/national/{name}")
    assert head.status_code == 200 and head.headers["etag"]
    work = tmp_path / "state" / "national-download"
    work.mkdir(parents=True, mode=0o700)
    (work / f"{name}.partial").write_bytes((registry.national / name).read_bytes())
    (work / f"{name}.partial.json").write_text(json.dumps({"etag": head.headers["etag"]}))
    parts = assemble(cfg)
    try:
        sync = _sync(parts, tmp_path / "state", registry.url)
        for _ in range(2):  # not only the first round: it never recovers by itself
            try:
                _round(parts, sync)
            except Exception as exc:  # noqa: BLE001 - the round's failure is what we report
                last: BaseException | None = exc
            else:
                last = None
                break
        assert last is None, f"region 50 stuck: {last!r}"
        assert isinstance(parts.store, NationalStore)
        assert parts.store.region_info("50").sequence == 2
    finally:
        parts.close()


# --- attacks that fail: regression tests -----------------------------------------------------


def test_traversal_and_odd_names_in_the_manifest_touch_nothing_outside(
    nreg: NationalRegister, registry: Registry, liar: tuple[str, type[_Liar]], tmp_path: Path
) -> None:
    """File names come from an unsigned manifest: none may leave the download directory or be
    fetched at all unless it is ``part|delta-RR-SEQ`` with a matching extension."""
    url, handler = liar
    real = "part-50-000001.omsnat"
    hostile: list[object] = [
        "../../escape-50-000009.omsnat",
        "part-50-000009.omsnat/../../../escape",
        "..%2F..%2Fpart-50-000009.omsnat",
        "/etc/part-50-000009.omsnat",
        "part-50-000009.omssnap",  # a part name with a delta's extension
        "delta-50-000009.omsnat",
        "part-5-000009.omsnat",
        {"name": "../part-50-000009.omsnat", "base_sequence": 1},
        {"name": ["part-50-000009.omsnat"]},
        None,
        17,
        real,
    ]
    handler.answers["/v1/national/manifest.json"] = _manifest(hostile)
    handler.answers[f"/v1/national/{real}"] = _static(registry.national / real)
    cfg = _desk(tmp_path, nreg, registry.url, ["part-01-000001.omsnat"])
    before = {p for p in tmp_path.rglob("*")}
    parts = assemble(cfg)
    try:
        results = _round(parts, _sync(parts, tmp_path / "state", url))
        assert len(results) == 1
        assert handler.asked == ["/v1/national/manifest.json", f"/v1/national/{real}"]
        assert isinstance(parts.store, NationalStore)
        assert parts.store.region_info("50").sequence == 1
    finally:
        parts.close()
    new = {p for p in tmp_path.rglob("*")} - before
    assert not [p for p in new if "escape" in p.name]
    assert all(tmp_path / "state" in p.parents for p in new)


def test_replayed_and_misnamed_files_are_refused_and_answers_stay(
    nreg: NationalRegister, registry: Registry, liar: tuple[str, type[_Liar]], tmp_path: Path
) -> None:
    """The desk holds both regions at sequence 2. The liar names a newer part of 50 but serves
    the old signed part 1 (a replay), names a delta of 50 with the held base but serves
    region 01's delta (another region's file under this region's name), and names a newer
    part of 01 but serves 50's delta (a delta for a base already passed). Signed and genuine,
    each is refused by what its own header says; nothing any person answers changes.
    (A file of another region is judged by its signed header, not by its name: had 01 been
    at that delta's base, the genuine delta would have applied to 01 — correct, not a bug.)"""
    url, handler = liar
    n = registry.national
    handler.answers["/v1/national/manifest.json"] = _manifest(
        [
            {"name": "part-50-000009.omsnat"},
            {"name": "delta-50-000010.omssnap", "base_sequence": 2},
            {"name": "part-01-000009.omsnat"},
        ]
    )
    handler.answers["/v1/national/part-50-000009.omsnat"] = _static(n / "part-50-000001.omsnat")
    handler.answers["/v1/national/delta-50-000010.omssnap"] = _static(n / "delta-01-000002.omssnap")
    handler.answers["/v1/national/part-01-000009.omsnat"] = _static(n / "delta-50-000002.omssnap")
    seeded = [
        "part-01-000001.omsnat",
        "delta-01-000002.omssnap",
        "part-50-000001.omsnat",
        "delta-50-000002.omssnap",
    ]
    cfg = _desk(tmp_path, nreg, registry.url, seeded)
    parts = assemble(cfg)
    try:
        store = parts.store
        assert isinstance(store, NationalStore)
        rows = sample(nreg.out_dir)
        before = {r["enp"]: store.lookup_enp(r["enp"]) for r in rows}
        sync = _sync(parts, tmp_path / "state", url)
        with pytest.raises(Exception) as err:  # noqa: PT011 - the round reports a typed refusal
            _round(parts, sync)
        assert getattr(err.value, "code", None) in {
            "snapshot_old",
            "delta_base_mismatch",
            "delta_no_base",
            "snapshot_region",
            "bad_snapshot",
            "snapshot_magic",
        }, repr(err.value)
        assert store.region_info("50").sequence == 2 and store.region_info("01").sequence == 2
        assert {e: store.lookup_enp(e) for e in before} == before
        assert not list((tmp_path / "state" / "national-download").glob("*.oms*"))
    finally:
        parts.close()


def test_a_spliced_resume_is_refused_then_the_whole_file_is_taken(
    nreg: NationalRegister, registry: Registry, tmp_path: Path
) -> None:
    """A ``.partial`` whose first half is not what the registry serves now (one byte in the
    records differs: an earlier answer from a lying cache) with the served file's ETag: the
    registry resumes it (206), the spliced file reaches the importer, which refuses it by its
    signature; nothing becomes visible, the next round fetches the file whole and imports."""
    cfg = _desk(tmp_path, nreg, registry.url, ["part-01-000001.omsnat"])
    name = "part-50-000001.omsnat"
    raw = (registry.national / name).read_bytes()
    head = bytearray(raw[: len(raw) // 2])
    head[len(head) // 2] ^= 0x01
    with httpx.Client(base_url=registry.url, headers=_auth()) as c:
        etag = c.head(f"/v1/national/{name}").headers["etag"]
    work = tmp_path / "state" / "national-download"
    work.mkdir(parents=True, mode=0o700)
    (work / f"{name}.partial").write_bytes(bytes(head))
    (work / f"{name}.partial.json").write_text(json.dumps({"etag": etag}))
    parts = assemble(cfg)
    try:
        store = parts.store
        assert isinstance(store, NationalStore)
        sync = _sync(parts, tmp_path / "state", registry.url)
        with pytest.raises(Exception) as err:  # noqa: PT011
            _round(parts, sync)
        assert getattr(err.value, "code", None) in {"snapshot_signature", "bad_snapshot"}, err
        assert store.region_info("50").sequence is None  # nothing of the splice is visible
        assert not (work / f"{name}.partial").exists()
        _round(parts, sync)
        assert store.region_info("50").sequence == 2
    finally:
        parts.close()


def test_national_switch_with_an_empty_store_never_answers_valid_or_not_insured(
    nreg: NationalRegister, tmp_path: Path
) -> None:
    """``[register] national = true`` and nothing imported yet, registry unreachable: every
    ENP of every region — people the register holds, and numbers nobody holds — is
    ``unknown``, never ``valid`` and never ``not_insured``."""
    state = tmp_path / "state"
    conf = tmp_path / "desk.toml"
    conf.write_text("[register]\nnational = true\n", encoding="utf-8")
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there: the registry is down
    cfg = config.load(
        str(conf), str(state), registry_url=f"http://127.0.0.1:{port}", registry_token=TOKEN
    )
    parts = assemble(cfg)
    try:
        assert isinstance(parts.store, NationalStore)
        enps = [r["enp"] for r in sample(nreg.out_dir)[:40]]
        enps += ["5000000000000000", "7700000000000000"]
        for mode in (LookupMode.OFFLINE, LookupMode.AUTO):
            for enp in enps:
                item = CredentialInput(enp.encode(), source="api:redteam", manual=True)
                v = parts.pipeline.verify(item, mode=mode)
                assert v.outcome not in (Outcome.VALID, Outcome.NOT_INSURED), (enp, mode)
                if v.outcome is Outcome.UNKNOWN:
                    assert Reason.NOT_IN_REGISTER not in v.reasons
        batch = parts.pipeline.verify_many(
            [CredentialInput(e.encode(), source="api:redteam", manual=True) for e in enps],
            mode=LookupMode.OFFLINE,
            register=parts.store,
        )
        assert {getattr(v, "outcome", None) for v in batch} <= {Outcome.UNKNOWN, Outcome.INVALID}
    finally:
        parts.close()


@pytest.fixture
def public_registry(nreg: NationalRegister, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    data = _registry_data(nreg, tmp_path)
    cfg = ServerConfig(
        data_dir=data,
        port=0,
        tokens=(TOKEN,),
        public_national=True,
        state_dir=tmp_path / "srv",
        log_level="warning",
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        port = httpx.URL(srv.url).port
        assert isinstance(port, int) and port > 0, srv.url
        yield srv.url, port, data


def _raw(port: int, request_line: str, headers: str = "") -> tuple[int, bytes]:
    """One request as written (no client normalises the path), the status and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{request_line}\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_public_national_opens_only_national_files(
    public_registry: tuple[str, int, Path], nreg: NationalRegister
) -> None:
    """With ``--public-national`` and no token: one national file by GET/HEAD, nothing else,
    whatever the spelling of the path."""
    _url, port, _data = public_registry
    enp = sample(nreg.out_dir)[0]["enp"]
    assert _raw(port, "GET /v1/national/manifest.json HTTP/1.1")[0] == 200
    assert _raw(port, "HEAD /v1/national/part-50-000001.omsnat HTTP/1.1")[0] == 200
    status, body = _raw(
        port, "GET /v1/national/part-50-000001.omsnat HTTP/1.1", "Range: bytes=0-9\r\n"
    )
    assert status == 206 and len(body) == 10
    closed = [
        f"GET /v1/persons/{enp} HTTP/1.1",
        f"GET /v1/national/..%2Fpersons%2F{enp} HTTP/1.1",
        f"GET /v1/national/%2e%2e%2Fpersons%2F{enp} HTTP/1.1",
        f"GET /v1/national/../persons/{enp} HTTP/1.1",
        f"GET /v1/national/manifest.json/../../persons/{enp} HTTP/1.1",
        f"GET /v1/national//persons/{enp} HTTP/1.1",
        f"GET /v1//national/x/../../persons/{enp} HTTP/1.1",
        f"GET /v1/persons/{enp}?p=/v1/national/manifest.json HTTP/1.1",
        f"GET /v1/persons/{enp}#/v1/national/manifest.json HTTP/1.1",
        "GET /v1/national/x%2F..%2F..%2Ftime HTTP/1.1",
        "GET /v1/time HTTP/1.1",
        "GET /v1/trust-list HTTP/1.1",
        "GET /v1/snapshots HTTP/1.1",
        "POST /v1/national/manifest.json HTTP/1.1",
        "PUT /v1/national/manifest.json HTTP/1.1",
        "OPTIONS /v1/national/manifest.json HTTP/1.1",
        "get /v1/national/manifest.json HTTP/1.1",
        f"GET http://x/v1/persons/{enp} HTTP/1.1",
        "GET /v1/national/ HTTP/1.1",
        "GET /v1/national HTTP/1.1",
    ]
    for line in closed:
        status, body = _raw(port, line)
        assert status in (400, 401, 404, 405), (line, status)
        assert enp.encode() not in body and b"surname" not in body, line
    for name in ("sample.csv", "match.key", "..", "%2e%2e", "registry.key"):
        status, body = _raw(port, f"GET /v1/national/{name} HTTP/1.1")
        assert status == 404, (name, status)
    # With the token everything else answers as before.
    ok, _ = _raw(port, f"GET /v1/persons/{enp} HTTP/1.1", f"Authorization: Bearer {TOKEN}\r\n")
    assert ok != 401
