#!/usr/bin/env bash
# Builds the release C library and installs it with its headers, pkg-config and CMake files:
#
#   scripts/install.sh PREFIX [--target TRIPLE]
#
#   PREFIX/lib/libwxrefund.so.VERSION       the shared library (SONAME libwxrefund.so.0)
#   PREFIX/lib/libwxrefund.so.0 -> libwxrefund.so.VERSION
#   PREFIX/lib/libwxrefund.so   -> libwxrefund.so.0
#   PREFIX/lib/libwxrefund.a                the static library
#   PREFIX/include/wxrefund.h               the C header
#   PREFIX/include/wxrefund.hpp             the header-only C++17 wrapper
#   PREFIX/lib/pkgconfig/wxrefund.pc        pkg-config (Libs.private: the static library's needs)
#   PREFIX/lib/cmake/wxrefund/              find_package(wxrefund): wxrefund::wxrefund,
#                                           wxrefund::wxrefund_static, wxrefund::cpp
#   PREFIX/bin/wxrefund-sim                 the simulator, for tests (host builds only:
#                                           not with --target, where it would be the
#                                           build machine's program)
#
# The pkg-config and CMake files find the prefix from their own place, so the tree can be
# moved or packed (scripts/package-c.sh). Builds `cargo build --release -p wxrefund` (never
# with the `python` feature) into target/release, or with --target TRIPLE into
# target/TRIPLE/release, the cross linker coming from .cargo/config.toml (scripts/cross.sh
# installs the Rust standard library and Debian's cross compilers).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}
fail() {
    echo "install.sh: $*" >&2
    exit 1
}

PREFIX=""
TARGET=""
while (($#)); do
    case $1 in
        --target) (($# >= 2)) || usage; TARGET=$2; shift 2 ;;
        --target=*) TARGET=${1#--target=}; shift ;;
        -h | --help) usage 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; usage ;;
        *) [ -z "$PREFIX" ] || usage; PREFIX=$1; shift ;;
    esac
done
[ -n "$PREFIX" ] || usage

cd "$ROOT"
VERSION=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$VERSION" ] || fail "no version in Cargo.toml"
IFS=. read -r VERSION_MAJOR VERSION_MINOR _ <<<"$VERSION"
HOST=$(rustc -vV | sed -n 's/^host: //p')
TARGET_DIR=${CARGO_TARGET_DIR:-target}
source "$ROOT/scripts/targets.sh"
CARGO_ARGS=(build --release -p wxrefund --features "$(shipped_features "${TARGET:-$HOST}")")
if [ -n "$TARGET" ]; then
    rustc --print target-list | grep -qx "$TARGET" || fail "unknown target '$TARGET' (rustc --print target-list)"
    if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$TARGET/lib" ]; then
        fail "the Rust standard library for $TARGET is not installed: run 'rustup target add $TARGET' (scripts/cross.sh installs it and the cross compiler)"
    fi
    CARGO_ARGS+=(--target "$TARGET")
    LIBDIR=$TARGET_DIR/$TARGET/release
else
    TARGET=$HOST
    LIBDIR=$TARGET_DIR/release
fi

echo "install.sh: building wxrefund $VERSION for $TARGET (cargo ${CARGO_ARGS[*]})"
cargo "${CARGO_ARGS[@]}"
SHARED=$LIBDIR/libwxrefund.so
STATIC=$LIBDIR/libwxrefund.a
[ -f "$SHARED" ] && [ -f "$STATIC" ] || fail "the build left no $SHARED and $STATIC"
SIM=""
if [ "$TARGET" = "$HOST" ] && [ "$LIBDIR" = "$TARGET_DIR/release" ]; then
    # A separate build, so that its features do not change the library's.
    cargo build --release -p wxrefund-sim --bin wxrefund-sim
    SIM=$TARGET_DIR/release/wxrefund-sim
    [ -x "$SIM" ] || fail "the build left no $SIM"
fi

# The shared library must be the C library: with its SONAME, without the Python module.
SONAME=$(readelf -d "$SHARED" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$SONAME" = "libwxrefund.so.$VERSION_MAJOR" ] ||
    fail "$SHARED has SONAME '$SONAME', not libwxrefund.so.$VERSION_MAJOR (see build.rs)"
if readelf --dyn-syms -W "$SHARED" | grep -q 'PyInit_'; then
    fail "$SHARED is the Python extension module (built with the python feature): rebuild without it"
fi

# What a program linking libwxrefund.a needs besides it: the target's Rust standard library
# needs (wxrefund itself links no native library; its C code, ring's, is inside the archive).
# Asked of rustc with an empty static library for the target: the same answer as
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs` without
# rebuilding wxrefund.
PROBE=$(mktemp -d)
trap 'rm -rf "$PROBE"' EXIT
: >"$PROBE/probe.rs"
NATIVE_LIBS=$(rustc --target "$TARGET" --crate-type staticlib --crate-name probe --print native-static-libs \
    -o "$PROBE/libprobe.a" "$PROBE/probe.rs" 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -1)
[ -n "$NATIVE_LIBS" ] || fail "rustc did not print the native static libraries for $TARGET"
# For CMake: library names without -l, as a ;-list.
STATIC_LIBS=""
for flag in $NATIVE_LIBS; do
    case $flag in
        -l*) STATIC_LIBS+="${STATIC_LIBS:+;}${flag#-l}" ;;
        *) STATIC_LIBS+="${STATIC_LIBS:+;}$flag" ;;
    esac
done
POINTER_WIDTH=$(rustc --target "$TARGET" --print cfg | sed -n 's/^target_pointer_width="\([0-9]*\)"$/\1/p')
SIZEOF_VOID_P=$((POINTER_WIDTH / 8))

mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
install -d "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake/wxrefund" "$PREFIX/include"
install -m 755 "$SHARED" "$PREFIX/lib/libwxrefund.so.$VERSION"
ln -sfn "libwxrefund.so.$VERSION" "$PREFIX/lib/$SONAME"
ln -sfn "$SONAME" "$PREFIX/lib/libwxrefund.so"
install -m 644 "$STATIC" "$PREFIX/lib/libwxrefund.a"
install -m 644 include/wxrefund.h bindings/cpp/wxrefund.hpp "$PREFIX/include/"
if [ -n "$SIM" ]; then
    install -d "$PREFIX/bin"
    install -m 755 "$SIM" "$PREFIX/bin/wxrefund-sim"
fi

# fill TEMPLATE DEST: the packaging/ template with its @PLACEHOLDERS@ filled in.
fill() {
    sed -e "s|@VERSION@|$VERSION|g" -e "s|@VERSION_MAJOR@|$VERSION_MAJOR|g" \
        -e "s|@VERSION_MINOR@|$VERSION_MINOR|g" -e "s|@TARGET@|$TARGET|g" -e "s|@SONAME@|$SONAME|g" \
        -e "s|@LIBS_PRIVATE@|$NATIVE_LIBS|g" -e "s|@STATIC_LIBS@|$STATIC_LIBS|g" \
        -e "s|@SIZEOF_VOID_P@|$SIZEOF_VOID_P|g" "packaging/$1" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then fail "$2 has an unfilled placeholder"; fi
    chmod 644 "$2"
}
fill wxrefund.pc.in "$PREFIX/lib/pkgconfig/wxrefund.pc"
fill wxrefund-config.cmake.in "$PREFIX/lib/cmake/wxrefund/wxrefund-config.cmake"
fill wxrefund-config-version.cmake.in "$PREFIX/lib/cmake/wxrefund/wxrefund-config-version.cmake"

echo "install.sh: installed wxrefund $VERSION for $TARGET into $PREFIX"
(cd "$PREFIX" && find . \( -type f -o -type l \) | sort | sed 's|^\./|  |')
