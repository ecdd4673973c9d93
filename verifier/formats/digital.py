"""The digital policy (Gosuslugi app, register extract): an ENP in machine-readable form.

Assumption (REFERENCE §1): the barcode holds the 16 ENP digits, bare or inside a URL or other
text. A bare 16-digit payload is taken as an ENP claim even when its check digit is wrong (the
pipeline then says so); inside longer text only a run that passes the check digit counts,
so an unrelated 16-digit id in a URL is never mistaken for a policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from verifier.errors import RecognitionError
from verifier.identifiers import enp_checksum_ok

# ASCII digits only: ``\d`` also matches Arabic-Indic or fullwidth digits, which no ENP holds
# and which must not reach the check-digit code (it raises on them). Whole-string matches use
# ``fullmatch``: ``$`` would accept a trailing newline inside a URL parameter.
_BARE = re.compile(r"[0-9]{16}")
_GROUPED = re.compile(r"[0-9]{4}(?:[ \-]?[0-9]{4}){3}")
_RUN = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
_ENP_KEYS = ("enp", "oms", "policy", "polis", "npolis", "number")


@dataclass(frozen=True, slots=True)
class EnpClaim:
    enp: str
    embedded: bool  # found inside longer text rather than given alone


def extract_enp(text: str) -> EnpClaim:
    """Find the ENP a text carries, or raise :class:`RecognitionError`."""
    stripped = text.strip()
    if _BARE.fullmatch(stripped):
        return EnpClaim(stripped, embedded=False)
    if _GROUPED.fullmatch(stripped):
        return EnpClaim(re.sub(r"[ \-]", "", stripped), embedded=False)
    # Named query parameters first: "...?enp=5056410834001235"
    if "://" in stripped or "?" in stripped:
        try:
            query = urlsplit(stripped).query
        except ValueError:
            query = ""
        for key, value in parse_qsl(query):
            if key.lower() in _ENP_KEYS and _BARE.fullmatch(value) and enp_checksum_ok(value):
                return EnpClaim(value, embedded=True)
    candidates = {m.group(0) for m in _RUN.finditer(stripped)}
    passing = sorted(c for c in candidates if enp_checksum_ok(c))
    if len(passing) == 1:
        return EnpClaim(passing[0], embedded=True)
    if len(passing) > 1:
        raise RecognitionError(
            f"text holds {len(passing)} different valid ENPs; cannot tell which is the policy",
            code="ambiguous_enp",
        )
    if candidates:
        raise RecognitionError(
            "text holds a 16-digit number, but none passes the ENP check digit", code="no_enp"
        )
    raise RecognitionError("text holds no 16-digit ENP", code="no_enp")
