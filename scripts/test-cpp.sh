#!/usr/bin/env bash
# Builds the C++ example and tests (bindings/cpp/wxrefund.hpp) with -Wall -Wextra -Werror
# against the real library and runs them under valgrind against wxrefund-sim processes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p wxrefund -p wxrefund-sim
# The library's SONAME is libwxrefund.so.0 (build.rs): the name the programs look for.
ln -sf libwxrefund.so target/debug/libwxrefund.so.0
OUT=target/cpp
mkdir -p "$OUT"
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -g -Iinclude -Ibindings/cpp)
LIBS=(-Ltarget/debug -lwxrefund -lpthread)
g++ "${CXXFLAGS[@]}" examples/cpp/quickstart.cpp "${LIBS[@]}" -o "$OUT/quickstart"
g++ "${CXXFLAGS[@]}" tests/cpp/client_test.cpp "${LIBS[@]}" -o "$OUT/client_test"
g++ "${CXXFLAGS[@]}" tests/cpp/log_wait_test.cpp "${LIBS[@]}" -o "$OUT/log_wait_test"
g++ "${CXXFLAGS[@]}" tests/cpp/signer_test.cpp "${LIBS[@]}" -o "$OUT/signer_test"
g++ "${CXXFLAGS[@]}" tests/cpp/abnormal_test.cpp "${LIBS[@]}" -o "$OUT/abnormal_test"

source scripts/sim-lib.sh
start_sim domestic --family domestic
start_sim global --family global
start_sim wecom --family wecom --wecom-order-spacing-ms 0
wecom_provider_files wecom
# For log_wait_test: refunds held PROCESSING until the test settles them through /_sim.
start_sim held --settle-ms 3600000
# For signer_test: the merchant key only in a file the test's signer (openssl) reads.
start_sim signer
keyless_signer_files signer
# For abnormal_test: refunds stay PROCESSING 2 s, time for the test to settle them ABNORMAL.
start_sim abnormal --settle-ms 2000

run "$OUT/quickstart" "$OUT/domestic.json"
run "$OUT/client_test" "$OUT/domestic.json" "$OUT/global.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt"
run "$OUT/log_wait_test" "$OUT/held.json"
run "$OUT/signer_test" "$OUT/signer-keyless.json" "$OUT/signer-key.pem" "$OUT/signer.json"
run "$OUT/abnormal_test" "$OUT/abnormal.json" "$OUT/global.json"

# PKCS#11 from C++ is configuration only: the merchant key in a fresh SoftHSM2 token
# (scripts/softhsm.sh; SoftHSM2 from scripts/install-deps.sh), a library built with the
# cargo feature pkcs11 into target/pkcs11. Test PINs, in the environment as pin_env says.
CARGO_TARGET_DIR=target/pkcs11 cargo build -p wxrefund --features pkcs11
ln -sf libwxrefund.so target/pkcs11/debug/libwxrefund.so.0
g++ "${CXXFLAGS[@]}" tests/cpp/pkcs11_test.cpp -Ltarget/pkcs11/debug -lwxrefund -lpthread -o "$OUT/pkcs11_test"
export WXREFUND_CPP_PKCS11_PIN=cpp-pkcs11-pin-5521 WXREFUND_CPP_PKCS11_WRONG_PIN=cpp-wrong-pin-7734
# A second token for the wrong PIN: PKCS#11 logins are per process and token, so a token
# the first client logged in to would not check the PIN again.
WXREFUND_PKCS11_PIN=$WXREFUND_CPP_PKCS11_PIN scripts/softhsm.sh "$OUT/softhsm" wxrefund-cpp-pin >/dev/null
TOKENS=$(WXREFUND_PKCS11_PIN=$WXREFUND_CPP_PKCS11_PIN scripts/softhsm.sh "$OUT/softhsm" wxrefund-cpp)
eval "$TOKENS"
export SOFTHSM2_CONF
start_sim pkcs11
python3 - "$OUT/pkcs11.json" "$WXREFUND_PKCS11_MODULE" "$WXREFUND_PKCS11_TOKEN" "$WXREFUND_PKCS11_KEY_LABEL" <<'PY'
import json, sys
path, module, token, key_label = sys.argv[1:]
config = json.load(open(path))
del config["private_key_pem"]
def write(name, **changes):
    signer = {"module": module, "token_label": token, "key_label": key_label,
              "pin_env": "WXREFUND_CPP_PKCS11_PIN"}
    signer.update(changes)
    json.dump(dict(config, signer={"pkcs11": signer}), open(path[:-5] + name, "w"))
write("-token.json")
write("-wrong-pin.json", token_label=token + "-pin", pin_env="WXREFUND_CPP_PKCS11_WRONG_PIN")
write("-no-key.json", key_label="no-such-key")
PY
(
    export LD_LIBRARY_PATH=$PWD/target/pkcs11/debug
    run "$OUT/pkcs11_test" "$OUT/pkcs11-token.json" "$OUT/pkcs11-wrong-pin.json" "$OUT/pkcs11-no-key.json" \
        WXREFUND_CPP_PKCS11_PIN WXREFUND_CPP_PKCS11_WRONG_PIN
)
