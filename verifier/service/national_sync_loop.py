"""Keep a national store current: the registry's national manifest, resumable downloads.

Each round (the same supervision, status and exponential backoff as :class:`SnapshotSync`,
whose round this replaces): read the registry's clock, refresh the trust list, fetch
``/v1/national/manifest.json`` and plan per region — the deltas chaining from the region's
held sequence, else the newest full part and the deltas from it. Each file is downloaded with
``download_resumable`` into ``<state>/national-download/`` (a dropped connection leaves a
``.partial`` that the next round continues with Range + If-Range) and imported through the
national importer, which checks the signature before anything becomes visible. A region's
failure (a refused file, a broken download) does not stop the other regions; the round is
then reported failed and retried with backoff, the region keeps serving what it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from cache.national_store import NationalStore
from cache.snapshot_store import ImportResult, SnapshotRefused
from verifier.errors import OmsError
from verifier.log import get_logger
from verifier.registry.client import RegistryAdapter
from verifier.registry.national_sync import DownloadError, download_resumable
from verifier.safejson import loads_object
from verifier.service.sync import SnapshotSync
from verifier.trust import TrustStore

log = get_logger("oms.sync.national")

MANIFEST_URL = "/v1/national/manifest.json"
MAX_MANIFEST = 4 << 20
MANIFEST_DEADLINE_S = 60.0
MAX_FILE = 16 << 30
DOWNLOAD_DIR = "national-download"
_NAME = re.compile(r"^(part|delta)-(\d\d)-(\d{6,19})\.(omsnat|omssnap)$")


class NationalManifestError(OmsError):
    code = "national_manifest"


@dataclass(frozen=True, slots=True)
class NationalFile:
    name: str
    region: str
    kind: str  # "part" | "delta"
    sequence: int
    base_sequence: int | None


def parse_manifest(raw: bytes) -> list[NationalFile]:
    """The registry's ``manifest.json``: ``files`` as exporter entries (objects with the
    base sequence) or bare names (the generator; a delta's base is the file before it)."""
    try:
        doc = loads_object(raw, max_bytes=MAX_MANIFEST, what="national manifest")
    except OmsError as exc:
        raise NationalManifestError(exc.message) from exc
    entries = doc.get("files")
    if not isinstance(entries, list):
        raise NationalManifestError("national manifest has no file list")
    out: list[NationalFile] = []
    bare: dict[str, list[tuple[int, str, str]]] = {}
    for e in entries:
        name = e.get("name") if isinstance(e, dict) else e
        if not isinstance(name, str):
            continue
        m = _NAME.match(name)
        if m is None or (m.group(1) == "part") != (m.group(4) == "omsnat"):
            continue  # not a part or delta: nothing the desk takes
        kind, region, seq = m.group(1), m.group(2), int(m.group(3))
        if isinstance(e, dict):
            base = e.get("base_sequence")
            if kind == "delta" and (not isinstance(base, int) or isinstance(base, bool)):
                raise NationalManifestError(f"delta {name} has no base sequence")
            out.append(NationalFile(name, region, kind, seq, base if kind == "delta" else None))
        else:
            bare.setdefault(region, []).append((seq, kind, name))
    for region, files in bare.items():
        prev: int | None = None
        for seq, kind, name in sorted(files, key=lambda f: (f[0], f[1] != "part")):
            out.append(NationalFile(name, region, kind, seq, prev if kind == "delta" else None))
            prev = seq
    return out


def plan_region(files: list[NationalFile], held: int | None, *, full: bool = False) -> list[str]:
    """Names to import, in order, for one region held at ``held`` (None: nothing held).

    The delta chain from ``held`` when there is one (small); else the newest full part newer
    than ``held`` and the chain from it. ``full``: the part route regardless (a delta was
    refused for its base).
    """
    by_base = {f.base_sequence: f for f in files if f.kind == "delta"}
    parts = sorted((f for f in files if f.kind == "part"), key=lambda f: f.sequence)

    def chain(start: int) -> list[str]:
        out, at, seen = [], start, set()
        while at in by_base and at not in seen:
            seen.add(at)
            nxt = by_base[at]
            out.append(nxt.name)
            at = nxt.sequence
        return out

    if held is not None and not full:
        route = chain(held)
        if route:
            return route
    newest = parts[-1] if parts else None
    if newest is None or (held is not None and newest.sequence <= held):
        return []
    return [newest.name, *chain(newest.sequence)]


def _client_factory(client: RegistryAdapter) -> Callable[[], httpx.Client]:
    """A blocking httpx client with the registry client's URL, token and TLS settings."""
    cfg: Any = getattr(client, "cfg", None)
    if cfg is None or not getattr(cfg, "base_url", None):
        raise NationalManifestError("the registry client has no URL for national downloads")

    def make() -> httpx.Client:
        headers = {"User-Agent": "oms-verifier", "Accept-Encoding": "identity"}
        if cfg.token:
            headers["Authorization"] = f"Bearer {cfg.token}"
        return httpx.Client(
            base_url=cfg.base_url.rstrip("/"),
            headers=headers,
            verify=cfg.verify_tls,
            cert=cfg.client_cert,
            timeout=httpx.Timeout(cfg.download_budget_s, connect=cfg.connect_timeout_s),
        )

    return make


class NationalSync(SnapshotSync):
    """The sync loop of a national store (``run_once``/``run_forever`` as the regional one)."""

    def __init__(
        self,
        client: RegistryAdapter,
        store: NationalStore,
        trust: TrustStore,
        *,
        interval_s: float = 900.0,
        max_backoff_s: float = 3600.0,
        download_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        http: Callable[[], httpx.Client] | None = None,
    ) -> None:
        super().__init__(
            client,
            store,
            trust,
            interval_s=interval_s,
            max_backoff_s=max_backoff_s,
            download_dir=download_dir,
            clock=clock,
        )
        self.national = store
        self._http = http  # None: built from the registry client's settings at each round
        base = download_dir if download_dir is not None else store.root.parent
        self.work = Path(base) / DOWNLOAD_DIR

    async def _round(self) -> list[ImportResult]:
        registry_now = await self.client.server_time()
        self.status.clock_skew_s = await asyncio.to_thread(
            self.national.record_sync, registry_now, self.clock()
        )
        await self._refresh_trust_list()
        return await asyncio.to_thread(self._sync_files)

    def _sync_files(self) -> list[ImportResult]:
        self.work.mkdir(parents=True, exist_ok=True, mode=0o700)
        results: list[ImportResult] = []
        failure: OmsError | OSError | None = None
        make = self._http or _client_factory(self.client)
        with make() as http:
            files = parse_manifest(read_manifest(http))
            by_region: dict[str, list[NationalFile]] = {}
            for f in files:
                by_region.setdefault(f.region, []).append(f)
            for region in sorted(by_region):
                try:
                    results += self._sync_region(http, region, by_region[region])
                except (OmsError, OSError) as exc:  # this region keeps what it holds
                    log.warning("national region sync failed", region=region, code=_code(exc))
                    failure = failure or exc
        self.status.imported = [f"{r.kind.value}:{r.sequence}" for r in results]
        if failure is not None:
            raise failure
        if results:
            log.info("national store synced", files=len(results))
        return results

    def _sync_region(
        self, http: httpx.Client, region: str, files: list[NationalFile]
    ) -> list[ImportResult]:
        held = self.national.region_info(region).sequence
        out: list[ImportResult] = []
        for name in plan_region(files, held):
            try:
                out.append(self._fetch_and_import(http, name))
            except SnapshotRefused as exc:
                if exc.code not in ("delta_base_mismatch", "delta_no_base"):
                    raise
                log.warning("national delta does not apply; taking the full part", region=region)
                held = self.national.region_info(region).sequence
                for again in plan_region(files, held, full=True):
                    out.append(self._fetch_and_import(http, again))
                break
        return out

    def _fetch_and_import(self, http: httpx.Client, name: str) -> ImportResult:
        dest = self.work / name
        try:
            download_resumable(http, f"/v1/national/{name}", dest, max_bytes=MAX_FILE)
        except DownloadError:
            raise  # the .partial stays: the next round continues it
        try:
            return self.national.import_file(dest, self.trust.snapshot_checker(self.clock))
        finally:  # imported, or refused (a fixed file is fetched whole next time)
            for p in (dest, dest.with_name(dest.name + ".partial")):
                with contextlib.suppress(OSError):
                    p.unlink()


def _code(exc: BaseException) -> str:
    return exc.code if isinstance(exc, OmsError) else type(exc).__name__


def read_manifest(http: httpx.Client, *, deadline_s: float = MANIFEST_DEADLINE_S) -> bytes:
    """The manifest's bytes, bounded before they are held: it is not signed (the files it
    names are), so a cache or CDN in front of the registry can send anything. Refused: any
    status but 200, a declared or actual size over MAX_MANIFEST, a content coding (a gzip
    bomb inflates far past its wire size), and a body still dripping in after the deadline."""
    stop = time.monotonic() + deadline_s
    with http.stream("GET", MANIFEST_URL, headers={"Accept-Encoding": "identity"}) as r:
        if r.status_code != 200:
            raise NationalManifestError(f"national manifest: HTTP {r.status_code}")
        encoding = r.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise NationalManifestError(f"national manifest came {encoding}-encoded")
        length = r.headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > MAX_MANIFEST:
            raise NationalManifestError("national manifest too large")
        body = bytearray()
        for chunk in r.iter_raw():
            body += chunk
            if len(body) > MAX_MANIFEST:
                raise NationalManifestError("national manifest too large")
            if time.monotonic() > stop:
                raise NationalManifestError("national manifest: too slow")
    return bytes(body)
