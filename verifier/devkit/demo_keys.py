"""Deterministic demo keys: the same seed gives the same keys, so demo data stays verifiable.

Never for production: anyone who knows the seed knows the private keys.
"""

from __future__ import annotations

from verifier.crypto import hashes
from verifier.crypto.hazmat.curves import CURVES_BY_OID
from verifier.crypto.keys import Algorithm, PrivateKey, paramset_oid_for


def derive_demo_key(algorithm: Algorithm, paramset: str, label: str) -> PrivateKey:
    oid = paramset_oid_for(algorithm, paramset)
    q = CURVES_BY_OID[oid].q
    material = hashes.digest(hashes.STREEBOG512, f"oms-verifier demo key|{label}".encode())
    return PrivateKey(algorithm, oid, int.from_bytes(material, "big") % (q - 1) + 1)
