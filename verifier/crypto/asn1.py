"""ASN.1 pieces the key, certificate and CMS parsers share (one definition, not three)."""

from __future__ import annotations

from typing import Final

from asn1crypto import core

# What asn1crypto raises on bad input, lazily, on first access of a part.
ASN1_ERRORS: Final = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    AttributeError,
    RecursionError,
)


class AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """An algorithm OID with its parameters kept raw: each caller reads only what it needs."""

    _fields = [  # noqa: RUF012 - asn1crypto schema
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]
