#!/usr/bin/env bash
# The figures of README "Performance", from one run on this machine:
#
#   scripts/bench.sh [--calls N] [--no-size] [--no-peers] [--no-profile]
#
# 1. Builds, in release: the simulator, and the library on each crypto backend (ring,
#    aws-lc) with the shipped features, as a C library (target/bench/BACKEND), as a Python
#    module (a wheel installed into a scratch venv per backend) and as the Rust benchmark.
# 2. Raw RSA-2048 sign and verify of each backend (benches/refund.rs) and of OpenSSL
#    (`openssl speed rsa2048`), the floor of a signed, verified call.
# 3. The refund workload, N (default 2000) creates of new refunds and N queries, against ONE
#    release simulator (another process, on 127.0.0.1), through: Rust (benches/refund.rs, an
#    in-process simulator), C (benches/c/bench.c), Python (benches/python/bench_wxrefund.py)
#    on each backend, and the peer SDKs wechatpayv3 and wechatpay-axios-plugin
#    (scripts/bench-peers.sh installs them into the scratch folder). Client CPU per call is
#    process CPU (thread CPU for Rust), start-up measured apart and not included.
# 4. Key loading (client_new), notification verify + decrypt per second, simulator refunds
#    per second (sim/examples/load.rs), stack, threads and RSS (tests/firmware.rs, 20,000
#    calls), and the stripped library per target and backend (scripts/size.sh).
# 5. The release profile's cost: the Rust create call built with a plain profile (opt-level 3,
#    no LTO) beside the shipped one (opt-level "z", LTO), five alternating rounds.
# Prints each figure as it comes and a Markdown table at the end; every figure is also in
# SCRATCH/figures.jsonl. SCRATCH is $WXREFUND_BENCH_DIR or /tmp/wxrefund-bench (outside the
# repository). The peers need the package registries; without them they are skipped, saying
# so. Figures from a 2-core machine vary by about 10% from run to run; compare within a run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/targets.sh
export CARGO_TERM_COLOR=never

CALLS=2000
SIZE=1
PEERS=1
PROFILE=1
# Cargo.toml's release profile before it was tuned for size (README "Performance").
PLAIN_PROFILE=(--config profile.release.lto=false --config profile.release.codegen-units=16
               --config profile.release.opt-level=3 --config 'profile.release.strip="none"')
while (($#)); do
    case $1 in
        --calls) CALLS=${2:?--calls needs a number}; shift 2 ;;
        --no-size) SIZE=0; shift ;;
        --no-peers) PEERS=0; shift ;;
        --no-profile) PROFILE=0; shift ;;
        -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ $CALLS =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --calls must be a positive number" >&2; exit 2; }

SCRATCH=${WXREFUND_BENCH_DIR:-/tmp/wxrefund-bench}
mkdir -p "$SCRATCH"
SCRATCH=$(cd "$SCRATCH" && pwd -P)
case $SCRATCH/ in "$ROOT"/*) echo "bench.sh: the scratch folder must be outside the repository" >&2; exit 2 ;; esac
OUT=$SCRATCH/run
rm -rf "$OUT"
mkdir -p "$OUT"
FIGURES=$SCRATCH/figures.jsonl
: >"$FIGURES"
BACKENDS=(ring aws-lc)
MATURIN_VERSION=$(sed -n 's/^MATURIN_VERSION=//p' scripts/test-python.sh)

step() { printf '\n=== bench: %s\n' "$*" >&2; }
# record DRIVER_OUTPUT...: keeps the JSON figure lines (bare, or after `FIGURE `) of stdin.
record() { sed -n 's/^FIGURE //; /^{/p' | tee -a "$FIGURES"; }

step "machine"
{
    echo "{\"what\": \"machine\", \"cpu\": \"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\"," \
        "\"cores\": $(nproc), \"rustc\": \"$(rustc -V)\", \"openssl\": \"$(openssl version 2>/dev/null || echo none)\"," \
        "\"calls\": $CALLS}"
} | record

step "build: simulator, C library and benchmark per backend"
cargo build --quiet --release -p wxrefund-sim --bin wxrefund-sim --example load
for backend in "${BACKENDS[@]}"; do
    dir=target/bench/$backend
    CARGO_TARGET_DIR=$dir cargo build --quiet --release -p wxrefund --features "$(backend_features "$backend")"
    CARGO_TARGET_DIR=$dir cargo bench --quiet -p wxrefund --bench refund --no-run \
        --features "$(backend_features "$backend")"
    # The library under its SONAME, as installed (scripts/install.sh makes the same links).
    lib=$OUT/lib-$backend
    mkdir -p "$lib"
    cp "$dir/release/libwxrefund.so" "$lib/libwxrefund.so.0"
    ln -sf libwxrefund.so.0 "$lib/libwxrefund.so"
    cc -O2 -Wall -Wextra -Werror -Iinclude benches/c/bench.c -L"$lib" -lwxrefund \
        -Wl,-rpath,"$lib" -o "$OUT/bench-c-$backend"
    if ((PROFILE)); then
        CARGO_TARGET_DIR=$dir-plain cargo bench --quiet -p wxrefund --bench refund --no-run \
            --features "$(backend_features "$backend")" "${PLAIN_PROFILE[@]}"
    fi
done

step "build: the Python module per backend (maturin $MATURIN_VERSION)"
if [ ! -x "$SCRATCH/maturin/bin/maturin" ]; then
    python3 -m venv "$SCRATCH/maturin"
    "$SCRATCH/maturin/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi
for backend in "${BACKENDS[@]}"; do
    rm -rf "$OUT/wheel-$backend"
    (cd bindings/python && CARGO_TARGET_DIR=$ROOT/target/bench/python-$backend \
        "$SCRATCH/maturin/bin/maturin" build --quiet --release --strip --compatibility linux \
        --features "python,$(backend_features "$backend")" --out "$OUT/wheel-$backend") >&2
    [ -x "$SCRATCH/py-$backend/bin/python" ] || python3 -m venv "$SCRATCH/py-$backend"
    "$SCRATCH/py-$backend/bin/pip" install --quiet --disable-pip-version-check --force-reinstall \
        "$OUT/wheel-$backend"/wxrefund-*.whl
    got=$("$SCRATCH/py-$backend/bin/python" -c 'import wxrefund; print(wxrefund.CRYPTO_BACKEND)')
    [ "$got" = "$backend" ] || { echo "bench.sh: the $backend wheel is built on $got" >&2; exit 1; }
done

step "raw sign/verify, key loading, the Rust client and notifications, per backend"
for backend in "${BACKENDS[@]}"; do
    CARGO_TARGET_DIR=target/bench/$backend cargo bench --quiet -p wxrefund --bench refund \
        --features "$(backend_features "$backend")" -- 40 | record
done
if ((PROFILE)); then
    # The release profile's price: the same benchmark built with a plain one (opt-level 3, no
    # LTO), alternated with the shipped one five times, so that both see the same machine.
    for round in 1 2 3 4 5; do
        for backend in "${BACKENDS[@]}"; do
            for profile in shipped plain; do
                dir=target/bench/$backend args=()
                [ $profile = shipped ] || { dir+=-plain; args=("${PLAIN_PROFILE[@]}"); }
                CARGO_TARGET_DIR=$dir cargo bench --quiet -p wxrefund --bench refund \
                    --features "$(backend_features "$backend")" "${args[@]}" -- 40 \
                    | sed -n "s/^FIGURE \(.*\"op\":\"create\".*\)}$/\1,\"profile\":\"$profile\",\"round\":$round}/p" \
                    | record
            done
        done
    done
fi
if command -v openssl >/dev/null; then
    # The last line of `openssl speed`: "rsa 2048 bits <sign s> <verify s> <sign/s> <verify/s>".
    openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {
        printf "{\"what\": \"raw\", \"backend\": \"openssl\", \"op\": \"sign\", \"cpu_us\": %.1f}\n", $4 * 1e6
        printf "{\"what\": \"raw\", \"backend\": \"openssl\", \"op\": \"verify\", \"cpu_us\": %.1f}\n", $5 * 1e6 }' | record
else
    echo "bench.sh: no openssl command: the OpenSSL floor is not measured" >&2
fi

step "one simulator for every client: orders for $CALLS calls each"
python3 - "$CALLS" "$OUT/orders.json" "${BACKENDS[@]}" <<'PY'
import json, sys
calls, path, backends = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
count = -(-(calls + 5) // 40)  # 40 refunds of 100 fen per order, and the 5 warm-up calls
prefixes = [f"{lang}{b.replace('-', '').upper()}" for lang in ("C", "PY") for b in backends]
orders = [{"out_trade_no": f"{p}{i:08d}", "transaction_id": f"44{n}{i:025d}", "total": 4000}
          for n, p in enumerate(prefixes) for i in range(count)]
json.dump({"domestic": orders}, open(path, "w"))
PY
if ((PEERS)); then
    bash scripts/bench-peers.sh --orders "$CALLS" >"$OUT/peer-orders.json"
    python3 - "$OUT/orders.json" "$OUT/peer-orders.json" <<'PY'
import json, sys
ours, peers = (json.load(open(p)) for p in sys.argv[1:3])
ours["domestic"] += peers["domestic"]
json.dump(ours, open(sys.argv[1], "w"))
PY
fi
target/release/wxrefund-sim --settle-ms 0 --orders "$OUT/orders.json" --config-out "$OUT/sim.json" \
    >"$OUT/sim.out" 2>"$OUT/sim.log" &
SIM=$!
trap 'kill "$SIM" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/sim.json" ] && break; sleep 0.1; done
[ -s "$OUT/sim.json" ] || { cat "$OUT/sim.log" >&2; echo "bench.sh: the simulator did not start" >&2; exit 1; }

step "the workload through C and Python, per backend"
for backend in "${BACKENDS[@]}"; do
    tag=${backend//-/}
    "$OUT/bench-c-$backend" "$OUT/sim.json" "C${tag^^}" "$CALLS" "$backend" | record
    "$SCRATCH/py-$backend/bin/python" benches/python/bench_wxrefund.py --config "$OUT/sim.json" \
        --order-prefix "PY${tag^^}" --calls "$CALLS" --backend "$backend" | record
done

if ((PEERS)); then
    step "the workload through the peer SDKs"
    bash scripts/bench-peers.sh "$SCRATCH/peers" "$OUT/sim.json" "$OUT/orders.json" "$CALLS" | record ||
        echo "bench.sh: a peer SDK did not run (see above); its figures are missing" >&2
fi
kill "$SIM" 2>/dev/null || true

step "simulator: refunds per second (sim/examples/load.rs, clients in the same process)"
target/release/examples/load 10000 2 | tee "$OUT/load.txt" >&2
sed -n 's|.* \([0-9]*\) refunds/s$|{"what": "sim", "refunds_per_second": \1}|p' "$OUT/load.txt" | record

step "firmware: threads, stack per entry point, RSS over 20,000 calls (tests/firmware.rs)"
WXREFUND_FIRMWARE_CALLS=20000 CARGO_TARGET_DIR=target/bench/ring \
    cargo test --quiet --release -p wxrefund --features "$(backend_features ring)" --test firmware \
    -- --nocapture 2>&1 | record

if ((SIZE)); then
    step "library size per target and backend (scripts/size.sh)"
    bash scripts/size.sh | record
fi

step "table"
python3 benches/report.py "$FIGURES"
