"""ISO/IEC 7816-4 APDUs without I/O: build commands, parse responses, run the T=0 dance.

Everything here is pure. The only contact with a card is the ``transmit`` callable handed to
:func:`transceive` (``bytes -> bytes``: one command APDU in, one response APDU out), so the same
code runs against pyscard, the vpcd emulator or a scripted list of answers in a test.

T=0 cards do not give data back in one go: ``61xx`` means "xx bytes wait, ask with GET
RESPONSE" (and may repeat), ``6Cxx`` means "wrong Le, send the same command again with
Le=xx". pyscard passes both through untouched (REFERENCE §4), so :func:`transceive` resolves
them, with a hard bound on the number of exchanges and on the amount of chained data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from verifier.errors import InputError

Transmit = Callable[[bytes], bytes]

SW_OK = 0x9000
MAX_EXCHANGES = 1024  # commands sent for one logical exchange (GET RESPONSE chain + resends)
MAX_STALLS = 8  # consecutive exchanges that bring no data (6Cxx resends, empty 61xx)
MAX_RESPONSE = 64 * 1024  # bytes a GET RESPONSE chain may accumulate before we call it garbage

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_GET_DATA = 0xCA
INS_GET_RESPONSE = 0xC0


# --- errors -------------------------------------------------------------------------------


class CardError(InputError):
    """Base of every smart-card error; ``code`` is stable (logs, health, API)."""

    code = "card_error"


class TruncatedResponse(CardError):
    """A response APDU shorter than its two status bytes."""

    code = "card_truncated_response"


class ProtocolLoop(CardError):
    """The card kept answering ``61xx``/``6Cxx`` past :data:`MAX_EXCHANGES` or the size bound."""

    code = "card_protocol_loop"


class BadCommand(CardError):
    """A command we were asked to build does not fit a short APDU (caller bug or bad input)."""

    code = "card_bad_command"


class CardRemoved(CardError):
    """The card or the reader went away during an exchange (raised by the I/O edge)."""

    code = "card_removed"


class StatusWordError(CardError):
    """The card refused a command; ``sw`` is the status word (e.g. ``0x6A82``)."""

    code = "card_status"

    def __init__(self, message: str, sw: int, *, code: str | None = None) -> None:
        super().__init__(f"{message} (SW {sw:04X})", code=code)
        self.sw = sw


class FileNotFound(StatusWordError):
    code = "card_file_not_found"  # 6A82, and 6A88 "referenced data not found"


class WrongLength(StatusWordError):
    code = "card_wrong_length"  # 6700, an unresolved 6Cxx


class SecurityStatus(StatusWordError):
    code = "card_security_status"  # 6982, 6983, 6985 (PIN, blocked, conditions not satisfied)


class WrongParameters(StatusWordError):
    code = "card_wrong_parameters"  # 6A86, 6B00 (e.g. offset past the end of the file)


class NotSupported(StatusWordError):
    code = "card_not_supported"  # 6D00 INS, 6E00 CLA, 6A81 function, 6981 file type


class UnknownStatus(StatusWordError):
    code = "card_unknown_status"


_SW_ERRORS: dict[int, tuple[type[StatusWordError], str]] = {
    0x6A82: (FileNotFound, "file or application not found"),
    0x6A88: (FileNotFound, "referenced data not found"),
    0x6700: (WrongLength, "wrong length"),
    0x6982: (SecurityStatus, "security status not satisfied"),
    0x6983: (SecurityStatus, "authentication method blocked"),
    0x6985: (SecurityStatus, "conditions of use not satisfied"),
    0x6A86: (WrongParameters, "incorrect P1-P2"),
    0x6B00: (WrongParameters, "wrong parameters (offset outside the file)"),
    0x6D00: (NotSupported, "instruction not supported"),
    0x6E00: (NotSupported, "class not supported"),
    0x6A81: (NotSupported, "function not supported"),
    0x6981: (NotSupported, "command incompatible with file structure"),
    0x6986: (NotSupported, "command not allowed (no current EF)"),
}


def status_error(sw: int, what: str = "") -> StatusWordError:
    """The typed error for a non-9000 status word (never raises itself)."""
    cls, text = _SW_ERRORS.get(sw, (UnknownStatus, "card error"))
    if sw >> 8 == 0x6C:
        cls, text = WrongLength, f"wrong Le, card wants {sw & 0xFF or 256}"
    return cls(f"{what}: {text}" if what else text, sw)


# --- commands -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """A short command APDU. ``le`` is the number of bytes expected (1..256), None for none."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def encode(self) -> bytes:
        for name, v in (("CLA", self.cla), ("INS", self.ins), ("P1", self.p1), ("P2", self.p2)):
            if not 0 <= v <= 0xFF:
                raise BadCommand(f"{name} {v} is not a byte")
        if len(self.data) > 255:
            raise BadCommand(f"command data of {len(self.data)} bytes needs an extended APDU")
        out = bytearray((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            if not 1 <= self.le <= 256:
                raise BadCommand(f"Le {self.le} outside 1..256")
            out.append(self.le & 0xFF)  # 256 is encoded as 00
        return bytes(out)

    def with_le(self, le: int) -> Command:
        return replace(self, le=le)

    def __str__(self) -> str:
        return self.encode().hex(" ").upper()


def select_name(name: bytes | str, *, p2: int = 0x0C) -> Command:
    """SELECT by DF name / AID (P1=04); P2=0C: no FCI wanted, so no Le."""
    raw = name.encode("ascii") if isinstance(name, str) else name
    if not 1 <= len(raw) <= 16:
        raise BadCommand(f"DF name must be 1..16 bytes, got {len(raw)}")
    return Command(0x00, INS_SELECT, 0x04, p2, raw)


select_aid = select_name


def select_file_id(fid: int | bytes, *, p1: int = 0x02, p2: int = 0x0C) -> Command:
    """SELECT by 2-byte file id; P1=02 is "EF under the current DF" (the Goznak read path)."""
    if isinstance(fid, int) and not 0 <= fid <= 0xFFFF:
        raise BadCommand(f"file id {fid} is not 2 bytes")
    raw = fid.to_bytes(2, "big") if isinstance(fid, int) else bytes(fid)
    if len(raw) != 2:
        raise BadCommand(f"file id must be 2 bytes, got {raw.hex() or 'none'}")
    return Command(0x00, INS_SELECT, p1, p2, raw)


def read_binary(offset: int, le: int) -> Command:
    """READ BINARY at a 15-bit offset of the current EF."""
    if not 0 <= offset <= 0x7FFF:
        raise BadCommand(f"READ BINARY offset {offset} outside 0..32767")
    return Command(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=le)


def get_data(p1: int, p2: int, le: int) -> Command:
    return Command(0x00, INS_GET_DATA, p1, p2, le=le)


def get_response(le: int) -> Command:
    return Command(0x00, INS_GET_RESPONSE, 0x00, 0x00, le=le)


# --- responses ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    def check(self, what: str = "") -> bytes:
        """The data when the status is 9000, else the typed error for the status word."""
        if not self.ok:
            raise status_error(self.sw, what)
        return self.data

    def __str__(self) -> str:
        return f"{self.data.hex().upper()} {self.sw:04X}".strip()


def parse_response(raw: bytes) -> Response:
    if not isinstance(raw, bytes | bytearray) or len(raw) < 2:
        raise TruncatedResponse(f"response of {len(raw) if raw is not None else 0} bytes has no SW")
    return Response(bytes(raw[:-2]), raw[-2], raw[-1])


def transceive(
    transmit: Transmit, command: Command, *, max_exchanges: int = MAX_EXCHANGES
) -> Response:
    """Send ``command`` and resolve T=0 ``61xx`` (chained GET RESPONSE) and ``6Cxx`` (resend).

    Returns the final response with all chained data; the status is *not* checked (call
    :meth:`Response.check`). Raises only :class:`CardError` subclasses (plus whatever
    ``transmit`` raises, which the I/O edge keeps to :class:`CardRemoved`).
    """
    data = bytearray()
    current = command
    stalls = 0
    for _ in range(max_exchanges):
        resp = parse_response(transmit(current.encode()))
        stalls = 0 if resp.data else stalls + 1
        if stalls > MAX_STALLS:
            raise ProtocolLoop(f"card keeps answering {resp.sw:04X} without data to {command}")
        if resp.sw1 == 0x6C:
            wanted = resp.sw2 or 256
            if wanted == current.le:  # "wrong Le, use the one you used": would loop forever
                raise status_error(resp.sw, f"{command}: card rejects the Le it asks for")
            current = current.with_le(wanted)  # also right for a GET RESPONSE in a chain
            continue
        data += resp.data
        if len(data) > MAX_RESPONSE:
            raise ProtocolLoop(f"card sent more than {MAX_RESPONSE} bytes for {command}")
        if resp.sw1 == 0x61:
            current = get_response(resp.sw2 or 256)
            continue
        return Response(bytes(data), resp.sw1, resp.sw2)
    raise ProtocolLoop(f"no final status after {max_exchanges} exchanges for {command}")


def exchange(transmit: Transmit, command: Command, what: str = "") -> bytes:
    """:func:`transceive` then :meth:`Response.check`: data on 9000, a typed error otherwise."""
    return transceive(transmit, command).check(what or str(command))
