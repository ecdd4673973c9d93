"""GOST public/private keys in the DER/PEM layouts OpenSSL's GOST engine reads and writes.

SubjectPublicKeyInfo: algorithm OID + ``SEQUENCE {paramSet OID, digestParamSet OID OPTIONAL}``,
key = BIT STRING wrapping an OCTET STRING with x||y, each little-endian (RFC 4491 / 9215).
PKCS#8 private key: same AlgorithmIdentifier, privateKey OCTET STRING holding the raw
little-endian scalar (what ``openssl genpkey -engine gost`` writes); a nested OCTET STRING or the
older INTEGER form are read too.  CryptoPro's masked-key SEQUENCE form is rejected as unsupported.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field
from typing import Final

from asn1crypto import core

from . import hashes
from .asn1 import ASN1_ERRORS, AlgorithmIdentifier
from .errors import InvalidKeyError, UnsupportedAlgorithmError
from .hazmat import ec
from .hazmat.curves import (
    CURVES_BY_OID,
    PARAMSET_NAMES_256,
    PARAMSET_NAMES_512,
    Curve,
)


class Algorithm(enum.Enum):
    """Key algorithm: value is the SubjectPublicKeyInfo algorithm OID."""

    GOST2001 = "1.2.643.2.2.19"
    GOST2012_256 = "1.2.643.7.1.1.1.1"
    GOST2012_512 = "1.2.643.7.1.1.1.2"

    @property
    def bits(self) -> int:
        return 512 if self is Algorithm.GOST2012_512 else 256

    @property
    def openssl_name(self) -> str:
        return {
            Algorithm.GOST2001: "gost2001",
            Algorithm.GOST2012_256: "gost2012_256",
            Algorithm.GOST2012_512: "gost2012_512",
        }[self]

    @property
    def default_hash(self) -> str:
        """The hash OpenSSL pairs with this key type (gost94 / streebog256 / streebog512)."""
        return {
            Algorithm.GOST2001: hashes.GOST94,
            Algorithm.GOST2012_256: hashes.STREEBOG256,
            Algorithm.GOST2012_512: hashes.STREEBOG512,
        }[self]

    @property
    def signature_oid(self) -> str:
        """signatureAlgorithm OID for certificates signed with this key and its default hash."""
        return {
            Algorithm.GOST2001: "1.2.643.2.2.3",
            Algorithm.GOST2012_256: "1.2.643.7.1.1.3.2",
            Algorithm.GOST2012_512: "1.2.643.7.1.1.3.3",
        }[self]

    @classmethod
    def from_name(cls, name: str) -> Algorithm:
        for alg in cls:
            if name.lower() in (alg.openssl_name, alg.name.lower(), alg.value):
                return alg
        raise UnsupportedAlgorithmError(f"unknown GOST key algorithm {name!r}")


_DIGEST_PARAM_2001: Final = "1.2.643.2.2.30.1"  # id-GostR3411-94-CryptoProParamSet
_DIGEST_PARAM_256: Final = "1.2.643.7.1.1.2.2"
_DIGEST_PARAM_512: Final = "1.2.643.7.1.1.2.3"


def default_digest_param(algorithm: Algorithm, paramset_oid: str) -> str | None:
    """The digestParamSet OpenSSL writes (none for 2012-256 keys on tc26 256-bit curves)."""
    if algorithm is Algorithm.GOST2001:
        return _DIGEST_PARAM_2001
    if algorithm is Algorithm.GOST2012_512:
        return _DIGEST_PARAM_512
    if paramset_oid.startswith("1.2.643.7.1.2.1.1."):
        return None
    return _DIGEST_PARAM_256


def paramset_oid_for(algorithm: Algorithm, name: str) -> str:
    """OpenSSL short paramset name (A, B, C, XA, XB, TCA..TCD) or a dotted OID -> OID."""
    names = PARAMSET_NAMES_512 if algorithm is Algorithm.GOST2012_512 else PARAMSET_NAMES_256
    oid = names.get(name.upper(), name)
    curve = CURVES_BY_OID.get(oid)
    if curve is None or curve.bits != algorithm.bits:
        raise UnsupportedAlgorithmError(f"parameter set {name!r} does not fit {algorithm.name}")
    return oid


# --- ASN.1 shapes (asn1crypto does not know the GOST OIDs, so we describe them ourselves) ---


class _GostKeyParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012 - asn1crypto schema
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class _SubjectPublicKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("algorithm", AlgorithmIdentifier),
        ("public_key", core.OctetBitString),
    ]


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("private_key_algorithm", AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
        ("public_key", core.Any, {"implicit": 1, "optional": True}),
    ]


_PEM_RE: Final = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)


def private_key_from_bytes(algorithm: Algorithm, paramset: str, material: bytes) -> PrivateKey:
    """A private key whose scalar is ``material`` reduced into [1, q-1].

    For deterministic keys (the dev kit's demo keys from a public seed): ``material`` must be
    uniform and at least as long as q, or the key is biased. Never for production keys.
    """
    oid = paramset_oid_for(algorithm, paramset)
    q = CURVES_BY_OID[oid].q
    return PrivateKey(algorithm, oid, int.from_bytes(material, "big") % (q - 1) + 1)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """All PEM blocks as (label, DER)."""
    out = []
    for m in _PEM_RE.finditer(data):
        try:
            der = base64.b64decode(b"".join(m.group(2).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidKeyError(f"bad base64 in PEM block {m.group(1).decode()}") from exc
        out.append((m.group(1).decode("ascii"), der))
    return out


def to_pem(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return b"".join(
        [
            f"-----BEGIN {label}-----\n".encode(),
            *(ln + b"\n" for ln in lines),
            f"-----END {label}-----\n".encode(),
        ]
    )


def _der_from(data: bytes | str, labels: tuple[str, ...], err: type[Exception]) -> bytes:
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    if b"-----BEGIN" in raw:
        for label, der in pem_blocks(raw):
            if label in labels:
                return der
        raise err(f"no PEM block labelled {' or '.join(labels)}")
    return raw


def _parse_alg(
    alg: AlgorithmIdentifier, err: type[InvalidKeyError]
) -> tuple[Algorithm, str, str | None, Curve]:
    oid = alg["algorithm"].dotted
    try:
        algorithm = Algorithm(oid)
    except ValueError:
        raise UnsupportedAlgorithmError(f"not a GOST R 34.10 key algorithm: {oid}") from None
    params_any = alg["parameters"]
    if params_any.native is None:
        raise err("GOST key without parameter set")
    params = _GostKeyParams.load(params_any.dump(), strict=True)
    paramset = params["public_key_param_set"].dotted
    digest_param = (
        params["digest_param_set"].dotted if params["digest_param_set"].native is not None else None
    )
    curve = CURVES_BY_OID.get(paramset)
    if curve is None:
        raise UnsupportedAlgorithmError(f"unknown GOST parameter set {paramset}")
    if curve.bits != algorithm.bits:
        raise err(f"{algorithm.name} key with {curve.bits}-bit parameter set {paramset}")
    return algorithm, paramset, digest_param, curve


def _params_der(algorithm: Algorithm, paramset_oid: str, digest_oid: str | None) -> bytes:
    fields: dict[str, str] = {"public_key_param_set": paramset_oid}
    if digest_oid is not None:
        fields["digest_param_set"] = digest_oid
    return bytes(_GostKeyParams(fields).dump(force=True))


@dataclass(frozen=True)
class PublicKey:
    """A validated GOST R 34.10 public key (affine Weierstrass point on a known curve)."""

    algorithm: Algorithm
    paramset_oid: str
    x: int
    y: int
    digest_param_oid: str | None = None
    curve: Curve = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        curve = CURVES_BY_OID.get(self.paramset_oid)
        if curve is None:
            raise UnsupportedAlgorithmError(f"unknown GOST parameter set {self.paramset_oid}")
        if curve.bits != self.algorithm.bits:
            raise InvalidKeyError(f"{self.algorithm.name} key on a {curve.bits}-bit curve")
        if not ec.is_on_curve(curve, self.x, self.y):
            raise InvalidKeyError("public key point is not on the curve")
        if not ec.has_order_q(curve, self.x, self.y):
            raise InvalidKeyError("public key point is not in the prime-order subgroup")
        object.__setattr__(self, "curve", curve)

    @classmethod
    def from_point_bytes(
        cls,
        algorithm: Algorithm,
        paramset_oid: str,
        point: bytes,
        digest_param_oid: str | None = None,
    ) -> PublicKey:
        """From x||y, each little-endian (the certificate / SPKI layout)."""
        size = algorithm.bits // 8
        if len(point) != 2 * size:
            raise InvalidKeyError(f"public key must be {2 * size} bytes, got {len(point)}")
        x = int.from_bytes(point[:size], "little")
        y = int.from_bytes(point[size:], "little")
        return cls(algorithm, paramset_oid, x, y, digest_param_oid)

    def point_bytes(self) -> bytes:
        size = self.curve.size
        return self.x.to_bytes(size, "little") + self.y.to_bytes(size, "little")

    def to_der(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        spki = _SubjectPublicKeyInfo(
            {
                "algorithm": {
                    "algorithm": self.algorithm.value,
                    "parameters": core.Any.load(
                        _params_der(self.algorithm, self.paramset_oid, self.digest_param_oid)
                    ),
                },
                "public_key": core.OctetString(self.point_bytes()).dump(),
            }
        )
        return bytes(spki.dump(force=True))

    def to_pem(self) -> bytes:
        return to_pem("PUBLIC KEY", self.to_der())

    def key_id(self) -> str:
        """Hex of the first 16 bytes of Streebog-256 over the DER SubjectPublicKeyInfo."""
        return hashes.digest(hashes.STREEBOG256, self.to_der())[:16].hex()

    @property
    def default_hash(self) -> str:
        return self.algorithm.default_hash


@dataclass(frozen=True, repr=False)
class PrivateKey:
    """A GOST R 34.10 private scalar with its parameters (repr never shows the scalar)."""

    algorithm: Algorithm
    paramset_oid: str
    d: int
    digest_param_oid: str | None = None
    curve: Curve = field(init=False, compare=False)

    def __post_init__(self) -> None:
        curve = CURVES_BY_OID.get(self.paramset_oid)
        if curve is None:
            raise UnsupportedAlgorithmError(f"unknown GOST parameter set {self.paramset_oid}")
        if curve.bits != self.algorithm.bits:
            raise InvalidKeyError(f"{self.algorithm.name} key on a {curve.bits}-bit curve")
        if not 0 < self.d < curve.q:
            raise InvalidKeyError("private key scalar out of range [1, q-1]")
        object.__setattr__(self, "curve", curve)

    def __repr__(self) -> str:
        return f"PrivateKey({self.algorithm.name}, {self.paramset_oid})"

    def public_key(self) -> PublicKey:
        x, y = ec.public_point(self.curve, self.d)
        return PublicKey(self.algorithm, self.paramset_oid, x, y, self.digest_param_oid)

    def to_der(self) -> bytes:
        """DER PKCS#8 PrivateKeyInfo, raw little-endian scalar (the engine layout)."""
        inner = self.d.to_bytes(self.curve.size, "little")
        info = _PrivateKeyInfo(
            {
                "version": 0,
                "private_key_algorithm": {
                    "algorithm": self.algorithm.value,
                    "parameters": core.Any.load(
                        _params_der(self.algorithm, self.paramset_oid, self.digest_param_oid)
                    ),
                },
                "private_key": inner,
            }
        )
        return bytes(info.dump(force=True))

    def to_pem(self) -> bytes:
        return to_pem("PRIVATE KEY", self.to_der())


def generate_private_key(algorithm: Algorithm | str, paramset: str = "A") -> PrivateKey:
    """A fresh key from ``secrets``; ``paramset`` is an OpenSSL short name or an OID."""
    import secrets

    alg = algorithm if isinstance(algorithm, Algorithm) else Algorithm.from_name(algorithm)
    oid = paramset_oid_for(alg, paramset)
    curve = CURVES_BY_OID[oid]
    d = secrets.randbelow(curve.q - 1) + 1
    return PrivateKey(alg, oid, d, default_digest_param(alg, oid))


def load_public_key(data: bytes | str) -> PublicKey:
    """PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo -> PublicKey; raises InvalidKeyError."""
    der = _der_from(data, ("PUBLIC KEY",), InvalidKeyError)
    try:
        spki = _SubjectPublicKeyInfo.load(der, strict=True)
        algorithm, paramset, digest_param, _ = _parse_alg(spki["algorithm"], InvalidKeyError)
        octets = core.OctetString.load(spki["public_key"].native, strict=True).native
    except (InvalidKeyError, UnsupportedAlgorithmError):
        raise
    except ASN1_ERRORS as exc:
        raise InvalidKeyError(f"malformed SubjectPublicKeyInfo: {exc}") from exc
    if not isinstance(octets, bytes):
        raise InvalidKeyError("public key BIT STRING does not hold an OCTET STRING")
    return PublicKey.from_point_bytes(algorithm, paramset, octets, digest_param)


def public_key_from_spki(spki_der: bytes) -> PublicKey:
    """Same as load_public_key for DER input (used for certificates)."""
    return load_public_key(spki_der)


def load_private_key(data: bytes | str) -> PrivateKey:
    """PEM ("PRIVATE KEY") or DER PKCS#8 -> PrivateKey; raises InvalidKeyError."""
    der = _der_from(data, ("PRIVATE KEY",), InvalidKeyError)
    try:
        info = _PrivateKeyInfo.load(der, strict=True)
        algorithm, paramset, digest_param, curve = _parse_alg(
            info["private_key_algorithm"], InvalidKeyError
        )
        inner = info["private_key"].native
        if not isinstance(inner, bytes) or not inner:
            raise InvalidKeyError("empty private key")
        tag = inner[0]
        if len(inner) == curve.size:  # raw little-endian scalar (current engine)
            d = int.from_bytes(inner, "little")
        elif tag == 0x04:  # OCTET STRING wrapping the little-endian scalar
            raw = core.OctetString.load(inner, strict=True).native
            if not isinstance(raw, bytes) or len(raw) != curve.size:
                raise InvalidKeyError("private key has the wrong length")
            d = int.from_bytes(raw, "little")
        elif tag == 0x02:  # INTEGER (older engine versions)
            d = int(core.Integer.load(inner, strict=True).native)
        elif tag == 0x30:
            raise UnsupportedAlgorithmError("masked (CryptoPro) private keys are not supported")
        else:
            raise InvalidKeyError("unrecognised private key encoding")
    except (InvalidKeyError, UnsupportedAlgorithmError):
        raise
    except ASN1_ERRORS as exc:
        raise InvalidKeyError(f"malformed PKCS#8 private key: {exc}") from exc
    return PrivateKey(algorithm, paramset, d, digest_param)
