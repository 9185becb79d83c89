#!/usr/bin/env bash
# Python release artifacts into DIST (default dist/):
#   wxrefund-VERSION-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl    always
#   wxrefund-VERSION-cp39-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl  when the
#       aarch64-unknown-linux-gnu Rust target can be had (otherwise it says why it skipped it)
#   wxrefund-VERSION.tar.gz                                                      the sdist
# Each wheel also ships the simulator, wxrefund/_bin/wxrefund-sim (for wxrefund.testing),
# built for its architecture against glibc 2.17 with the same zig; the sdist does not.
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
source scripts/targets.sh
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

# The simulator ships in each wheel as wxrefund/_bin/wxrefund-sim, for wxrefund.testing: built
# for the wheel's target by cargo with zig cc (from the ziglang of the build venv) as C
# compiler and linker against glibc 2.17, like the extension module, and added to the wheel
# maturin made (with its RECORD line); auditwheel then checks it with the module. It never
# enters the source tree, so neither `maturin develop` nor the sdist has it.
ZIGCC_DIR=$BUILD/zig
mkdir -p "$ZIGCC_DIR"
build_sim() { # TARGET
    local target=$1 arch=${1%%-*} zigcc var
    zigcc=$ZIGCC_DIR/zigcc-$arch
    # zig takes its own -target (glibc 2.17): drop the --target=TRIPLE that rustc and cc-rs add.
    cat >"$zigcc" <<EOS
#!/bin/sh
for a in "\$@"; do
    shift
    case \$a in --target=*) ;; *) set -- "\$@" "\$a" ;; esac
done
exec "$VENV/bin/python" -m ziglang cc -target $arch-linux-gnu.2.17 "\$@"
EOS
    chmod +x "$zigcc"
    var=$(echo "$target" | tr 'a-z-' 'A-Z_')
    env "CARGO_TARGET_${var}_LINKER=$zigcc" "CC_${target//-/_}=$zigcc" \
        cargo build --release --locked -p wxrefund-sim --bin wxrefund-sim --target "$target"
}

add_sim_to_wheel() { # WHEEL SIM
    "$VENV/bin/python" - "$1" "$2" <<'EOF'
import base64, hashlib, os, sys, zipfile
wheel, sim = sys.argv[1], sys.argv[2]
name = "wxrefund/_bin/wxrefund-sim"
data = open(sim, "rb").read()
digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
tmp = wheel + ".tmp"
with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
    record = record_body = None
    for info in src.infolist():
        if info.filename == name:
            continue
        body = src.read(info.filename)
        if info.filename.endswith(".dist-info/RECORD"):
            lines = [l for l in body.decode().splitlines() if l and not l.startswith(name + ",")]
            lines.insert(len(lines) - 1, f"{name},sha256={digest},{len(data)}")
            record, record_body = info, ("\n".join(lines) + "\n").encode()
            continue
        dst.writestr(info, body)
    assert record is not None, f"no RECORD in {wheel}"
    entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    entry.external_attr = 0o100755 << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    dst.writestr(entry, data)
    dst.writestr(record, record_body)  # RECORD last, as in every wheel
os.replace(tmp, wheel)
print(f"added {name} ({len(data)} bytes) to {os.path.basename(wheel)}")
EOF
}

build_wheel() { # TARGET
    local wheels
    build_sim "$1"
    # The whole feature list (pyproject.toml's and the target's crypto backend), so that it
    # does not matter whether maturin adds command-line features to pyproject's or replaces them.
    (cd bindings/python && "$MATURIN" build --release --strip --locked --zig \
        --features "python,$(shipped_features "$1")" \
        --compatibility manylinux2014 --target "$1" --out "$STAGE")
    wheels=("$STAGE"/wxrefund-*-cp39-abi3-*"${1%%-*}".whl)
    [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one ${1%%-*} wheel in $STAGE"
    add_sim_to_wheel "${wheels[0]}" "$CARGO_TARGET_DIR/$1/release/wxrefund-sim"
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
               "wxrefund/__init__.pyi", "wxrefund/_wxrefund.pyi", "wxrefund/py.typed",
               "wxrefund/testing.py", "wxrefund/_bin/wxrefund-sim"]:
    assert needed in names, f"{needed} missing from {wheel}"
with zipfile.ZipFile(wheel) as z:
    mode = z.getinfo("wxrefund/_bin/wxrefund-sim").external_attr >> 16
    elf = z.read("wxrefund/_bin/wxrefund-sim")[:20]
assert mode & 0o111, f"wxrefund/_bin/wxrefund-sim is not executable in {wheel} ({oct(mode)})"
machine = {"x86_64": 62, "aarch64": 183}[arch]
assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == machine, \
    f"wxrefund/_bin/wxrefund-sim is not an {arch} ELF executable"
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
