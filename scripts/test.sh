#!/usr/bin/env bash
# The whole test suite: what README calls "run every test" and what .ci/run calls.
# Installs what it needs by itself; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

step "tools"
bash scripts/install-deps.sh

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
# On the aws-lc crypto backend with PKCS#11 (the shipped features: scripts/targets.sh), in its
# own target dir so that target/debug keeps the default build the C tests link.
CARGO_TARGET_DIR=target/aws-lc cargo clippy --workspace --all-targets --features wxrefund/aws-lc,wxrefund-cli/pkcs11 -- -D warnings

step "supply chain (deny.toml)"
bash scripts/supply-chain.sh

step "header in sync"
# tests/header.rs regenerates include/wxrefund.h with cbindgen and compares; on a difference,
# WXREFUND_WRITE_HEADER=1 cargo test -p wxrefund --test header rewrites it (commit the result).
cargo test -p wxrefund --test header

step "Rust crate: package contents and a dependent crate without cbindgen"
bash packaging/check-rust-dependent.sh

step "Rust unit and integration tests"
cargo test --workspace

step "PKCS#11 signing through SoftHSM2 (feature pkcs11)"
CARGO_TARGET_DIR=target/pkcs11 cargo test -p wxrefund --features pkcs11 --lib --test pkcs11

step "Rust tests again on the aws-lc crypto backend (feature aws-lc, with PKCS#11)"
CARGO_TARGET_DIR=target/aws-lc cargo test -p wxrefund -p wxrefund-cli --features wxrefund/aws-lc,wxrefund-cli/pkcs11

step "simulator control API against its OpenAPI document (schemathesis)"
bash scripts/test-sim-api.sh

step "simulator console page in headless Chromium"
bash scripts/test-sim-console.sh

step "C programs under valgrind"
bash scripts/test-c.sh

step "C++ wrapper under valgrind"
bash scripts/test-cpp.sh

step "Java binding"
bash scripts/test-java.sh

step "Python module"
CARGO_TARGET_DIR=target/python cargo clippy --features python,pkcs11 --lib -- -D warnings
bash scripts/test-python.sh

step "packages: every artifact into dist/ (scripts/dist.sh)"
bash scripts/dist.sh dist

step "packages: each artifact installed outside the repository (scripts/test-dist.sh)"
bash scripts/test-dist.sh dist

echo
echo "all test steps passed"
