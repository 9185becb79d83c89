#!/usr/bin/env bash
# Builds the C programs with -Wall -Wextra -Werror against the real library and
# runs them under valgrind against wxrefund-sim processes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p wxrefund -p wxrefund-sim
OUT=target/c
mkdir -p "$OUT"
CFLAGS=(-Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -g -Iinclude)
LIBS=(-Ltarget/debug -lwxrefund -lpthread)
cc "${CFLAGS[@]}" examples/c/quickstart.c "${LIBS[@]}" -o "$OUT/quickstart"
for test in tests/c/*.c; do
    cc "${CFLAGS[@]}" "$test" "${LIBS[@]}" -o "$OUT/$(basename "$test" .c)"
done

source scripts/sim-lib.sh
start_sim domestic
start_sim global --family global
start_sim institution --family global --mode institution
start_sim wecom --family wecom
wecom_provider_files wecom

run "$OUT/quickstart" "$OUT/domestic.json"
run "$OUT/ffi_test" "$OUT/domestic.json"
run "$OUT/notify_test" "$OUT/domestic.json"
run "$OUT/global_test" "$OUT/global.json" G20261122000001 10000 USD
run "$OUT/global_test" "$OUT/institution.json" G20261122000009 20000 EUR
run "$OUT/wecom_test" "$OUT/wecom.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt"
