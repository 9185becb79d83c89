#!/usr/bin/env bash
# The whole test suite: what README calls "run every test" and what .ci/run calls.
# Installs what it needs by itself; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

# Keep the checked-in header before any build regenerates it.
CHECKED_IN_HEADER=$(mktemp)
trap 'rm -f "$CHECKED_IN_HEADER"' EXIT
cp include/wxrefund.h "$CHECKED_IN_HEADER"

step "tools"
bash scripts/install-deps.sh

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "supply chain (deny.toml)"
bash scripts/supply-chain.sh

step "header in sync"
cargo build --workspace
if ! cmp -s include/wxrefund.h "$CHECKED_IN_HEADER"; then
    diff -u "$CHECKED_IN_HEADER" include/wxrefund.h || true
    echo "include/wxrefund.h is out of date: commit the regenerated header" >&2
    exit 1
fi

step "Rust unit and integration tests"
cargo test --workspace

step "C programs under valgrind"
bash scripts/test-c.sh

step "C++ wrapper under valgrind"
bash scripts/test-cpp.sh

step "Java binding"
bash scripts/test-java.sh

step "Python module"
CARGO_TARGET_DIR=target/python cargo clippy --features python --lib -- -D warnings
bash scripts/test-python.sh

echo
echo "all test steps passed"
