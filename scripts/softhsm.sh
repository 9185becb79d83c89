#!/usr/bin/env bash
# Creates a fresh SoftHSM2 token in DIR holding the simulator's merchant key, for the
# PKCS#11 tests of every language. The token lives in DIR only (its own softhsm2.conf),
# never in the system's token directory. Run it again with another TOKEN_LABEL for a
# second token in the same DIR; a token already labelled TOKEN_LABEL there is replaced.
#
#   WXREFUND_PKCS11_PIN=... scripts/softhsm.sh DIR [TOKEN_LABEL [KEY_LABEL [KEY_ID_HEX]]]
#
# The user PIN comes from the environment (WXREFUND_PKCS11_PIN) and is never printed
# (softhsm2-util only takes it as an argument, so test PINs only: it shows in `ps`).
# Prints shell assignments to eval, e.g.:
#   SOFTHSM2_CONF=DIR/softhsm2.conf
#   WXREFUND_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
#   WXREFUND_PKCS11_TOKEN=wxrefund-test
#   WXREFUND_PKCS11_KEY_LABEL=merchant
#   WXREFUND_PKCS11_KEY_ID=a1b2c3
# Every program that opens the token needs SOFTHSM2_CONF in its environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: WXREFUND_PKCS11_PIN=... scripts/softhsm.sh DIR [TOKEN_LABEL [KEY_LABEL [KEY_ID_HEX]]]}"
token="${2:-wxrefund-test}"
key_label="${3:-merchant}"
key_id="${4:-a1b2c3}"
pin="${WXREFUND_PKCS11_PIN:?set WXREFUND_PKCS11_PIN to the user PIN the new token gets}"

command -v softhsm2-util >/dev/null || {
    echo "softhsm.sh: softhsm2-util not found: install Debian's softhsm2 (scripts/install-deps.sh)" >&2
    exit 1
}
module=""
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*-linux-gnu/softhsm/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -f "$candidate" ]; then
        module="$candidate"
        break
    fi
done
[ -n "$module" ] || {
    echo "softhsm.sh: libsofthsm2.so not found: install Debian's softhsm2 (scripts/install-deps.sh)" >&2
    exit 1
}

mkdir -p "$dir/tokens"
dir="$(cd "$dir" && pwd)"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" \
    >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
# A fresh token: one an earlier run left under this label goes.
if softhsm2-util --show-slots | grep -Eq "^ *Label: +$token *\$"; then
    softhsm2-util --delete-token --token "$token" >/dev/null
fi

# The SO PIN is never needed again: a random one, not kept.
so_pin="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
softhsm2-util --init-token --free --label "$token" --so-pin "$so_pin" --pin "$pin" >/dev/null
# softhsm2-util reads PKCS#8 PEM, which is what sim/keys/merchant_key.pem is.
softhsm2-util --import "$root/sim/keys/merchant_key.pem" --token "$token" \
    --label "$key_label" --id "$key_id" --pin "$pin" >/dev/null

echo "SOFTHSM2_CONF=$SOFTHSM2_CONF"
echo "WXREFUND_PKCS11_MODULE=$module"
echo "WXREFUND_PKCS11_TOKEN=$token"
echo "WXREFUND_PKCS11_KEY_LABEL=$key_label"
echo "WXREFUND_PKCS11_KEY_ID=$key_id"
