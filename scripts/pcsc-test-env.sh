#!/usr/bin/env bash
# Start a private pcscd with the vsmartcard vpcd reader, isolated from any system pcscd,
# and print what to export so pyscard / `oms-verifier` use it. Ctrl-C stops it.
#
#   scripts/pcsc-test-env.sh [PORT]        # default 35963 (vpcd slot 0; slot 1 is PORT+1)
#   # other shell:
#   export PCSCLITE_CSOCK_NAME=<printed path>
#   .venv/bin/python -m verifier.devkit.card_emulator --port PORT --interactive
#
# pcsc-lite 1.9 (Debian 12) hard-codes the daemon socket at /run/pcscd/pcscd.comm (only the
# client honours PCSCLITE_CSOCK_NAME), so pcscd runs in its own mount namespace with a private
# directory bound over /run. Needs: pcscd, vsmartcard-vpcd, util-linux (unshare); root or
# unprivileged user namespaces.
set -euo pipefail
PORT=${1:-35963}
LIB=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
[ -e "$LIB" ] || { echo "vsmartcard-vpcd is not installed ($LIB missing)" >&2; exit 1; }
PCSCD=$(command -v pcscd || echo /usr/sbin/pcscd)
[ -x "$PCSCD" ] || { echo "pcscd is not installed" >&2; exit 1; }
DIR=$(mktemp -d /tmp/oms-pcsc.XXXXXX)
mkdir -p "$DIR/run/pcscd" "$DIR/reader.conf.d"
printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x%04X\nLIBPATH      %s\nCHANNELID    0x%04X\n' \
  "$PORT" "$LIB" "$PORT" > "$DIR/reader.conf.d/vpcd"
UNSHARE=(unshare --mount --propagation private)
[ "$(id -u)" = 0 ] || UNSHARE=(unshare --user --map-root-user --mount --propagation private)
echo "export PCSCLITE_CSOCK_NAME=$DIR/run/pcscd/pcscd.comm"
echo "vpcd listens on 127.0.0.1:$PORT (reader 'Virtual PCD 00 00') and :$((PORT + 1)) ('… 00 01')"
exec "${UNSHARE[@]}" sh -c "mount --bind '$DIR/run' /run && exec '$PCSCD' --foreground -c '$DIR/reader.conf.d'"
