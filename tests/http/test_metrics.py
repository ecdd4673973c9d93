"""/metrics through prometheus-client: histograms with HELP and TYPE, counters that move with
verifications, build info from package metadata, and no personal data in any label."""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.http.conftest import ADMIN_TOKEN, MIS_TOKEN, TOKENS_TOML, Server, auth
from verifier import config as config_mod

HISTOGRAMS = ("oms_verify_latency_seconds", "oms_http_request_duration_seconds")
VALID_ENP = "5012345678901234"  # any 16 digits: the route answers with some verdict


def _scrape(server: Server) -> str:
    with server.client(ADMIN_TOKEN) as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.text


def _samples(text: str) -> list[Sample]:
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


def _value(text: str, name: str, **labels: str) -> float:
    """The one sample ``name`` with these labels (0 when there is none yet)."""
    found = [
        s.value
        for s in _samples(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def test_latency_buckets_are_cumulative_and_inclusive() -> None:
    from verifier.service.readings import LatencyBuckets

    h = LatencyBuckets((0.01, 0.1, 1.0))
    for seconds in (0.01, 0.05, 0.1, 5.0):  # a bound itself belongs to its bucket (le)
        h.observe(seconds)
    r = h.snapshot()
    assert r.buckets == ((0.01, 1), (0.1, 3), (1.0, 3))
    assert r.count == 4 and r.sum_s == pytest.approx(5.16)
    with pytest.raises(ValueError, match="increase"):
        LatencyBuckets((1.0, 0.5))


def test_histograms_with_help_and_type(api: Server) -> None:
    with api.client(MIS_TOKEN) as c:
        assert c.post("/v1/verify?mode=offline", json={"text": VALID_ENP}).status_code == 200
    text = _scrape(api)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in HISTOGRAMS:
        assert families[name].type == "histogram", name
        assert f"# TYPE {name} histogram\n" in text
        assert re.search(rf"^# HELP {name} \S", text, re.M), name
        buckets = [s for s in families[name].samples if s.name == f"{name}_bucket"]
        assert buckets and buckets[-1].labels["le"] == "+Inf"
    for family in families.values():  # every series, not only ours, says what it is
        assert family.documentation, family.name
        assert family.type != "unknown", family.name
    help_lines = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    type_lines = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert help_lines == type_lines
    for line in text.splitlines():
        if line and not line.startswith("#"):
            sample = line.split("{")[0].split(" ")[0]
            assert any(sample == h or sample.startswith(h + "_") for h in help_lines), line
    for name in (
        "oms_build_info",
        "oms_verifications_total",
        "oms_snapshot_fresh",
        "oms_registry_requests_total",
        "oms_registry_failures_total",
        "oms_registry_breaker_state",
        "oms_sync_failures_total",
        "oms_sync_consecutive_failures",
        "oms_sync_task_restarts_total",
        "oms_trust_list_failures_total",
    ):
        assert any(s.name == name for s in _samples(text)), name


def test_a_verify_bumps_the_counter_and_the_histograms(api: Server) -> None:
    before = _scrape(api)
    with api.client(MIS_TOKEN) as c:
        r = c.post("/v1/verify?mode=offline", json={"text": VALID_ENP})
    assert r.status_code == 200
    outcome = r.json()["outcome"]
    after = _scrape(api)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("oms_verifications_total", outcome=outcome) == 1
    assert delta("oms_verify_latency_seconds_count") == 1
    assert delta("oms_verify_latency_seconds_bucket", le="+Inf") == 1
    assert delta("oms_verify_latency_seconds_sum") > 0
    http = {"route": "/v1/verify", "method": "POST", "code": "200"}
    assert delta("oms_http_request_duration_seconds_count", **http) == 1
    assert delta("oms_http_request_duration_seconds_bucket", le="+Inf", **http) == 1


def test_no_enp_in_any_label(api: Server) -> None:
    """Routes are labelled by template: a path holding an ENP never becomes a label value."""
    enp = "5098765432109876"
    with api.client(MIS_TOKEN) as c:
        assert c.get(f"/v1/policies/{enp}", params={"mode": "offline"}).status_code == 200
        assert c.get(f"/v1/policies/{enp}/more").status_code == 404
        assert c.get(f"/v2/{enp}").status_code == 404
        assert c.post(f"/v1/policies/{enp}").status_code == 405
    with api.client(MIS_TOKEN, headers={"Host": f"{enp}.example"}) as c:
        assert c.get(f"/v1/policies/{enp}").status_code == 421
    text = _scrape(api)
    assert enp not in text
    labels = [v for s in _samples(text) for v in s.labels.values()]
    for value in labels:
        assert not re.search(r"[0-9]{6,}", value), value
    policy = {"route": "/v1/policies/{enp}", "method": "GET"}
    assert _value(text, "oms_http_request_duration_seconds_count", code="200", **policy) >= 1
    assert (
        _value(
            text,
            "oms_http_request_duration_seconds_count",
            code="405",
            route=policy["route"],
            method="POST",
        )
        >= 1
    )
    assert _value(text, "oms_http_request_duration_seconds_count", code="421", **policy) >= 1
    unmatched = {"route": "unmatched", "method": "GET", "code": "404"}
    assert _value(text, "oms_http_request_duration_seconds_count", **unmatched) >= 2


def test_build_info_is_the_package_version(api: Server) -> None:
    text = _scrape(api)
    version = importlib.metadata.version("oms-verifier")
    assert _value(text, "oms_build_info", version=version) == 1
    with api.client(ADMIN_TOKEN) as c:
        assert c.get("/v1/status").json()["version"] == version


def test_version_is_not_hard_coded(
    tmp_path_factory: pytest.TempPathFactory,
    demo_template: tuple[Path, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/v1/status and the build info follow ``verifier.__version__`` (an upgraded package)."""
    import verifier
    from verifier.http.app import create_app
    from verifier.service.core import Service

    monkeypatch.setattr(verifier, "__version__", "9.8.7")
    state_dir = tmp_path_factory.mktemp("versioned") / "state"
    (state_dir.parent / "config.toml").write_text(TOKENS_TOML, encoding="utf-8")
    shutil.copytree(demo_template[0], state_dir)

    async def run() -> tuple[str, str]:
        cfg = config_mod.load(state_dir.parent / "config.toml", state_dir)
        service = Service(cfg)
        transport = httpx.ASGITransport(app=create_app(service), client=("127.0.0.1", 5000))
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", headers=auth(ADMIN_TOKEN)
            ) as c:
                status = (await c.get("/v1/status")).json()["version"]
                metrics = (await c.get("/metrics")).text
        finally:
            await service.stop()
        return status, metrics

    status, metrics = asyncio.run(run())
    assert status == "9.8.7"
    assert _value(metrics, "oms_build_info", version="9.8.7") == 1
