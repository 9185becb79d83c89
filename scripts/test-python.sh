#!/usr/bin/env bash
# Python binding tests: builds the extension module (debug) into .venv and runs pytest
# against the simulator. Installs what it needs by itself; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

MATURIN_VERSION=1.16.0
PYTEST_VERSION=9.2.0
PYTHON=${PYTHON:-python3}
VENV=$ROOT/.venv

step() { printf '\n=== %s\n' "$*"; }

step "python venv"
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "python3 -m venv failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION"

step "softhsm2 (the PKCS#11 test token)"
if ! command -v softhsm2-util >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2
fi
softhsm2-util --version

step "build the simulator"
cargo build -p wxrefund-sim --bin wxrefund-sim

step "build and install the wxrefund module (debug, with PKCS#11)"
# maturin develop installs into the virtualenv named by VIRTUAL_ENV. Its own target
# directory keeps the `python`-feature build from overwriting target/debug/libwxrefund.so,
# which the C tests link, and from rebuilding the crate each time the feature set changes.
# (bindings/python/.cargo/config.toml says the same for anyone running maturin there by hand.)
# --features replaces pyproject.toml's list, hence `python` again; `pkcs11` for
# tests/test_pkcs11.py (the signer of "signer": {"pkcs11": ...}).
(cd bindings/python && CARGO_TARGET_DIR="$ROOT/target/python" VIRTUAL_ENV=$VENV \
    PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" develop --quiet --features python,pkcs11)

step "pytest"
# WXREFUND_SOFTHSM: tests/test_pkcs11.py makes its token with it (skipped without it).
WXREFUND_SIM="$ROOT/target/debug/wxrefund-sim" WXREFUND_SOFTHSM="$ROOT/scripts/softhsm.sh" \
    "$VENV/bin/python" -m pytest bindings/python/tests -q "$@"
