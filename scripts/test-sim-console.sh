#!/usr/bin/env bash
# End-to-end test of the simulator's console page (GET /_sim/console) in headless
# Chromium: applies for a refund with the real client library (a small C program),
# then tests/console/console.test.mjs (node --test, playwright-core) loads the page,
# settles the refund ABNORMAL from its row, injects a fault from the form, checks
# both through /_sim/state and leaves a screenshot in target/console/console.png.
# Installs Debian's chromium (apt-get) and the pinned playwright-core (npm ci into
# tests/console/node_modules) when missing. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium >/dev/null
fi
version() { node -p "require('./tests/console/$1')$2" 2>/dev/null || true; }
if [ "$(version node_modules/playwright-core/package.json .version)" != \
     "$(version package.json ".devDependencies['playwright-core']")" ]; then
    (cd tests/console && npm ci --no-audit --no-fund --silent)
fi

cargo build --quiet -p wxrefund -p wxrefund-sim
# The library's SONAME is libwxrefund.so.0 (build.rs): the name the program looks for.
ln -sf libwxrefund.so target/debug/libwxrefund.so.0
OUT=target/console
mkdir -p "$OUT"
cc -Wall -Wextra -Werror -std=c11 -Iinclude tests/console/apply_refund.c \
    -Ltarget/debug -lwxrefund -o "$OUT/apply_refund"

work=$(mktemp -d)
sim_pid=
cleanup() {
    if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Refunds stay PROCESSING (10 minutes) so the page can settle them.
target/debug/wxrefund-sim --settle-ms 600000 --config-out "$work/config.json" \
    >"$work/stdout" 2>"$work/stderr" &
sim_pid=$!
for _ in $(seq 100); do
    [ -s "$work/config.json" ] && break
    sleep 0.1
done
if [ ! -s "$work/config.json" ]; then
    echo "wxrefund-sim did not start" >&2
    cat "$work/stderr" >&2
    exit 1
fi
base_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$work/config.json")

refund_no="CONSOLE$$"
LD_LIBRARY_PATH=target/debug "$OUT/apply_refund" "$work/config.json" T20261122000001 "$refund_no" >/dev/null

cd tests/console
SIM_URL=$base_url REFUND_NO=$refund_no SHOT_DIR=../../$OUT CHROMIUM=$CHROMIUM \
    timeout 90 node --test --test-timeout=60000 console.test.mjs
echo "screenshot: $OUT/console.png"
