# Sourced by the packaging scripts: what they need to know about each Linux target.

# The cargo features of every shipped library (tarballs, jar; the wheels take theirs from
# bindings/python/pyproject.toml): PKCS#11 signing (README "Keys that never leave the
# hardware"), about 130 KB of the stripped library, for terminals' secure elements and
# back offices' HSMs alike. One list, so that no build flips the library's features.
SHIPPED_FEATURES=pkcs11

# shipped_features TRIPLE: SHIPPED_FEATURES and the crypto backend of what ships for TRIPLE.
# x86-64 (POS hosts and back offices: C tarball, jar, wheel) takes aws-lc, about half the
# CPU per call; ARM (terminals: tarballs, the jar's and wheel's ARM libraries) keeps ring,
# the smaller library. README "Performance" has the figures behind the choice.
shipped_features() {
    case $1 in
        x86_64-*) backend_features aws-lc ;;
        *) backend_features ring ;;
    esac
}

# backend_features BACKEND: SHIPPED_FEATURES on the crypto backend ring or aws-lc.
backend_features() {
    case $1 in
        ring) echo "$SHIPPED_FEATURES" ;;
        aws-lc) echo "$SHIPPED_FEATURES,aws-lc" ;;
        *) echo "unknown crypto backend $1 (ring, aws-lc)" >&2; return 1 ;;
    esac
}

# platform_name TRIPLE: the tarball's platform name (fails for an unknown target).
platform_name() {
    case $1 in
        x86_64-unknown-linux-gnu) echo x86_64-linux-gnu ;;
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo armv7-linux-gnueabihf ;;
        *) return 1 ;;
    esac
}

# gnu_prefix TRIPLE: the GNU prefix of the target's binutils (aarch64-linux-gnu-strip, ...).
gnu_prefix() {
    case $1 in
        x86_64-unknown-linux-gnu) echo x86_64-linux-gnu ;;
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
    esac
}

# strip_tool TRIPLE HOST: a strip that understands the target's objects, or nothing.
strip_tool() {
    local cross
    cross="$(gnu_prefix "$1")-strip"
    if command -v "$cross" >/dev/null; then
        echo "$cross"
    elif [ "$1" = "$2" ] && command -v strip >/dev/null; then
        echo strip
    elif command -v llvm-strip >/dev/null; then
        echo llvm-strip
    fi
}
