#!/usr/bin/env bash
# Builds the release C library for ARM Linux terminals:
#
#   scripts/cross.sh [--deps-only] [TRIPLE...]
#
# TRIPLE is aarch64-unknown-linux-gnu and/or armv7-unknown-linux-gnueabihf (default: both).
# First makes sure the tools exist: the Rust standard library of each target (rustup target
# add), Debian's cross compilers with their C libraries (gcc-aarch64-linux-gnu,
# gcc-arm-linux-gnueabihf, libc6-dev-*-cross), qemu-user and pkg-config, installing what is
# missing with apt-get. Then, unless --deps-only, runs
# `cargo build --release -p wxrefund --target TRIPLE` for each target whose tools are there,
# into target/TRIPLE/release/ (the linkers come from .cargo/config.toml).
#
# A target whose Rust standard library or cross compiler cannot be had is skipped, saying
# why, and the script still exits 0; the summary at the end lists what was built and what
# was skipped. A build that fails with its tools present exits non-zero.
#
# A vendor toolchain replaces Debian's compiler with the usual variables, e.g.
# CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER and CC_aarch64_unknown_linux_gnu.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh

DEPS_ONLY=0
TARGETS=()
for arg in "$@"; do
    case $arg in
        --deps-only) DEPS_ONLY=1 ;;
        aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf) TARGETS+=("$arg") ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "cross.sh: unknown argument '$arg' (targets: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)" >&2; exit 2 ;;
    esac
done
((${#TARGETS[@]})) || TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

# TRIPLE -> GNU prefix of the Debian cross tools (also the sysroot under /usr).
gnu_prefix() {
    case $1 in
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
    esac
}
# TRIPLE -> Debian packages: compiler, C library for the target, qemu-user.
debian_packages() {
    case $1 in
        aarch64-unknown-linux-gnu) echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;;
        armv7-unknown-linux-gnueabihf) echo gcc-arm-linux-gnueabihf libc6-dev-armhf-cross ;;
    esac
}
qemu_for() {
    case $1 in
        aarch64-unknown-linux-gnu) echo qemu-aarch64 ;;
        armv7-unknown-linux-gnueabihf) echo qemu-arm ;;
    esac
}
env_linker() { # the CARGO_TARGET_<TRIPLE>_LINKER a vendor toolchain may set
    local var
    var="CARGO_TARGET_$(echo "$1" | tr 'a-z-' 'A-Z_')_LINKER"
    echo "${!var:-}"
}

declare -A SKIPPED=() BUILT=() FAILED=()
step() { printf '\n--- cross: %s\n' "$*"; }
skip() { # skip TARGET REASON: the target is not built; reasons add up
    SKIPPED[$1]="${SKIPPED[$1]:+${SKIPPED[$1]}; }$2"
}

# ---- Debian tools ---------------------------------------------------------------------
cross_gcc_ready() { # the compiler and the target's C headers and libc
    local p
    p=$(gnu_prefix "$1")
    command -v "$p-gcc" >/dev/null && [ -e "/usr/$p/include/stdio.h" ] && [ -e "/usr/$p/lib/libc.so" ]
}
missing=()
for target in "${TARGETS[@]}"; do
    if [ -n "$(env_linker "$target")" ]; then
        continue # a vendor toolchain: nothing from Debian needed to build
    fi
    if ! cross_gcc_ready "$target"; then
        read -r -a pkgs <<<"$(debian_packages "$target")"
        missing+=("${pkgs[@]}")
    fi
done
for target in "${TARGETS[@]}"; do
    command -v "$(qemu_for "$target")" >/dev/null || { missing+=(qemu-user); break; }
done
command -v pkg-config >/dev/null || missing+=(pkgconf)
if ((${#missing[@]})); then
    step "installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    if ! { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        echo "cross.sh: apt-get could not install ${missing[*]}; the targets that need them are skipped" >&2
    fi
fi
for target in "${TARGETS[@]}"; do
    if [ -z "$(env_linker "$target")" ] && ! cross_gcc_ready "$target"; then
        skip "$target" "no cross compiler: $(gnu_prefix "$target")-gcc with its libc (Debian: $(debian_packages "$target")) could not be installed"
    fi
done

# ---- Rust standard library per target ------------------------------------------------
std_ready() { # the target's libcore is in the toolchain's sysroot
    compgen -G "$(rustc --print target-libdir --target "$1" 2>/dev/null)/libcore-*.rlib" >/dev/null
}
for target in "${TARGETS[@]}"; do
    std_ready "$target" && continue
    step "rustup target add $target"
    if ! command -v rustup >/dev/null; then
        skip "$target" "the Rust standard library for $target is not installed and there is no rustup to add it"
        continue
    fi
    log=$(mktemp)
    if RUST_BACKTRACE=0 timeout 600 rustup target add "$target" >"$log" 2>&1 && std_ready "$target"; then
        tail -n 2 "$log"
    else
        cat "$log" >&2
        # rustup's error line and its innermost cause, e.g. "Connection refused (os error 111)".
        why=$(grep -m 1 '^error:' "$log" || echo "error: rustup target add exited without installing it")
        cause=$(sed -n '/^Stack backtrace/q; s/^ *[0-9][0-9]*: //p' "$log" | tail -n 1)
        skip "$target" "the Rust standard library for $target could not be installed (rustup target add $target: $why${cause:+: $cause})"
        echo "cross.sh: skipping $target: ${SKIPPED[$target]}" >&2
    fi
    rm -f "$log"
done

# ---- Build -----------------------------------------------------------------------------
status=0
if ((DEPS_ONLY == 0)); then
    for target in "${TARGETS[@]}"; do
        [ -n "${SKIPPED[$target]:-}" ] && continue
        step "cargo build --release -p wxrefund --features $(shipped_features "$target") --target $target"
        start=$SECONDS
        if cargo build --release -p wxrefund --features "$(shipped_features "$target")" --target "$target"; then
            BUILT[$target]="$((SECONDS - start)) s"
        else
            echo "cross.sh: the build for $target failed with its tools present" >&2
            FAILED[$target]="cargo build --release -p wxrefund --target $target failed (see above)"
            status=1
        fi
    done
fi

# ---- Summary ---------------------------------------------------------------------------
printf '\n=== cross.sh summary\n'
for target in "${TARGETS[@]}"; do
    p=$(gnu_prefix "$target")
    lib=${CARGO_TARGET_DIR:-target}/$target/release/libwxrefund.so
    if [ -n "${BUILT[$target]:-}" ]; then
        stripped=$(mktemp)
        size=$(stat -c %s "$lib")
        glibc="?"
        stripped_size="?"
        if command -v "$p-strip" >/dev/null; then
            "$p-strip" --strip-unneeded -o "$stripped" "$lib" && stripped_size=$(stat -c %s "$stripped")
        fi
        if command -v "$p-objdump" >/dev/null; then
            glibc=$("$p-objdump" -T "$lib" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -n 1)
        fi
        rm -f "$stripped"
        printf 'built    %-32s %s (%s bytes, %s stripped; needs %s; %s)\n' \
            "$target" "$lib" "$size" "$stripped_size" "$glibc" "${BUILT[$target]}"
    elif [ -n "${FAILED[$target]:-}" ]; then
        printf 'FAILED   %-32s %s\n' "$target" "${FAILED[$target]}"
    elif [ -n "${SKIPPED[$target]:-}" ]; then
        printf 'skipped  %-32s %s\n' "$target" "${SKIPPED[$target]}"
    else
        printf 'ready    %-32s tools installed (--deps-only: not built)\n' "$target"
    fi
done
exit $status
