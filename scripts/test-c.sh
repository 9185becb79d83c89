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

SIMS=()
trap 'kill "${SIMS[@]}" 2>/dev/null || true' EXIT
# start_sim NAME ARGS...: starts a simulator, waits for its config in $OUT/NAME.json.
start_sim() {
    local name=$1
    shift
    rm -f "$OUT/$name.json"
    target/debug/wxrefund-sim --settle-ms 200 --config-out "$OUT/$name.json" "$@" \
        >/dev/null 2>"$OUT/$name.log" &
    SIMS+=($!)
    for _ in $(seq 100); do [ -s "$OUT/$name.json" ] && return; sleep 0.1; done
    echo "wxrefund-sim $name did not start" >&2
    cat "$OUT/$name.log" >&2
    exit 1
}
start_sim domestic
start_sim global --family global
start_sim institution --family global --mode institution
start_sim wecom --family wecom
# The host-callback configuration, and a token as a host-side cache would hold it.
python3 - "$OUT/wecom.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt" <<'PY'
import json, sys, urllib.parse, urllib.request
config = json.load(open(sys.argv[1]))
query = urllib.parse.urlencode({"corpid": config.pop("corpid"), "corpsecret": config.pop("corpsecret")})
json.dump(config, open(sys.argv[2], "w"))
answer = json.load(urllib.request.urlopen(config["base_url"] + "/cgi-bin/gettoken?" + query))
open(sys.argv[3], "w").write(answer["access_token"])
PY

VALGRIND=(valgrind --quiet --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
export LD_LIBRARY_PATH=$PWD/target/debug
run() {
    echo "--- $* (valgrind)"
    "${VALGRIND[@]}" "$@"
}
run "$OUT/quickstart" "$OUT/domestic.json"
run "$OUT/ffi_test" "$OUT/domestic.json"
run "$OUT/notify_test" "$OUT/domestic.json"
run "$OUT/global_test" "$OUT/global.json" G20261122000001 10000 USD
run "$OUT/global_test" "$OUT/institution.json" G20261122000009 20000 EUR
run "$OUT/wecom_test" "$OUT/wecom.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt"
