"""Elliptic-curve domain parameters for GOST R 34.10-2001/2012.

Every curve is stored in short Weierstrass form y^2 = x^3 + a*x + b (mod p).  The two tc26
twisted-Edwards sets (256 A, 512 C) are given in the Weierstrass form that R 1323565.1.024-2019
publishes next to the Edwards one; keys and signatures use Weierstrass coordinates, as OpenSSL's
GOST engine does.  Values come from R 1323565.1.024-2019 / RFC 4357 / RFC 7836 (tc26 and
CryptoPro sets) and RFC 7091 (test sets); ``tests/crypto`` checks each one (G on the curve,
q*G = O) and interop with OpenSSL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


def _h(s: str) -> int:
    return int(s, 16)


@dataclass(frozen=True, eq=False)
class Curve:
    """Short-Weierstrass curve with a base point G of prime order q."""

    name: str
    oid: str
    bits: int
    p: int
    a: int
    b: int
    q: int
    gx: int
    gy: int
    cofactor: int = 1
    aliases: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        """Bytes per coordinate / per signature half (32 or 64)."""
        return self.bits // 8

    def __repr__(self) -> str:
        return f"Curve({self.name}, {self.oid})"


CRYPTOPRO_A: Final = Curve(
    name="id-GostR3410-2001-CryptoPro-A-ParamSet",
    oid="1.2.643.2.2.35.1",
    bits=256,
    p=_h("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffd97"),
    a=_h("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffd94"),
    b=_h("00000000000000000000000000000000000000000000000000000000000000a6"),
    q=_h("ffffffffffffffffffffffffffffffff6c611070995ad10045841b09b761b893"),
    gx=_h("0000000000000000000000000000000000000000000000000000000000000001"),
    gy=_h("8d91e471e0989cda27df505a453f2b7635294f2ddf23e3b122acc99c9e9f1e14"),
    cofactor=1,
)
CRYPTOPRO_B: Final = Curve(
    name="id-GostR3410-2001-CryptoPro-B-ParamSet",
    oid="1.2.643.2.2.35.2",
    bits=256,
    p=_h("8000000000000000000000000000000000000000000000000000000000000c99"),
    a=_h("8000000000000000000000000000000000000000000000000000000000000c96"),
    b=_h("3e1af419a269a5f866a7d3c25c3df80ae979259373ff2b182f49d4ce7e1bbc8b"),
    q=_h("800000000000000000000000000000015f700cfff1a624e5e497161bcc8a198f"),
    gx=_h("0000000000000000000000000000000000000000000000000000000000000001"),
    gy=_h("3fa8124359f96680b83d1c3eb2c070e5c545c9858d03ecfb744bf8d717717efc"),
    cofactor=1,
)
CRYPTOPRO_C: Final = Curve(
    name="id-GostR3410-2001-CryptoPro-C-ParamSet",
    oid="1.2.643.2.2.35.3",
    bits=256,
    p=_h("9b9f605f5a858107ab1ec85e6b41c8aacf846e86789051d37998f7b9022d759b"),
    a=_h("9b9f605f5a858107ab1ec85e6b41c8aacf846e86789051d37998f7b9022d7598"),
    b=_h("000000000000000000000000000000000000000000000000000000000000805a"),
    q=_h("9b9f605f5a858107ab1ec85e6b41c8aa582ca3511eddfb74f02f3a6598980bb9"),
    gx=_h("0000000000000000000000000000000000000000000000000000000000000000"),
    gy=_h("41ece55743711a8c3cbf3783cd08c0ee4d4dc440d4641a8f366e550dfdb3bb67"),
    cofactor=1,
)
TC26_256_A: Final = Curve(
    name="id-tc26-gost-3410-2012-256-paramSetA",
    oid="1.2.643.7.1.2.1.1.1",
    bits=256,
    p=_h("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffd97"),
    a=_h("c2173f1513981673af4892c23035a27ce25e2013bf95aa33b22c656f277e7335"),
    b=_h("295f9bae7428ed9ccc20e7c359a9d41a22fccd9108e17bf7ba9337a6f8ae9513"),
    q=_h("400000000000000000000000000000000fd8cddfc87b6635c115af556c360c67"),
    gx=_h("91e38443a5e82c0d880923425712b2bb658b9196932e02c78b2582fe742daa28"),
    gy=_h("32879423ab1a0375895786c4bb46e9565fde0b5344766740af268adb32322e5c"),
    cofactor=4,
)
TC26_512_A: Final = Curve(
    name="id-tc26-gost-3410-2012-512-paramSetA",
    oid="1.2.643.7.1.2.1.2.1",
    bits=512,
    p=_h(
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffdc7"
    ),
    a=_h(
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffdc4"
    ),
    b=_h(
        "e8c2505dedfc86ddc1bd0b2b6667f1da34b82574761cb0e879bd081cfd0b6265"
        "ee3cb090f30d27614cb4574010da90dd862ef9d4ebee4761503190785a71c760"
    ),
    q=_h(
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "27e69532f48d89116ff22b8d4e0560609b4b38abfad2b85dcacdb1411f10b275"
    ),
    gx=_h(
        "0000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000003"
    ),
    gy=_h(
        "7503cfe87a836ae3a61b8816e25450e6ce5e1c93acf1abc1778064fdcbefa921"
        "df1626be4fd036e93d75e6a50e3a41e98028fe5fc235f5b889a589cb5215f2a4"
    ),
    cofactor=1,
)
TC26_512_B: Final = Curve(
    name="id-tc26-gost-3410-2012-512-paramSetB",
    oid="1.2.643.7.1.2.1.2.2",
    bits=512,
    p=_h(
        "8000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000006f"
    ),
    a=_h(
        "8000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000006c"
    ),
    b=_h(
        "687d1b459dc841457e3e06cf6f5e2517b97c7d614af138bcbf85dc806c4b289f"
        "3e965d2db1416d217f8b276fad1ab69c50f78bee1fa3106efb8ccbc7c5140116"
    ),
    q=_h(
        "8000000000000000000000000000000000000000000000000000000000000001"
        "49a1ec142565a545acfdb77bd9d40cfa8b996712101bea0ec6346c54374f25bd"
    ),
    gx=_h(
        "0000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000002"
    ),
    gy=_h(
        "1a8f7eda389b094c2c071e3647a8940f3c123b697578c213be6dd9e6c8ec7335"
        "dcb228fd1edf4a39152cbcaaf8c0398828041055f94ceeec7e21340780fe41bd"
    ),
    cofactor=1,
)
TC26_512_C: Final = Curve(
    name="id-tc26-gost-3410-2012-512-paramSetC",
    oid="1.2.643.7.1.2.1.2.3",
    bits=512,
    p=_h(
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffdc7"
    ),
    a=_h(
        "dc9203e514a721875485a529d2c722fb187bc8980eb866644de41c68e1430645"
        "46e861c0e2c9edd92ade71f46fcf50ff2ad97f951fda9f2a2eb6546f39689bd3"
    ),
    b=_h(
        "b4c4ee28cebc6c2c8ac12952cf37f16ac7efb6a9f69f4b57ffda2e4f0de5ade0"
        "38cbc2fff719d2c18de0284b8bfef3b52b8cc7a5f5bf0a3c8d2319a5312557e1"
    ),
    q=_h(
        "3fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "c98cdba46506ab004c33a9ff5147502cc8eda9e7a769a12694623cef47f023ed"
    ),
    gx=_h(
        "e2e31edfc23de7bdebe241ce593ef5de2295b7a9cbaef021d385f7074cea043a"
        "a27272a7ae602bf2a7b9033db9ed3610c6fb85487eae97aac5bc7928c1950148"
    ),
    gy=_h(
        "f5ce40d95b5eb899abbccff5911cb8577939804d6527378b8c108c3d2090ff9b"
        "e18e2d33e3021ed2ef32d85822423b6304f726aa854bae07d0396e9a9addc40f"
    ),
    cofactor=4,
)
# RFC 5832 / RFC 7091 example 1 (id-GostR3410-2001-TestParamSet).
TEST_256: Final = Curve(
    name="id-GostR3410-2001-TestParamSet",
    oid="1.2.643.2.2.35.0",
    bits=256,
    p=_h("8000000000000000000000000000000000000000000000000000000000000431"),
    a=7,
    b=_h("5fbff498aa938ce739b8e022fbafef40563f6e6a3472fc2a514c0ce9dae23b7e"),
    q=_h("8000000000000000000000000000000150fe8a1892976154c59cfc193accf5b3"),
    gx=2,
    gy=_h("08e2a8a0e65147d4bd6316030e16d19c85c97f0a9ca267122b96abbcea7e8fc8"),
)
# RFC 7091 example 2 (id-tc26-gost-3410-2012-512-paramSetTest).
TEST_512: Final = Curve(
    name="id-tc26-gost-3410-2012-512-paramSetTest",
    oid="1.2.643.7.1.2.1.2.0",
    bits=512,
    p=_h(
        "4531acd1fe0023c7550d267b6b2fee80922b14b2ffb90f04d4eb7c09b5d2d15d"
        "f1d852741af4704a0458047e80e4546d35b8336fac224dd81664bbf528be6373"
    ),
    a=7,
    b=_h(
        "1cff0806a31116da29d8cfa54e57eb748bc5f377e49400fdd788b649eca1ac43"
        "61834013b2ad7322480a89ca58e0cf74bc9e540c2add6897fad0a3084f302adc"
    ),
    q=_h(
        "4531acd1fe0023c7550d267b6b2fee80922b14b2ffb90f04d4eb7c09b5d2d15d"
        "a82f2d7ecb1dbac719905c5eecc423f1d86e25edbe23c595d644aaf187e6e6df"
    ),
    gx=_h(
        "24d19cc64572ee30f396bf6ebbfd7a6c5213b3b3d7057cc825f91093a68cd762"
        "fd60611262cd838dc6b60aa7eee804e28bc849977fac33b4b530f1b120248a9a"
    ),
    gy=_h(
        "2bb312a43bd2ce6e0d020613c857acddcfbf061e91e5f2c3f32447c259f39b2c"
        "83ab156d77f1496bf7eb3351e1ee4e43dc1a18b91b24640b6dbb92cb1add371e"
    ),
)

ALL_CURVES: Final = (
    CRYPTOPRO_A,
    CRYPTOPRO_B,
    CRYPTOPRO_C,
    TC26_256_A,
    TC26_512_A,
    TC26_512_B,
    TC26_512_C,
    TEST_256,
    TEST_512,
)

# Parameter-set OID -> curve.  XchA/XchB and tc26 256 B/C/D are the same curves under other
# names (R 1323565.1.024-2019); keys keep the OID they were written with.
CURVES_BY_OID: Final[dict[str, Curve]] = {c.oid: c for c in ALL_CURVES}
CURVES_BY_OID.update(
    {
        "1.2.643.2.2.36.0": CRYPTOPRO_A,  # id-GostR3410-2001-CryptoPro-XchA-ParamSet
        "1.2.643.2.2.36.1": CRYPTOPRO_C,  # id-GostR3410-2001-CryptoPro-XchB-ParamSet
        "1.2.643.7.1.2.1.1.2": CRYPTOPRO_A,  # id-tc26-gost-3410-2012-256-paramSetB
        "1.2.643.7.1.2.1.1.3": CRYPTOPRO_B,  # id-tc26-gost-3410-2012-256-paramSetC
        "1.2.643.7.1.2.1.1.4": CRYPTOPRO_C,  # id-tc26-gost-3410-2012-256-paramSetD
    }
)

# Short names used by OpenSSL's ``-pkeyopt paramset:NAME`` and by our CLI.
PARAMSET_NAMES_256: Final[dict[str, str]] = {
    "A": "1.2.643.2.2.35.1",
    "B": "1.2.643.2.2.35.2",
    "C": "1.2.643.2.2.35.3",
    "XA": "1.2.643.2.2.36.0",
    "XB": "1.2.643.2.2.36.1",
    "TCA": "1.2.643.7.1.2.1.1.1",
    "TCB": "1.2.643.7.1.2.1.1.2",
    "TCC": "1.2.643.7.1.2.1.1.3",
    "TCD": "1.2.643.7.1.2.1.1.4",
}
PARAMSET_NAMES_512: Final[dict[str, str]] = {
    "A": "1.2.643.7.1.2.1.2.1",
    "B": "1.2.643.7.1.2.1.2.2",
    "C": "1.2.643.7.1.2.1.2.3",
}


def curve_for_oid(oid: str) -> Curve | None:
    """The curve for a parameter-set OID, or None if we do not know it."""
    return CURVES_BY_OID.get(oid)
