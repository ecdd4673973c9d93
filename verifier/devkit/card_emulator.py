"""A virtual Goznak OMS policy card: an APDU model, and a vsmartcard ``vpcd`` client for it.

:class:`GoznakCardEmulator` answers APDUs the way the card in REFERENCE §4 does: its ATR, the
file system (``foms_root`` → ``FOMS_ID`` → EF ``0201`` holder data; ``FOMS_INS`` → the current
insurer record, whose file id GET DATA ``01B0`` returns), T=0 behaviour (``6Cxx`` for a wrong
Le, optionally every data answer through ``61xx`` + GET RESPONSE, chained in small pieces) and
proper status words for wrong commands. Call :meth:`GoznakCardEmulator.transmit` directly in
unit tests.

:class:`VirtualCard` speaks the vpcd protocol (TCP, 2-byte big-endian length + payload; 1-byte
control messages 00 power off, 01 power on, 02 reset, 04 get ATR; anything else is an APDU):
``insert()`` connects to vpcd (the reader sees a card), ``remove()`` disconnects, and
``pull_after=N`` drops the connection after N APDUs, like a card pulled mid-read.

``python -m verifier.devkit.card_emulator --help`` runs one as a virtual card for the demo.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from drivers.smartcard.goznak import AID_ID, AID_INS, AID_ROOT, EF_HOLDER, GOZNAK_ATR
from verifier.formats import tlv
from verifier.formats.goznak_card import HOLDER_TAG, INSURER_TAG

VPCD_PORT = 35963
VPCD_POWER_OFF, VPCD_POWER_ON, VPCD_RESET, VPCD_GET_ATR = 0x00, 0x01, 0x02, 0x04
DEFAULT_INSURER_FILE = 0x0301
OTHER_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")  # a contactless PC/SC ATR


class EmulatorError(ValueError):
    """A card image that cannot be built (bad dump given to the emulator)."""


@dataclass
class CardImage:
    """What is on the card: ATR, holder EF, insurer record EFs and which one is current."""

    atr: bytes = GOZNAK_ATR
    holder: bytes | None = None
    insurer_records: dict[int, bytes] = field(default_factory=dict)
    current_insurer: int | None = None

    @classmethod
    def from_dump(
        cls, dump: bytes, *, insurer_file: int = DEFAULT_INSURER_FILE, atr: bytes = GOZNAK_ATR
    ) -> CardImage:
        """Split a card dump (``62`` then optionally ``64``) into the card's files."""
        try:
            elements = tlv.parse(dump)
        except tlv.TlvError as exc:
            raise EmulatorError(f"card dump is no TLV: {exc.message}") from exc
        by_tag = {e.tag: e.raw for e in elements}
        if HOLDER_TAG not in by_tag:
            raise EmulatorError("card dump has no holder template (62)")
        records = {insurer_file: by_tag[INSURER_TAG]} if INSURER_TAG in by_tag else {}
        return cls(atr, by_tag[HOLDER_TAG], records, insurer_file if records else None)

    @classmethod
    def unknown(cls, atr: bytes = OTHER_ATR) -> CardImage:
        """Some other card: a foreign ATR and none of the OMS files."""
        return cls(atr=atr)

    @property
    def dump(self) -> bytes:
        ins = self.insurer_records.get(self.current_insurer or -1, b"")
        return (self.holder or b"") + ins


# Where a name or file id lives: (parent, name) of the directory tree, EFs by (DF, fid).
_MF, _ROOT, _ID, _INS = "MF", "foms_root", "FOMS_ID", "FOMS_INS"
_DF_NAMES = {AID_ROOT: _ROOT, AID_ID: _ID, AID_INS: _INS}
_DF_PARENT = {_ROOT: _MF, _ID: _ROOT, _INS: _ROOT}


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


class GoznakCardEmulator:
    """The card's APDU behaviour; one instance is one card, thread-safe per call."""

    def __init__(
        self,
        image: CardImage,
        *,
        via_get_response: bool = False,
        get_response_chunk: int = 256,
        strict_le: bool = True,
        faults: dict[int, bytes] | None = None,
    ) -> None:
        """``via_get_response``: every data answer is ``61xx`` first (T=0 case-4 style);
        ``get_response_chunk``: at most this many bytes per GET RESPONSE (forces chains);
        ``strict_le``: a Le past the end of the data is answered ``6Cxx`` (T=0) instead of
        ``6282`` with the short data; ``faults``: {n: raw response} replaces the answer to
        the n-th APDU (0-based, counted since power-on) — for error-path tests."""
        self.image = image
        self.via_get_response = via_get_response
        self.get_response_chunk = max(1, min(256, get_response_chunk))
        self.strict_le = strict_le
        self.faults = dict(faults or {})
        self.apdus: list[bytes] = []  # every APDU since power-on, for tests and the demo log
        self._lock = threading.Lock()
        self.reset()

    @property
    def atr(self) -> bytes:
        return self.image.atr

    def reset(self) -> None:
        with self._lock:
            self._df = _MF
            self._ef: bytes | None = None
            self._pending = b""
            self.apdus = []

    def transmit(self, command: bytes) -> bytes:
        """One APDU in, one response APDU (data + SW1 SW2) out."""
        with self._lock:
            index = len(self.apdus)
            self.apdus.append(bytes(command))
            if index in self.faults:
                return self.faults[index]
            return self._process(bytes(command))

    # --- the command interpreter ---------------------------------------------------------

    def _process(self, c: bytes) -> bytes:
        if len(c) < 4:
            self._pending = b""
            return _sw(0x6700)
        cla, ins, p1, p2 = c[0], c[1], c[2], c[3]
        body = c[4:]
        data, le = b"", None
        if len(body) == 1:
            le = body[0] or 256
        elif len(body) > 1:
            lc = body[0]
            if lc == 0 or len(body) not in (1 + lc, 2 + lc):
                self._pending = b""
                return _sw(0x6700)
            data = body[1 : 1 + lc]
            if len(body) == 2 + lc:
                le = body[-1] or 256
        if cla != 0x00:
            self._pending = b""
            return _sw(0x6E00)
        if ins == 0xC0:
            return self._get_response(p1, p2, data, le)
        self._pending = b""
        if ins == 0xA4:
            return self._select(p1, p2, data, le)
        if ins == 0xB0:
            return self._read_binary(p1, p2, data, le)
        if ins == 0xCA:
            return self._get_data(p1, p2, data, le)
        return _sw(0x6D00)

    def _answer(self, payload: bytes, le: int | None) -> bytes:
        """Data going back: direct (Le must fit), or via 61xx when configured."""
        if self.via_get_response:
            self._pending = payload
            return _sw(0x6100 | (len(payload) & 0xFF))
        if le is None:
            # Case 1/3 command that produced data: T=0 says "ask for it"
            self._pending = payload
            return _sw(0x6100 | (len(payload) & 0xFF))
        if le > len(payload):
            if self.strict_le:
                return _sw(0x6C00 | (len(payload) & 0xFF))
            return _sw(0x6282, payload)
        return _sw(0x9000, payload[:le])

    def _get_response(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        if p1 or p2 or data:
            self._pending = b""
            return _sw(0x6A86)
        if not self._pending:
            return _sw(0x6985)
        if le is None:
            return _sw(0x6700)
        if le > len(self._pending):
            return _sw(0x6C00 | (len(self._pending) & 0xFF))
        n = min(le, self.get_response_chunk)
        out, self._pending = self._pending[:n], self._pending[n:]
        if self._pending:
            return _sw(0x6100 | (min(len(self._pending), 256) & 0xFF), out)
        return _sw(0x9000, out)

    def _select(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        if not data:
            return _sw(0x6700)
        if p2 not in (0x00, 0x0C):
            return _sw(0x6A86)
        if p1 == 0x04:
            df = _DF_NAMES.get(data) if self.image.holder is not None else None
            if df is None or (df != _ROOT and self._df == _MF):
                return _sw(0x6A82)
            self._df, self._ef = df, None
            fci = tlv.encode(0x6F, tlv.encode(0x84, data))
        elif p1 in (0x00, 0x02):
            if len(data) != 2:
                return _sw(0x6A87 if p1 == 0x02 else 0x6700)
            fid = int.from_bytes(data, "big")
            ef = self._ef_in(self._df, fid)
            if ef is None:
                return _sw(0x6A82)
            self._ef = ef
            fci = tlv.encode(0x62, tlv.encode(0x80, len(ef).to_bytes(2, "big")))
        else:
            return _sw(0x6A86)
        if p2 == 0x0C:
            return _sw(0x9000) if le is None else _sw(0x6700)
        return self._answer(fci, le)

    def _ef_in(self, df: str, fid: int) -> bytes | None:
        if df == _ID and fid == EF_HOLDER:
            return self.image.holder
        if df == _INS:
            return self.image.insurer_records.get(fid)
        return None

    def _read_binary(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        if data:
            return _sw(0x6700)
        if p1 & 0x80:
            return _sw(0x6A81)  # short-EF addressing: not supported by this card model
        if self._ef is None:
            return _sw(0x6986)
        if le is None:
            return _sw(0x6700)
        offset = (p1 << 8) | p2
        if offset >= len(self._ef):
            return _sw(0x6B00)
        return self._answer(self._ef[offset : offset + le], le)

    def _get_data(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        if data:
            return _sw(0x6700)
        if (p1, p2) != (0x01, 0xB0) or self._df != _INS:
            return _sw(0x6A88)
        current = self.image.current_insurer
        if current is None:
            return _sw(0x6A88)
        if le is None:
            return _sw(0x6700)
        return self._answer(current.to_bytes(2, "big"), le)


# --- the vpcd side ------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class VirtualCard:
    """One card in a vpcd slot: ``insert()`` connects to vpcd, ``remove()`` pulls it out.

    vpcd listens on ``port`` for slot 0 (``port + 1`` for slot 1 …); a connection is a card
    in that reader. ``pull_after=N``: the connection drops when APDU number N+1 arrives
    (unanswered), as if the card left the reader mid-read; ``pulled`` is set when that happens.
    """

    def __init__(
        self,
        card: GoznakCardEmulator,
        *,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        pull_after: int | None = None,
    ) -> None:
        self.card = card
        self.host, self.port = host, port
        self.pull_after = pull_after
        self.pulled = threading.Event()
        self.served = 0  # APDUs answered over this card's lifetime
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def inserted(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def insert(self, timeout: float = 10.0) -> None:
        """Connect to vpcd (retrying until it listens, up to ``timeout``) and serve it."""
        self.remove()
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pulled.clear()
        self.card.reset()
        with self._lock:
            self._sock = sock
            self._thread = threading.Thread(
                target=self._serve, args=(sock,), name=f"vicc-{self.port}", daemon=True
            )
            self._thread.start()

    def remove(self) -> None:
        with self._lock:
            sock, thread, self._sock, self._thread = self._sock, self._thread, None, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def wait_pulled(self, timeout: float) -> bool:
        return self.pulled.wait(timeout)

    def _serve(self, sock: socket.socket) -> None:
        apdus = 0
        try:
            while True:
                head = _recv_exact(sock, 2)
                if head is None:
                    return
                (length,) = struct.unpack(">H", head)
                msg = _recv_exact(sock, length)
                if msg is None:
                    return
                if length == 1:
                    ctrl = msg[0]
                    if ctrl == VPCD_GET_ATR:
                        self._send(sock, self.card.atr)
                    elif ctrl in (VPCD_POWER_ON, VPCD_RESET, VPCD_POWER_OFF):
                        self.card.reset()
                    continue  # no answer to the other control messages
                if self.pull_after is not None and apdus >= self.pull_after:
                    self.pulled.set()
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                apdus += 1
                answer = self.card.transmit(msg)
                self.served += 1
                self._send(sock, answer)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(struct.pack(">H", len(payload)) + payload)


# --- command line: a virtual card for the demo --------------------------------------------


def _load_dump(args: argparse.Namespace) -> bytes:
    if args.dump:
        raw = open(args.dump, "rb").read()  # noqa: SIM115 - tiny file, read once
        try:
            return bytes.fromhex(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return raw
    if args.demo_state:
        from pathlib import Path

        from verifier import config
        from verifier.devkit import demo

        cfg = config.load(None, Path(args.demo_state))
        state = demo.ensure_demo(cfg)
        label = "electronic policy card"
        return next(i.payload for name, _, i in demo.demo_samples(state) if name == label)
    from verifier.devkit.demo import card_dump_bytes

    return card_dump_bytes()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m verifier.devkit.card_emulator",
        description="A virtual Goznak OMS policy card in a vsmartcard vpcd reader "
        "(install vsmartcard-vpcd, start pcscd; then read it with the pcsc source).",
    )
    p.add_argument("--host", default="127.0.0.1", help="where vpcd listens (default localhost)")
    p.add_argument("--port", type=int, default=VPCD_PORT, help=f"vpcd port (default {VPCD_PORT})")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dump", help="card dump file (62 + 64 TLVs, binary or hex)")
    src.add_argument(
        "--demo-state",
        metavar="DIR",
        help="state dir of the demo: load the demo register's valid signed card",
    )
    src.add_argument("--unknown", action="store_true", help="present a non-OMS card (other ATR)")
    p.add_argument("--via-get-response", action="store_true", help="answer data with 61xx")
    p.add_argument("--pull-after", type=int, help="drop the card after N APDUs")
    p.add_argument(
        "--interactive",
        action="store_true",
        help="read commands from stdin: i = insert, r = remove, q = quit",
    )
    args = p.parse_args(argv)
    try:
        image = CardImage.unknown() if args.unknown else CardImage.from_dump(_load_dump(args))
    except (OSError, EmulatorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = GoznakCardEmulator(image, via_get_response=args.via_get_response)
    vicc = VirtualCard(card, host=args.host, port=args.port, pull_after=args.pull_after)
    try:
        vicc.insert(timeout=30.0)
    except OSError as exc:
        print(f"error: cannot reach vpcd at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"card inserted into vpcd {args.host}:{args.port}, ATR {image.atr.hex(' ').upper()}")
    try:
        if args.interactive:
            for line in sys.stdin:
                cmd = line.strip().lower()
                if cmd == "q":
                    break
                if cmd == "r":
                    vicc.remove()
                    print("card removed")
                elif cmd == "i":
                    vicc.insert()
                    print("card inserted")
        else:
            while True:
                time.sleep(1.0)
                if not vicc.inserted:
                    print("vpcd closed the connection; reinserting")
                    vicc.insert(timeout=30.0)
    except KeyboardInterrupt:
        pass
    finally:
        vicc.remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
