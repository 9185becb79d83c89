#!/usr/bin/env bash
# Builds the C programs with -Wall -Wextra -Werror against the real library and
# runs them under valgrind against wxrefund-sim processes; the misuse matrix and
# log_wait_test also run a second time built with AddressSanitizer and UBSan. First, the header
# alone compiles as C89, as C99 with -pedantic and as C++ (tests/c/header/).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p wxrefund -p wxrefund-sim
# The library's SONAME is libwxrefund.so.0 (build.rs): the name the programs look for.
ln -sf libwxrefund.so target/debug/libwxrefund.so.0
OUT=target/c
mkdir -p "$OUT"

echo "--- include/wxrefund.h as C89, C99 -pedantic and C++11 -pedantic"
WARN=(-Wall -Wextra -Werror)
cc -std=c89 "${WARN[@]}" -Iinclude tests/c/header/check.c -Ltarget/debug -lwxrefund -o "$OUT/header_c89"
cc -std=c99 -pedantic "${WARN[@]}" -Iinclude tests/c/header/check.c -Ltarget/debug -lwxrefund -o "$OUT/header_c99"
c++ -std=c++11 -pedantic "${WARN[@]}" -Iinclude tests/c/header/check.cpp -Ltarget/debug -lwxrefund \
    -o "$OUT/header_cpp"
for check in header_c89 header_c99 header_cpp; do
    LD_LIBRARY_PATH=target/debug "$OUT/$check"
done
CFLAGS=(-Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -g -Iinclude)
LIBS=(-Ltarget/debug -lwxrefund -lpthread)
cc "${CFLAGS[@]}" examples/c/quickstart.c "${LIBS[@]}" -o "$OUT/quickstart"
for test in tests/c/*.c; do
    cc "${CFLAGS[@]}" "$test" "${LIBS[@]}" -o "$OUT/$(basename "$test" .c)"
done
# The misuse matrix again, instrumented. The Rust library is not: ASan checks
# the C side and what crosses the boundary (its malloc serves the library too).
mkdir -p "$OUT/asan"
for test in misuse_test log_wait_test; do
    cc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
        "tests/c/$test.c" "${LIBS[@]}" -o "$OUT/asan/$test"
done

source scripts/sim-lib.sh
start_sim domestic
start_sim global --family global
start_sim institution --family global --mode institution
start_sim wecom --family wecom
wecom_provider_files wecom
# For log_wait_test: refunds held PROCESSING until the test settles them through
# /_sim (200 ms would race the test), and a WeCom simulator of its own.
start_sim held --settle-ms 3600000
start_sim logwecom --family wecom --wecom-order-spacing-ms 0
wecom_provider_files logwecom
# For signer_test: the merchant key only in a file the test's signer (openssl) reads.
start_sim signer
keyless_signer_files signer
# For abnormal_test: refunds stay PROCESSING 2 s, time for the test to settle them ABNORMAL.
start_sim abnormal --settle-ms 2000

run "$OUT/quickstart" "$OUT/domestic.json"
run "$OUT/ffi_test" "$OUT/domestic.json"
run "$OUT/notify_test" "$OUT/domestic.json"
run "$OUT/global_test" "$OUT/global.json" G20261122000001 10000 USD
run "$OUT/global_test" "$OUT/institution.json" G20261122000009 20000 EUR
run "$OUT/wecom_test" "$OUT/wecom.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt"
run "$OUT/misuse_test" "$OUT/domestic.json" "$OUT/wecom.json" "$OUT/wecom-provider.json"
LOG_WAIT_ARGS=("$OUT/held.json" "$OUT/logwecom.json" "$OUT/logwecom-provider.json" "$OUT/logwecom-token.txt")
run "$OUT/log_wait_test" "${LOG_WAIT_ARGS[@]}"
run "$OUT/signer_test" "$OUT/signer-keyless.json" "$OUT/signer-key.pem" "$OUT/signer.json"
run "$OUT/abnormal_test" "$OUT/abnormal.json" "$OUT/global.json"
# Any report aborts (ASan, LeakSanitizer) or halts (UBSan): the script fails.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
echo "--- $OUT/asan/misuse_test (AddressSanitizer, UBSan)"
"$OUT/asan/misuse_test" "$OUT/domestic.json" "$OUT/wecom.json" "$OUT/wecom-provider.json"
echo "--- $OUT/asan/log_wait_test (AddressSanitizer, UBSan)"
"$OUT/asan/log_wait_test" "${LOG_WAIT_ARGS[@]}"

# PKCS#11 (tests/c/pkcs11_test.c): a library built with --features pkcs11 into its own target
# directory (target/debug/libwxrefund.so, which the programs above link, stays as it is) and
# two SoftHSM2 tokens from scripts/softhsm.sh in $OUT/softhsm (never the system's tokens).
echo "--- PKCS#11: pkcs11_test against target/pkcs11/debug (--features pkcs11) and SoftHSM2"
command -v softhsm2-util >/dev/null ||
    { echo "softhsm2-util not found: run scripts/install-deps.sh (Debian's softhsm2)" >&2; exit 1; }
CARGO_TARGET_DIR=target/pkcs11 cargo build -p wxrefund --features pkcs11
ln -sf libwxrefund.so target/pkcs11/debug/libwxrefund.so.0
mkdir -p "$OUT/pkcs11"
cc "${CFLAGS[@]}" tests/c/pkcs11_test.c -Ltarget/pkcs11/debug -lwxrefund -lpthread -o "$OUT/pkcs11/pkcs11_test"
export WXREFUND_C_PKCS11_PIN=c-test-pin-5521 WXREFUND_C_PKCS11_WRONG_PIN=c-wrong-pin-0184
rm -rf "$OUT/softhsm"
for token in wxrefund-test wxrefund-pin; do
    WXREFUND_PKCS11_PIN=$WXREFUND_C_PKCS11_PIN scripts/softhsm.sh "$OUT/softhsm" "$token" >"$OUT/softhsm.env"
done
SOFTHSM2_CONF=$(sed -n 's/^SOFTHSM2_CONF=//p' "$OUT/softhsm.env")
export SOFTHSM2_CONF
start_sim pkcs11
python3 - "$OUT/pkcs11.json" "$(sed -n 's/^WXREFUND_PKCS11_MODULE=//p' "$OUT/softhsm.env")" "$OUT/pkcs11" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
del config["private_key_pem"]
def write(name, token, pin_env):
    config["signer"] = {"pkcs11": {"module": sys.argv[2], "token_label": token,
                                   "key_label": "merchant", "pin_env": pin_env}}
    json.dump(config, open(f"{sys.argv[3]}/{name}.json", "w"))
write("token", "wxrefund-test", "WXREFUND_C_PKCS11_PIN")
write("wrong-pin", "wxrefund-pin", "WXREFUND_C_PKCS11_WRONG_PIN")
write("unset-pin", "wxrefund-test", "WXREFUND_C_PKCS11_NO_SUCH_VARIABLE")
PY
LD_LIBRARY_PATH=$PWD/target/pkcs11/debug run "$OUT/pkcs11/pkcs11_test" "$OUT/pkcs11/token.json" \
    "$OUT/pkcs11/wrong-pin.json" "$OUT/pkcs11/unset-pin.json" WXREFUND_C_PKCS11_PIN WXREFUND_C_PKCS11_WRONG_PIN
