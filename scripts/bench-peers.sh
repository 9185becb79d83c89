#!/usr/bin/env bash
# Peer SDK benchmark drivers (benches/peers/): the Python SDK wechatpayv3 and the npm
# package wechatpay-axios-plugin, on the same workload as wxrefund's own drivers, against
# a running wxrefund-sim.
#
#   scripts/bench-peers.sh --orders CALLS
#       prints, on one stdout line, {"domestic": [...]}: the orders the two drivers need for
#       CALLS measured calls each (out_trade_no PEERPY... and PEERJS..., 4000 fen each, room
#       for 40 refunds of 100 fen). Merge its "domestic" array into the orders file the
#       simulator is started with (--orders).
#   scripts/bench-peers.sh SCRATCH_DIR CONFIG_JSON ORDERS_JSON CALLS
#       installs the pinned peers into SCRATCH_DIR (venv/: benches/peers/requirements.txt;
#       node/: benches/peers/package.json + package-lock.json with npm ci; both reused on the
#       next run), then runs each driver with CALLS creates and CALLS queries against the
#       simulator whose --config-out file is CONFIG_JSON and whose --orders file is
#       ORDERS_JSON, and passes their JSON lines through to stdout (pip, npm and the drivers'
#       notes go to stderr). SCRATCH_DIR must be outside the repository. The simulator must
#       serve its default platform certificate, sim/keys/platform_cert.pem, which the axios
#       plugin is given as a file (wechatpayv3 downloads /v3/certificates itself).
#
# A peer that cannot be installed (e.g. no network) or whose driver fails is reported on
# stderr, none of its lines reach stdout, and the other still runs; the exit status is 0
# only if both drivers ran.
set -euo pipefail

WARMUP=5            # unmeasured refunds per driver (WARMUP in both drivers)
REFUNDS_PER_ORDER=40
REFUND_FEN=100
PY_PREFIX=PEERPY
JS_PREFIX=PEERJS

usage() {
    echo "usage: $0 --orders CALLS | $0 SCRATCH_DIR CONFIG_JSON ORDERS_JSON CALLS (see the script's header)" >&2
    exit 2
}

positive() { [[ $1 =~ ^[1-9][0-9]*$ ]] || { echo "CALLS must be a positive integer: $1" >&2; exit 2; }; }

if [ "${1:-}" = --orders ]; then
    [ $# -eq 2 ] || usage
    positive "$2"
    exec python3 - "$2" "$WARMUP" "$REFUNDS_PER_ORDER" "$REFUND_FEN" "$PY_PREFIX" "$JS_PREFIX" <<'PY'
import json, sys
calls, warmup, per_order, fen = (int(a) for a in sys.argv[1:5])
count = -(-(calls + warmup) // per_order)
orders = [{"out_trade_no": f"{prefix}{i:08d}", "transaction_id": f"43{tag}{i:025d}",
           "total": per_order * fen, "sub_mchid": None, "paid_days_ago": 0,
           "final_status": "SUCCESS"}
          for tag, prefix in enumerate(sys.argv[5:7], start=1) for i in range(count)]
print(json.dumps({"domestic": orders}))
PY
fi

[ $# -eq 4 ] || usage
positive "$4"
CALLS=$4
for f in "$2" "$3"; do [ -f "$f" ] || { echo "no such file: $f" >&2; exit 2; }; done
mkdir -p "$1"
SCRATCH=$(cd "$1" && pwd -P)
CONFIG=$(cd "$(dirname "$2")" && pwd -P)/$(basename "$2")
ORDERS=$(cd "$(dirname "$3")" && pwd -P)/$(basename "$3")
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
PEERS=$ROOT/benches/peers
case "$SCRATCH/" in
    "$ROOT"/*) echo "SCRATCH_DIR must be outside the repository ($ROOT): $SCRATCH" >&2; exit 2 ;;
esac

failed=()

# --- wechatpayv3 (Python)
py_ready=
VENV=$SCRATCH/venv
if [ ! -x "$VENV/bin/python" ] && ! python3 -m venv "$VENV" >&2; then
    echo "bench-peers: wechatpayv3 not run: python3 -m venv $VENV failed (Debian/Ubuntu: apt-get install python3-venv)" >&2
elif ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$PEERS/requirements.txt" >&2; then
    echo "bench-peers: wechatpayv3 not run: pip could not install benches/peers/requirements.txt into $VENV (no network or package index?)" >&2
else
    py_ready=1
fi
if [ -n "$py_ready" ]; then
    echo "bench-peers: wechatpayv3 $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("wechatpayv3"))'), $("$VENV/bin/python" --version)" >&2
    # A driver's lines are passed on only once it has succeeded, never a failed run's part.
    if lines=$("$VENV/bin/python" "$PEERS/wechatpayv3_bench.py" --config "$CONFIG" --orders "$ORDERS" \
            --order-prefix "$PY_PREFIX" --calls "$CALLS"); then
        printf '%s\n' "$lines"
    else
        echo "bench-peers: the wechatpayv3 driver failed; its figures are left out" >&2
        failed+=(wechatpayv3)
    fi
else
    failed+=(wechatpayv3)
fi

# --- wechatpay-axios-plugin (Node)
js_ready=
NODE_DIR=$SCRATCH/node
if ! command -v npm >/dev/null; then
    echo "bench-peers: wechatpay-axios-plugin not run: no npm (and node) on PATH" >&2
else
    mkdir -p "$NODE_DIR"
    cp "$PEERS/package.json" "$PEERS/package-lock.json" "$PEERS/axios_bench.mjs" "$NODE_DIR/"
    if ! (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        echo "bench-peers: wechatpay-axios-plugin not run: npm ci of benches/peers/package-lock.json in $NODE_DIR failed (no network or package registry?)" >&2
    else
        js_ready=1
    fi
fi
if [ -n "$js_ready" ]; then
    echo "bench-peers: wechatpay-axios-plugin $(cd "$NODE_DIR" && node -p 'require("wechatpay-axios-plugin/package.json").version'), axios $(cd "$NODE_DIR" && node -p 'require("axios/package.json").version'), node $(node --version)" >&2
    if lines=$(node "$NODE_DIR/axios_bench.mjs" --config "$CONFIG" --orders "$ORDERS" \
            --order-prefix "$JS_PREFIX" --platform-cert "$ROOT/sim/keys/platform_cert.pem" \
            --calls "$CALLS"); then
        printf '%s\n' "$lines"
    else
        echo "bench-peers: the wechatpay-axios-plugin driver failed; its figures are left out" >&2
        failed+=(wechatpay-axios-plugin)
    fi
else
    failed+=(wechatpay-axios-plugin)
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "bench-peers: not run or failed: ${failed[*]}" >&2
    exit 1
fi
