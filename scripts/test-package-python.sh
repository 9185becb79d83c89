#!/usr/bin/env bash
# Proves the Python artifacts that scripts/package-python.sh put into DIST (default dist/):
#   - the sdist carries everything a build from it needs (its file list, and cargo reading its
#     manifest, workspace and lock file);
#   - this machine's wheel (x86_64 or aarch64), installed with `pip install --no-index` into a
#     fresh venv outside the repository, passes the Python tests, copied out of the source tree
#     so that only the installed package can be imported (tests/test_package.py asserts it),
#     with python3 and, when they are here, CPython 3.9 (the abi3 floor) and 3.13; then
#     tests/test_testing.py once more without WXREFUND_SIM, so that wxrefund.testing runs the
#     simulator the wheel ships (wxrefund/_bin/wxrefund-sim);
#   - the aarch64 wheel, when DIST has one and qemu-user is here: pip installs it (for
#     manylinux2014_aarch64, into a folder) and Debian bookworm's aarch64 CPython 3.11 runs the
#     same tests under qemu-aarch64. Its root (debootstrap, about 230 MB, cached in
#     target/wheels-build/arm64-root) needs debootstrap, installed with apt-get when missing;
#     what cannot be had is reported as SKIPPED, a failing test fails. WXREFUND_TEST_AARCH64=0
#     leaves it out;
#   - with WXREFUND_SDIST_BUILD=1 also: `pip wheel` from the sdist in a fresh venv (a release
#     compile, about 2 minutes on 2 cores), and the same tests against that wheel.
# The tests run against target/debug/wxrefund-sim (built when missing), or WXREFUND_SIM.
#
#   scripts/test-package-python.sh [DIST]
#   scripts/test-package-python.sh --check-sdist SDIST     (only the sdist check)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
PYTEST_VERSION=$(sed -n 's/^PYTEST_VERSION=//p' scripts/test-python.sh)
# The last pytest that runs on Python 3.9 (pytest 9 needs 3.10).
PYTEST_VERSION_PY39=8.4.2

fail() { echo "test-package-python: $*" >&2; exit 1; }
step() { printf '\n=== test-package-python: %s\n' "$*"; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
case $TMP in "$ROOT"/*) fail "mktemp -d gave $TMP, inside the repository: set TMPDIR" ;; esac

# The files a build of the sdist needs, and none that would change how it builds.
check_sdist() { # SDIST
    local sdist=$1 name list missing=()
    name=$(basename "$sdist" .tar.gz)
    list=$(tar tzf "$sdist") || fail "cannot read $sdist"
    have() { grep -qxF "$name/$1" <<<"$list"; }
    local need=(PKG-INFO pyproject.toml Cargo.toml Cargo.lock)
    [ -f build.rs ] && need+=(build.rs)
    # Every Rust source of the crate (src/python.rs is the extension module).
    while IFS= read -r f; do need+=("$f"); done < <(find src -name '*.rs' | sort)
    # The Python package, at the root of the sdist (maturin moves python-source there).
    while IFS= read -r f; do need+=("python/${f#bindings/python/python/}"); done < <(
        find bindings/python/python/wxrefund -type f \( -name '*.py' -o -name '*.pyi' -o -name py.typed \) | sort)
    for f in "${need[@]}"; do have "$f" || missing+=("$f"); done
    [ ${#missing[@]} -eq 0 ] || fail "$(basename "$sdist") lacks: ${missing[*]}"
    # No compiled module left over by `maturin develop`, and no .cargo/config.toml: the
    # repository's cross-linker settings would break a native build on an ARM host.
    if grep -E '\.(so|pyd)$|/\.cargo/' <<<"$list"; then
        fail "$(basename "$sdist") carries the files above, which must not be in it"
    fi
    # cargo reads the unpacked manifest as pip's build will: the workspace members it names
    # exist, every target's file is there, and Cargo.lock matches (nothing is compiled).
    mkdir -p "$TMP/sdist-check"
    tar xzf "$sdist" -C "$TMP/sdist-check"
    (cd "$TMP/sdist-check/$name" && cargo metadata --locked --format-version 1 >/dev/null) \
        || fail "cargo cannot read the manifest of $(basename "$sdist") (above)"
    echo "sdist $(basename "$sdist"): $(wc -l <<<"$list") files, ${#need[@]} required ones present, cargo reads it"
}

if [ "${1:-}" = "--check-sdist" ]; then
    [ $# -eq 2 ] || fail "usage: $0 --check-sdist SDIST"
    check_sdist "$2"
    exit 0
fi

DIST=${1:-dist}
[ -d "$DIST" ] || fail "$DIST does not exist: run scripts/package-python.sh $DIST first"
DIST=$(cd "$DIST" && pwd)
ARCH=$(uname -m)
wheels=("$DIST"/wxrefund-*-cp39-abi3-*manylinux*_"$ARCH".whl)
{ [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ]; } || fail "expected one $ARCH wheel in $DIST, found: ${wheels[*]}"
WHEEL=${wheels[0]}
# The C tarballs share the prefix (wxrefund-VERSION-TRIPLE.tar.gz): name the sdist exactly.
VERSION=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -1)
SDIST=$DIST/wxrefund-$VERSION.tar.gz
[ -f "$SDIST" ] || fail "expected the sdist $SDIST"

step "sdist"
check_sdist "$SDIST"

SIM=${WXREFUND_SIM:-$ROOT/target/debug/wxrefund-sim}
if [ ! -x "$SIM" ]; then
    step "build the simulator"
    cargo build -p wxrefund-sim --bin wxrefund-sim
fi
[ -x "$SIM" ] || fail "no simulator at $SIM"

# The Python tests, outside the repository: conftest.py finds the simulator through WXREFUND_SIM.
cp -r bindings/python/tests "$TMP/tests"
rm -rf "$TMP/tests/__pycache__"

# Python interpreters: python3, and CPython 3.9 and 3.13 when this machine has them
# (WXREFUND_TEST_PYTHONS="python3.9 python3.12 ..." chooses).
find_python() { # X.Y
    local p
    for p in "python$1" "$(pyenv prefix "$1" 2>/dev/null | head -1)/bin/python$1"; do
        if "$p" -c 'import venv' >/dev/null 2>&1; then command -v "$p"; return; fi
    done
}
if [ -n "${WXREFUND_TEST_PYTHONS:-}" ]; then
    read -r -a pythons <<<"$WXREFUND_TEST_PYTHONS"
else
    pythons=("${PYTHON:-python3}")
    for v in 3.9 3.13; do
        p=$(find_python "$v")
        if [ -n "$p" ]; then pythons+=("$p"); else echo "(no Python $v here: not tested with it)"; fi
    done
fi

run_tests() { # LABEL PYTHON WHEEL [SHIPPED: 1 when the wheel ships wxrefund-sim]
    local label=$1 python=$2 wheel=$3 shipped=${4:-0} venv version pytest_version
    venv=$TMP/venv-$label
    "$python" -m venv "$venv" || fail "$python -m venv failed"
    version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    pytest_version=$PYTEST_VERSION
    [ "$version" = 3.9 ] && pytest_version=$PYTEST_VERSION_PY39
    step "$label: Python $version, $(basename "$wheel")"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pytest==$pytest_version"
    # The wheel itself from no index: it needs nothing else to install.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$wheel"
    # WXREFUND_SOFTHSM: the wheels carry PKCS#11 (pyproject.toml): sign with a SoftHSM2 token.
    (cd "$TMP/tests" && env -u PYTHONPATH -u VIRTUAL_ENV PYTHONNOUSERSITE=1 \
        WXREFUND_SIM="$SIM" WXREFUND_EXPECT_INSTALLED=1 \
        WXREFUND_SOFTHSM="$ROOT/scripts/softhsm.sh" \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider .)
    if [ "$shipped" = 1 ]; then
        # wxrefund.testing again, without WXREFUND_SIM: it must find the simulator the wheel
        # ships (wxrefund/_bin/wxrefund-sim), and run the fault scenarios with it.
        echo "--- wxrefund.testing with the simulator shipped in $(basename "$wheel")"
        (cd "$TMP/tests" && env -u PYTHONPATH -u VIRTUAL_ENV -u WXREFUND_SIM PYTHONNOUSERSITE=1 \
            WXREFUND_TEST_SHIPPED_SIM=1 WXREFUND_EXPECT_INSTALLED=1 \
            "$venv/bin/python" -m pytest -q -p no:cacheprovider test_testing.py)
    fi
}

n=0
for python in "${pythons[@]}"; do
    n=$((n + 1))
    run_tests "wheel$n" "$python" "$WHEEL" 1
done

# The aarch64 wheel under qemu-user, with an aarch64 Debian's own CPython.
test_aarch64() { # WHEEL
    local wheel=$1 root=$ROOT/target/wheels-build/arm64-root site=$TMP/aarch64-site d deb
    step "aarch64: Debian bookworm's CPython 3.11 under qemu-aarch64, $(basename "$wheel")"
    command -v qemu-aarch64 >/dev/null \
        || { echo "SKIPPED: no qemu-aarch64 here (Debian: qemu-user)"; return 0; }
    if [ ! -f "$root/.ready" ]; then
        if ! command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get install -y -q debootstrap >/dev/null 2>&1 \
                || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q debootstrap >/dev/null 2>&1; } || true
        fi
        command -v debootstrap >/dev/null \
            || { echo "SKIPPED: no debootstrap (Debian: debootstrap) to make an aarch64 root"; return 0; }
        # The Debian mirror this machine's apt already uses.
        local mirror
        mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | sed -n 's|^URIs: *\([^ ]*/debian\)/*$|\1|p' | head -1)
        [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' \
            /etc/apt/sources.list 2>/dev/null)
        [ -n "$mirror" ] || { echo "SKIPPED: no Debian mirror in this machine's apt sources"; return 0; }
        rm -rf "$root"
        # --foreign unpacks the base system only; Python's packages are downloaded beside it.
        if ! debootstrap --arch=arm64 --foreign --variant=minbase \
            --include=python3-minimal,libpython3.11-stdlib \
            bookworm "$root" "$mirror" >"$TMP/debootstrap.log" 2>&1; then
            echo "SKIPPED: debootstrap of an arm64 root failed: $(tail -1 "$TMP/debootstrap.log")"
            rm -rf "$root"
            return 0
        fi
        for deb in "$root"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
        # dpkg-deb -x replaces the merged-/usr links with folders: merge them back.
        for d in bin sbin lib; do
            if [ -d "$root/$d" ] && [ ! -L "$root/$d" ]; then
                cp -a "$root/$d/." "$root/usr/$d/" && rm -rf "${root:?}/$d" && ln -s "usr/$d" "$root/$d"
            fi
        done
        rm -rf "$root/var/cache/apt/archives"/*.deb
        touch "$root/.ready"
    fi
    local python=(env QEMU_LD_PREFIX="$root" qemu-aarch64 "$root/usr/bin/python3.11")
    "${python[@]}" -c 'import platform, sys; assert platform.machine() == "aarch64"; print("Python", sys.version.split()[0], platform.machine(), *platform.libc_ver())'
    # pip installs for the emulated interpreter: the wheel's tags must fit manylinux2014_aarch64.
    local pip=(python3 -m pip install --quiet --disable-pip-version-check --target "$site"
        --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --only-binary :all:)
    PIP_ROOT_USER_ACTION=ignore "${pip[@]}" "pytest==$PYTEST_VERSION"
    PIP_ROOT_USER_ACTION=ignore "${pip[@]}" --no-index --no-deps "$wheel"
    # WXREFUND_TEST_PYTHON: how a test starts this interpreter again (no binfmt here).
    (cd "$TMP/tests" && env -u VIRTUAL_ENV PYTHONPATH="$site" PYTHONNOUSERSITE=1 \
        WXREFUND_SIM="$SIM" WXREFUND_EXPECT_INSTALLED="$site" \
        WXREFUND_TEST_PYTHON="${python[*]}" \
        "${python[@]}" -m pytest -q -p no:cacheprovider .)
}

aarch64_wheels=("$DIST"/wxrefund-*-cp39-abi3-*manylinux*_aarch64.whl)
if [ "$ARCH" != aarch64 ] && [ -f "${aarch64_wheels[0]}" ] && [ "${WXREFUND_TEST_AARCH64:-1}" != 0 ]; then
    test_aarch64 "${aarch64_wheels[0]}"
fi

if [ "${WXREFUND_SDIST_BUILD:-0}" = 1 ]; then
    step "pip wheel from the sdist (fresh venv, release build)"
    t=$SECONDS
    "${PYTHON:-python3}" -m venv "$TMP/venv-sdist-build"
    (cd "$TMP" && env -u CARGO_TARGET_DIR "$TMP/venv-sdist-build/bin/python" -m pip wheel \
        --quiet --disable-pip-version-check --no-deps -w "$TMP/from-sdist" "$SDIST")
    built=("$TMP"/from-sdist/wxrefund-*.whl)
    [ -f "${built[0]}" ] || fail "pip wheel made no wheel from $(basename "$SDIST")"
    echo "built $(basename "${built[0]}") from $(basename "$SDIST") in $((SECONDS - t)) s"
    run_tests from-sdist "${PYTHON:-python3}" "${built[0]}"
fi
echo "test-package-python: all passed"
