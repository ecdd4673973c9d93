#!/usr/bin/env bash
# Install, then run the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p artifacts
echo ">> ruff"; ruff check .
echo ">> ruff format"; ruff format --check .
echo ">> import walls"; lint-imports
echo ">> mypy"; mypy
echo ">> pytest"; pytest -q "$@"
