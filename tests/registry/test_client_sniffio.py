"""The client stops httpcore from searching ``sys.path`` for sniffio on every request.

httpcore runs ``import sniffio`` each time it sets up a lock or an event (several times per
request). With sniffio not installed, as in this environment (anyio 4 no longer pulls it in),
each of those imports failed only after a fresh search of ``sys.path``: about a fifth of the
client's CPU per lookup (issue 17.4). Each case runs in a fresh interpreter, since the fix is
made once at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

COUNT_SEARCHES = textwrap.dedent(
    """
    import importlib.util, sys

    class Count:
        n = 0

        def find_spec(self, name, path=None, target=None):
            if name == "sniffio":
                Count.n += 1
            return None

    sys.meta_path.insert(0, Count())
    found = importlib.util.find_spec("sniffio") is not None
    import verifier.registry.client  # noqa: F401
    from httpcore._synchronization import current_async_library

    before = Count.n
    for _ in range(100):
        assert current_async_library() == "asyncio"
    print(found, Count.n - before, type(sys.modules.get("sniffio")).__name__)
    """
)


def _run(extra_path: Path | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([*([str(extra_path)] if extra_path else []), str(ROOT)])
    out = subprocess.run(
        [sys.executable, "-c", COUNT_SEARCHES],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return out.stdout.split()


def test_a_missing_sniffio_is_searched_for_once_not_on_every_request() -> None:
    found, searches, entry = _run()
    assert found == "False", "sniffio is installed here: this test's premise no longer holds"
    assert searches == "0"  # 100 before the fix
    assert entry == "NoneType"


def test_an_installed_sniffio_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "sniffio.py").write_text(
        "def current_async_library():\n    return 'asyncio'\n", encoding="utf-8"
    )
    found, _, entry = _run(tmp_path)
    assert found == "True"
    assert entry == "module"  # httpcore imported the real (here: stand-in) module
