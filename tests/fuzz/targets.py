"""Fuzz targets: one function per parser, each checking the hostile-input contract.

The contract (issue 10): for any bytes, a parser returns a result or raises a typed project error
(:class:`verifier.errors.OmsError` subclass, or the module's documented error such as
``drivers.framing.FramingError``); never another exception, never a hang. A target catches
exactly the errors it is allowed to raise; anything else escapes and is a crash, for atheris
(``tests/fuzz/atheris_main.py``) and for the pytest replay (``test_fuzz_regression.py``) alike.
Some targets also assert a property of the result (e.g. no verdict is ``valid`` without stores).

Targets that need several inputs (a CredentialInput's flags, a scanner's chunk timings, a card's
sequence of answers) cut one byte string with :class:`Cursor`, so every input is a plain file
that replays the same way everywhere.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cache import snapshot_format
from drivers import aim, framing, hid_pos, keyboard_wedge
from drivers.smartcard import apdu, goznak
from verifier import identifiers, recognize, safejson, trust
from verifier.credential import CredentialInput, CredentialKind
from verifier.crypto import cms, keys, signatures, x509
from verifier.errors import OmsError
from verifier.formats import digital, goznak_card, paper_barcode, pdf_extract, tlv, xml_policy
from verifier.pipeline import Pipeline
from verifier.registry import protocol
from verifier.verdict import Outcome

FIXED_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SYMBOLOGIES: tuple[str | None, ...] = (
    None,
    "qr",
    "pdf417",
    "datamatrix",
    "aztec",
    "card",
    "keyboard",
    None,
)


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    allowed: tuple[type[BaseException], ...]
    what: str  # the code under test, for docs and reports


class Cursor:
    """Cuts one fuzz input into fields; reading past the end yields zeros / empty parts."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def chunk(self) -> bytes:
        """A part prefixed by its 1-byte length."""
        n = self.byte()
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def pack_chunks(parts: list[bytes]) -> bytes:
    """Inverse of repeated :meth:`Cursor.chunk` (seed corpora)."""
    out = bytearray()
    for p in parts:
        if len(p) > 255:
            raise ValueError("a chunk holds at most 255 bytes")
        out += bytes((len(p),)) + p
    return bytes(out)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _ascii_digits(value: str, length: int | None = None) -> bool:
    return value.isascii() and value.isdigit() and (length is None or len(value) == length)


def _typed(exc: OmsError) -> None:
    """A typed error must carry a stable, non-empty code and a message."""
    assert isinstance(exc.code, str) and exc.code, f"{type(exc).__name__} without a code"
    assert isinstance(exc.message, str)


# --- verifier/formats ----------------------------------------------------------------------------


def fuzz_paper_barcode(data: bytes) -> None:
    try:
        p = paper_barcode.decode(data)
    except OmsError as exc:
        _typed(exc)
        raise
    assert _ascii_digits(p.enp, 16), p.enp
    assert p.surname, "decoded a policy without a surname"
    assert len(p.signature) == paper_barcode.SIGNATURE_LENGTH
    # the issuer signed the 65 data bytes; stray scanner bytes sit between them and the signature
    assert p.signed_data == data[:65] and p.signature == data[len(data) - 65 :]


def _walk(elements: list[tlv.Tlv], depth: int) -> None:
    for e in elements:
        assert e.raw.endswith(e.value)
        if e.constructed and depth < tlv.MAX_DEPTH:
            # a constructed tag holding garbage: a typed error, for the reader to handle
            with contextlib.suppress(tlv.TlvError):
                _walk(e.children(depth), depth + 1)


def fuzz_tlv_card(data: bytes) -> None:
    with contextlib.suppress(tlv.TlvError):
        _walk(tlv.parse(data), 0)
    dump = goznak_card.parse_dump(data)
    assert dump.holder.policy_number
    if dump.insurer is not None:  # the signed part is the record's TLVs without padding
        assert len(dump.insurer.signed_data) <= len(data)


def fuzz_digital(data: bytes) -> None:
    claim = digital.extract_enp(_text(data))
    assert _ascii_digits(claim.enp, 16), f"ENP claim {claim.enp!r} is not 16 ASCII digits"


def fuzz_identifiers(data: bytes) -> None:
    text = _text(data)
    compact = identifiers.normalize_enp(text)
    for value in (text, compact):
        for fn in (
            identifiers.validate_enp,
            identifiers.parse_enp,
            identifiers.enp_checksum_ok,
            identifiers.validate_snils,
            identifiers.decode_facet,
        ):
            try:
                fn(value)
            except identifiers.IdentifierError as exc:
                _typed(exc)
        try:
            number = identifiers.parse_temporary_certificate(value)
            assert _ascii_digits(number, 9), f"temporary certificate {number!r}"
        except identifiers.IdentifierError:
            pass
        try:
            old = identifiers.parse_old_policy(value)
            assert _ascii_digits(old.number), f"old policy number {old.number!r}"
            assert old.series
        except identifiers.IdentifierError:
            pass
    identifiers.mask_enp(text)
    if _ascii_digits(compact, 16) and identifiers.enp_checksum_ok(compact):
        assert identifiers.validate_enp(compact) == compact
    identifiers.okato_text(int.from_bytes(data[:8], "big"))


# --- recogniser and the whole pipeline -----------------------------------------------------------


def credential_input(data: bytes) -> CredentialInput:
    """First byte: bit 7 manual, bits 0-2 the symbology; the rest is the payload."""
    flags = data[0] if data else 0
    return CredentialInput(
        payload=data[1:],
        source="fuzz",
        symbology=SYMBOLOGIES[flags & 7],
        manual=bool(flags & 0x80),
        read_at=FIXED_NOW,
    )


def fuzz_recognize(data: bytes) -> None:
    cred = recognize.recognize(credential_input(data))
    if cred.kind in (CredentialKind.PAPER_POLICY, CredentialKind.DIGITAL_POLICY):
        assert cred.enp is not None and _ascii_digits(cred.enp, 16), f"ENP {cred.enp!r}"
    if cred.kind is CredentialKind.TEMPORARY_CERTIFICATE:
        number = cred.temp_cert_number
        assert number and _ascii_digits(number, 9), f"temporary certificate number {number!r}"
    cred.to_dict(masked=True)
    cred.to_dict()


def fuzz_pipeline(data: bytes) -> None:
    verdict = Pipeline(clock=lambda: FIXED_NOW).verify(credential_input(data))
    # No store, no register, no trusted key: nothing can vouch for anything.
    assert verdict.outcome is not Outcome.VALID, "valid without any register or key"
    json.dumps(verdict.to_dict(masked=True), ensure_ascii=False)
    json.dumps(verdict.to_dict(), ensure_ascii=False)


# --- cache ---------------------------------------------------------------------------------------


def fuzz_snapshot(data: bytes) -> None:
    reader = snapshot_format.SnapshotReader(io.BytesIO(data))
    rows = 0
    for chunk in reader.chunks():
        rows += len(chunk.rows)
    digest, sig = reader.finish()
    assert len(digest) == 32 and len(sig) in (64, 128)


# --- registry protocol ---------------------------------------------------------------------------


def fuzz_registry(data: bytes) -> None:
    """First byte picks the parser (and the HTTP status for problems); the rest is the body."""
    selector = data[0] if data else 0
    body = data[1:]
    which = selector % 6
    if which == 0:
        answer = protocol.parse_signed_answer(body)
        answer.signed_bytes()
        protocol.check_binding(
            answer, nonce=answer.nonce, query=answer.query, now=FIXED_NOW, max_skew_s=300.0
        )
    elif which == 1:
        for candidate in protocol.parse_candidates(body):
            candidate.signed_bytes()
    elif which == 2:
        protocol.parse_time(body)
    elif which == 3:
        protocol.parse_snapshot_index(body)
    elif which == 4:
        protocol.parse_not_found(body)
    else:
        problem = protocol.parse_problem(400 + selector, body)
        assert isinstance(problem, protocol.RegistryProblem)
        _typed(problem)


# --- crypto --------------------------------------------------------------------------------------


def fuzz_x509(data: bytes) -> None:
    certs = x509.load_certificates(data)
    for cert in certs:
        cert.fingerprint()
        cert.to_pem()
        try:
            x509.validate_chain(cert, [], [cert], FIXED_NOW)
        except x509.ChainError as exc:
            _typed(exc)
        except x509.UnsupportedAlgorithmError:
            pass


def fuzz_keys(data: bytes) -> None:
    """First byte: even → public key, odd → private key; the rest is PEM or DER."""
    body = data[1:]
    if data[:1] and data[0] & 1:
        priv = keys.load_private_key(body)
        assert 0 < priv.d < priv.curve.q
        return
    pub = keys.load_public_key(body)
    assert keys.load_public_key(pub.to_der()) == pub
    pub.key_id()


# --- trust ---------------------------------------------------------------------------------------

# A fixed trust-list signer (a test key, never a real one): the harness signs each fuzzed list so
# the parser behind the signature check is reached at all.
_TRUST_LIST_KEY = keys.PrivateKey(
    keys.Algorithm.GOST2012_256,
    keys.paramset_oid_for(keys.Algorithm.GOST2012_256, "A"),
    0x1F2E3D4C5B6A79880123456789ABCDEF,
)
TRUST_LIST_KEY_ID = "fuzz-trust-list"
_WORKDIR: Path | None = None


def _workdir() -> Path:
    """A private directory with the PEM files descriptors may name (made once per process)."""
    global _WORKDIR
    if _WORKDIR is None:
        d = Path(tempfile.mkdtemp(prefix="oms-fuzz-trust-"))
        atexit.register(shutil.rmtree, d, True)
        (d / "paper.pub.pem").write_bytes(_TRUST_LIST_KEY.public_key().to_pem())
        (d / "garbage.pem").write_bytes(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        )
        (d / "root.pem").write_bytes(root_certificate().to_pem())
        _WORKDIR = d
    return _WORKDIR


_ROOT: x509.Certificate | None = None


def root_certificate() -> x509.Certificate:
    global _ROOT
    if _ROOT is None:
        _ROOT = x509.build_certificate(
            subject="fuzz card root",
            public_key=_TRUST_LIST_KEY.public_key(),
            issuer_key=_TRUST_LIST_KEY,
            not_before=datetime(2020, 1, 1, tzinfo=UTC),
            days=3650,
            ca=True,
            serial_number=7,
        )
    return _ROOT


def trust_list_signer() -> trust.TrustedKey:
    return trust.TrustedKey(
        key_id=TRUST_LIST_KEY_ID,
        purpose=trust.Purpose.TRUST_LIST,
        public_key=_TRUST_LIST_KEY.public_key(),
    )


def sign_trust_list(document: bytes) -> bytes:
    return signatures.sign(_TRUST_LIST_KEY, document)


def fuzz_trust_list(data: bytes) -> None:
    store = trust.TrustStore([trust_list_signer()])
    version = store.apply_trust_list(data, sign_trust_list(data))
    assert store.list_version == version
    for k in store.keys(None):
        assert k.purpose is not trust.Purpose.TRUST_LIST or k.origin == "directory"


def fuzz_trust_descriptor(data: bytes) -> None:
    """A ``*.toml`` key descriptor in an otherwise good trust directory."""
    d = _workdir()
    (d / "fuzz.toml").write_bytes(data)
    store = trust.TrustStore.from_directory(d)
    for k in store.keys(None):
        if k.purpose is trust.Purpose.PAPER_BARCODE:
            assert k.paper_key_number is not None and 0 <= k.paper_key_number <= 255


# --- signed documents (CMS, XMLDSig, PDF) ---------------------------------------------------------

_SIGNER: tuple[keys.PrivateKey, x509.Certificate] | None = None


def document_signer() -> tuple[keys.PrivateKey, x509.Certificate]:
    """A leaf under :func:`root_certificate` that may sign documents (test key only)."""
    global _SIGNER
    if _SIGNER is None:
        key = keys.PrivateKey(
            keys.Algorithm.GOST2012_256,
            keys.paramset_oid_for(keys.Algorithm.GOST2012_256, "A"),
            0x2233445566778899AABBCCDDEEFF0011,
        )
        cert = x509.build_certificate(
            subject="fuzz document signer",
            public_key=key.public_key(),
            issuer_key=_TRUST_LIST_KEY,
            issuer=root_certificate(),
            not_before=datetime(2021, 1, 1, tzinfo=UTC),
            days=3000,
            serial_number=8,
        )
        _SIGNER = (key, cert)
    return _SIGNER


def signer_trust() -> cms.SignerTrust:
    return cms.SignerTrust(roots=(root_certificate(),), now=FIXED_NOW)


def fuzz_cms(data: bytes) -> None:
    """Byte 0 bit 0: detached (the content is a fixed text); bit 1: parse as CRLs instead."""
    flags = data[0] if data else 0
    body = data[1:]
    if flags & 2:
        for crl in cms.load_crls(body):
            _ = crl
        return
    content = b"oms-verifier fuzz content" if flags & 1 else None
    result = cms.verify_cms(body, content=content, trust=signer_trust())
    _ = result


def fuzz_xml_policy(data: bytes) -> None:
    """Byte 0 bit 0: read without a signature check; otherwise verify, then read."""
    flags = data[0] if data else 0
    body = data[1:]
    if flags & 1:
        policy = xml_policy.read_unsigned_policy(body)
    else:
        policy = xml_policy.read_signed_policy(body, trust=signer_trust())
    assert policy.format_assumed


def fuzz_pdf(data: bytes) -> None:
    """A PDF (register extract) without barcode decoding: pre-scan, PDFium, text, signatures."""
    extract = pdf_extract.analyze_pdf(data, trust=signer_trust(), decode_barcodes=False)
    _ = extract


# --- drivers -------------------------------------------------------------------------------------


def fuzz_apdu(data: bytes) -> None:
    """Byte 0: READ BINARY chunk size (and bit 7: fuzz the ATR too); then the card's answers,
    each a 1-byte-length chunk, in order. A card out of answers is a card pulled."""
    cur = Cursor(data)
    flags = cur.byte()
    chunk = (flags & 0x7F) * 2 + 1  # 1..255
    atr = cur.chunk() if flags & 0x80 else goznak.GOZNAK_ATR
    answers = []
    while not cur.done:
        answers.append(cur.chunk())
    queue = iter(answers)

    def transmit(command: bytes) -> bytes:
        apdu_cmd = command
        assert 4 <= len(apdu_cmd) <= 261, "built an APDU no card accepts"
        try:
            return next(queue)
        except StopIteration:
            raise apdu.CardRemoved("no more answers") from None

    for answer in answers[:4]:
        try:
            apdu.parse_response(answer).check("fuzz")
        except apdu.CardError as exc:
            _typed(exc)
    read = goznak.read_card(atr, transmit, chunk=chunk)
    assert read.holder[:1] == bytes((goznak_card.HOLDER_TAG,))
    assert read.insurer[:1] == bytes((goznak_card.INSURER_TAG,))
    try:  # what the daemon does next with a card that read fine
        recognize.recognize(CredentialInput(read.dump, source="fuzz", symbology="card"))
    except OmsError as exc:
        _typed(exc)


FRAMINGS = (
    "idle",
    "idle:80ms+cr",
    "idle:50ms+crlf",
    "suffix:cr",
    "suffix:crlf",
    "suffix:eol",
    "suffix:lf",
    "suffix:0x03",
)


def fuzz_framing(data: bytes) -> None:
    """Byte 0: the framing config (bit 3: parse the first chunk as a config string instead);
    then (1-byte gap in ms, 1-byte-length chunk) pairs; each frame then goes through AIM."""
    cur = Cursor(data)
    flags = cur.byte()
    if flags & 0x08:
        config = framing.FramingConfig.parse(_text(cur.chunk()))
        str(config)
    else:
        config = framing.FramingConfig.parse(FRAMINGS[flags & 7])
    if flags & 0x10:
        config = framing.FramingConfig(config.mode, config.suffix, max_len=64)
    framer = framing.Framer(config)
    now = 0.0
    frames: list[bytes] = []
    while not cur.done:
        now += cur.byte() / 1000.0
        frames += framer.feed(cur.chunk(), now)
        deadline = framer.deadline()
        if deadline is not None:
            assert deadline >= now - config.stale_after - config.idle_gap
    frames += framer.poll(now + 10.0)
    frames += framer.flush()
    for frame in frames:
        assert frame, "an empty read was handed on"
        assert len(frame) <= config.max_len, "a read longer than max_len was handed on"
        framing.looks_binary_policy(frame)
        mode: aim.AimMode = ("auto", "require", "off", "auto")[flags >> 5 & 3]
        with contextlib.suppress(aim.AimError):
            aim.split_aim(frame, mode)


def fuzz_aim(data: bytes) -> None:
    found = aim.parse_aim(data)
    if found is not None:
        assert data.startswith(found.text.encode("ascii"))
        _ = (found.symbology, found.name, found.uses_eci, found.code, found.modifier)
    for mode in ("auto", "off"):
        read = aim.split_aim(data, mode)  # type: ignore[arg-type]
        assert len(read.payload) <= len(data)
        _ = read.symbology
    out = aim.unescape_eci(data)
    assert len(out) <= len(data)
    aim.split_aim(data, "require")


def fuzz_hid_pos(data: bytes) -> None:
    """Byte 0 picks the layout and AIM mode; the rest is raw hidraw data."""
    flags = data[0] if data else 0
    layout = (hid_pos.POS_LAYOUT, hid_pos.MICROSCAN_LAYOUT)[flags & 1]
    mode: aim.AimMode = ("auto", "require", "off", "auto")[flags >> 1 & 3]
    asm = hid_pos.ReportAssembler(layout, aim=mode, max_len=512)
    body = data[1:]
    for report in hid_pos.split_reports(body, layout.size):
        with contextlib.suppress(hid_pos.ReportError):
            hid_pos.parse_report(report, layout)
        read = asm.feed(report)
        if read is not None:
            assert len(read.payload) <= 512
    asm.finish()


def fuzz_wedge(data: bytes) -> None:
    """Byte 0 picks the event format and key map; the rest is raw evdev data."""
    flags = data[0] if data else 0
    fmt = (keyboard_wedge.EVENT_64, keyboard_wedge.EVENT_32)[flags & 1]
    keymap = ("us", "ru")[flags >> 1 & 1]
    decoder = keyboard_wedge.WedgeDecoder(keymap, max_len=64)
    parser = keyboard_wedge.EventParser(fmt)
    body = data[1:]
    for part in (body[:7], body[7:]):  # a read may end mid-record
        for event in parser.feed(part):
            line = decoder.feed(event)
            if line is not None:
                assert len(line) <= 64
                line.encode("utf-8")
    with contextlib.suppress(ValueError):  # documented: not a whole number of events
        keyboard_wedge.decode_recording(body, keymap, fmt)


# --- JSON ----------------------------------------------------------------------------------------


def fuzz_safejson(data: bytes) -> None:
    depth = safejson.nesting_depth(data)
    doc = safejson.loads(data, max_bytes=64 * 1024)
    assert depth <= safejson.MAX_DEPTH
    assert isinstance(doc, dict | list | str | int | float | bool | type(None))
    try:
        safejson.loads_object(data)
    except safejson.JsonError as exc:
        _typed(exc)


# --- registry of targets -------------------------------------------------------------------------

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "paper_barcode", fuzz_paper_barcode, (OmsError,), "verifier/formats/paper_barcode.py"
        ),
        Target("tlv_card", fuzz_tlv_card, (OmsError,), "verifier/formats/tlv.py, goznak_card.py"),
        Target("digital", fuzz_digital, (OmsError,), "verifier/formats/digital.py"),
        Target("identifiers", fuzz_identifiers, (OmsError,), "verifier/identifiers.py"),
        Target("recognize", fuzz_recognize, (OmsError,), "verifier/recognize.py"),
        Target("pipeline", fuzz_pipeline, (recognize.RecognitionError,), "verifier/pipeline.py"),
        Target("snapshot", fuzz_snapshot, (OmsError,), "cache/snapshot_format.py"),
        Target("registry", fuzz_registry, (OmsError,), "verifier/registry/protocol.py"),
        Target("x509", fuzz_x509, (OmsError,), "verifier/crypto/x509.py"),
        Target("keys", fuzz_keys, (OmsError,), "verifier/crypto/keys.py"),
        Target("trust_list", fuzz_trust_list, (OmsError,), "verifier/trust.py (signed JSON list)"),
        Target(
            "trust_descriptor",
            fuzz_trust_descriptor,
            (OmsError,),
            "verifier/trust.py (TOML descriptor)",
        ),
        Target("cms", fuzz_cms, (OmsError,), "verifier/crypto/cms.py"),
        Target(
            "xml_policy",
            fuzz_xml_policy,
            (OmsError,),
            "verifier/formats/xml_policy.py, verifier/crypto/xmldsig.py",
        ),
        Target("pdf", fuzz_pdf, (OmsError,), "verifier/formats/pdf_extract.py"),
        Target("apdu", fuzz_apdu, (OmsError,), "drivers/smartcard/apdu.py, goznak.py"),
        Target(
            "framing",
            fuzz_framing,
            (OmsError, framing.FramingError),
            "drivers/framing.py (+ aim.py)",
        ),
        Target("aim", fuzz_aim, (aim.AimError,), "drivers/aim.py"),
        Target("hid_pos", fuzz_hid_pos, (), "drivers/hid_pos.py"),
        Target("wedge", fuzz_wedge, (), "drivers/keyboard_wedge.py, keymaps.py"),
        Target("safejson", fuzz_safejson, (OmsError,), "verifier/safejson.py"),
    )
}


def check(target: Target, data: bytes) -> None:
    """Run one input; an allowed error is a pass, anything else propagates."""
    try:
        target.run(data)
    except target.allowed as exc:
        if isinstance(exc, OmsError):
            _typed(exc)


__all__ = ["TARGETS", "Cursor", "Target", "check", "credential_input", "pack_chunks"]
