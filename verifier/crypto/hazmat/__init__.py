"""Low-level GOST primitives (curves, field/point arithmetic, raw hash cores).

Hazardous: no input encoding, few checks, integer-level APIs. Use ``verifier.crypto`` instead.
"""
