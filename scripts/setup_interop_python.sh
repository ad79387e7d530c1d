#!/usr/bin/env bash
# Builds a self-contained Python 3.13 under .tools/py313/ with the third-party `openadr3-client`
# (tests/interop/requirements.txt), for the OpenADR 3 interoperability test
# (tests/test_openadr_interop.py). Idempotent: a second run with the same requirements and this
# same script only checks that the client imports.
#
# Why this way: openadr3-client needs Python >= 3.12 (PEP 695 syntax), the machine has Debian 12
# (bookworm) with Python 3.11, and prebuilt Python downloads are not reachable; Debian's packages
# are. So this script fetches Debian 13 (trixie)'s python3.13 .deb files, plus the libraries it
# needs that bookworm's are too old for (trixie's glibc included), with `apt-get download` and a
# private apt configuration under .tools (the system's apt sources and state are untouched, nothing
# is installed system-wide), unpacks them with `dpkg-deb -x`, and writes `.tools/py313/bin/python`,
# which runs the interpreter through trixie's own dynamic loader with trixie's libraries first.
# pip comes from PyPI (its wheel, run as `python pip.whl/pip`); packages go, as wheels only, into
# the unpacked tree's dist-packages, which that interpreter has on its path.
set -euo pipefail
cd "$(dirname "$0")/.."

# pip's notes about this machine's unreachable extra indexes are noise here; real errors still show
quiet_pip() { "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

DEST=.tools/py313
REQS=tests/interop/requirements.txt
PIP_VERSION=26.3
SUITE=trixie
# python3.13 and its libraries; libc6 because trixie's python needs GLIBC >= 2.38 (bookworm: 2.36)
DEBS=(
    python3.13 python3.13-minimal libpython3.13-minimal libpython3.13-stdlib
    libc6 libgcc-s1 libssl3t64 libexpat1 zlib1g libbz2-1.0 libdb5.3t64 libffi8 liblzma5
    libncursesw6 libreadline8t64 libsqlite3-0 libtinfo6 libuuid1
)

want=$(cat "$REQS" "$0" | sha256sum | cut -d' ' -f1)
if [ -f "$DEST/.installed" ] && [ "$(cat "$DEST/.installed")" = "$want" ] \
    && "$DEST/bin/python" -c "import openadr3_client" >/dev/null 2>&1; then
    exit 0
fi

if [ "$(dpkg --print-architecture)" != amd64 ]; then
    echo "setup_interop_python: only amd64 is supported (this is $(dpkg --print-architecture))" >&2
    exit 1
fi

mkdir -p .tools
build=$(mktemp -d "$PWD/.tools/py313.build.XXXXXX")
trap 'rm -rf "$build"' EXIT
apt_dir="$build/apt"
mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d} "$build/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
    >"$apt_dir/sources.list"
touch "$apt_dir/status"
apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
    -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
    -o "Dir::Etc::preferences=$apt_dir/preferences"
    -o "Dir::Etc::preferencesparts=$apt_dir/preferences.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::State::status=$apt_dir/status"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Architecture=amd64"
    -o "APT::Sandbox::User=$(id -un)"
    -q
)
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$build/debs" && apt-get "${apt_opts[@]}" download "${DEBS[@]}" >/dev/null)

root="$build/py313/root"
mkdir -p "$root" "$build/py313/bin"
for deb in "$build"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done

# The wrapper: trixie's loader, trixie's libraries, the unpacked tree as PYTHONHOME. Paths are
# found from the wrapper's own place, so the tree may be moved.
cat >"$build/py313/bin/python" <<'EOF'
#!/bin/sh
# Python 3.13 from Debian trixie's packages (scripts/setup_interop_python.sh): run through trixie's
# own dynamic loader so its glibc and libraries are used, not the system's.
here=$(cd "$(dirname "$0")/.." && pwd)
lib="$here/root/usr/lib/x86_64-linux-gnu"
PYTHONHOME="$here/root/usr" exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" \
    "$here/root/usr/bin/python3.13" "$@"
EOF
chmod +x "$build/py313/bin/python"
"$build/py313/bin/python" -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib" \
    || { echo "setup_interop_python: the unpacked Python 3.13 does not run" >&2; exit 1; }

# pip from PyPI as a wheel (run in place), downloaded by the project's venv
PIP_CMD=".venv/bin/python"
[ -x "$PIP_CMD" ] || PIP_CMD=python3
quiet_pip "$PIP_CMD" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
    -d "$build/wheels" "pip==$PIP_VERSION"
site="$root/usr/lib/python3/dist-packages"
quiet_pip "$build/py313/bin/python" "$build/wheels/pip-$PIP_VERSION-py3-none-any.whl/pip" install -q \
    --disable-pip-version-check --no-warn-script-location --root-user-action ignore \
    --only-binary :all: --target "$site" -r "$REQS"
"$build/py313/bin/python" -c "import openadr3_client" \
    || { echo "setup_interop_python: openadr3_client does not import" >&2; exit 1; }

rm -rf "$DEST"
mv "$build/py313" "$DEST"
echo "$want" >"$DEST/.installed"
