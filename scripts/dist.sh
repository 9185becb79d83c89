#!/usr/bin/env bash
# Makes every artifact into DIST (default dist/): the C/C++ tarball per target (x86_64, and
# aarch64/armv7 when their Rust targets can be had), the Python wheels and sdist, the Java
# jars and pom, and SHA256SUMS. scripts/test-dist.sh proves them.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${1:-dist}
rm -rf "$DIST"
mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)

step() { printf '\n=== dist: %s\n' "$*"; }

step "ARM libraries"
# cross.sh says in its summary which targets it built and why it skipped the others.
CROSS_LOG=$(mktemp)
trap 'rm -f "$CROSS_LOG"' EXIT
bash scripts/cross.sh | tee "$CROSS_LOG"
targets=(x86_64-unknown-linux-gnu)
mapfile -t -O 1 targets < <(awk '$1 == "built" {print $2}' "$CROSS_LOG")

step "C and C++ tarballs: ${targets[*]}"
bash scripts/package-c.sh "$DIST" "${targets[@]}"

step "Python wheels and sdist"
bash scripts/package-python.sh "$DIST"

step "Java jars and pom"
bash scripts/package-java.sh "$DIST"

step "SHA256SUMS"
(cd "$DIST" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort \
    | xargs sha256sum > SHA256SUMS)
(cd "$DIST" && find . -maxdepth 1 -type f -printf '%10s  %f\n' | sort -k2)
