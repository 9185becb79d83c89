#!/usr/bin/env bash
# Installs the tools the tests need, when they are missing (Debian packages).
set -euo pipefail
missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v cc >/dev/null || missing+=(gcc)
# The C/C++ package test (scripts/test-package-c.sh): CMake and pkg-config consumers.
command -v cmake >/dev/null || missing+=(cmake)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# The C package test drives the simulator's control API with curl.
command -v curl >/dev/null || missing+=(curl)
# PKCS#11 signing tests (tests/pkcs11.rs, scripts/softhsm.sh): a software token.
command -v softhsm2-util >/dev/null || missing+=(softhsm2)
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq || echo "install-deps: apt-get update failed" >&2
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"; then
        echo "install-deps: apt-get could not install all of: ${missing[*]}" >&2
    fi
fi
# Say exactly what is still missing rather than fail later with a puzzling error.
still=()
for tool in valgrind cc cmake pkg-config curl softhsm2-util; do
    command -v "$tool" >/dev/null || still+=("$tool")
done
if ((${#still[@]})); then
    echo "install-deps: could not get: ${still[*]}" >&2
    exit 1
fi
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy
echo "tools ready: $(cc --version | head -1); $(valgrind --version); $(cmake --version | head -1); pkg-config $(pkg-config --version); softhsm2 $(softhsm2-util --version)"
