#!/usr/bin/env bash
# Fuzzes wxrefund's C ABI with cargo-fuzz (libFuzzer) on nightly Rust, for a bounded time.
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]   one target
#   scripts/fuzz.sh all SECONDS [libFuzzer options...]      every target, one after another
#
# Targets: config_json refund_request query_json apiv3_notification wecom_callback http_answers
# (fuzz/fuzz_targets/, logic in fuzz/src/targets.rs). Installs the nightly toolchain and
# cargo-fuzz when missing, and says so with exit status 3 when they cannot be had.
#
# Builds with AddressSanitizer and debug assertions (overflow checks on); FUZZ_SANITIZER=none
# turns ASan off. New inputs go to fuzz/corpus/TARGET; after the run the ones not yet
# committed are minimized against the committed corpus (libFuzzer -set_cover_merge=1 over
# edges, like `cargo fuzz cmin` but keeping the named seeds); FUZZ_MINIMIZE=0 skips that. A crash
# is written to fuzz/artifacts/TARGET/: reproduce it with
# `cargo +nightly fuzz run -a TARGET fuzz/artifacts/TARGET/crash-...`, and once understood
# copy it to fuzz/regressions/TARGET/, which the stable test `fuzz_replay` replays.
# Exit status: 0 when no target crashed, 1 when one did, 2 for bad usage, 3 without tools.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(config_json refund_request query_json apiv3_notification wecom_callback http_answers)

usage() {
    echo "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options...]" >&2
    echo "targets: ${TARGETS[*]}" >&2
    exit 2
}

[ $# -ge 2 ] || usage
target=$1
seconds=$2
shift 2
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
if [ "$target" = all ]; then
    selected=("${TARGETS[@]}")
elif [[ " ${TARGETS[*]} " == *" $target "* ]]; then
    selected=("$target")
else
    echo "fuzz.sh: unknown target '$target'" >&2
    usage
fi

no_tools() {
    echo "fuzz.sh: $*" >&2
    echo "fuzz.sh: fuzzing needs nightly Rust and cargo-fuzz; the stable test fuzz_replay" \
        "(cargo test --test fuzz_replay) still replays the committed corpora." >&2
    exit 3
}

# The tools: nightly Rust (cargo-fuzz passes -Z flags) and cargo-fuzz.
export PATH="$HOME/.cargo/bin:$PATH"
command -v rustup >/dev/null 2>&1 ||
    no_tools "rustup is not installed, so no nightly toolchain can be had (see https://rustup.rs)"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal ||
        no_tools "could not install the nightly toolchain (rustup toolchain install nightly)"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked ||
        no_tools "could not install cargo-fuzz (cargo install cargo-fuzz --locked)"
fi

build_flags=(-a -s "${FUZZ_SANITIZER:-address}")
crashed=()

# Moves the inputs of fuzz/corpus/$1 that git does not track into a scratch directory and
# merges back only those that add coverage to the tracked ones.
minimize_new() {
    local t=$1 dir="fuzz/corpus/$1"
    if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        echo "fuzz.sh: not a git work tree: corpus left unminimized"
        return
    fi
    local new
    new=$(git ls-files --others --exclude-standard -- "$dir")
    [ -n "$new" ] || return 0
    local scratch
    scratch=$(mktemp -d)
    mkdir "$scratch/found"
    while IFS= read -r file; do mv "$file" "$scratch/found/"; done <<<"$new"
    local found kept
    found=$(find "$scratch/found" -type f | wc -l)
    # Greedy set cover over edges (hit counts ignored): far fewer inputs than -merge=1.
    cargo +nightly fuzz run "${build_flags[@]}" "$t" "$dir" "$scratch/found" -- \
        -set_cover_merge=1 -use_counters=0 \
        >"$scratch/merge.log" 2>&1 || {
        echo "fuzz.sh: merging the new inputs failed; they are kept unminimized" >&2
        tail -5 "$scratch/merge.log" >&2
        mv "$scratch/found/"* "$dir/"
    }
    kept=$(git ls-files --others --exclude-standard -- "$dir" | wc -l)
    echo "fuzz.sh: $t: kept $kept of $found new inputs (the rest added no coverage)"
    rm -rf "$scratch"
}

for t in "${selected[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "=== fuzz.sh: $t for ${seconds}s"
    status=0
    cargo +nightly fuzz run "${build_flags[@]}" "$t" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "fuzz.sh: $t stopped with status $status: see the crash above and fuzz/artifacts/$t/" >&2
        crashed+=("$t")
    fi
    if [ "${FUZZ_MINIMIZE:-1}" != 0 ]; then
        minimize_new "$t"
    fi
    echo "fuzz.sh: $t: corpus of $(find "fuzz/corpus/$t" -type f | wc -l) inputs," \
        "$(du -sh "fuzz/corpus/$t" | cut -f1)"
done

if [ ${#crashed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashed: ${crashed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: no crash in ${selected[*]}"
