"""End to end: the embedded demo defaults give every outcome they promise."""

from __future__ import annotations

from pathlib import Path

from verifier import config, demo
from verifier.service.assembly import assemble


def test_every_demo_sample_gets_its_expected_outcome(tmp_path: Path) -> None:
    cfg = config.load(None, tmp_path)
    state = demo.ensure_demo(cfg, persons=3000)
    pipeline = assemble(cfg).pipeline
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
    demo.ensure_demo(cfg, persons=1000)
    first = assemble(cfg).store.info()
    demo.ensure_demo(cfg, persons=1000)
    again = assemble(cfg).store.info()
    assert first.sequence == again.sequence == 3
    assert first.imported_at == again.imported_at
