#!/usr/bin/env bash
# Installs what oms-verifier needs on a Debian machine: system packages (GOST engine for
# OpenSSL) and a virtualenv in .venv with the project and its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  libengine-gost-openssl openssl  # GOST hashes in C, OpenSSL interop tests
  python3-venv python3-dev gcc swig libpcsclite-dev  # pyscard builds against pcsc-lite
  pcscd vsmartcard-vpcd  # PC/SC daemon and the virtual reader for chip-card tests
  postgresql  # the registry's PostgreSQL store tests
  systemd  # systemd-analyze for the unit tests
  chromium  # browser tests of the desk and kiosk pages (Playwright drives Debian's Chromium)
  libzbar0  # pyzbar, a baseline in bench/decode_bench.py
  zint  # the independent barcode writer for the official Compact PDF417 test media
  qpdf img2pdf ghostscript enscript poppler-utils  # test PDFs made by independent tools
  xmlsec1  # independent XML canonicalisation for the XMLDSig tests
)

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
if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  "$PY" -m venv .venv
fi
echo ">> pip install -e .[test,bench]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,bench]" 2>&1 \
  | grep -v -E "^WARNING: Location|is ignored" || true
