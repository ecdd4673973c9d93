#!/usr/bin/env bash
# Installs what oms-verifier needs on a Debian machine. Idempotent.
#
#   bash scripts/install.sh                 development and tests (what run-tests.sh uses):
#                                           every test service and tool, and .venv with the
#                                           project editable plus its test, bench and
#                                           postgres extras
#   bash scripts/install.sh --runtime [--venv DIR]
#                                           only what the service needs: the runtime Debian
#                                           packages and `pip install .` (no extras) into DIR
#                                           (default .venv)
#
# A clinic desk should rather get the Debian package (docs/install.md): it needs no compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME=0
VENV=.venv
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) RUNTIME=1; shift ;;
    --venv) VENV="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "error [bad_usage]: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

RUNTIME_PACKAGES=(
  libengine-gost-openssl openssl  # GOST hashes in C
  pcscd libpcsclite1  # PC/SC daemon for card readers (pyscard loads libpcsclite)
  python3-venv python3-dev gcc swig libpcsclite-dev  # pip builds pyscard against pcsc-lite
)
DEV_PACKAGES=(
  vsmartcard-vpcd  # the virtual reader for chip-card tests
  postgresql  # the registry's PostgreSQL store tests
  systemd  # systemd-analyze for the unit tests
  chromium  # browser tests of the desk and kiosk pages (Playwright drives Debian's Chromium)
  zint  # the independent barcode writer for the official Compact PDF417 test media
  qpdf img2pdf ghostscript enscript poppler-utils  # test PDFs made by independent tools
  xmlsec1  # independent XML canonicalisation for the XMLDSig tests
  dpkg-dev binutils lintian adduser init-system-helpers  # build, lint and install the .deb
  libzbar0 wrk  # benches: pyzbar as a decode baseline, wrk as the HTTP load generator
)
DEB_PACKAGES=("${RUNTIME_PACKAGES[@]}")
if [ "$RUNTIME" = 0 ]; then DEB_PACKAGES+=("${DEV_PACKAGES[@]}"); fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$RUNTIME" = 1 ]; then
  target="."
else
  target="-e .[test,bench,postgres]"
fi
echo ">> pip install $target"
# shellcheck disable=SC2086  # $target is one or two words on purpose
"$VENV/bin/python" -m pip install -q --disable-pip-version-check $target 2>&1 \
  | grep -v -E "^WARNING: Location|is ignored" || true
"$VENV/bin/python" -I -c 'import verifier.cli' \
  || { echo "error [install_failed]: oms-verifier is not importable from $VENV" >&2; exit 1; }
