"""Typed errors with stable codes.

The code is part of the public contract (CLI output, HTTP problem+json, audit log):
callers branch on ``code``, never on the message text. Every code is registered in
:mod:`verifier.error_codes` (a test scans the source for unregistered ones).
"""

from __future__ import annotations


class OmsError(Exception):
    """Base of every error this project raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InputError(OmsError):
    """Input that cannot be used at all (exit code 2 in the CLI, 400/422 in HTTP)."""

    code = "bad_input"


class IdentifierError(InputError):
    """A policy number, ENP or СНИЛС that is malformed."""

    code = "bad_identifier"


class BarcodeError(InputError):
    """A barcode payload that does not decode as the format it claims."""

    code = "bad_barcode"


class RecognitionError(InputError):
    """Bytes or text that are no credential we know."""

    code = "unrecognized"


class ImageError(InputError):
    """An image that cannot be read or holds no barcode."""

    code = "bad_image"


class CryptoError(OmsError):
    """Malformed keys, signatures, certificates; never raised for a plain 'invalid signature'."""

    code = "crypto_error"
