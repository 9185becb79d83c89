#!/usr/bin/env bash
# The size of the shipped shared library, per target and crypto backend (README "Performance"):
#
#   scripts/size.sh [--breakdown] [TRIPLE...]
#
# Builds `cargo build --release -p wxrefund --features pkcs11[,aws-lc] --target TRIPLE` (the
# release profile of Cargo.toml: LTO, one codegen unit, stripped) for each backend, and the
# ring library without PKCS#11 (the crate's default features), into target/size, strips it as
# scripts/package-c.sh does, and prints one line per library and one `FIGURE {json}` line for
# scripts/bench.sh. The targets default to x86_64, aarch64 and armv7;
# a target whose Rust standard library or cross compiler is missing (scripts/cross.sh
# --deps-only installs them) is skipped, saying why. aws-lc is built for x86_64 only, where it
# ships (scripts/targets.sh).
#
# --breakdown builds the ring library of each target again with its symbols and prints the
# bytes of code and data per crate (from `nm --print-size`), the largest first, and the ELF
# sections: what the size is made of.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh
export CARGO_TERM_COLOR=never

BREAKDOWN=0
TARGETS=()
for arg in "$@"; do
    case $arg in
        --breakdown) BREAKDOWN=1 ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "size.sh: unknown option $arg" >&2; exit 2 ;;
        *) platform_name "$arg" >/dev/null || { echo "size.sh: unknown target $arg" >&2; exit 2; }
           TARGETS+=("$arg") ;;
    esac
done
((${#TARGETS[@]})) || TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
HOST=$(rustc -vV | sed -n 's/^host: //p')
OUT=target/size/out
mkdir -p "$OUT"

# ready TRIPLE: the target's standard library and linker are there (else says why, fails).
ready() {
    if ! compgen -G "$(rustc --print target-libdir --target "$1" 2>/dev/null)/libcore-*.rlib" >/dev/null; then
        echo "size.sh: skipping $1: no Rust standard library for it (rustup target add $1, or scripts/cross.sh --deps-only)" >&2
        return 1
    fi
    if [ "$1" != "$HOST" ] && ! command -v "$(gnu_prefix "$1")-gcc" >/dev/null; then
        echo "size.sh: skipping $1: no $(gnu_prefix "$1")-gcc (scripts/cross.sh --deps-only installs it)" >&2
        return 1
    fi
}

# build TRIPLE FEATURES DIR [CARGO ARGS...]: the library's path, built into DIR.
build() {
    local triple=$1 features=$2 dir=$3
    shift 3
    CARGO_TARGET_DIR=$dir cargo build --quiet --release -p wxrefund --features "$features" \
        --target "$triple" "$@" >&2
    echo "$dir/$triple/release/libwxrefund.so"
}

for triple in "${TARGETS[@]}"; do
    ready "$triple" || continue
    variants=(ring ring-no-pkcs11)
    [ "$triple" != x86_64-unknown-linux-gnu ] || variants+=(aws-lc)
    for backend in "${variants[@]}"; do
        case $backend in
            ring-no-pkcs11) features="" ;;
            *) features=$(backend_features "$backend") ;;
        esac
        lib=$(build "$triple" "$features" target/size)
        copy=$OUT/libwxrefund-$triple-$backend.so
        cp "$lib" "$copy"
        strip=$(strip_tool "$triple" "$HOST")
        [ -z "$strip" ] || "$strip" --strip-unneeded "$copy"
        bytes=$(stat -c %s "$copy")
        printf '%-32s %-15s %9d bytes (%.2f MB) stripped, features: %s\n' "$triple" "$backend" "$bytes" \
            "$(awk -v b="$bytes" 'BEGIN {print b / 1e6}')" "${features:-(default)}"
        echo "FIGURE {\"what\": \"size\", \"target\": \"$triple\", \"backend\": \"$backend\", \"bytes\": $bytes}"
    done
done

((BREAKDOWN)) || exit 0
for triple in "${TARGETS[@]}"; do
    ready "$triple" 2>/dev/null || continue
    lib=$(build "$triple" "$SHIPPED_FEATURES" target/size-symbols --config profile.release.strip=false)
    nm_tool="nm"
    command -v "$(gnu_prefix "$triple")-nm" >/dev/null && nm_tool=$(gnu_prefix "$triple")-nm
    echo
    echo "=== $triple, ring: ELF sections (bytes)"
    # The sections that are loaded (not the debug information this symbol build keeps).
    size -A "$lib" | awk '$2 > 4096 && $1 ~ /^\./ && $1 !~ /^\.(debug|symtab|strtab)/ {printf "  %-20s %9d\n", $1, $2}' \
        | sort -k2 -n -r
    echo "=== $triple, ring: code and data per crate (bytes, from symbol sizes)"
    "$nm_tool" --print-size --size-sort -C "$lib" | python3 -c '
import collections, re, sys
sizes = collections.Counter()
for line in sys.stdin:
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4:
        continue
    size, name = int(parts[1], 16), parts[3]
    if name.startswith("ring_core_") or name.startswith("ecp_nistz256") or name.startswith("k25519"):
        crate = "ring (C and assembly)"
    elif name.startswith("aws_lc_"):
        crate = "aws-lc (C)"
    else:
        match = re.match(r"^[<&\s]*(?:impl\s+)?(?:dyn\s+)?([A-Za-z_][A-Za-z0-9_]*)::", name)
        crate = match.group(1) if match else "(other symbols)"
    sizes[crate] += size
total = sum(sizes.values())
for crate, size in sizes.most_common(25):
    print(f"  {crate:<24} {size:>9}  {100 * size / total:5.1f}%")
label = "(all symbols)"
print(f"  {label:<24} {total:>9}")
'
done
