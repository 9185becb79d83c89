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
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy
echo "tools ready: $(cc --version | head -1); $(valgrind --version); $(cmake --version | head -1); pkg-config $(pkg-config --version)"
