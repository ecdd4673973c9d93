"""The documented examples give the documented answers (issue 12, item 12).

Every ```console block of README.md and docs/api.md is a transcript: ``$ `` lines are
commands, the lines after each are what it prints. They run in one real bash (real curl, jq
and ``oms-verifier``) against a live demo daemon; the only substitutions are the daemon's
address and demo state directory, which the documents give as ``http://127.0.0.1:8471`` and
``/tmp/oms-demo`` / ``$PWD/state``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.http.conftest import ADMIN_TOKEN, Server
from tests.http.helpers import ROOT

DOCS = [ROOT / "README.md", ROOT / "docs" / "api.md"]
BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARK = "@@oms-doc-step@@"


def transcripts(path: Path) -> list[list[tuple[str, list[str]]]]:
    """Each console block as [(command, expected output lines)]."""
    out = []
    for block in BLOCK.findall(path.read_text(encoding="utf-8")):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                assert steps, f"{path.name}: output before any command: {line!r}"
                steps[-1][1].append(line)
        out.append(steps)
    return out


def run(steps: list[tuple[str, list[str]]], server: Server) -> tuple[list[list[str]], str]:
    """One bash for the whole transcript (variables and functions carry over)."""
    state = str(server.state_dir)
    script = ["set -eo pipefail"]
    for i, (command, _) in enumerate(steps):
        command = command.replace("http://127.0.0.1:8471", server.url)
        command = command.replace("/tmp/oms-demo", state).replace("$PWD/state", state)
        # A newline first: an answer without one (curl's JSON) must not swallow the mark.
        script += [f"printf '\\n{MARK}{i}\\n'", command]
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "OMS_VERIFIER_API_TOKEN": ADMIN_TOKEN,  # what the docs export before serve --demo
    }
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    outputs: list[list[str]] = []
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            outputs.append([])
        elif outputs:
            outputs[-1].append(line)
    for out in outputs:  # the newline put before each mark
        while out and out[-1] == "":
            out.pop()
    return outputs, proc.stderr


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_documented_examples_give_the_documented_answers(doc: Path, api: Server) -> None:
    for tool in ("bash", "curl", "jq"):  # a missing tool fails, never skips
        assert shutil.which(tool), f"{tool} is needed to run the documented examples"
    blocks = transcripts(doc)
    assert blocks, f"{doc.name} has no console transcript"
    for steps in blocks:
        got, stderr = run(steps, api)
        assert len(got) == len(steps)
        for (command, expected), output in zip(steps, got, strict=True):
            assert output == expected, f"{doc.name}: {command}\n{stderr}"
        assert any(expected for _, expected in steps)  # a transcript that shows answers
