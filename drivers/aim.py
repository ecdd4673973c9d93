"""AIM symbology identifiers that desk scanners put in front of a read (pure).

A scanner programmed to "transmit AIM ID" sends ``]`` + a symbology code character + a
modifier character before the data, e.g. ``]L2`` (PDF417, basic channel), ``]Q1`` (QR model 2),
``]d1`` (Data Matrix ECC 200), ``]z0`` (Aztec).  :func:`split_aim` recognises and strips that
prefix and names the symbology; :func:`unescape_eci` undoes the ECI escape protocol that the
"ECI" modifiers (``]Q2``, ``]L1``, ``]d4``, ``]z3``, ...) announce, so the bytes handed on are the
symbol's exact content, the same as the camera path returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from verifier.imaging import Symbology

AimMode = Literal["auto", "require", "off"]

_AIM_RE = re.compile(rb"\](?P<code>[A-Za-z])(?P<mod>[0-9A-Za-z])")

# Modifiers that announce the ECI escape protocol (ISO/IEC 18004, 15438, 16022, 24778).
_ECI_MODIFIERS: dict[Symbology, frozenset[str]] = {
    Symbology.QR: frozenset("246"),
    Symbology.PDF417: frozenset("1"),
    Symbology.DATAMATRIX: frozenset("456"),
    Symbology.AZTEC: frozenset("345"),
}

# Names of common non-2-D codes, for logs only (the verifier reads 2-D symbols).
_OTHER_NAMES: dict[str, str] = {
    "A": "code39",
    "C": "code128",
    "E": "ean-upc",
    "F": "codabar",
    "G": "code93",
    "I": "itf",
    "X": "other",
    "e": "gs1-databar",
}


@dataclass(frozen=True, slots=True)
class AimId:
    """One parsed identifier, e.g. ``AimId("]L2")``."""

    text: str  # "]L2"

    @property
    def code(self) -> str:
        return self.text[1]

    @property
    def modifier(self) -> str:
        return self.text[2]

    @property
    def symbology(self) -> Symbology | None:
        """The 2-D symbology named, ``None`` for linear codes and unknown letters."""
        return Symbology.from_aim_id(self.text)

    @property
    def name(self) -> str:
        sym = self.symbology
        return sym.value if sym is not None else _OTHER_NAMES.get(self.code, "unknown")

    @property
    def uses_eci(self) -> bool:
        sym = self.symbology
        return sym is not None and self.modifier in _ECI_MODIFIERS[sym]


@dataclass(frozen=True, slots=True)
class AimRead:
    """A framed read with its AIM identifier (if any) removed."""

    payload: bytes
    aim: AimId | None = None

    @property
    def symbology(self) -> Symbology | None:
        return self.aim.symbology if self.aim is not None else None


class AimError(ValueError):
    pass


def parse_aim(data: bytes) -> AimId | None:
    """The AIM identifier at the start of ``data``, or ``None``."""
    m = _AIM_RE.match(data)
    return AimId(m.group(0).decode("ascii")) if m else None


def split_aim(data: bytes, mode: AimMode = "auto", *, unescape: bool = True) -> AimRead:
    """Strip a leading AIM identifier.

    ``auto``: strip when present (a paper-policy record starts with 0x01/0x02 and a typed ENP
    with a digit, so a ``]`` + letter + alnum start is never real data); ``require``: raise
    :class:`AimError` when it is missing; ``off``: hand the bytes on untouched.  With
    ``unescape``, an identifier that announces ECI has its ``\\NNNNNN`` designators removed and
    doubled backslashes halved (see :func:`unescape_eci`).
    """
    if mode == "off":
        return AimRead(data)
    aim = parse_aim(data)
    if aim is None:
        if mode == "require":
            raise AimError("read has no AIM symbology identifier")
        return AimRead(data)
    body = data[3:]
    if unescape and aim.uses_eci:
        body = unescape_eci(body)
    return AimRead(body, aim)


def unescape_eci(data: bytes) -> bytes:
    """Remove ECI escapes: ``\\\\`` → ``\\``, ``\\NNNNNN`` (6 digits) → nothing.

    A lone backslash not followed by a backslash or six digits is kept (lenient: a scanner
    that announces ECI but forgets to double a backslash still gives its data back).
    """
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x5C and i + 1 < n:
            if data[i + 1] == 0x5C:
                out.append(0x5C)
                i += 2
                continue
            if i + 7 <= n and data[i + 1 : i + 7].isdigit():
                i += 7
                continue
        out.append(b)
        i += 1
    return bytes(out)


def aim_id_for(symbology: Symbology, modifier: str = "0") -> str:
    """``"]L"`` + modifier: what a scanner would send for ``symbology``."""
    return symbology.aim_prefix + modifier
