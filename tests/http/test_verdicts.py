"""The demo samples get their expected outcomes through /v1/verify and /v1/policies."""

from __future__ import annotations

import base64

import pytest

from tests.http.conftest import MIS_TOKEN, Server
from tests.http.helpers import conforms
from verifier.credential import CredentialInput
from verifier.devkit import demo


def _samples(state: demo.DemoState) -> list[tuple[str, str, CredentialInput]]:
    return demo.demo_samples(state)


def _bodies(item: CredentialInput) -> list[tuple[str, dict[str, object]]]:
    """Every way an MIS can send this input: (description, httpx request kwargs)."""
    if item.manual or item.symbology == "qr":
        text = item.payload.decode()
        typed = "true" if item.manual else "false"
        return [
            ("json text", {"json": {"text": text, "typed": item.manual}}),
            (
                "text/plain",
                {
                    "content": item.payload,
                    "headers": {"content-type": "text/plain; charset=utf-8"},
                    "params": {"typed": typed},
                },
            ),
        ]
    return [
        (
            "octet-stream",
            {"content": item.payload, "headers": {"content-type": "application/octet-stream"}},
        ),
        ("json hex", {"json": {"hex": item.payload.hex()}}),
        ("json base64", {"json": {"base64": base64.b64encode(item.payload).decode()}}),
    ]


def test_demo_samples_through_verify(api: Server, demo_state: demo.DemoState) -> None:
    seen = set()
    with api.client(MIS_TOKEN) as c:
        for label, expected, item in _samples(demo_state):
            for how, kw in _bodies(item):
                params = {"mode": "offline", **kw.pop("params", {})}  # type: ignore[dict-item]
                r = c.post("/v1/verify", params=params, **kw)  # type: ignore[arg-type]
                assert r.status_code == 200, (label, how, r.text)
                verdict = r.json()
                conforms("Verdict", verdict)
                assert verdict["outcome"] == expected, (label, how, verdict)
                assert verdict["input_source"] == "api:mis-main"
                seen.add(expected)
    assert seen == {"valid", "invalid", "suspended", "annulled", "expired", "unknown"}


def test_only_the_registrys_not_found_says_not_insured(
    api: Server, demo_state: demo.DemoState
) -> None:
    """Offline a miss is unknown (not_in_snapshot); auto asks the demo registry, whose signed
    "not found" is the register's own word."""
    _, _, item = next(s for s in _samples(demo_state) if s[0] == "not in the snapshot")
    enp = item.payload.decode()
    with api.client(MIS_TOKEN) as c:
        offline = c.get(f"/v1/policies/{enp}", params={"mode": "offline"}).json()
        auto = c.get(f"/v1/policies/{enp}", params={"mode": "auto"}).json()
    assert (offline["outcome"], offline["reasons"]) == ("unknown", ["not_in_snapshot"])
    assert (auto["outcome"], auto["reasons"]) == ("not_insured", ["not_in_register"])
    assert auto["source"] == "registry"


def test_full_verdict_for_mis(api: Server, demo_state: demo.DemoState) -> None:
    _, _, item = _samples(demo_state)[0]
    with api.client(MIS_TOKEN) as c:
        v = c.post("/v1/verify", json={"hex": item.payload.hex()}).json()
    assert v["outcome"] == "valid" and v["source"] in ("snapshot", "registry")
    cred = v["credential"]
    assert cred["kind"] == "paper_policy"
    assert len(cred["enp"]) == 16 and cred["enp"].isdigit()
    assert cred["birth_date"] is not None and "*" not in cred["surname"]
    assert [c["name"] for c in v["checks"]][:3] == ["decode", "format", "enp_checksum"]
    assert v["snapshot"]["state"] == "fresh" and v["register"]["status"] == "active"


def _enp_samples(state: demo.DemoState) -> list[tuple[str, str, str]]:
    return [
        (label, expected, item.payload.decode())
        for label, expected, item in _samples(state)
        if item.manual and len(item.payload) == 16
    ]


def test_demo_samples_through_policies(api: Server, demo_state: demo.DemoState) -> None:
    samples = _enp_samples(demo_state)
    assert len(samples) >= 5
    with api.client(MIS_TOKEN) as c:
        for label, expected, enp in samples:
            r = c.get(f"/v1/policies/{enp}", params={"mode": "offline"})
            assert r.status_code == 200, (label, r.text)
            v = r.json()
            conforms("Verdict", v)
            assert v["outcome"] == expected, (label, v)
            assert v["credential"]["kind"] == "manual"


@pytest.mark.parametrize("mode", ["online", "auto"])
def test_policies_online_modes(api: Server, demo_state: demo.DemoState, mode: str) -> None:
    """The demo daemon has the reference registry on loopback: online answers agree."""
    with api.client(MIS_TOKEN) as c:
        for label, expected, enp in _enp_samples(demo_state):
            if expected == "unknown":  # another region: the registry does know it
                continue
            for fresh in ("false", "true"):
                r = c.get(f"/v1/policies/{enp}", params={"mode": mode, "fresh": fresh})
                assert r.status_code == 200, r.text
                v = r.json()
                conforms("Verdict", v)
                assert v["outcome"] == expected, (label, mode, fresh, v)
                looked_up = mode == "online" or fresh == "true"
                if looked_up and expected != "invalid":  # forgeries are never looked up
                    assert v["source"] == "registry", v


def test_unrecognized_published_is_a_verdict(api: Server) -> None:
    with api.client(MIS_TOKEN) as c:
        r = c.post("/v1/verify", json={"text": "hello"})
        assert r.status_code == 422 and r.json()["code"] == "no_enp"
        r = c.post("/v1/verify", params={"publish": "true"}, json={"text": "hello"})
    assert r.status_code == 200
    v = r.json()
    conforms("Verdict", v)
    assert v["outcome"] == "unknown" and v["reasons"] == ["unrecognized"]


@pytest.mark.parametrize(
    ("label", "ctype", "kind"),
    [
        ("register extract (PDF)", "application/pdf", "register_extract"),
        ("signed XML policy", "application/xml", "signed_document"),
        ("signed XML policy", "text/xml", "signed_document"),
    ],
)
def test_a_document_file_is_verified_by_its_media_type(
    api: Server, demo_state: demo.DemoState, label: str, ctype: str, kind: str
) -> None:
    _, expected, item = next(s for s in _samples(demo_state) if s[0] == label)
    with api.client(MIS_TOKEN) as c:
        r = c.post(
            "/v1/verify",
            params={"mode": "offline"},
            content=item.payload,
            headers={"content-type": ctype},
        )
    assert r.status_code == 200, r.text
    verdict = r.json()
    conforms("Verdict", verdict)
    assert verdict["credential"]["kind"] == kind
    assert verdict["outcome"] == expected


def test_a_hostile_pdf_upload_is_a_422_with_its_code(api: Server) -> None:
    with api.client(MIS_TOKEN) as c:
        r = c.post(
            "/v1/verify",
            content=b"%PDF-1.7\n" + b"[" * 5000,
            headers={"content-type": "application/pdf"},
        )
    assert r.status_code == 422, r.text
    assert r.json()["code"].startswith("pdf_")
