#!/usr/bin/env bash
# Builds the C programs with -Wall -Wextra -Werror against the real library and
# runs them under valgrind against a wxrefund-sim process.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p wxrefund -p wxrefund-sim
OUT=target/c
mkdir -p "$OUT"
CFLAGS=(-Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L -g -Iinclude)
LIBS=(-Ltarget/debug -lwxrefund -lpthread)
cc "${CFLAGS[@]}" examples/c/quickstart.c "${LIBS[@]}" -o "$OUT/quickstart"
cc "${CFLAGS[@]}" tests/c/ffi_test.c "${LIBS[@]}" -o "$OUT/ffi_test"

CONFIG="$OUT/sim-config.json"
rm -f "$CONFIG"
target/debug/wxrefund-sim --settle-ms 200 --config-out "$CONFIG" >/dev/null 2>"$OUT/sim.log" &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$CONFIG" ] && break; sleep 0.1; done
[ -s "$CONFIG" ] || { echo "wxrefund-sim did not start" >&2; cat "$OUT/sim.log" >&2; exit 1; }

VALGRIND=(valgrind --quiet --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
export LD_LIBRARY_PATH=$PWD/target/debug
for program in quickstart ffi_test; do
    echo "--- $program under valgrind"
    "${VALGRIND[@]}" "$OUT/$program" "$CONFIG"
done
