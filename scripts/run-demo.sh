#!/usr/bin/env bash
# Install, then run oms-verifier on its embedded defaults (demo data, no hardware).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/oms-verifier --state-dir "${OMS_VERIFIER_STATE_DIR:-$PWD/state}" demo "$@"
