"""``oms-verifier`` command line. Exit codes: 0 a verdict (any outcome) or success,
1 a negative answer where a command asks a yes/no question, 2 unusable input or bad usage."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verifier import config as config_mod
from verifier import log
from verifier.credential import CredentialInput
from verifier.errors import IdentifierError, InputError, OmsError
from verifier.identifiers import normalize_enp, parse_enp
from verifier.pipeline import Pipeline
from verifier.verdict import CheckStatus, Verdict

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-verifier", description=__doc__)
    p.add_argument("--config", help="config file (env OMS_VERIFIER_CONFIG)")
    p.add_argument("--state-dir", help="state directory (env OMS_VERIFIER_STATE_DIR)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("verify", help="verify one credential from text, bytes or an image")
    src = v.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="text as a scanner or the app barcode gives it")
    src.add_argument("--hex", help="raw bytes as hex (e.g. a paper policy barcode)")
    src.add_argument("--file", help="file holding the raw bytes")
    src.add_argument("--image", help="PNG/JPEG image with a barcode")
    v.add_argument("--typed", action="store_true", help="--text was typed by a person")
    v.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    v.set_defaults(func=cmd_verify)

    e = sub.add_parser("enp", help="check an ENP and decode its region, birth date and sex")
    e.add_argument("number")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_enp)

    d = sub.add_parser("demo", help="verify built-in sample credentials and print the verdicts")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_demo)

    _register_optional(sub)
    return p


def _register_optional(sub: Any) -> None:
    """Subcommands owned by other parts register themselves here."""
    from verifier.crypto import cli as gost_cli

    gost_cli.register(sub)


def _fail(message: str, code: str) -> int:
    print(f"oms-verifier: error [{code}]: {message}", file=sys.stderr)
    return EXIT_USAGE


def make_pipeline(cfg: config_mod.Config) -> Pipeline:
    """The pipeline with every part the configuration enables."""
    return Pipeline()


def _inputs_from_args(args: argparse.Namespace) -> list[CredentialInput]:
    if args.text is not None:
        return [CredentialInput.from_text(args.text, source="cli", manual=args.typed)]
    if args.hex is not None:
        try:
            raw = bytes.fromhex("".join(args.hex.split()))
        except ValueError as exc:
            raise InputError(f"--hex is not hexadecimal: {exc}", code="bad_hex") from exc
        return [CredentialInput(payload=raw, source="cli")]
    if args.file is not None:
        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {args.file}: {exc.strerror}", code="bad_file") from exc
        return [CredentialInput(payload=raw, source="cli")]
    from verifier.imaging.decode import decode_image_file

    found = decode_image_file(args.image)
    return [
        CredentialInput(payload=b.payload, source="image", symbology=b.symbology.value)
        for b in found
    ]


def cmd_verify(args: argparse.Namespace) -> int:
    pipeline = make_pipeline(args.cfg)
    verdicts: list[Verdict] = []
    for item in _inputs_from_args(args):
        verdicts.append(pipeline.verify(item))
    for verdict in verdicts[:1]:  # one credential per call; extra codes in an image are ignored
        if args.json:
            print(json.dumps(verdict.to_dict(), ensure_ascii=False))
        else:
            print(render_verdict(verdict))
    return EXIT_OK


def render_verdict(verdict: Verdict) -> str:
    marks = {CheckStatus.PASS: "✓", CheckStatus.FAIL: "✗", CheckStatus.SKIP: "–"}
    lines = [f"{verdict.outcome.value.upper()}: {verdict.message}"]
    c = verdict.credential
    if c is not None:
        who = " ".join(x for x in (c.surname, c.given_name, c.patronymic) if x)
        lines.append(f"  {c.kind.value}  ЕНП {c.enp or '—'}  {who}".rstrip())
    for check in verdict.checks:
        lines.append(f"  {marks[check.status]} {check.name:<16} {check.detail}")
    lines.append(f"  источник: {verdict.source}")
    return "\n".join(lines)


def cmd_enp(args: argparse.Namespace) -> int:
    number = normalize_enp(args.number)
    out: dict[str, Any] = {"valid": False, "region": None, "birth_date": None, "sex": None}
    try:
        info = parse_enp(number)
    except IdentifierError as exc:
        out["error"] = exc.code
        out["message"] = exc.message
        if exc.code == "enp_format":
            # Not even ENP-shaped: unusable input.
            print(
                json.dumps(out) if args.json else exc.message,
                file=sys.stdout if args.json else sys.stderr,
            )
            return EXIT_USAGE
        print(json.dumps(out) if args.json else f"invalid: {exc.message}")
        return EXIT_NO
    out.update(
        valid=True, region=info.region, birth_date=info.birth_date.isoformat(), sex=info.sex.value
    )
    if args.json:
        print(json.dumps(out))
    else:
        print(f"valid: region {info.region}, born {info.birth_date:%d.%m.%Y}, sex {info.sex.value}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from verifier import demo

    pipeline = make_pipeline(args.cfg)
    for label, item in demo.sample_inputs():
        verdict = pipeline.verify(item)
        if args.json:
            print(json.dumps({"sample": label, **verdict.to_dict()}, ensure_ascii=False))
        else:
            print(f"== {label}\n{render_verdict(verdict)}\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_mod.load(args.config, args.state_dir)
    except OmsError as exc:
        return _fail(exc.message, exc.code)
    log.configure(json=cfg.log.json, level=cfg.log.level)
    try:
        args.cfg = cfg
        rc: int = args.func(args)
    except InputError as exc:
        return _fail(exc.message, exc.code)
    except OmsError as exc:
        return _fail(exc.message, exc.code)
    return rc


if __name__ == "__main__":
    sys.exit(main())
