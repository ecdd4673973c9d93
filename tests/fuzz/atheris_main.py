"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python).

    python -m tests.fuzz.atheris_main TARGET [--keep-going=DIR] [libFuzzer flags] [CORPUS ...]

The project's packages are imported under ``atheris.instrument_imports`` so libFuzzer sees their
branch coverage (``cov:`` in its status lines). A crash is any exception the target does not
allow (see ``tests/fuzz/targets.py``). By default libFuzzer stops at the first one and writes
the input to ``-artifact_prefix``. With ``--keep-going=DIR`` the run goes on for its whole time
budget and keeps one (the shortest) reproducer per distinct crash, ``DIR/<signature>.bin``
plus its traceback in ``.txt``: one campaign then lists every crash, not only the first.
``scripts/fuzz.sh`` runs every target in turn; the pytest replay does not need atheris.
"""

from __future__ import annotations

import hashlib
import sys
import traceback
from pathlib import Path

import atheris


def signature(exc: BaseException) -> str:
    """Exception type and the innermost frame in project code: one name per distinct bug."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/tests/fuzz/" not in f.filename] or frames
    last = ours[-1] if ours else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    text = f"{type(exc).__name__}@{where}"
    tag = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return text.replace("/", "_") + "-" + tag


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1].startswith("-"):
        raise SystemExit("usage: python -m tests.fuzz.atheris_main TARGET [libFuzzer args]")
    name = argv[1]
    rest = argv[2:]
    keep: Path | None = None
    for arg in list(rest):
        if arg.startswith("--keep-going="):
            keep = Path(arg.split("=", 1)[1])
            keep.mkdir(parents=True, exist_ok=True)
            rest.remove(arg)
    with atheris.instrument_imports(include=["verifier", "cache", "drivers"]):
        from tests.fuzz import targets
    target = targets.TARGETS[name]

    def one_input(data: bytes) -> None:
        if keep is None:
            targets.check(target, data)
            return
        try:
            targets.check(target, data)
        except Exception as exc:  # noqa: BLE001 - recorded; the campaign goes on
            sig = signature(exc)
            path = keep / f"{sig}.bin"
            if not path.exists() or len(path.read_bytes()) > len(data):
                path.write_bytes(data)
                path.with_suffix(".txt").write_text(
                    "".join(traceback.format_exception(exc)), encoding="utf-8"
                )
                print(f"CRASH {sig} ({len(data)} bytes)", file=sys.stderr, flush=True)

    atheris.Setup([argv[0], *rest], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
