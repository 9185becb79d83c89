#!/usr/bin/env bash
# Supply chain: licenses, banned and duplicate crates, sources (deny.toml), with cargo-deny.
# The RustSec advisory database cannot be fetched on the project's machines (only package
# registries are reachable): advisories are checked only when WXREFUND_ADVISORY_DB points at
# a local copy of it; otherwise this says so and checks the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$DENY_VERSION"; then
    echo "installing cargo-deny $DENY_VERSION from crates.io (a few minutes, once)"
    cargo install cargo-deny --version "$DENY_VERSION" --locked --quiet
fi
cargo deny --all-features check bans licenses sources
if [ -n "${WXREFUND_ADVISORY_DB:-}" ] && [ -d "$WXREFUND_ADVISORY_DB" ]; then
    cargo deny check advisories --disable-fetch --config deny.toml
else
    echo "advisories: not checked (no local RustSec database; set WXREFUND_ADVISORY_DB to one)"
fi
