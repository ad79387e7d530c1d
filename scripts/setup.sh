#!/usr/bin/env bash
# Sets up everything gridledger needs on a bare machine, idempotently:
#   - .venv with the package and its dev extras (reinstalled only when pyproject.toml changes);
#   - with --services: Mosquitto and PostgreSQL from Debian packages, anvil from the npm registry
#     (into .tools/), which the test suite starts and stops itself on 127.0.0.1; Chromium and
#     chromedriver from Debian packages for the browser tests (Playwright's download is not used);
#     a Python 3.13 with the third-party openadr3-client under .tools/py313 for the OpenADR 3
#     interoperability test (scripts/setup_interop_python.sh);
#   - with --bench: also the benchmarks' optional extras (rdtools, beside our degradation rule in
#     bench_faults; large: it pulls xgboost and scikit-learn, so the test setup leaves it out).
set -euo pipefail
cd "$(dirname "$0")/.."

services=0
extras=dev
for arg in "$@"; do
    case "$arg" in
        --services) services=1 ;;
        --bench) extras=dev,bench ;;
        *) echo "usage: scripts/setup.sh [--services] [--bench]" >&2; exit 2 ;;
    esac
done

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.gridledger-installed-${extras/,/-}
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[$extras]"
    touch "$stamp"
fi

if [ "$services" = 1 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
    need_apt=()
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
    # the browser tests (marker `browser`) drive Debian's Chromium through Playwright
    [ -x /usr/bin/chromium ] || need_apt+=(chromium)
    [ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
    if [ ${#need_apt[@]} -gt 0 ]; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
        # the Debian packages start system services; the tests run their own instances
        $SUDO service mosquitto stop >/dev/null 2>&1 || true
    fi
    if [ ! -x .tools/anvil ]; then
        mkdir -p .tools
        npm install --silent --no-audit --no-fund --prefix .tools @foundry-rs/anvil@1.7.1 >/dev/null 2>&1 || true
        bin=$(find .tools/node_modules/@foundry-rs -type f -name anvil -perm -u+x 2>/dev/null | head -n 1)
        if [ -z "$bin" ]; then
            echo "setup: anvil binary not found after npm install of @foundry-rs/anvil" >&2
            exit 1
        fi
        ln -sf "$PWD/$bin" .tools/anvil
    fi
    bash scripts/setup_interop_python.sh
fi
