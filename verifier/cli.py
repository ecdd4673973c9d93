"""``oms-verifier`` command line. Exit codes: 0 a verdict (any outcome) or success,
1 a negative answer where a command asks a yes/no question, 2 unusable input or bad usage."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cache.snapshot_store import SnapshotStore
from verifier import __version__, log
from verifier import config as config_mod
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput, ReadSymbology
from verifier.errors import IdentifierError, InputError, OmsError
from verifier.identifiers import normalize_enp, parse_enp
from verifier.service.assembly import assemble, import_snapshot
from verifier.trust import Purpose
from verifier.verdict import CheckStatus, Verdict

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-verifier", description=__doc__)
    p.add_argument("--version", action="version", version=f"oms-verifier {__version__}")
    p.add_argument("--config", help="config file (env OMS_VERIFIER_CONFIG)")
    p.add_argument("--state-dir", help="state directory (env OMS_VERIFIER_STATE_DIR)")
    p.add_argument("--registry-url", help="online registry (env OMS_VERIFIER_REGISTRY_URL)")
    p.add_argument("--registry-token", help="registry token (env OMS_VERIFIER_REGISTRY_TOKEN)")
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

    d = sub.add_parser(
        "demo",
        help="demo data: verify samples, or write sample credentials "
        "(only ever in <state-dir>/demo, with its own keys and register)",
    )
    d.add_argument("--json", action="store_true")
    d.add_argument("--persons", type=int, help="persons in a newly generated demo register")
    d.set_defaults(func=cmd_demo)
    dsub = d.add_subparsers(dest="demo_command", metavar="ACTION")
    dc = dsub.add_parser(
        "credentials", help="write sample barcode and card images for every outcome"
    )
    dc.add_argument("--out", required=True)
    dc.set_defaults(func=cmd_demo_credentials)

    dv = sub.add_parser("devices", help="list cameras, scanners and card readers found")
    dv.add_argument("--json", action="store_true")
    dv.set_defaults(func=cmd_devices)

    sc = sub.add_parser("scan", help="read one credential from a device and print its verdict")
    sc.add_argument(
        "--source",
        required=True,
        help="camera:INDEX|PATH, video:PATH, serial:PATH, hidraw:PATH, evdev:PATH, pcsc[:READER]",
    )
    sc.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a read")
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=cmd_scan)

    sv = sub.add_parser("serve", help="run the service: HTTP API, screens, drivers, sync")
    sv.add_argument(
        "--demo",
        action="store_true",
        help="embedded defaults: demo register and keys, reference registry on loopback",
    )
    sv.add_argument("--host", help="override [http] host")
    sv.add_argument("--port", type=int, help="override [http] port")
    sv.add_argument(
        "--source",
        action="append",
        default=[],
        help="driver source (repeatable): camera:0, video:PATH, serial:PATH, pcsc, ...",
    )
    sv.set_defaults(func=cmd_serve)

    sn = sub.add_parser("snapshot", help="the local register snapshot")
    snsub = sn.add_subparsers(dest="snapshot_command", required=True, metavar="ACTION")
    imp = snsub.add_parser("import", help="import a snapshot file, or a generator directory")
    imp.add_argument("path")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_snapshot_import)
    stat = snsub.add_parser("status", help="what the store holds and how fresh it is")
    stat.add_argument("--json", action="store_true")
    stat.set_defaults(func=cmd_snapshot_status)
    upd = snsub.add_parser("update", help="pull deltas (or a full snapshot) from the registry")
    upd.add_argument("--json", action="store_true")
    upd.set_defaults(func=cmd_snapshot_update)

    lk = sub.add_parser("lookup", help="verdict for a bare ENP")
    lk.add_argument("enp")
    where = lk.add_mutually_exclusive_group()
    where.add_argument("--offline", action="store_true", help="the local snapshot only")
    where.add_argument("--online", action="store_true", help="the online registry only")
    where.add_argument("--fresh", action="store_true", help="auto, but the registry first")
    lk.add_argument("--json", action="store_true")
    lk.set_defaults(func=cmd_lookup)

    fd = sub.add_parser("find", help="find a patient without a policy: name and birth date")
    fd.add_argument("--surname", required=True)
    fd.add_argument("--given-name", required=True)
    fd.add_argument("--patronymic", help="leave out if the person has none")
    fd.add_argument("--birth-date", required=True, help="YYYY-MM-DD")
    fwhere = fd.add_mutually_exclusive_group()
    fwhere.add_argument("--offline", action="store_true", help="the local snapshot only")
    fwhere.add_argument("--online", action="store_true", help="the online registry only")
    fd.add_argument("--json", action="store_true")
    fd.set_defaults(func=cmd_find)

    rg = sub.add_parser("registry", help="registry side: synthetic registers, reference service")
    rgsub = rg.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    gen = rgsub.add_parser("generate", help="write a synthetic register and signed snapshots")
    gen.add_argument("--persons", type=int, required=True)
    gen.add_argument("--region", help="the region (required unless --national)")
    gen.add_argument(
        "--national", action="store_true", help="every region: national parts and sample.csv"
    )
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--deltas", type=int, default=2)
    gen.add_argument("--valid-hours", type=float, default=72.0)
    gen.add_argument("--out", required=True)
    gen.set_defaults(func=cmd_registry_generate)
    from verifier.registry.server.cli import add_export_parser, add_serve_parser

    add_serve_parser(rgsub)
    add_export_parser(rgsub)

    tr = sub.add_parser("trust", help="the trust store: keys by purpose and id")
    trsub = tr.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    add = trsub.add_parser("add", help="trust a public key or root certificate for a purpose")
    add.add_argument("--purpose", required=True, choices=[p.value for p in Purpose])
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--pubkey", help="PEM/DER public key")
    what.add_argument("--certificate", help="PEM/DER root certificate (card_insurer_root)")
    add.add_argument("--name", help="file name stem in the trust directory")
    add.add_argument("--key-number", type=int, help="paper_barcode: the key number byte")
    add.set_defaults(func=cmd_trust_add)
    ls = trsub.add_parser("list", help="list trusted keys")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_trust_list)

    _add_directory_and_audit(sub)
    _register_optional(sub)
    return p


def _add_directory_and_audit(sub: Any) -> None:
    """``directory import|list`` (ФОМС F002/F003/F032 names) and ``audit list|export``."""
    dr = sub.add_parser("directory", help="ФОМС directories: insurer and clinic names")
    drsub = dr.add_subparsers(dest="directory_command", required=True, metavar="ACTION")
    di = drsub.add_parser(
        "import", help="load F002 (insurers), F003 or F032 (clinics) XML; kind told by content"
    )
    di.add_argument("files", nargs="+", metavar="FILE")
    di.add_argument("--json", action="store_true")
    di.set_defaults(func=cmd_directory_import)
    dl = drsub.add_parser("list", help="which directories are loaded, from which files")
    dl.add_argument("--entries", action="store_true", help="also every insurer and clinic")
    dl.add_argument("--json", action="store_true")
    dl.set_defaults(func=cmd_directory_list)

    au = sub.add_parser("audit", help="the audit log of verifications (masked ENPs only)")
    ausub = au.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    al = ausub.add_parser("list", help="recent verifications, newest first")
    al.add_argument("--since", help="ISO date or time (no offset: local time)")
    al.add_argument("--until", help="ISO date (that whole day) or time, exclusive")
    al.add_argument("--limit", type=int, default=100, help="at most N rows (default 100)")
    al.add_argument("--json", action="store_true")
    al.set_defaults(func=cmd_audit_list)
    ae = ausub.add_parser(
        "export", help="verifications in a period as CSV (masked: the log holds no full ENP)"
    )
    ae.add_argument("--since", required=True, help="ISO date or time (no offset: local time)")
    ae.add_argument("--until", help="ISO date (that whole day) or time, exclusive")
    ae.add_argument("--out", help="CSV file, written 0600 (default: standard output)")
    ae.set_defaults(func=cmd_audit_export)


def _register_optional(sub: Any) -> None:
    """Subcommands owned by other parts register themselves here."""
    from verifier.crypto import cli as gost_cli

    gost_cli.register(sub)


def _fail(message: str, code: str) -> int:
    from verifier.messages_ru import error_ru

    print(f"oms-verifier: error [{code}]: {error_ru(code, message)}", file=sys.stderr)
    return EXIT_USAGE


def _verify_and_print(
    args: argparse.Namespace,
    item: CredentialInput,
    *,
    mode: LookupMode = LookupMode.AUTO,
    fresh: bool = False,
) -> int:
    """One verdict with every configured part, printed; the parts (store, registry loop
    thread) are closed afterwards."""
    parts = assemble(args.cfg)  # the national store when the state directory holds one
    try:
        verdict = parts.pipeline.verify(item, mode=mode, fresh=fresh)
    finally:
        parts.close()
    print(
        json.dumps(verdict.to_dict(), ensure_ascii=False) if args.json else render_verdict(verdict)
    )
    return EXIT_OK


def _beside(path: str) -> bytes | None:
    """A detached CMS signature next to a document: ``extract.pdf.sig`` / ``extract.pdf.p7s``."""
    for suffix in (".sig", ".p7s"):
        sig = Path(path + suffix)
        if sig.is_file() and sig.stat().st_size <= 1024 * 1024:
            return sig.read_bytes()
    return None


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
        return [CredentialInput(payload=raw, source="cli", detached_signature=_beside(args.file))]
    from verifier.imaging.decode import decode_image_file

    found = decode_image_file(args.image)
    return [
        CredentialInput(
            payload=b.payload, source="image", symbology=ReadSymbology(b.symbology.value)
        )
        for b in found
    ]


def cmd_verify(args: argparse.Namespace) -> int:
    # One credential per call: further codes in an image are ignored, not verified.
    return _verify_and_print(args, _inputs_from_args(args)[0])


_KIND_RU = {
    "paper_policy": "бумажный полис (штрихкод)",
    "digital_policy": "цифровой полис",
    "manual": "номер введён вручную",
    "temporary_certificate": "временное свидетельство",
    "old_policy": "полис старого образца",
    "card": "электронный полис (карта)",
}
_SOURCE_RU = {"snapshot": "локальная копия реестра", "registry": "онлайн-реестр", "none": "—"}
_FRESH_RU = {"fresh": "актуальна", "stale": "устарела, но действует", "expired": "просрочена",
             "absent": "нет"}  # fmt: skip


def render_verdict(verdict: Verdict) -> str:
    """For a person: the Russian message (its title is the outcome), the next step, who and
    what, then each check — a failed or skipped check by its reason in Russian (check
    ``detail`` texts are English diagnostics; ``--json`` has them all)."""
    from verifier.verdict import REASON_RU

    marks = {CheckStatus.PASS: "✓", CheckStatus.FAIL: "✗", CheckStatus.SKIP: "–"}
    lines = [verdict.message]
    if verdict.action:
        lines.append(f"  Что делать: {verdict.action}")
    c = verdict.credential
    reg_enp = verdict.register.enp if verdict.register is not None else None
    if c is not None:
        who = " ".join(x for x in (c.surname, c.given_name, c.patronymic) if x)
        born = f", {c.birth_date:%d.%m.%Y}" if c.birth_date else ""
        number = c.temp_cert_number or " ".join(x for x in (c.old_series, c.old_number) if x)
        lines.append(f"  {_KIND_RU.get(c.kind.value, c.kind.value)}" + (f" № {number}" if number
                     else ""))  # fmt: skip
        lines.append(f"  ЕНП {c.enp or reg_enp or '—'}  {who}{born}".rstrip())
    if verdict.insurer is not None:
        name = verdict.insurer.name or "—"
        lines.append(f"  Страховая организация: {name} (ОГРН {verdict.insurer.ogrn})")
    if verdict.attachment is not None:
        a = verdict.attachment
        where = f"{a.name} (МО {a.code})" if a.name else f"МО {a.code}"
        if a.this_clinic is True:
            attached = f"прикреплён к нашей поликлинике — {where}"
        elif a.this_clinic is False:
            attached = f"прикреплён к другой МО: {where}"
        else:  # [clinic] mo_code not configured
            attached = where
        lines.append(f"  Прикрепление: {attached}")
    if verdict.candidates:
        lines.append("  По номеру найдены (выберите по ЕНП):")
        for cand in verdict.candidates:
            start = f"с {cand.start:%d.%m.%Y}" if cand.start else ""
            lines.append(f"    ЕНП {cand.enp}  {cand.policy_type} {cand.status} {start}".rstrip())
    for check in verdict.checks:
        why = REASON_RU.get(check.reason, check.detail) if check.reason else check.detail
        lines.append(f"  {marks[check.status]} {check.name:<16} {why}".rstrip())
    source = _SOURCE_RU.get(verdict.source, verdict.source)
    if verdict.snapshot is not None and verdict.source == "snapshot":
        source += f", копия {_FRESH_RU.get(verdict.snapshot.state, verdict.snapshot.state)}"
    lines.append(f"  Источник ответа: {source}")
    return "\n".join(lines)


def cmd_find(args: argparse.Namespace) -> int:
    """A patient with a passport only: candidates by name and birth date, with verdicts."""
    from datetime import date

    from verifier.service.search import PersonQuery, search

    try:
        born = date.fromisoformat(args.birth_date)
    except ValueError:
        raise InputError("--birth-date: дата в виде ГГГГ-ММ-ДД", code="bad_argument") from None
    query = PersonQuery(args.surname, args.given_name, args.patronymic or None, born)
    mode = LookupMode.OFFLINE if args.offline else LookupMode.ONLINE if args.online else (
        LookupMode.AUTO)  # fmt: skip
    parts = assemble(args.cfg)
    try:
        result = search(parts, query, mode)
    finally:
        parts.close()
    if args.json:
        out = {
            "source": result.source.value,
            "candidates": [v.to_dict() for v in result.candidates],
            "notes": list(result.notes),
        }
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    where = _SOURCE_RU.get(result.source.value, result.source.value)
    if not result.candidates:
        print(f"Никого не найдено ({where})")
    else:
        print(f"Найдено: {len(result.candidates)} ({where})")
    for i, v in enumerate(result.candidates, start=1):
        print(f"\n[{i}] {render_verdict(v)}")
    for note in result.notes:
        print(f"  примечание: {note}")
    return EXIT_OK


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
    from verifier.devkit import demo

    state = demo.ensure_demo(args.cfg, persons=_demo_persons(args))
    parts = assemble(state.cfg)  # the demo's own trust dir and register, never production's
    try:
        for label, expected, item in demo.demo_samples(state):
            verdict = parts.pipeline.verify(item)
            if args.json:
                row = {"sample": label, "expected": expected, **verdict.to_dict()}
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(f"== {label} (ожидается: {expected})\n{render_verdict(verdict)}\n")
    finally:
        parts.close()
    return EXIT_OK


def cmd_snapshot_import(args: argparse.Namespace) -> int:
    from cache.national_format import MAGIC as NATIONAL_MAGIC
    from cache.national_store import is_national_dir
    from cache.snapshot_chain import read_chain
    from verifier.service.national import has_national, import_national

    path = Path(args.path)
    national = is_national_dir(path) if path.is_dir() else _magic(path) == NATIONAL_MAGIC
    if national or (path.is_file() and path.name.startswith("delta-") and has_national(args.cfg)):
        for r in import_national(args.cfg, path):
            row = {"kind": r.kind.value, "sequence": r.sequence, "records": r.records,
                   "seconds": round(r.seconds, 3)}  # fmt: skip
            print(json.dumps(row) if args.json else f"imported {r.kind.value} #{r.sequence}, "
                  f"{r.records} records, {r.seconds:.2f} s")  # fmt: skip
        return EXIT_OK
    parts = assemble(args.cfg)
    if path.is_dir():
        try:
            found = read_chain(path)  # a broken snapshot raises its own typed error
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", code="bad_file") from exc
        if found.full is None and not found.deltas:
            raise InputError(f"{path} holds no *.omssnap files", code="bad_file")
        files = found.files(parts.store.info().sequence)
    else:
        files = [path]
    results = [import_snapshot(args.cfg, parts.store, parts.trust, str(f)) for f in files]
    for f, r in zip(files, results, strict=True):
        row = {
            "file": f.name,
            "kind": r.kind.value,
            "sequence": r.sequence,
            "records": r.records,
            "seconds": round(r.seconds, 3),
        }
        print(
            json.dumps(row)
            if args.json
            else f"imported {f.name}: {r.kind.value} #{r.sequence}, "
            f"{r.records} records, {r.seconds:.2f} s"
        )
    if not results and not args.json:
        print("nothing to import: the store is up to date")
    return EXIT_OK


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(8)
    except OSError:
        return b""


def cmd_snapshot_status(args: argparse.Namespace) -> int:
    from verifier.service.assembly import store_status

    parts = assemble(args.cfg)
    st = store_status(args.cfg, parts.store)
    info, reg, rev = st.info, st.register, st.revocations
    out = {
        "state": reg.state.value,
        "region": info.region,
        "sequence": info.sequence,
        "records": info.records,
        "created_at": info.created_at.isoformat() if info.created_at else None,
        "age_s": reg.age_s,
        "parts": {
            "register": {"state": reg.state.value, "valid_until": _iso(info.register_valid_until)},
            "revocations": {
                "state": rev.state.value,
                "valid_until": _iso(info.revocations_valid_until),
            },
        },
        "imported_at": _iso(info.imported_at),
        "last_sync_at": _iso(info.last_sync_at),
        "clock_skew_s": info.clock_skew_s,
        "clock_skewed": st.clock_skewed,
        "key_id": info.key_id,
        "db_path": str(args.cfg.register_db),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:14} {v}")
    return EXIT_OK


def _iso(value: object) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


def cmd_lookup(args: argparse.Namespace) -> int:
    mode = (
        LookupMode.OFFLINE
        if args.offline
        else LookupMode.ONLINE
        if args.online
        else LookupMode.AUTO
    )
    item = CredentialInput.from_text(args.enp, source="cli", manual=True)
    return _verify_and_print(args, item, mode=mode, fresh=args.fresh)


def cmd_snapshot_update(args: argparse.Namespace) -> int:
    from verifier.service.sync import SnapshotSync

    parts = assemble(args.cfg)
    if parts.client is None or parts.loop is None:
        raise InputError(
            "no registry configured: set [registry] url, "
            "OMS_VERIFIER_REGISTRY_URL or --registry-url",
            code="no_registry",
        )
    sync: SnapshotSync
    if isinstance(parts.store, SnapshotStore):
        sync = SnapshotSync(parts.client, parts.store, parts.trust, region=args.cfg.register.region)
    else:  # the national store: the registry's national manifest, resumable downloads
        from verifier.service.national_sync_loop import NationalSync

        sync = NationalSync(parts.client, parts.store, parts.trust, download_dir=args.cfg.state_dir)
    try:
        results = parts.loop.call(sync.run_once, 3600.0)
    finally:
        parts.close()
    out = {
        "imported": [
            {"kind": r.kind.value, "sequence": r.sequence, "records": r.records} for r in results
        ],
        **sync.status.to_dict(),
    }
    print(
        json.dumps(out)
        if args.json
        else f"snapshot at sequence {out['sequence']}; imported {len(results)} file(s)"
    )
    return EXIT_OK


def cmd_registry_generate(args: argparse.Namespace) -> int:
    from verifier.devkit.generator import generate

    if args.persons < 1:
        raise InputError("--persons must be at least 1", code="bad_argument")
    if args.national:
        from verifier.devkit.national_generator import generate_national

        n = generate_national(
            args.out,
            persons=args.persons,
            seed=args.seed,
            deltas=args.deltas,
            valid_hours=args.valid_hours,
        )
        print(json.dumps({"out": str(n.out_dir), "files": len(n.files), "persons": n.persons,
                          "key_id": n.key_id, "seconds": round(n.seconds, 1)}))  # fmt: skip
        return EXIT_OK
    if not args.region:
        raise InputError("--region is required (or --national)", code="bad_argument")
    g = generate(
        args.out,
        persons=args.persons,
        region=args.region,
        seed=args.seed,
        deltas=args.deltas,
        valid_hours=args.valid_hours,
    )
    print(
        json.dumps(
            {
                "out": str(g.out_dir),
                "files": [f.name for f in g.files],
                "persons": g.persons,
                "key_id": g.key_id,
            }
        )
    )
    return EXIT_OK


def cmd_trust_add(args: argparse.Namespace) -> int:
    from verifier.trust import key_from_mapping

    d = args.cfg.effective_trust_dir
    src = Path(args.pubkey or args.certificate)
    stem = args.name or f"{args.purpose}-{src.stem}"
    field = "public_key_pem" if args.pubkey else "certificate_pem"
    try:
        pem = src.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {src}: {exc.strerror}", code="bad_file") from exc
    doc: dict[str, Any] = {"purpose": args.purpose, field: pem}
    if args.key_number is not None:
        doc["key_number"] = args.key_number
    key = key_from_mapping(doc, base=None, origin=f"{stem}.toml")  # validate before writing
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{stem}.pem").write_bytes(pem)
    doc[field.removesuffix("_pem")] = f"{stem}.pem"
    del doc[field]
    lines = [f"{k} = {json.dumps(v)}" for k, v in doc.items()]
    (d / f"{stem}.toml").write_text("\n".join(lines) + "\n")
    print(f"trusted {key.purpose.value} key {key.key_id} in {d}")
    return EXIT_OK


def cmd_trust_list(args: argparse.Namespace) -> int:
    rows = [
        {
            "id": k.key_id,
            "purpose": k.purpose.value,
            "state": k.state.value,
            "algorithm": k.public_key.algorithm.name,
            "origin": k.origin,
            "not_before": _iso(k.not_before),
            "not_after": _iso(k.not_after),
        }
        for k in assemble(args.cfg).trust.keys()  # noqa: SIM118 - TrustStore.keys(), not a dict
    ]
    print(
        json.dumps(rows)
        if args.json
        else "\n".join(f"{r['purpose']:18} {r['id']:34} {r['state']:8} {r['origin']}" for r in rows)
    )
    return EXIT_OK


def cmd_devices(args: argparse.Namespace) -> int:
    from drivers.sources import list_devices

    found = [d.to_dict() for d in list_devices()]
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    elif not found:
        print("no cameras, scanners or card readers found")
    else:
        for d in found:
            print("  ".join(str(d.get(k) or "") for k in ("kind", "path", "name", "usb")))
    return EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    """One read from one source, verified; exit 2 if nothing was read within the timeout."""
    import asyncio

    from drivers.sources import open_source

    driver = open_source(args.source)
    reads: list[CredentialInput] = []

    async def run() -> None:
        stop = asyncio.Event()

        async def emit(item: CredentialInput) -> None:
            reads.append(item)
            stop.set()

        task = asyncio.create_task(driver.run(emit, stop))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=args.timeout)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(run())
    if not reads:
        health = driver.health()
        raise InputError(
            f"nothing read from {args.source} within {args.timeout:g} s "
            f"(device {health.state.value}: {health.detail or 'no detail'})",
            code="no_read",
        )
    return _verify_and_print(args, reads[0])


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from verifier.service.daemon import serve

    def overrides(cfg: config_mod.Config) -> config_mod.Config:
        http = cfg.http
        if args.host or args.port is not None:
            http = replace(
                http,
                host=args.host or http.host,
                port=args.port if args.port is not None else http.port,
            )
            config_mod.check_http_exposure(http)
        service = cfg.service
        if args.source:
            service = replace(service, sources=tuple(args.source))
        return replace(cfg, http=http, service=service)

    def reload_config() -> config_mod.Config:
        return overrides(
            config_mod.load(
                args.config,
                args.state_dir,
                registry_url=args.registry_url,
                registry_token=args.registry_token,
            )
        )

    if args.demo:
        return _serve_demo(args, overrides, reload_config)
    return serve(overrides(args.cfg), demo=args.demo, reload_config=reload_config)


def _serve_demo(
    args: argparse.Namespace,
    overrides: Callable[[config_mod.Config], config_mod.Config],
    reload_config: Callable[[], config_mod.Config],
) -> int:
    """``serve --demo``: refused over production data (``demo_production_state``, exit 2);
    otherwise the daemon runs on the demo's own config (``<state-dir>/demo``), on reload too."""
    from verifier.devkit import demo
    from verifier.service.daemon import serve

    demo.refuse_production_state(args.cfg)
    return serve(
        demo.demo_config(overrides(args.cfg)),
        demo=True,
        reload_config=lambda: demo.demo_config(reload_config()),
    )


def cmd_demo_credentials(args: argparse.Namespace) -> int:
    from verifier.devkit import demo

    state = demo.ensure_demo(args.cfg, persons=_demo_persons(args))
    written = demo.write_credentials(state, Path(args.out))
    for name in written:
        print(name)
    return EXIT_OK


def _demo_persons(args: argparse.Namespace) -> int:
    from verifier.devkit import demo

    persons: int | None = getattr(args, "persons", None)
    if persons is None:
        return demo.DEMO_PERSONS
    if not 1000 <= persons <= 1_000_000:
        raise InputError("--persons must be 1000..1000000", code="bad_argument")
    return persons


_DIRECTORY_WHAT = {"insurers": "СМО", "clinics": "МО"}


def cmd_directory_import(args: argparse.Namespace) -> int:
    """Every file parsed first, then all loaded in one transaction: a bad file imports none."""
    from verifier.directories import Directories, DirectoryError, parse_directory, store_path

    parsed = []
    for name in args.files:
        try:
            parsed.append(parse_directory(name))
        except DirectoryError as exc:
            raise DirectoryError(f"{name}: {exc.message}", code=exc.code) from exc
    with Directories(store_path(args.cfg.state_dir)) as d:
        statuses = {s.kind: s for s in d.replace(parsed)}
    for name, p in zip(args.files, parsed, strict=True):
        st = statuses[p.kind]
        row = {
            "file": name,
            "format": p.format.value,
            "kind": p.kind.value,
            "records": p.records,
            "skipped": p.skipped,
            "file_date": p.file_date.isoformat() if p.file_date else None,
            "imported_at": st.imported_at.isoformat(),
        }
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        dated = f" от {p.file_date:%d.%m.%Y}" if p.file_date else ""
        skipped = f", пропущено без кода МО: {p.skipped}" if p.skipped else ""
        print(
            f"загружен {Path(name).name}: {p.format.value} ({_DIRECTORY_WHAT[p.kind.value]}"
            f"){dated}, записей: {p.records}{skipped}"
        )
    return EXIT_OK


def cmd_directory_list(args: argparse.Namespace) -> int:
    from datetime import datetime

    from verifier.directories import Directories, iter_entries, store_path

    path = store_path(args.cfg.state_dir)
    statuses: list[dict[str, object]] = []
    entries: list[dict[str, object]] = []
    if path.exists():  # listing never creates the store
        with Directories(path) as d:
            statuses = [s.to_dict() for s in d.status()]
            if args.entries:
                entries = list(iter_entries(d))
    if args.json:
        out: dict[str, object] = {"directories": statuses, "db_path": str(path)}
        if args.entries:
            out["entries"] = entries
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    loaded = {s["kind"]: s for s in statuses}
    for kind, what in _DIRECTORY_WHAT.items():
        s = loaded.get(kind)
        if s is None:
            print(f"{what}: справочник не загружен (oms-verifier directory import FILE)")
            continue
        dated = _ru_date(s["file_date"])
        loaded_at = datetime.fromisoformat(str(s["imported_at"])).astimezone()
        print(
            f"{what}: {s['format']}, записей: {s['records']}, файл {s['file'] or '—'}"
            f" от {dated}, загружен {loaded_at:%d.%m.%Y %H:%M}"
        )
    for e in entries:
        code = e.get("ogrn") if e["kind"] == "insurers" else e.get("code")
        print(
            f"  {_DIRECTORY_WHAT[str(e['kind'])]:3} {code}  {e.get('okato') or '—':5}  {e['name']}"
        )
    return EXIT_OK


def _ru_date(iso: object) -> str:
    from datetime import date

    return date.fromisoformat(iso).strftime("%d.%m.%Y") if isinstance(iso, str) else "—"


def _audit_range(args: argparse.Namespace) -> tuple[Any, Any]:
    from verifier.service.audit import parse_when

    since = parse_when(args.since) if args.since else None
    until = parse_when(args.until, end_of_day=True) if args.until else None
    if since is not None and until is not None and until <= since:
        raise InputError("--until должно быть позже --since", code="bad_time")
    return since, until


def cmd_audit_list(args: argparse.Namespace) -> int:
    from verifier.service.audit import audit_path, entry_dict, open_existing

    if args.limit < 1:
        raise InputError("--limit must be at least 1", code="bad_argument")
    since, until = _audit_range(args)
    log_ = open_existing(audit_path(args.cfg.state_dir))
    try:
        rows = log_.query(since=since, until=until, limit=args.limit)
    finally:
        log_.close()
    if args.json:
        print(json.dumps([entry_dict(e) for e in rows], ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("проверок за этот период нет")
        return EXIT_OK
    print("время (местное)            кто              канал    вид        ЕНП               итог")
    from datetime import datetime

    for e in rows:
        at = datetime.fromisoformat(e.at).astimezone().isoformat(sep=" ", timespec="seconds")
        reasons = f"  [{', '.join(e.reasons)}]" if e.reasons else ""
        print(
            f"{at:26} {e.who[:16]:16} {e.channel[:8]:8} {(e.kind or '—')[:10]:10}"
            f" {e.enp_masked or '—':17} {e.outcome}{reasons}  ({e.source})"
        )
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    from verifier.service.audit import audit_path, export_csv, open_existing, write_csv

    since, until = _audit_range(args)
    log_ = open_existing(audit_path(args.cfg.state_dir))
    try:
        if args.out is None:
            write_csv(log_.iter_range(since=since, until=until), sys.stdout)
            return EXIT_OK
        try:
            n = export_csv(log_, Path(args.out), since=since, until=until)
        except OSError as exc:
            raise InputError(f"cannot write {args.out}: {exc.strerror}", code="bad_file") from exc
    finally:
        log_.close()
    print(f"выгружено записей: {n} в {args.out}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_mod.load(
            args.config,
            args.state_dir,
            registry_url=args.registry_url,
            registry_token=args.registry_token,
        )
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
