#!/usr/bin/env bash
# Builds the C++ example and test (bindings/cpp/wxrefund.hpp) with -Wall -Wextra -Werror
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

source scripts/sim-lib.sh
start_sim domestic --family domestic
start_sim global --family global
start_sim wecom --family wecom --wecom-order-spacing-ms 0
wecom_provider_files wecom

run "$OUT/quickstart" "$OUT/domestic.json"
run "$OUT/client_test" "$OUT/domestic.json" "$OUT/global.json" "$OUT/wecom-provider.json" "$OUT/wecom-token.txt"
