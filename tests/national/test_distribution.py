"""National files served as static content by the real registry service; downloads resume."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cache.national_store import NationalStore
from tests.national.helpers import check, part, sample
from verifier.devkit.generator import generate
from verifier.devkit.national_generator import NationalRegister
from verifier.registry.national_sync import download_resumable
from verifier.registry.server import ServerConfig, ThreadedServer, create_app

TOKEN = "national-token-0123456789"


@pytest.fixture(scope="module")
def server(small: NationalRegister, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("regdata")
    generate(data, persons=50, region="50", seed=1, deltas=0)
    shutil.copytree(small.out_dir, data / "national")
    cfg = ServerConfig(
        data_dir=data,
        port=0,
        tokens=(TOKEN,),
        state_dir=tmp_path_factory.mktemp("regstate"),
        log_level="warning",
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        yield srv.url


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def test_static_headers_and_ranges(server: str, small: NationalRegister) -> None:
    raw = part(small.out_dir, "50").read_bytes()
    with _client(server) as c:
        r = c.get("/v1/national/part-50-000001.omsnat")
        assert r.status_code == 200 and r.content == raw
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["etag"] and r.headers["last-modified"]
        assert "immutable" in r.headers["cache-control"]
        r2 = c.get("/v1/national/part-50-000001.omsnat", headers={"Range": "bytes=1000-"})
        assert r2.status_code == 206
        assert r2.headers["content-range"] == f"bytes 1000-{len(raw) - 1}/{len(raw)}"
        assert r2.content == raw[1000:]
        assert c.get("/v1/national/sample.csv").status_code == 404  # ground truth never served
        assert c.get("/v1/national/..%2Fmatch.key").status_code == 404


def test_download_resumes_and_imports(server: str, small: NationalRegister, tmp_path: Path) -> None:
    raw = part(small.out_dir, "50").read_bytes()
    dest = tmp_path / "part-50-000001.omsnat"
    with _client(server) as c:
        url = "/v1/national/part-50-000001.omsnat"
        etag = c.head(url).headers["etag"]
        # An earlier attempt stopped after 1 MB (same ETag): only the rest is fetched.
        (tmp_path / (dest.name + ".partial")).write_bytes(raw[: 1 << 20])
        (tmp_path / (dest.name + ".partial.json")).write_text(json.dumps({"etag": etag}))
        seen: list[int] = []
        c.event_hooks["response"] = [lambda r: seen.append(r.status_code)]
        download_resumable(c, url, dest)
        assert seen == [206]
        assert dest.read_bytes() == raw
        # A partial file of another version (stale ETag) is replaced by the whole file.
        dest.unlink()
        (tmp_path / (dest.name + ".partial")).write_bytes(b"x" * 5000)
        (tmp_path / (dest.name + ".partial.json")).write_text('{"etag": "\\"stale\\""}')
        seen.clear()
        download_resumable(c, url, dest)
        assert seen == [200]
        assert dest.read_bytes() == raw
    store = NationalStore(tmp_path / "store")
    store.import_file(dest, check)
    enps = [r["enp"] for r in sample(small.out_dir) if r["enp"][:2] == "50" and not r["deleted"]]
    assert all(store.lookup_enp(e) is not None for e in enps)
    store.close()


def test_public_national_opens_only_the_national_files(
    small: NationalRegister, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``public_national``: a CDN may fetch the files without a token; nothing else opens."""
    data = tmp_path_factory.mktemp("regdata-public")
    generate(data, persons=50, region="50", seed=1, deltas=0)
    shutil.copytree(small.out_dir, data / "national")
    raw = part(small.out_dir, "50").read_bytes()
    url = "/v1/national/part-50-000001.omsnat"
    for public in (False, True):
        cfg = ServerConfig(
            data_dir=data,
            port=0,
            tokens=(TOKEN,),
            public_national=public,
            state_dir=tmp_path_factory.mktemp("regstate-public"),
            log_level="warning",
        )
        with ThreadedServer(create_app(cfg), cfg) as srv, httpx.Client(base_url=srv.url) as c:
            r = c.get(url)
            if public:
                assert r.status_code == 200 and r.content == raw
                assert "public" in r.headers["cache-control"]
                assert c.head(url).status_code == 200
            else:
                assert r.status_code == 401
            # Everything else keeps its token, public or not.
            assert c.get("/v1/national/sub/part-50-000001.omsnat").status_code == 401
            assert c.get("/v1/national/").status_code == 401
            assert c.post(url).status_code == 401
            assert c.get(f"/v1/policies/{sample(small.out_dir)[0]['enp']}").status_code == 401
            assert c.get("/v1/snapshot/manifest").status_code == 401
