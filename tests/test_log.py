from __future__ import annotations

import json
from datetime import date

import pytest
import structlog

from verifier import log
from verifier.devkit.demo import demo_person_enp


def test_processor_masks_personal_fields_by_name() -> None:
    enp = demo_person_enp()
    out = log.mask_personal_data(
        None,
        "info",
        {
            "event": "scan",
            "enp": enp,
            "surname": "Иванов",
            "birth_date": date(1985, 3, 15),
            "credential": {"given_name": "Иван", "enp": enp},
            "snils": "112-233-445 95",
        },
    )
    text = json.dumps(out, default=str, ensure_ascii=False)
    assert enp not in text and "Иван" not in text and "1985" not in text and "445 95" not in text
    assert out["enp"].endswith(enp[-4:])


def test_processor_masks_enps_inside_free_text() -> None:
    enp = demo_person_enp()
    out = log.mask_personal_data(None, "info", {"event": f"lookup of {enp} failed"})
    assert enp not in out["event"]
    assert out["event"].startswith("lookup of 50")


def test_configured_logger_writes_masked_json(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(json=True, level="INFO")
    enp = demo_person_enp()
    log.get_logger("t").info("verified", enp=enp, surname="Петрова", outcome="valid")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    rec = json.loads(line)
    assert rec["outcome"] == "valid" and rec["level"] == "info"
    assert enp not in line and "Петрова" not in line
    structlog.reset_defaults()
