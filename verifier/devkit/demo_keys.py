"""Deterministic demo keys: the same seed gives the same keys, so demo data stays verifiable.

Never for production: anyone who knows the seed knows the private keys.
"""

from __future__ import annotations

from verifier.crypto import hashes
from verifier.crypto.keys import Algorithm, PrivateKey, private_key_from_bytes


def derive_demo_key(algorithm: Algorithm, paramset: str, label: str) -> PrivateKey:
    material = hashes.digest(hashes.STREEBOG512, f"oms-verifier demo key|{label}".encode())
    return private_key_from_bytes(algorithm, paramset, material)
