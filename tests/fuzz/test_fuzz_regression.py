"""Short replay of the fuzz campaign: seeds, every committed crash reproducer, random mutations.

The long coverage-guided run is ``scripts/fuzz.sh`` (atheris); this file keeps what it found
fixed and checks the same contract on a few hundred mutated inputs per target in seconds:
a result or a typed error, never another exception (``tests/fuzz/targets.py``).
Committed inputs: ``tests/fuzz/corpus/<target>/`` holds hand-made hostile inputs and the
reproducers of fixed crashes (all must hold the contract); ``tests/fuzz/reported/<target>/``
holds reproducers of crashes in code this suite does not own, with their tracebacks, until the
owner's fix lands (then they move to ``corpus/``).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.fuzz import seeds
from tests.fuzz.targets import TARGETS, check, credential_input
from verifier import identifiers
from verifier.errors import RecognitionError
from verifier.formats import digital
from verifier.pipeline import Pipeline
from verifier.verdict import Outcome

CORPUS = Path(__file__).parent / "corpus"
REPORTED = Path(__file__).parent / "reported"
ITERATIONS = 500
_INTERESTING = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\x81\xff",
    b"\x84\xff\xff\xff\xff",
    b"[" * 40,
    "٥".encode(),
    "５".encode(),
    b"\r\n",
    b"\\",
    b"]Q2",
)


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One to four random edits (bit flips, bytes, insertions, deletions, splices)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(buf))
        op = rng.randrange(8)
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 4 and buf:
            start = rng.randrange(len(buf))
            buf[pos:pos] = buf[start : start + rng.randint(1, 32)]
        elif op == 5:
            del buf[pos:]
        elif op == 6:
            other = rng.choice(pool)
            cut = rng.randint(0, len(other))
            buf[pos:] = other[cut:]
        else:
            buf[pos:pos] = rng.choice(_INTERESTING)
    return bytes(buf)


def _files(root: Path) -> list[tuple[str, Path]]:
    """``ROOT/<target>/*.bin``: inputs (a reported crash's traceback sits next to it as .txt)."""
    return [(p.parent.name, p) for p in sorted(root.glob("*/*.bin"))]


COMMITTED = _files(CORPUS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_hold_the_contract(name: str) -> None:
    items = seeds.seeds(name)
    assert items, f"no seeds for {name}"
    for item in items:
        check(TARGETS[name], item)


@pytest.mark.parametrize(("name", "path"), COMMITTED, ids=[f"{n}/{p.name}" for n, p in COMMITTED])
def test_committed_corpus_holds_the_contract(name: str, path: Path) -> None:
    check(TARGETS[name], path.read_bytes())


def test_committed_folders_name_targets() -> None:
    """A renamed target must not silently drop its reproducers from the replay."""
    for root in (CORPUS, REPORTED):
        if root.is_dir():
            for d in root.iterdir():
                assert d.name in TARGETS, f"{root.name}/{d.name} names no target"
    assert COMMITTED, "the committed corpus is empty"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_random_mutations_hold_the_contract(name: str) -> None:
    rng = random.Random(f"oms-fuzz-{name}")  # fixed: a failure replays
    pool = seeds.seeds(name)
    for _ in range(ITERATIONS):
        data = mutate(rng, rng.choice(pool), pool)
        try:
            check(TARGETS[name], data)
        except Exception as exc:
            raise AssertionError(f"{name}: input {data.hex()} broke the contract") from exc


# --- the crashes the campaign found, as plain tests ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "５０５６４１０８３４００１２３５",  # fullwidth
        "٥٠٥٦٤١٠٨٣٤٠٠١٢٣٥",  # Arabic-Indic
        "５０５６ ４１０８ ３４００ １２３５",
    ],
)
def test_non_ascii_digits_are_no_enp(text: str) -> None:
    """``\\d`` matched them: a 'claim' no check could read, or an IdentifierError escaping."""
    with pytest.raises(RecognitionError) as err:
        digital.extract_enp(text)
    assert err.value.code == "no_enp"


def test_url_parameter_with_a_newline_is_not_an_enp() -> None:
    """``$`` matched before a trailing newline, then the check digit code raised enp_format."""
    with pytest.raises(RecognitionError) as err:
        digital.extract_enp("https://x.ru/?enp=5056410834001236%0A&n=1")
    assert err.value.code == "no_enp"


def test_non_ascii_digits_are_no_temporary_certificate_or_old_number() -> None:
    with pytest.raises(identifiers.IdentifierError):
        identifiers.parse_temporary_certificate("ВС ١٢٣٤٥٦٧٨٩")
    with pytest.raises(identifiers.IdentifierError):
        identifiers.parse_old_policy("ЕАА ١٢٣٤٥٦٧")


def test_scanned_fullwidth_enp_is_unrecognized_not_invalid() -> None:
    """A genuine number in odd digits must not come out as a forgery ('invalid')."""
    item = credential_input(b"\x00" + "５０５６４１０８３４００１２３５".encode())
    with pytest.raises(RecognitionError):
        Pipeline().verify(item)


def test_no_verdict_is_valid_without_stores() -> None:
    verdict = Pipeline().verify(credential_input(b"\x00" + b"5056410834001235"))
    assert verdict.outcome is not Outcome.VALID
