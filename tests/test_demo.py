"""End to end: the embedded demo defaults give every outcome they promise."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from verifier import config
from verifier.cli import main
from verifier.credential import CredentialInput
from verifier.crypto.keys import Algorithm, PrivateKey
from verifier.devkit import demo
from verifier.devkit.demo_keys import derive_demo_key
from verifier.devkit.generator import demo_signing_key, generate
from verifier.identifiers import Sex
from verifier.service.assembly import assemble


def test_every_demo_sample_gets_its_expected_outcome(tmp_path: Path) -> None:
    cfg = config.load(None, tmp_path)
    state = demo.ensure_demo(cfg, persons=3000)
    pipeline = assemble(state.cfg).pipeline
    samples = demo.demo_samples(state)
    assert len({expected for _, expected, _ in samples}) >= 6
    for label, expected, item in samples:
        verdict = pipeline.verify(item)
        assert verdict.outcome.value == expected, (label, verdict.to_dict())
        if expected == "valid" and item.symbology == "pdf417":
            checks = {c.name: c.status.value for c in verdict.checks}
            assert checks["signature"] == "pass" and checks["key_trusted"] == "pass"


def test_ensure_demo_is_idempotent(tmp_path: Path) -> None:
    cfg = config.load(None, tmp_path)
    state = demo.ensure_demo(cfg, persons=1000)
    first = assemble(state.cfg).store.info()
    demo.ensure_demo(cfg, persons=1000)
    again = assemble(state.cfg).store.info()
    assert first.sequence == again.sequence == 3
    assert first.imported_at == again.imported_at


# --- finding 6: demo keys never reach a production trust store ---------------------------------

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Production:
    """A production-looking machine: a config whose ``[trust] dir`` holds the registry's and the
    paper-policy issuer's real (non-demo) keys, and a state whose register came from them."""

    config: Path
    state: Path
    trust: Path
    register: Path
    paper_key: PrivateKey

    def cfg(self) -> config.Config:
        return config.load(str(self.config), str(self.state))


def _tree(root: Path, skip: Path | None = None) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and (skip is None or skip not in p.parents)
    }


def _production(tmp_path: Path, region: str) -> Production:
    snap_key = derive_demo_key(Algorithm.GOST2012_256, "A", "a production registry key")
    paper_key = derive_demo_key(Algorithm.GOST2001, "A", "a production paper key")
    trust = tmp_path / "etc-trust"
    trust.mkdir()
    (trust / "registry.pub.pem").write_bytes(snap_key.public_key().to_pem())
    (trust / "registry.toml").write_text(
        'purpose = "snapshot"\npublic_key = "registry.pub.pem"\nstate = "active"\n'
    )
    (trust / "paper.pub.pem").write_bytes(paper_key.public_key().to_pem())
    (trust / "paper.toml").write_text(
        'purpose = "paper_barcode"\npublic_key = "paper.pub.pem"\n'
        f'key_number = {demo.PAPER_KEY_NUMBER}\nstate = "active"\n'
    )
    conf = tmp_path / "config.toml"
    conf.write_text(f'[trust]\ndir = "{trust}"\n\n[register]\nregion = "{region}"\n')
    reg = tmp_path / "prod-register"
    generate(reg, persons=1000, region=region, seed=7, deltas=1, signing_key=snap_key)
    state = tmp_path / "state"
    prod = Production(conf, state, trust, reg, paper_key)
    assert (
        main(["--config", str(conf), "--state-dir", str(state), "snapshot", "import", str(reg)])
        == 0
    )
    assert prod.cfg().register_db.is_file()
    return prod


@pytest.fixture
def production(tmp_path: Path) -> Production:
    """In the demo's own region (50), so the demo could import into it if it tried."""
    return _production(tmp_path, demo.DEMO_REGION)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMS_VERIFIER_CONFIG", None)
    env.pop("OMS_VERIFIER_STATE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "verifier.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env=env,
    )


def _demo_pems() -> list[bytes]:
    issuer = demo.demo_issuer()
    return [
        issuer.paper_key.public_key().to_pem(),
        demo_signing_key(demo.DEMO_SEED).public_key().to_pem(),
        issuer.card_root_key.public_key().to_pem(),
    ]


# 77: the demo must not inherit production's ``[register] region`` either.
@pytest.mark.parametrize("region", ["50", "77"])
def test_demo_run_leaves_a_production_trust_dir_and_register_untouched(
    tmp_path: Path, region: str
) -> None:
    production = _production(tmp_path, region)
    trust_before = _tree(production.trust)
    state_before = _tree(production.state)
    assert any(n.startswith("register.sqlite3") for n in state_before)
    proc = _cli(
        "--config", str(production.config), "--state-dir", str(production.state),
        "demo", "--json", "--persons", "1000",
    )  # fmt: skip
    # Production's trust dir and register: byte for byte what they were.
    assert _tree(production.trust) == trust_before
    demo_dir = production.state / "demo"
    assert _tree(production.state, skip=demo_dir) == state_before
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) >= 10 and [r["outcome"] for r in rows] == [r["expected"] for r in rows]
    # Demo keys exist, and only under the demo's own state.
    pems = _demo_pems()
    holders = sorted(
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p.is_file() and any(pem in p.read_bytes() for pem in pems)
    )
    assert holders and all(h.startswith("state/demo/") for h in holders), holders
    assert (demo_dir / demo.MARKER).is_file()


def test_a_barcode_signed_with_the_demo_key_is_not_valid_in_production_after_a_demo_run(
    production: Production,
) -> None:
    proc = _cli(
        "--config", str(production.config), "--state-dir", str(production.state),
        "demo", "--json", "--persons", "1000",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with (production.register / "persons.csv").open(encoding="utf-8") as f:
        row = next(
            r
            for r in csv.DictReader(f)
            if r["status"] == "active" and r["policy_type"] == "paper" and not r["deleted"]
        )
    fields = {
        "enp": row["enp"],
        "surname": row["surname"],
        "given_name": row["given_name"],
        "patronymic": row["patronymic"],
        "sex": Sex(row["sex"]),
        "birth_date": date.fromisoformat(row["birth_date"]),
        "smo_ogrn": row["smo_ogrn"],
        "okato": row["okato"],
    }
    issuer = demo.demo_issuer()
    forged = issuer.paper_policy(**fields)  # type: ignore[arg-type]
    genuine = replace(issuer, paper_key=production.paper_key).paper_policy(**fields)  # type: ignore[arg-type]
    parts = assemble(production.cfg())
    try:
        control = parts.pipeline.verify(CredentialInput(genuine, "test", "pdf417"))
        v = parts.pipeline.verify(CredentialInput(forged, "test", "pdf417"))
        ids = {k.public_key.key_id() for k in parts.trust.keys()}  # noqa: SIM118
    finally:
        parts.close()
    assert {c.name: c.status.value for c in control.checks}["signature"] == "pass"
    assert v.outcome.value != "valid", v.to_dict()
    assert {c.name: c.status.value for c in v.checks}["signature"] != "pass"
    assert not ids & demo.demo_key_ids()


@pytest.mark.parametrize("what", ["trust dir and register", "register only", "trust dir only"])
def test_serve_demo_refuses_a_state_with_production_data(
    production: Production, tmp_path: Path, what: str
) -> None:
    conf = production.config
    if what == "register only":
        conf = tmp_path / "plain.toml"
        conf.write_text("[http]\n")
    state = production.state
    if what == "trust dir only":
        state = tmp_path / "fresh-state"
    trust_before = _tree(production.trust)
    state_before = _tree(state) if state.exists() else {}
    proc = _cli(
        "--config", str(conf), "--state-dir", str(state), "serve", "--demo", "--port", "0",
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "[demo_production_state]" in lines[0], proc.stderr
    assert _tree(production.trust) == trust_before
    assert (_tree(state) if state.exists() else {}) == state_before
    assert not (state / "demo").exists()


def test_a_demo_state_is_not_production(tmp_path: Path) -> None:
    cfg = config.load(None, tmp_path)
    assert demo.production_data(cfg) is None
    st = demo.ensure_demo(cfg, persons=1000)
    assert demo.production_data(cfg) is None  # serve --demo after a demo run still starts
    assert st.cfg.state_dir == tmp_path / "demo" and demo.is_demo_state(st.cfg.register_db)
    assert not demo.is_demo_state(tmp_path)
    assert not (tmp_path / "trust").exists() and not (tmp_path / "register.sqlite3").exists()


def test_demo_never_writes_the_system_trust_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "etc" / "oms-verifier"
    (system / "trust").mkdir(parents=True)
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", system / "config.toml")
    cfg = config.Config(state_dir=tmp_path / "state", source=system / "config.toml")
    assert cfg.effective_trust_dir == system / "trust"  # the installed service would use it
    st = demo.ensure_demo(cfg, persons=1000)
    assert list((system / "trust").iterdir()) == []
    assert st.trust_dir == st.cfg.effective_trust_dir == tmp_path / "state" / "demo" / "trust"
    configured = replace(cfg, trust_dir=tmp_path / "configured")
    assert demo.demo_config(configured).effective_trust_dir == st.trust_dir


def test_demo_refuses_a_demo_dir_it_did_not_make(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "register.sqlite3").write_bytes(b"someone's data")
    assert main(["--state-dir", str(tmp_path), "demo", "--persons", "1000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[demo_state_foreign]" in err[0]
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["register.sqlite3"]
    assert (tmp_path / "demo" / "register.sqlite3").read_bytes() == b"someone's data"


def test_demo_secrets_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        st = demo.ensure_demo(config.load(None, tmp_path), persons=1000)
    finally:
        os.umask(old)
    for name in ("match.key", "registry-snapshot.key.pem", "persons.csv"):
        assert stat.S_IMODE((st.registry_dir / name).stat().st_mode) == 0o600, name


def test_an_older_demo_dir_is_recognised_and_replaced(tmp_path: Path) -> None:
    """Before the marker, the demo kept ``demo/registry`` (whose ``match.key`` a production
    daemon on the same state would pick up as its own): recognised by its key, replaced."""
    old = tmp_path / "demo" / "registry"
    generate(old, persons=1000, region=demo.DEMO_REGION, seed=demo.DEMO_SEED, deltas=1)
    (tmp_path / "demo" / "registry-service").mkdir()
    st = demo.ensure_demo(config.load(None, tmp_path), persons=1000)
    assert not old.exists() and not (tmp_path / "demo" / "registry-service").exists()
    assert (tmp_path / "demo" / demo.MARKER).is_file() and st.registry_dir.is_dir()
    # Not the demo's key: someone else's register, refused and left alone.
    other = tmp_path / "other"
    generate(other / "demo" / "registry", persons=1000, region="50", seed=3, deltas=1)
    with pytest.raises(demo.DemoStateError) as err:
        demo.ensure_demo(config.load(None, other), persons=1000)
    assert err.value.code == "demo_state_foreign"
    assert (other / "demo" / "registry" / "manifest.json").is_file()


def test_the_demo_never_uses_production_registry_or_register_settings(tmp_path: Path) -> None:
    cfg = replace(
        config.load(None, tmp_path),
        registry=config.RegistryConfig(url="https://registry.example", token="production"),
        register=config.RegisterConfig(
            region="77", db_path=tmp_path / "prod.sqlite3", match_key_file=tmp_path / "prod.key"
        ),
    )
    d = demo.demo_config(cfg)
    assert d.registry.url is None and d.registry.token is None
    assert d.register.region == demo.DEMO_REGION
    assert d.register_db == tmp_path / "demo" / "register.sqlite3"
    assert d.register.match_key_file is not None
    assert tmp_path / "demo" in d.register.match_key_file.parents
    assert demo.demo_config(d) is d


def test_demo_documents_are_a_pdf_extract_and_a_signed_xml_policy(tmp_path: Path) -> None:
    """The demo's document samples verify through the real pipeline: the PDF's QR code gives
    the ENP; the XML's GOST signature chains to the demo's document_signer root."""
    from verifier.service.assembly import assemble

    state = demo.ensure_demo(config.load(None, tmp_path), persons=1000)
    samples = {label: item for label, _, item in demo.demo_samples(state)}
    parts = assemble(state.cfg)
    try:
        pdf = parts.pipeline.verify(samples["register extract (PDF)"])
        xml = parts.pipeline.verify(samples["signed XML policy"])
    finally:
        parts.close()
    assert pdf.credential is not None and pdf.credential.kind.value == "register_extract"
    assert pdf.outcome.value == "valid"
    assert xml.credential is not None and xml.credential.kind.value == "signed_document"
    assert {c.name: c.status.value for c in xml.checks}["key_trusted"] == "pass"
    assert xml.outcome.value == "valid" and "format_assumed" in [r.value for r in xml.reasons]
    written = demo.write_credentials(state, tmp_path / "out")
    assert any(n.endswith(".pdf") for n in written) and any(n.endswith(".xml") for n in written)
