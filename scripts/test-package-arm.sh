#!/usr/bin/env bash
# Proves the ARM C tarballs of DIST (made by scripts/package-c.sh) on this x86_64 machine:
#
#   scripts/test-package-arm.sh DIST
#
# For each of aarch64-linux-gnu and armv7-linux-gnueabihf: unpacks
# DIST/wxrefund-VERSION-NAME.tar.gz into a fresh directory outside the repository,
# cross-compiles examples/c/quickstart.c against it (pkg-config on the tarball's .pc file,
# else -I/-L), once with the shared library and once with the static one, and runs both under
# qemu-user against an x86_64 wxrefund-sim on loopback: each must exit 0 after a refund that
# the simulator settles (SUCCESS). Also prints the glibc the library needs and its size.
#
# A tarball that is missing because its target could not be built (no Rust standard library
# for it) is skipped, saying so. A tarball that exists and fails makes the script exit 1.
# Without scripts/package-c.sh, the direct build output (target/TRIPLE/release, from
# scripts/cross.sh) is tested instead, laid out the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: $0 DIST" >&2; exit 2; }
DIST=$(realpath -m "$1") # may not exist yet: then there are no tarballs in it
REPO=$PWD
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
declare -A NAME=([aarch64-unknown-linux-gnu]=aarch64-linux-gnu [armv7-unknown-linux-gnueabihf]=armv7-linux-gnueabihf)
declare -A GNU=([aarch64-unknown-linux-gnu]=aarch64-linux-gnu [armv7-unknown-linux-gnueabihf]=arm-linux-gnueabihf)
declare -A QEMU=([aarch64-unknown-linux-gnu]=qemu-aarch64 [armv7-unknown-linux-gnueabihf]=qemu-arm)
declare -A MACHINE=([aarch64-unknown-linux-gnu]=AArch64 [armv7-unknown-linux-gnueabihf]=ARM)

std_ready() {
    compgen -G "$(rustc --print target-libdir --target "$1" 2>/dev/null)/libcore-*.rlib" >/dev/null
}

# The cross compilers and qemu-user (scripts/cross.sh installs them when missing).
need_tools=0
for target in "${TARGETS[@]}"; do
    command -v "${GNU[$target]}-gcc" >/dev/null || need_tools=1
    command -v "${QEMU[$target]}" >/dev/null || need_tools=1
done
((need_tools == 0)) || bash scripts/cross.sh --deps-only

cargo build -p wxrefund-sim --bin wxrefund-sim
OUT=target/arm
mkdir -p "$OUT"
source scripts/sim-lib.sh
unset LD_LIBRARY_PATH # sim-lib.sh points it at the x86_64 debug library
TMPDIRS=()
cleanup() {
    if ((${#SIMS[@]})); then kill "${SIMS[@]}" 2>/dev/null || true; fi
    if ((${#TMPDIRS[@]})); then rm -rf "${TMPDIRS[@]}"; fi
}
trap cleanup EXIT

declare -A RESULT=()
failures=0
fail() { # fail TARGET MESSAGE
    echo "FAIL ($1): $2" >&2
    RESULT[$1]="FAILED: $2"
    failures=$((failures + 1))
}

# stage_direct TARGET DIR: the direct build output laid out like the tarball.
stage_direct() {
    local release=target/$1/release dir=$2
    mkdir -p "$dir/lib" "$dir/include"
    cp "$release/libwxrefund.so" "$dir/lib/libwxrefund.so.$VERSION"
    ln -s "libwxrefund.so.$VERSION" "$dir/lib/libwxrefund.so.0"
    ln -s "libwxrefund.so.0" "$dir/lib/libwxrefund.so"
    cp "$release/libwxrefund.a" "$dir/lib/"
    cp include/wxrefund.h "$dir/include/"
}

# run_quickstart TARGET PREFIX BINARY LABEL: runs it under qemu-user against a fresh simulator.
run_quickstart() {
    local target=$1 prefix=$2 binary=$3 label=$4 gnu=${GNU[$1]} sim="arm-${NAME[$1]}-$4"
    local qemu=("${QEMU[$target]}" -L "/usr/$gnu" -E "LD_LIBRARY_PATH=$prefix/lib")
    start_sim "$sim"
    echo "\$ ${qemu[*]} $binary $REPO/$OUT/$sim.json"
    local output code=0 start=$SECONDS
    output=$(timeout 120 "${qemu[@]}" "$binary" "$REPO/$OUT/$sim.json" 2>&1) || code=$?
    printf '%s\n' "$output" | sed 's/^/    /'
    echo "    (exit $code, $((SECONDS - start)) s under ${QEMU[$target]})"
    if ((code != 0)); then
        fail "$target" "$label quickstart exited $code under ${QEMU[$target]}"
        return
    fi
    local final
    final=$(printf '%s\n' "$output" | grep '^final: ' || true)
    if ! printf '%s\n' "$output" | grep -qx "wxrefund $VERSION" ||
        ! printf '%s\n' "$output" | grep -q '^accepted: {' ||
        [[ $final != *'"status":"SUCCESS"'* || $final != *'"final":true'* ]]; then
        fail "$target" "$label quickstart did not print the version, an accepted refund and a final SUCCESS"
    fi
}

for target in "${TARGETS[@]}"; do
    name=${NAME[$target]}
    gnu=${GNU[$target]}
    tarball=$DIST/wxrefund-$VERSION-$name.tar.gz
    printf '\n--- %s (%s)\n' "$name" "$target"
    work=$(mktemp -d "${TMPDIR:-/tmp}/wxrefund-arm-$name.XXXXXX")
    TMPDIRS+=("$work")
    if [ -f "$tarball" ]; then
        tar -xzf "$tarball" -C "$work"
        prefix=$work/wxrefund-$VERSION-$name
        if [ ! -d "$prefix" ]; then
            fail "$target" "$(basename "$tarball") has no top folder wxrefund-$VERSION-$name/"
            continue
        fi
        source_desc=$(basename "$tarball")
    elif ! std_ready "$target"; then
        echo "skipped: no $(basename "$tarball"): the Rust standard library for $target is not installed, so it could not be built (see scripts/cross.sh)"
        RESULT[$target]="skipped: target could not be built (no Rust standard library)"
        continue
    elif [ -e scripts/package-c.sh ]; then
        fail "$target" "$(basename "$tarball") is missing from $DIST although $target can be built (scripts/package-c.sh $DIST $target)"
        continue
    elif [ -f "target/$target/release/libwxrefund.so" ]; then
        echo "no $(basename "$tarball") and no scripts/package-c.sh yet: testing the direct build output of target/$target/release"
        prefix=$work/wxrefund-$VERSION-$name
        stage_direct "$target" "$prefix"
        source_desc="target/$target/release (direct build, no tarball)"
    else
        echo "skipped: no $(basename "$tarball") and no target/$target/release/libwxrefund.so (run scripts/cross.sh)"
        RESULT[$target]="skipped: nothing built"
        continue
    fi
    echo "prefix: $prefix"

    lib=$prefix/lib/libwxrefund.so
    if [ ! -e "$lib" ] || [ ! -e "$prefix/lib/libwxrefund.so.0" ] || [ ! -e "$prefix/include/wxrefund.h" ]; then
        fail "$target" "the prefix lacks lib/libwxrefund.so, lib/libwxrefund.so.0 or include/wxrefund.h"
        continue
    fi
    machine=$("$gnu-readelf" -h "$lib" | sed -n 's/^ *Machine: *//p')
    if [[ $machine != "${MACHINE[$target]}" ]]; then
        fail "$target" "lib/libwxrefund.so is built for '$machine', not ${MACHINE[$target]}"
        continue
    fi
    glibc=$("$gnu-objdump" -T "$lib" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -n 1)
    stripped=$work/stripped.so
    "$gnu-strip" --strip-unneeded -o "$stripped" "$lib"
    echo "library: $machine, SONAME $("$gnu-readelf" -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'), needs $glibc, $(stat -L -c %s "$lib") bytes as shipped, $(stat -c %s "$stripped") stripped"

    # Compile flags: the tarball's pkg-config file when it has one, relocated to the prefix.
    pc=$prefix/lib/pkgconfig/wxrefund.pc
    cflags=(-I"$prefix/include")
    libs=(-L"$prefix/lib" -lwxrefund)
    static_libs=("$prefix/lib/libwxrefund.a" -lpthread -ldl -lm)
    if [ -f "$pc" ] && command -v pkg-config >/dev/null; then
        pcenv=(env PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR=)
        read -r -a cflags <<<"$("${pcenv[@]}" pkg-config --define-prefix --cflags wxrefund)"
        read -r -a libs <<<"$("${pcenv[@]}" pkg-config --define-prefix --libs wxrefund)"
        read -r -a static_libs <<<"$("${pcenv[@]}" pkg-config --define-prefix --static --libs wxrefund)"
        echo "pkg-config (--define-prefix, PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig): ${cflags[*]} ${libs[*]}; --static: ${static_libs[*]}"
        if [[ " ${libs[*]} " != *" -L$prefix/lib "* ]]; then
            fail "$target" "wxrefund.pc does not point at the unpacked prefix: ${libs[*]}"
            continue
        fi
    else
        echo "no lib/pkgconfig/wxrefund.pc: compiling with ${cflags[*]} ${libs[*]}"
    fi
    warn=(-Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -O2)
    if ! "$gnu-gcc" "${warn[@]}" "${cflags[@]}" examples/c/quickstart.c "${libs[@]}" -o "$work/quickstart"; then
        fail "$target" "$gnu-gcc could not build the quickstart against the shared library"
        continue
    fi
    # Static: the archive by name, so that the .so beside it is not picked.
    static_libs=("${static_libs[@]/#-lwxrefund/$prefix/lib/libwxrefund.a}")
    if ! "$gnu-gcc" "${warn[@]}" "${cflags[@]}" examples/c/quickstart.c "${static_libs[@]}" -o "$work/quickstart-static"; then
        fail "$target" "$gnu-gcc could not build the quickstart against lib/libwxrefund.a"
        continue
    fi

    # The dynamic loader must pick the unpacked library, by its SONAME.
    resolved=$("${QEMU[$target]}" -L "/usr/$gnu" -E "LD_LIBRARY_PATH=$prefix/lib" -E LD_TRACE_LOADED_OBJECTS=1 \
        "$work/quickstart" 2>&1 | grep 'libwxrefund' || true)
    echo "loader: ${resolved//$'\t'/}"
    if [[ $resolved != *"libwxrefund.so.0 => $prefix/lib/libwxrefund.so.0"* ]]; then
        fail "$target" "the quickstart does not load libwxrefund.so.0 from the unpacked prefix"
        continue
    fi
    before=$failures
    run_quickstart "$target" "$prefix" "$work/quickstart" shared
    run_quickstart "$target" "$prefix" "$work/quickstart-static" static
    if ((failures == before)); then
        RESULT[$target]="passed: $source_desc; shared and static quickstart under ${QEMU[$target]}; needs $glibc; $(stat -c %s "$stripped") bytes stripped"
    fi
done

printf '\n=== test-package-arm.sh summary (%s)\n' "$DIST"
for target in "${TARGETS[@]}"; do
    printf '%-24s %s\n' "${NAME[$target]}" "${RESULT[$target]:-not tested}"
done
((failures == 0)) || exit 1
