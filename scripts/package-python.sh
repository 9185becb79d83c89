#!/usr/bin/env bash
# Python release artifacts into DIST (default dist/):
#   wxrefund-VERSION-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl    always
#   wxrefund-VERSION-cp39-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl  when the
#       aarch64-unknown-linux-gnu Rust target can be had (otherwise it says why it skipped it)
#   wxrefund-VERSION.tar.gz                                                      the sdist
# One abi3 wheel per architecture serves CPython 3.9 and every later version; manylinux2014
# means glibc 2.17 or newer (CentOS 7, Debian 8, Ubuntu 14.04 and everything since).
#
# The wheels are linked by zig (ziglang from PyPI) against glibc 2.17 symbols, so they are
# manylinux compliant although this machine has a newer glibc; auditwheel checks that.
# maturin, ziglang and auditwheel live in their own venv (target/wheels-build/venv), and cargo
# builds into target/wheels-build/cargo: nothing here touches target/debug or target/release,
# whose libwxrefund.so C, C++ and Java link, nor the .venv of scripts/test-python.sh.
#
# scripts/test-package-python.sh DIST installs the x86_64 wheel into a fresh venv and runs
# the Python tests against it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

DIST=${1:-dist}
mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)

# maturin: the version scripts/test-python.sh uses (one pin for the project).
MATURIN_VERSION=$(sed -n 's/^MATURIN_VERSION=//p' scripts/test-python.sh)
ZIGLANG_VERSION=0.17.1
AUDITWHEEL_VERSION=6.8.2
PYTHON=${PYTHON:-python3}
BUILD=$ROOT/target/wheels-build
VENV=$BUILD/venv
STAGE=$BUILD/out
export CARGO_TARGET_DIR=$BUILD/cargo

step() { printf '\n=== package-python: %s\n' "$*"; }
fail() { echo "package-python: $*" >&2; exit 1; }
started=$SECONDS

step "build venv (maturin $MATURIN_VERSION, ziglang $ZIGLANG_VERSION, auditwheel $AUDITWHEEL_VERSION)"
[ -n "$MATURIN_VERSION" ] || fail "no MATURIN_VERSION= line in scripts/test-python.sh"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" \
        || fail "python3 -m venv failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin==$MATURIN_VERSION" "ziglang==$ZIGLANG_VERSION" "auditwheel==$AUDITWHEEL_VERSION"
export PATH="$VENV/bin:$PATH"
MATURIN=$VENV/bin/maturin

rm -rf "$STAGE"
mkdir -p "$STAGE"

step "sdist"
(cd bindings/python && "$MATURIN" sdist --out "$STAGE")
sdists=("$STAGE"/wxrefund-*.tar.gz)
{ [ ${#sdists[@]} -eq 1 ] && [ -f "${sdists[0]}" ]; } || fail "expected one sdist in $STAGE"
SDIST=${sdists[0]}
# The crate's manifest is ../../Cargo.toml: the sdist must carry the whole crate (its sources,
# build script, lock file, the workspace member sim/) and the Python package. A pip build from
# it is proved by scripts/test-package-python.sh (WXREFUND_SDIST_BUILD=1).
bash scripts/test-package-python.sh --check-sdist "$SDIST"

build_wheel() { # TARGET
    (cd bindings/python && "$MATURIN" build --release --strip --locked --zig \
        --compatibility manylinux2014 --target "$1" --out "$STAGE")
}

check_wheel() { # ARCH
    local arch=$1 wheels wheel
    wheels=("$STAGE"/wxrefund-*-cp39-abi3-*"$arch".whl)
    { [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ]; } || fail "expected one $arch wheel in $STAGE"
    wheel=${wheels[0]}
    case $(basename "$wheel") in
        *-cp39-abi3-manylinux2014_"$arch".manylinux_2_17_"$arch".whl) ;;
        *-cp39-abi3-manylinux_2_17_"$arch".manylinux2014_"$arch".whl) ;;
        *) fail "$(basename "$wheel") is not tagged cp39-abi3 manylinux2014 / manylinux_2_17 $arch" ;;
    esac
    echo "--- $(basename "$wheel")"
    "$VENV/bin/python" -m zipfile -l "$wheel"
    "$VENV/bin/python" - "$wheel" "$arch" <<'EOF'
import sys, zipfile
wheel, arch = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    info = [n for n in names if n.endswith(".dist-info/WHEEL")]
    assert len(info) == 1, info
    meta = z.read(info[0]).decode()
for needed in ["wxrefund/__init__.py", "wxrefund/_errors.py", "wxrefund/_wxrefund.abi3.so",
               "wxrefund/__init__.pyi", "wxrefund/_wxrefund.pyi", "wxrefund/py.typed"]:
    assert needed in names, f"{needed} missing from {wheel}"
tags = {line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Tag:")}
want = {f"cp39-abi3-manylinux2014_{arch}", f"cp39-abi3-manylinux_2_17_{arch}"}
assert tags == want, f"WHEEL tags {tags}, want {want}"
assert "Root-Is-Purelib: false" in meta, meta
print(f"WHEEL tags: {', '.join(sorted(tags))}")
EOF
    # auditwheel reads the ELF file: the glibc symbol versions it needs, and that it links
    # nothing outside the manylinux whitelist (libc, libpthread, libdl, libm, ...).
    local report
    report=$("$VENV/bin/auditwheel" show "$wheel")
    echo "$report"
    echo "$report" | tr -s ' \n' ' ' | grep -q "consistent with the following platform tag: \"manylinux_2_17_$arch\"" \
        || fail "auditwheel: $(basename "$wheel") is not manylinux_2_17_$arch compliant"
}

step "x86_64 wheel (manylinux2014, zig)"
t=$SECONDS
build_wheel x86_64-unknown-linux-gnu
check_wheel x86_64
echo "x86_64 wheel: $((SECONDS - t)) s"

step "aarch64 wheel (manylinux2014, zig)"
AARCH64=aarch64-unknown-linux-gnu
why=""
if ! rustup target list --installed 2>/dev/null | grep -qx "$AARCH64"; then
    if ! command -v rustup >/dev/null; then
        why="rustup is not installed, so the $AARCH64 standard library cannot be added"
    elif ! out=$(rustup target add "$AARCH64" 2>&1); then
        # Another build may be installing it at this very moment: look once more.
        if ! rustup target list --installed 2>/dev/null | grep -qx "$AARCH64"; then
            why="\`rustup target add $AARCH64\` failed: $(echo "$out" | grep -m1 -i error || echo "$out" | tail -1)"
        fi
    fi
fi
if [ -z "$why" ]; then
    t=$SECONDS
    build_wheel "$AARCH64"
    check_wheel aarch64
    echo "aarch64 wheel: $((SECONDS - t)) s"
else
    echo "SKIPPED: no aarch64 wheel. $why"
    echo "(the x86_64 wheel and the sdist are made all the same; an aarch64 host can pip install the sdist)"
fi

step "into $DIST"
rm -f "$DIST"/wxrefund-*-cp39-abi3-*.whl "$DIST/$(basename "$SDIST")"
cp "$STAGE"/wxrefund-*.whl "$SDIST" "$DIST"/
(cd "$DIST" && for f in "$STAGE"/wxrefund-*.whl "$SDIST"; do
    printf '%10s  %s\n' "$(stat -c %s "$(basename "$f")")" "$(basename "$f")"
done)
[ -z "$why" ] || echo "aarch64 wheel SKIPPED: $why"
echo "package-python: $((SECONDS - started)) s"
