#!/usr/bin/env bash
# Builds the C++ example and test (bindings/cpp/wxrefund.hpp) with -Wall -Wextra -Werror
# against the real library and runs them under valgrind against wxrefund-sim processes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p wxrefund -p wxrefund-sim
OUT=target/cpp
mkdir -p "$OUT"
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -g -Iinclude -Ibindings/cpp)
LIBS=(-Ltarget/debug -lwxrefund -lpthread)
g++ "${CXXFLAGS[@]}" examples/cpp/quickstart.cpp "${LIBS[@]}" -o "$OUT/quickstart"
g++ "${CXXFLAGS[@]}" tests/cpp/client_test.cpp "${LIBS[@]}" -o "$OUT/client_test"

SIMS=()
trap 'if [ ${#SIMS[@]} -gt 0 ]; then kill "${SIMS[@]}" 2>/dev/null || true; fi' EXIT
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
start_sim domestic --family domestic
start_sim global --family global
start_sim wecom --family wecom --wecom-order-spacing-ms 0
# The token-provider configuration (no token source of its own), and a token as a
# host-side cache would hold it.
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
run "$OUT/client_test" "$OUT/domestic.json" "$OUT/global.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt"
