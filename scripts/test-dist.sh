#!/usr/bin/env bash
# Installs each artifact of DIST (default dist/, made by scripts/dist.sh) into a fresh place
# outside the repository and runs that language's quickstart from it against the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=$(cd "${1:-dist}" && pwd)

step() { printf '\n=== test-dist: %s\n' "$*"; }

step "checksums"
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS)
cargo build -p wxrefund-sim --bin wxrefund-sim

step "C and C++ (pkg-config, CMake shared and static)"
bash scripts/test-package-c.sh "$DIST"

step "ARM tarballs under qemu-user"
bash scripts/test-package-arm.sh "$DIST"

step "Python wheel in a new virtual environment"
bash scripts/test-package-python.sh "$DIST"

step "Java: the jar and JNA alone"
bash scripts/test-package-java.sh "$DIST"

echo
echo "every artifact of $DIST passed installed"
