# Sourced by the C and C++ test scripts: simulator processes and valgrind runs.
# Expects OUT (a directory for configs and logs) to be set.

SIMS=()
trap 'if [ ${#SIMS[@]} -gt 0 ]; then kill "${SIMS[@]}" 2>/dev/null || true; fi' EXIT

# start_sim NAME ARGS...: starts a simulator, waits for its config in $OUT/NAME.json.
# Refunds settle after 200 ms unless ARGS give --settle-ms.
start_sim() {
    local name=$1 settle=(--settle-ms 200)
    shift
    case " $* " in *" --settle-ms "*) settle=() ;; esac
    rm -f "$OUT/$name.json"
    target/debug/wxrefund-sim "${settle[@]}" --config-out "$OUT/$name.json" "$@" \
        >/dev/null 2>"$OUT/$name.log" &
    SIMS+=($!)
    for _ in $(seq 100); do [ -s "$OUT/$name.json" ] && return; sleep 0.1; done
    echo "wxrefund-sim $name did not start" >&2
    cat "$OUT/$name.log" >&2
    exit 1
}

# wecom_provider_files NAME: from $OUT/NAME.json, writes the token-provider
# configuration (no token source of its own) to $OUT/NAME-provider.json and a
# token, as a host-side cache would hold it, to $OUT/NAME-token.txt.
wecom_provider_files() {
    python3 - "$OUT/$1.json" "$OUT/$1-provider.json" "$OUT/$1-token.txt" <<'PY'
import json, sys, urllib.parse, urllib.request
config = json.load(open(sys.argv[1]))
query = urllib.parse.urlencode({"corpid": config.pop("corpid"), "corpsecret": config.pop("corpsecret")})
json.dump(config, open(sys.argv[2], "w"))
answer = json.load(urllib.request.urlopen(config["base_url"] + "/cgi-bin/gettoken?" + query))
open(sys.argv[3], "w").write(answer["access_token"])
PY
}

# keyless_signer_files NAME: from $OUT/NAME.json, moves the merchant key out of the
# configuration into a file (0600) that only a test's signer reads: $OUT/NAME-keyless.json
# and $OUT/NAME-key.pem.
keyless_signer_files() {
    python3 - "$OUT/$1.json" "$OUT/$1-keyless.json" "$OUT/$1-key.pem" <<'PY'
import json, os, sys
config = json.load(open(sys.argv[1]))
key = config.pop("private_key_pem")
json.dump(config, open(sys.argv[2], "w"), separators=(",", ":"))
with os.fdopen(os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    f.write(key)
PY
}

VALGRIND=(valgrind --quiet --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
export LD_LIBRARY_PATH=$PWD/target/debug

# run PROGRAM ARGS...: runs a test program under valgrind.
run() {
    echo "--- $* (valgrind)"
    "${VALGRIND[@]}" "$@"
}
