#!/usr/bin/env bash
# Proves the x86_64 C and C++ tarball of DIST (scripts/package-c.sh) installed, outside the
# repository:
#
#   scripts/test-package-c.sh DIST
#
# Unpacks DIST/wxrefund-VERSION-x86_64-linux-gnu.tar.gz into a fresh mktemp -d folder, checks
# its tree (one top folder, SONAME symlinks, stripped library and bin/wxrefund-sim) and prints
# the glibc it needs, starts the tarball's bin/wxrefund-sim (not the repository's), checks the
# tarball's bin/wxrefund (`--version`, and `doctor` finds no problem with the simulator), queues a
# SYSTEM_ERROR through its control API with curl, and runs against it, each built with
# -Wall -Wextra -Werror (after the first run, curl .../_sim/requests must show the fault):
#   (a) examples/c/quickstart.c built with `cc $(pkg-config --cflags --libs wxrefund)` and an
#       rpath to the unpacked lib/, and again linked statically from `pkg-config --static`;
#   (b) a CMake project (packaging/cmake-test) with find_package(wxrefund 0.1 REQUIRED) and
#       CMAKE_PREFIX_PATH, configured twice: wxrefund::wxrefund shared, then static
#       (-DWXREFUND_USE_STATIC=ON, and wxrefund::wxrefund_static); ldd shows that the static
#       builds do not need libwxrefund.so;
#   (c) examples/cpp/quickstart.cpp through wxrefund::cpp, in both CMake builds.
# Installs cmake, pkg-config and curl from Debian when they are missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

(($# == 1)) || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
DIST=$(cd "$1" && pwd)
VERSION=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -1)
TOP=wxrefund-$VERSION-x86_64-linux-gnu
TARBALL=$DIST/$TOP.tar.gz
[ -f "$TARBALL" ] || { echo "test-package-c.sh: no $TARBALL (run scripts/package-c.sh $DIST)" >&2; exit 1; }

bash scripts/install-deps.sh >/dev/null # cmake, pkg-config and curl, when missing

WORK=$(mktemp -d)
SIM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
# Nothing from the repository's build may be found at run time.
unset LD_LIBRARY_PATH
fail() {
    echo "test-package-c.sh: $*" >&2
    exit 1
}

echo "--- unpack $TARBALL into $WORK"
tops=$(tar -tzf "$TARBALL" | cut -d/ -f1 | sort -u)
[ "$tops" = "$TOP" ] || fail "the tarball's top folders are '$tops', not $TOP"
tar -C "$WORK" -xzf "$TARBALL"
PREFIX=$WORK/$TOP
for file in include/wxrefund.h include/wxrefund.hpp lib/libwxrefund.a lib/libwxrefund.so.$VERSION \
    lib/pkgconfig/wxrefund.pc lib/cmake/wxrefund/wxrefund-config.cmake \
    lib/cmake/wxrefund/wxrefund-config-version.cmake; do
    [ -f "$PREFIX/$file" ] || fail "the tarball has no $file"
done
[ "$(readlink "$PREFIX/lib/libwxrefund.so.0")" = "libwxrefund.so.$VERSION" ] || fail "libwxrefund.so.0 is not a symlink to libwxrefund.so.$VERSION"
[ "$(readlink "$PREFIX/lib/libwxrefund.so")" = "libwxrefund.so.0" ] || fail "libwxrefund.so is not a symlink to libwxrefund.so.0"
LIB=$PREFIX/lib/libwxrefund.so.$VERSION
readelf -d "$LIB" | grep -q 'Library soname: \[libwxrefund.so.0\]' || fail "$LIB has no SONAME libwxrefund.so.0"
if readelf -S -W "$LIB" | grep -q ' \.symtab '; then fail "$LIB is not stripped"; fi
if readelf -S -W "$PREFIX/lib/libwxrefund.a" | grep -q ' \.llvmbc '; then
    fail "lib/libwxrefund.a still holds LLVM bitcode (package-c.sh strips it)"
fi
GLIBC=$(objdump -T "$LIB" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)
echo "libwxrefund.so.$VERSION: $(stat -c %s "$LIB") bytes, needs $GLIBC or newer"
# The x86-64 library ships on aws-lc (scripts/targets.sh, shipped_features).
BACKEND=$(python3 -c 'import ctypes, sys
backend = ctypes.CDLL(sys.argv[1]).wxrefund_crypto_backend
backend.restype = ctypes.c_char_p
print(backend().decode())' "$LIB")
[ "$BACKEND" = aws-lc ] || fail "$LIB is built on $BACKEND, not aws-lc"
echo "libwxrefund.so.$VERSION: crypto backend $BACKEND"

echo "--- the tarball's bin/wxrefund-sim"
SIM=$PREFIX/bin/wxrefund-sim
[ -x "$SIM" ] || fail "the tarball has no executable bin/wxrefund-sim"
if readelf -S -W "$SIM" | grep -q ' \.symtab '; then fail "$SIM is not stripped"; fi
"$SIM" --settle-ms 200 --config-out "$WORK/domestic.json" >"$WORK/sim.out" 2>"$WORK/sim.log" &
SIM_PID=$!
for _ in $(seq 100); do grep -q '^wxrefund-sim ready on ' "$WORK/sim.out" && break; sleep 0.1; done
SIM_URL=$(sed -n 's|^wxrefund-sim ready on \(http://127\.0\.0\.1:[0-9]*\) .*|\1|p' "$WORK/sim.out")
[ -n "$SIM_URL" ] && [ -s "$WORK/domestic.json" ] ||
    { cat "$WORK/sim.out" "$WORK/sim.log" >&2; fail "wxrefund-sim did not start"; }
CONFIG=$WORK/domestic.json

echo "--- the tarball's bin/wxrefund"
CLI=$PREFIX/bin/wxrefund
[ -x "$CLI" ] || fail "the tarball has no executable bin/wxrefund"
if readelf -S -W "$CLI" | grep -q ' \.symtab '; then fail "$CLI is not stripped"; fi
[ "$("$CLI" --version)" = "wxrefund $VERSION" ] || fail "wxrefund --version says $("$CLI" --version)"
echo "wxrefund --version: $("$CLI" --version)"
# Before any fault is queued: the doctor's signed query must not take it.
"$CLI" doctor --config "$CONFIG" | tee "$WORK/doctor.log" || fail "wxrefund doctor found a problem with the simulator's configuration (exit $?)"
grep -q '^ok  *signed_request ' "$WORK/doctor.log" || fail "wxrefund doctor did not prove the signed request"

echo "$SIM_URL: $(curl -fsS -X POST "$SIM_URL/_sim/faults" -d '{"kind":"SYSTEM_ERROR","count":1}')"

# check_links PROGRAM shared|static: ldd shows the unpacked libwxrefund.so.0, or no libwxrefund at all.
check_links() {
    local program=$1 want=$2 line
    line=$(ldd "$program" | grep libwxrefund || true)
    if [ "$want" = shared ]; then
        [[ $line == *"=> $PREFIX/lib/libwxrefund.so.0 "* ]] ||
            fail "$program does not load the unpacked libwxrefund.so.0: ${line:-not linked}"
    else
        [ -z "$line" ] || fail "$program (static) still needs $line"
    fi
    echo "$program: $want (${line:-no libwxrefund.so})"
}

# run PROGRAM: runs a quickstart against the simulator; it must reach a final refund.
run() {
    echo "--- $1"
    "$1" "$CONFIG" | tee "$WORK/run.log"
    grep -q '^final: ' "$WORK/run.log" || fail "$1 did not reach a final refund"
}

echo "--- (a) pkg-config"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
[ "$(pkg-config --modversion wxrefund)" = "$VERSION" ] || fail "pkg-config reports $(pkg-config --modversion wxrefund)"
echo "pkg-config --cflags --libs wxrefund: $(pkg-config --cflags --libs wxrefund)"
echo "pkg-config --static --libs wxrefund: $(pkg-config --static --libs wxrefund)"
# shellcheck disable=SC2046 # pkg-config's flags are meant to be split
cc -Wall -Wextra -Werror examples/c/quickstart.c $(pkg-config --cflags --libs wxrefund) \
    -Wl,-rpath,"$PREFIX/lib" -o "$WORK/quickstart-pc"
check_links "$WORK/quickstart-pc" shared
run "$WORK/quickstart-pc"
# The queued SYSTEM_ERROR hit the first refund POST, which the library resent.
curl -fsS "$SIM_URL/_sim/requests" >"$WORK/requests.json"
python3 - "$WORK/requests.json" <<'PY' || fail "the request log lacks the SYSTEM_ERROR and its resend"
import json, sys
posts = [r for r in json.load(open(sys.argv[1]))["requests"]
         if r["method"] == "POST" and "refund" in r["path"]]
verdicts = [r["verdict"] for r in posts]
assert verdicts[:2] == ["fault:SYSTEM_ERROR", "ok"], verdicts
assert posts[0]["body_sha256"] == posts[1]["body_sha256"], posts
print("curl /_sim/requests: fault:SYSTEM_ERROR, then ok with the same body_sha256")
PY
# Static: the archive by name, then what it needs (Libs.private).
static_libs=$(pkg-config --static --libs wxrefund | sed 's/-lwxrefund\b/-l:libwxrefund.a/')
# shellcheck disable=SC2046,SC2086
cc -Wall -Wextra -Werror examples/c/quickstart.c $(pkg-config --cflags wxrefund) $static_libs \
    -o "$WORK/quickstart-pc-static"
check_links "$WORK/quickstart-pc-static" static
run "$WORK/quickstart-pc-static"

for mode in shared static; do
    echo "--- (b, c) CMake, wxrefund::wxrefund $mode"
    build=$WORK/cmake-$mode
    use_static=OFF
    [ "$mode" = static ] && use_static=ON
    cmake -S packaging/cmake-test -B "$build" -DCMAKE_PREFIX_PATH="$PREFIX" \
        -DWXREFUND_SOURCE_DIR="$ROOT" -DWXREFUND_USE_STATIC=$use_static -DCMAKE_BUILD_TYPE=Release
    cmake --build "$build" -j 2
    grep -q "wxrefund_DIR:PATH=$PREFIX/lib/cmake/wxrefund" "$build/CMakeCache.txt" ||
        fail "CMake found wxrefund elsewhere than $PREFIX"
    check_links "$build/quickstart_c" "$mode"
    check_links "$build/quickstart_cpp" "$mode"
    check_links "$build/quickstart_c_static" static
    run "$build/quickstart_c"
    run "$build/quickstart_cpp"
    run "$build/quickstart_c_static"
done

echo
echo "test-package-c.sh: $TOP passed installed (pkg-config shared and static, CMake shared and static, C++ through wxrefund::cpp); needs $GLIBC"
