#!/usr/bin/env bash
# The Rust crate as others get it:
#
#   packaging/check-rust-dependent.sh
#
# 1. `cargo package -p wxrefund --list` ships the library's sources, build.rs and the header,
#    and nothing of bindings/, fuzz/, tests/, examples/, benches/ or target/; the .crate made
#    by `cargo package --no-verify` stays under 1 MiB.
# 2. A scratch crate in a temp folder (packaging/rust-dependent, with
#    `wxrefund = { path = "<repo>" }` and the repository's Cargo.lock) builds and runs offline,
#    sharing target/dependent: `cargo tree` shows no cbindgen, none was compiled, and
#    neither include/wxrefund.h nor any other of wxrefund's sources was written.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
fail() {
    echo "check-rust-dependent.sh: $*" >&2
    exit 1
}
VERSION=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -1)

echo "--- cargo package -p wxrefund --list"
LIST=$(cargo package -p wxrefund --allow-dirty --list 2>/dev/null)
for file in Cargo.toml build.rs include/wxrefund.h src/lib.rs src/ffi/mod.rs README.md; do
    grep -qx "$file" <<<"$LIST" || fail "the package lacks $file"
done
if grep -E '^(bindings|fuzz|tests|examples|benches|sim|target|scripts|packaging|\.ci)/' <<<"$LIST"; then
    fail "the package holds the files above, which the library does not need"
fi
echo "$(wc -l <<<"$LIST") files: $(tr '\n' ' ' <<<"$LIST")"
cargo package -p wxrefund --allow-dirty --no-verify --quiet 2>/dev/null
CRATE=${CARGO_TARGET_DIR:-target}/package/wxrefund-$VERSION.crate
SIZE=$(stat -c %s "$CRATE")
echo "$CRATE: $SIZE bytes"
((SIZE < 1048576)) || fail "$CRATE is $SIZE bytes (over 1 MiB)"

echo "--- a crate that depends on wxrefund"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/src"
cp packaging/rust-dependent/src/main.rs "$SCRATCH/src/"
cat >"$SCRATCH/Cargo.toml" <<TOML
[package]
name = "wxrefund-dependent"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wxrefund = { path = "$ROOT" }

[workspace]
TOML
# The repository's lock file: the same versions, all already downloaded.
cp Cargo.lock "$SCRATCH/Cargo.lock"
# wxrefund's own files that a build script could write to (other builds may run in this tree
# at the same time, so the rest of it is not watched).
written_since_stamp() {
    find include src build.rs Cargo.toml cbindgen.toml -newer "$SCRATCH/stamp"
}
touch "$SCRATCH/stamp"
HEADER_BEFORE=$(sha256sum include/wxrefund.h)
export CARGO_TARGET_DIR=$ROOT/target/dependent
TREE=$(cd "$SCRATCH" && cargo tree --offline -e all)
if grep -q cbindgen <<<"$TREE"; then
    fail "cargo tree of a dependent crate lists cbindgen"
fi
(cd "$SCRATCH" && cargo build --offline -v 2>&1) | tee "$SCRATCH/build.log" | grep -E '^\s*(Compiling|Fresh) (wxrefund|cbindgen)' || true
grep -q 'Compiling cbindgen\|Fresh cbindgen' "$SCRATCH/build.log" && fail "building the dependent crate compiled cbindgen"
if compgen -G "$CARGO_TARGET_DIR/debug/.fingerprint/cbindgen-*" >/dev/null; then
    fail "cbindgen was compiled into $CARGO_TARGET_DIR"
fi
(cd "$SCRATCH" && cargo run --offline --quiet)
[ "$(sha256sum include/wxrefund.h)" = "$HEADER_BEFORE" ] || fail "building the dependent crate changed include/wxrefund.h"
WRITTEN=$(written_since_stamp)
[ -z "$WRITTEN" ] || fail "building the dependent crate wrote into the source folder: $WRITTEN"
echo "check-rust-dependent.sh: the dependent crate built and ran without cbindgen, and wrote nothing into $ROOT"
