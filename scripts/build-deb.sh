#!/usr/bin/env bash
# Builds dist/oms-verifier_<version>_<arch>.deb with Debian's own tools (dpkg-deb): a
# virtualenv under /opt/oms-verifier made by Debian's python3 (the one Depends: names) with the
# runtime dependencies only, the systemd unit, the udev rules, the default config (a conffile)
# and the maintainer scripts from packaging/. See docs/install.md.
#
#   bash scripts/build-deb.sh [--version 0.1.0] [--revision 1] [--out DIR] [--lintian]
#
# --version overrides the project's version (written into the copied pyproject.toml, so the
# package metadata that `oms-verifier` reports and the .deb agree); the tests use it to build
# the previous release. OMS_DEB_COMPRESSION (default xz) picks dpkg-deb's compressor, e.g.
# "gzip:1" for quick test builds. Needs Debian's dpkg-deb, binutils (objdump), python3,
# python3-venv, and to build pyscard: python3-dev, gcc, swig, libpcsclite-dev.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

VERSION=""
REVISION=1
OUT="$ROOT/dist"
LINTIAN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --version) VERSION="$2"; shift 2 ;;
    --revision) REVISION="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --lintian) LINTIAN=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "error [bad_usage]: unknown option $1" >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3  # Debian's: the bundled venv links to it, and Depends: names its version
for tool in dpkg-deb objdump "$PY"; do
  command -v "$tool" >/dev/null || { echo "error [missing_tool]: $tool not found" >&2; exit 2; }
done
"$PY" -c 'import ensurepip, venv' 2>/dev/null \
  || { echo "error [missing_tool]: $PY has no venv/ensurepip: apt-get install python3-venv" >&2; exit 2; }

PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
PYNEXT="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')"
ARCH="$(dpkg --print-architecture)"
COMPRESSION="${OMS_DEB_COMPRESSION:-xz}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/oms-deb.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/src"
PKG="$WORK/pkg"
VENV_DIR=/opt/oms-verifier
VENV="$PKG$VENV_DIR"

# --- the source: only what the wheel is built from ------------------------------------------
mkdir -p "$SRC"
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md \
  verifier drivers cache | tar -C "$SRC" -xf -
if [ -n "$VERSION" ]; then
  sed -i -E "s/^version = \"[^\"]*\"/version = \"$VERSION\"/" "$SRC/pyproject.toml"
fi

# --- the bundled virtualenv: runtime dependencies only, no pip, no test tools ---------------
echo ">> venv $VENV_DIR with $PY ($PYVER)"
"$PY" -m venv "$VENV"
# Its own wheel cache: a wheel pip builds from source (pyscard) is built here by Debian's
# python3, never taken from a cache filled by another interpreter (pyenv's, a dev venv's).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile \
  --cache-dir "${OMS_DEB_PIP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oms-verifier-deb/pip}" \
  --no-warn-script-location "$SRC" 2>&1 | grep -v -E "^WARNING: Location|is ignored" || true
"$VENV/bin/python" -m pip show -q oms-verifier >/dev/null \
  || { echo "error [build_failed]: oms-verifier did not install into the venv" >&2; exit 1; }
PKGVER="$("$VENV/bin/python" -I -c 'import importlib.metadata as m; print(m.version("oms-verifier"))')"
"$VENV/bin/python" -m pip uninstall -q -y pip setuptools >/dev/null 2>&1 || true
# Relocate: scripts and pyvenv.cfg name the build directory; the package lives at $VENV_DIR.
grep -rlI --null "$VENV" "$VENV" | xargs -0 -r sed -i "s#$VENV#$VENV_DIR#g"
rm -f "$VENV"/bin/activate.csh "$VENV"/bin/activate.fish "$VENV"/bin/Activate.ps1
find "$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$VENV" -name direct_url.json -delete  # names the temporary build directory
# Test suites shipped inside third-party wheels are not needed at run time.
find "$VENV/lib" -type d -name tests -path '*/site-packages/*/tests' -prune -exec rm -rf {} +
# Library modules are imported, never run: no shebang ("#!python" would be a bogus interpreter).
find "$VENV/lib" -type f -name '*.py' ! -perm /111 -exec sed -i '1{/^#!/d}' {} +

# --- files outside the venv -----------------------------------------------------------------
install -D -m 0644 "$ROOT/systemd/oms-verifier.service" "$PKG/lib/systemd/system/oms-verifier.service"
install -D -m 0644 "$ROOT/systemd/99-oms-verifier.rules" "$PKG/lib/udev/rules.d/99-oms-verifier.rules"
install -d -m 0750 "$PKG/etc/oms-verifier" "$PKG/etc/oms-verifier/trust"
install -m 0640 "$ROOT/packaging/config.toml" "$PKG/etc/oms-verifier/config.toml"
install -D -m 0755 "$ROOT/packaging/oms-verifier-setup" "$PKG/usr/sbin/oms-verifier-setup"
install -d -m 0755 "$PKG/usr/bin"
ln -s "$VENV_DIR/bin/oms-verifier" "$PKG/usr/bin/oms-verifier"
DOC="$PKG/usr/share/doc/oms-verifier"
install -D -m 0644 "$ROOT/packaging/copyright" "$DOC/copyright"
install -m 0644 "$ROOT/README.md" "$DOC/README.md"
install -m 0644 "$ROOT/docs/install.md" "$DOC/install.md"
gzip -9n "$DOC/README.md" "$DOC/install.md"
cat > "$DOC/changelog.Debian" <<EOF
oms-verifier ($PKGVER-$REVISION) unstable; urgency=medium

  * Package built by scripts/build-deb.sh from the project's source.

 -- ${OMS_DEB_MAINTAINER:-oms-verifier maintainers <packages@oms-verifier.invalid>}  $(date -R -d @"${SOURCE_DATE_EPOCH:-$(date +%s)}")
EOF
gzip -9n "$DOC/changelog.Debian"
install -D -m 0644 "$ROOT/packaging/oms-verifier.1" "$PKG/usr/share/man/man1/oms-verifier.1"
install -D -m 0644 "$ROOT/packaging/oms-verifier-setup.8" "$PKG/usr/share/man/man8/oms-verifier-setup.8"
gzip -9n "$PKG/usr/share/man/man1/oms-verifier.1" "$PKG/usr/share/man/man8/oms-verifier-setup.8"
install -D -m 0644 "$ROOT/packaging/lintian-overrides" "$PKG/usr/share/lintian/overrides/oms-verifier"

# Modes: directories 0755, files 0644 unless executable (the two 0750 dirs and the 0640
# config are set again afterwards); never group/other writable.
find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG" -type f -perm /111 -exec chmod 0755 {} +
find "$PKG" -type f ! -perm /111 -exec chmod 0644 {} +
find "$PKG" -type f -name '*.so*' -exec chmod 0644 {} +  # libraries are mapped, not run
chmod 0750 "$PKG/etc/oms-verifier" "$PKG/etc/oms-verifier/trust"
chmod 0640 "$PKG/etc/oms-verifier/config.toml"

# --- control --------------------------------------------------------------------------------
# Shared libraries the bundled wheels link from the system (manylinux allows libc, libm,
# libstdc++, libgcc_s; pyscard links pcsc-lite), found from the ELF files themselves.
LIBS="libc6 (>= 2.28), libpcsclite1"  # pyscard dlopen()s libpcsclite.so.1
needed="$(find "$VENV" -type f -name '*.so*' -exec objdump -p {} + 2>/dev/null \
  | awk '/NEEDED/ {print $2}' | sort -u)"
grep -q '^libstdc++' <<<"$needed" && LIBS="$LIBS, libstdc++6"
grep -q '^libgcc_s' <<<"$needed" && LIBS="$LIBS, libgcc-s1"
grep -q '^libz\.so' <<<"$needed" && LIBS="$LIBS, zlib1g"
SIZE="$(du -sk --apparent-size "$PKG" | cut -f1)"
mkdir -p "$PKG/DEBIAN"
MAINTAINER="${OMS_DEB_MAINTAINER:-oms-verifier maintainers <packages@oms-verifier.invalid>}"
sed -e "s/@VERSION@/$PKGVER-$REVISION/" -e "s|@MAINTAINER@|$MAINTAINER|" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
  -e "s/@PYTHON_DEPENDS@/python3 (>= $PYVER), python3 (<< $PYNEXT)/" \
  -e "s/@LIB_DEPENDS@/$LIBS/" "$ROOT/packaging/control.in" > "$PKG/DEBIAN/control"
install -m 0644 "$ROOT/packaging/conffiles" "$PKG/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$ROOT/packaging/$s" "$PKG/DEBIAN/$s"; done
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -print0 | sed -z 's#^\./##' \
  | grep -zv '^etc/' | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB="$OUT/oms-verifier_${PKGVER}-${REVISION}_${ARCH}.deb"
echo ">> dpkg-deb $DEB"
dpkg-deb --root-owner-group -Z"${COMPRESSION%%:*}" \
  $([ "${COMPRESSION#*:}" != "$COMPRESSION" ] && echo "-z${COMPRESSION#*:}") \
  --build "$PKG" "$DEB" >/dev/null
echo ">> $(du -h "$DEB" | cut -f1) $DEB ($((SIZE / 1024)) MiB installed)"
if [ "$LINTIAN" = 1 ]; then
  command -v lintian >/dev/null || { echo "error [missing_tool]: lintian (apt-get install lintian)" >&2; exit 2; }
  echo ">> lintian"
  lintian --fail-on warning "$DEB"
fi
echo "$DEB"
