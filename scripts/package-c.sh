#!/usr/bin/env bash
# Makes the C and C++ tarballs:
#
#   scripts/package-c.sh DIST [TRIPLE ...]
#
# For each TRIPLE (default: x86_64-unknown-linux-gnu; also aarch64-unknown-linux-gnu and
# armv7-unknown-linux-gnueabihf), installs the release library with scripts/install.sh into a
# staging folder, strips the shared library (and the debug sections and LLVM bitcode of the
# static one) and packs DIST/wxrefund-VERSION-NAME.tar.gz, whose one top folder
# wxrefund-VERSION-NAME/ is the install prefix (lib/, include/, lib/pkgconfig/,
# lib/cmake/wxrefund/; bin/wxrefund-sim and the operator command bin/wxrefund, stripped, in the
# host's tarball only). NAME is
# x86_64-linux-gnu, aarch64-linux-gnu or armv7-linux-gnueabihf. The host's triple is built
# into target/release, the others into target/TRIPLE/release (scripts/cross.sh sets them up).
# Prints each artifact with its size.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if (($# < 1)) || [[ $1 == -* ]]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
mkdir -p "$1"
DIST=$(cd "$1" && pwd)
shift
TRIPLES=("$@")
((${#TRIPLES[@]})) || TRIPLES=(x86_64-unknown-linux-gnu)

VERSION=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -1)
HOST=$(rustc -vV | sed -n 's/^host: //p')
# Reproducible archives: file times from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

STAGING=$(mktemp -d)
trap 'rm -rf "$STAGING"' EXIT

source scripts/targets.sh

for triple in "${TRIPLES[@]}"; do
    name=$(platform_name "$triple") || {
        echo "package-c.sh: unknown target '$triple' (x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf)" >&2
        exit 2
    }
    top=wxrefund-$VERSION-$name
    prefix=$STAGING/$triple/$top
    echo "=== package-c.sh: $triple -> $top.tar.gz"
    if [ "$triple" = "$HOST" ]; then
        bash scripts/install.sh "$prefix"
        # The operator command (README "Operating it"), for the host like the simulator.
        cargo build --release -p wxrefund-cli --bin wxrefund --features "$(shipped_features "$triple")"
        install -m 755 "${CARGO_TARGET_DIR:-target}/release/wxrefund" "$prefix/bin/wxrefund"
    else
        bash scripts/install.sh "$prefix" --target "$triple"
    fi

    lib=$prefix/lib/libwxrefund.so.$VERSION
    strip=$(strip_tool "$triple" "$HOST")
    if [ -n "$strip" ]; then
        "$strip" --strip-unneeded "$lib"
        # The LLVM bitcode the LTO release profile embeds in each object is for rustc's LTO
        # only; a C linker never reads it, and it is half the archive.
        "$strip" --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd "$prefix/lib/libwxrefund.a"
        for program in "$prefix/bin/wxrefund-sim" "$prefix/bin/wxrefund"; do
            if [ -f "$program" ]; then
                "$strip" "$program"
            fi
        done
        # Still a working library: its SONAME and its exported functions are there.
        readelf -d "$lib" | grep -q 'Library soname: \[libwxrefund.so.0\]' ||
            { echo "package-c.sh: $lib lost its SONAME when stripped" >&2; exit 1; }
        readelf --dyn-syms -W "$lib" | grep -q ' wxrefund_refund_create$' ||
            { echo "package-c.sh: $lib lost its exports when stripped" >&2; exit 1; }
    else
        echo "package-c.sh: warning: no strip for $triple (install binutils-$(gnu_prefix "$triple")); packing unstripped" >&2
    fi

    tarball=$DIST/$top.tar.gz
    tar -C "$STAGING/$triple" --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime="@$SOURCE_DATE_EPOCH" -cf - "$top" | gzip -9n >"$tarball"
    printf 'package-c.sh: %s  %s bytes (libwxrefund.so %s bytes, libwxrefund.a %s bytes)\n' \
        "$tarball" "$(stat -c %s "$tarball")" "$(stat -c %s "$lib")" "$(stat -c %s "$prefix/lib/libwxrefund.a")"
done
