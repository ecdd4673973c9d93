#!/usr/bin/env bash
# Install, then run the oms-verifier service on its embedded defaults: a generated demo
# register, demo keys, the reference registry on loopback, no hardware. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/oms-verifier --state-dir "${OMS_VERIFIER_STATE_DIR:-$PWD/state}" serve --demo "$@"
