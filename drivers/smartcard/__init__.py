"""Contact chip cards: the Goznak electronic OMS policy over PC/SC (pure APDU core + pyscard edge).

``apdu`` and ``goznak`` are pure; ``monitor`` holds :class:`PcscDriver` (pyscard, imported lazily);
``emulator`` is a virtual card for tests and the demo (vsmartcard vpcd protocol).
"""

from drivers.smartcard.monitor import PcscDriver

__all__ = ["PcscDriver"]
