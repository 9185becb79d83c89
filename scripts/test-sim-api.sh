#!/usr/bin/env bash
# Fuzzes the simulator's control API (/_sim/) against its OpenAPI document with
# schemathesis: fails on any 5xx answer or any answer that does not match the document.
# Installs schemathesis into target/sim-api-venv on first use. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/sim-api-venv
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet -p wxrefund-sim

work=$(mktemp -d)
sim_pid=
cleanup() {
    if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

target/debug/wxrefund-sim --config-out "$work/config.json" >"$work/stdout" 2>"$work/stderr" &
sim_pid=$!
for _ in $(seq 100); do
    [ -s "$work/config.json" ] && break
    sleep 0.1
done
base_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base_url"])' "$work/config.json")

# From the scratch directory, so schemathesis's .schemathesis/ cache stays out of the tree.
root=$PWD
cd "$work"
"$root/$VENV/bin/schemathesis" run "$base_url/_sim/openapi.json" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples 20 \
    --request-timeout 5 \
    --generation-deterministic \
    --no-color
