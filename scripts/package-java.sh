#!/usr/bin/env bash
# Makes the Java artifacts into DIST (default dist/), for io.wxrefund:wxrefund:VERSION:
#   wxrefund-VERSION.jar          classes compiled with --release 8; the native library of each
#                                 Linux target that is built, under JNA's resource prefixes
#                                 (linux-x86-64/, linux-aarch64/, linux-arm/); the manifest
#                                 (Automatic-Module-Name io.wxrefund, Implementation-Version);
#                                 META-INF/maven/io.wxrefund/wxrefund/pom.xml, pom.properties
#   wxrefund-VERSION-sources.jar  the Java sources
#   wxrefund-VERSION-javadoc.jar  javadoc -Xdoclint:all --release 8
#   wxrefund-VERSION.pom          bindings/java/pom.xml
#   wxrefund-VERSION-testing.jar  io.wxrefund.testing (Simulator, --release 8, from
#                                 bindings/java/src/testing) and the stripped x86-64
#                                 wxrefund-sim (cargo build --release -p wxrefund-sim) under
#                                 io/wxrefund/testing/linux-x86-64/; for tests only
# The jar needs nothing but JNA on the classpath. The x86-64 library is built here
# (cargo build --release -p wxrefund, never with the python feature); the ARM ones are taken
# from target/<triple>/release when scripts/cross.sh has built them. No Maven needed.
# scripts/test-package-java.sh tests the result.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${1:-dist}
mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)

JNA=/usr/share/java/jna.jar
if [ ! -f "$JNA" ]; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends libjna-java
fi
[ -f "$JNA" ] || { echo "missing $JNA" >&2; exit 1; }
for tool in javac javadoc jar nm readelf; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

VERSION=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
POM=bindings/java/pom.xml
# The project's own coordinates are the pom's only two-space-indented ones.
pom_value() { sed -n "s|^  <$1>\(.*\)</$1>\$|\1|p;T;q" "$POM"; }
GROUP=$(pom_value groupId)
ARTIFACT=$(pom_value artifactId)
POM_VERSION=$(pom_value version)
if [ "$GROUP:$ARTIFACT:$POM_VERSION" != "io.wxrefund:wxrefund:$VERSION" ]; then
    echo "$POM says $GROUP:$ARTIFACT:$POM_VERSION, Cargo.toml says version $VERSION" >&2
    exit 1
fi
JNA_POM=$(sed -n 's|^ *<jna.version>\(.*\)</jna.version>$|\1|p' "$POM")
JNA_HERE=$(unzip -p "$JNA" META-INF/MANIFEST.MF | tr -d '\r' \
    | sed -n 's/^Implementation-Version: \([^ ]*\).*/\1/p')
if [ "$JNA_POM" != "$JNA_HERE" ]; then
    echo "note: the pom depends on JNA $JNA_POM; $JNA is $JNA_HERE"
fi

SRC=bindings/java/src/main/java
WORK=target/java-package
rm -rf "$WORK"
mkdir -p "$WORK/classes" "$WORK/javadoc"

# --- the native libraries -------------------------------------------------------------------
source scripts/targets.sh
HOST=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release -p wxrefund --features "$(shipped_features "$HOST")"

# The functions WxRefundNative maps: every bundled library must export each of them.
mapfile -t FUNCTIONS < <(sed -n 's/.*static native .* \(wxrefund_[a-z_]*\)(.*/\1/p' \
    "$SRC/io/wxrefund/WxRefundNative.java" | sort -u)
[ ${#FUNCTIONS[@]} -ge 9 ] || { echo "cannot read the mapped functions" >&2; exit 1; }

NATIVES=()
# bundle PREFIX LIBRARY MACHINE TRIPLE: copies LIBRARY, stripped as in the C tarballs, to
# the jar's PREFIX/ after checking it.
bundle() {
    local prefix=$1 lib=$2 machine=$3 triple=$4 copy strip
    copy="$WORK/classes/$prefix/libwxrefund.so"
    mkdir -p "$WORK/classes/$prefix"
    cp "$lib" "$copy" # check the copy: another build may rewrite $lib meanwhile
    strip=$(strip_tool "$triple" "$HOST")
    if [ -n "$strip" ]; then
        "$strip" --strip-unneeded "$copy"
    else
        echo "warning: no strip for $triple; $prefix packed unstripped" >&2
    fi
    # (Outputs are read whole: grep -q on a pipe under pipefail could fail on SIGPIPE.)
    local header symbols exported missing=()
    header=$(readelf -h "$copy")
    if ! grep -q "Machine: *$machine\$" <<<"$header"; then
        echo "$lib is not a $machine library" >&2
        exit 1
    fi
    symbols=$(nm -D "$copy")
    if grep -Eq ' (PyInit_|Py_|_Py)' <<<"$symbols"; then
        echo "$lib was built with the python feature; rebuild it without" >&2
        exit 1
    fi
    exported=$(nm -D --defined-only "$copy" | awk '{print $3}')
    for function in "${FUNCTIONS[@]}"; do
        grep -qx "$function" <<<"$exported" || missing+=("$function")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "$lib lacks ${missing[*]}" >&2
        exit 1
    fi
    if [ "$prefix" != linux-x86-64 ]; then # built by cargo above; the others may be stale
        local newer
        newer=$(find src build.rs Cargo.toml Cargo.lock -newer "$lib" -type f -print -quit \
            2>/dev/null || true)
        if [ -n "$newer" ]; then
            echo "warning: $lib is older than $newer (rebuild it: scripts/cross.sh)"
        fi
    fi
    NATIVES+=("$prefix")
    printf 'native %-14s <- %s (%s bytes)\n' "$prefix" "$lib" "$(stat -c %s "$copy")"
}
bundle linux-x86-64 target/release/libwxrefund.so "Advanced Micro Devices X86-64" "$HOST"
for pair in aarch64-unknown-linux-gnu:linux-aarch64:AArch64 \
            armv7-unknown-linux-gnueabihf:linux-arm:ARM; do
    IFS=: read -r triple prefix machine <<<"$pair"
    lib=target/$triple/release/libwxrefund.so
    if [ -f "$lib" ]; then
        bundle "$prefix" "$lib" "$machine" "$triple"
    else
        echo "native $prefix left out: no $lib (scripts/cross.sh builds it)"
    fi
done

# --- classes, javadoc -------------------------------------------------------------------
mapfile -t SOURCES < <(find "$SRC" -name '*.java' | sort)
javac -g -Xlint:all -Werror -Xdoclint:all/protected --release 8 -encoding UTF-8 \
    -cp "$JNA" -d "$WORK/classes" "${SOURCES[@]}"
for class in "$WORK"/classes/io/wxrefund/*.class; do
    major=$(od -An -j6 -N2 -tu1 "$class" | awk '{print $1 * 256 + $2}')
    if [ "$major" -ne 52 ]; then
        echo "$class is class file version $major, not 52 (Java 8)" >&2
        exit 1
    fi
done
javadoc -quiet -Xdoclint:all -Werror --release 8 -encoding UTF-8 -notimestamp \
    -windowtitle "wxrefund $VERSION" -doctitle "wxrefund $VERSION for Java" \
    -cp "$JNA" -d "$WORK/javadoc" "${SOURCES[@]}"

# --- manifest and Maven metadata ---------------------------------------------------------
META="$WORK/classes/META-INF/maven/io.wxrefund/wxrefund"
mkdir -p "$META"
cp "$POM" "$META/pom.xml"
printf 'groupId=io.wxrefund\nartifactId=wxrefund\nversion=%s\n' "$VERSION" > "$META/pom.properties"
cat > "$WORK/MANIFEST.MF" <<EOF
Automatic-Module-Name: io.wxrefund
Implementation-Title: wxrefund
Implementation-Version: $VERSION
Implementation-Vendor: io.wxrefund
Wxrefund-Natives: ${NATIVES[*]}
EOF

# --- the jars --------------------------------------------------------------------------
# Entries dated by the last commit (or SOURCE_DATE_EPOCH), not by the clock.
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
else
    DATE=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null \
        || date -u +%Y-%m-%dT%H:%M:%SZ)
fi
JAR="$DIST/wxrefund-$VERSION.jar"
rm -f "$JAR" "$DIST/wxrefund-$VERSION-sources.jar" "$DIST/wxrefund-$VERSION-javadoc.jar"
TZ=UTC jar --create --file "$JAR" --manifest "$WORK/MANIFEST.MF" --date "$DATE" \
    -C "$WORK/classes" .
TZ=UTC jar --create --file "$DIST/wxrefund-$VERSION-sources.jar" --date "$DATE" -C "$SRC" .
TZ=UTC jar --create --file "$DIST/wxrefund-$VERSION-javadoc.jar" --date "$DATE" \
    -C "$WORK/javadoc" .
cp "$POM" "$DIST/wxrefund-$VERSION.pom"

# --- the testing jar: the Simulator helper and the x86-64 simulator binary ----------------
TESTING_SRC=bindings/java/src/testing/java
mkdir -p "$WORK/testing/io/wxrefund/testing/linux-x86-64"
cargo build --release -p wxrefund-sim --bin wxrefund-sim
SIM_COPY="$WORK/testing/io/wxrefund/testing/linux-x86-64/wxrefund-sim"
cp target/release/wxrefund-sim "$SIM_COPY"
strip "$SIM_COPY"
grep -q "Machine: *Advanced Micro Devices X86-64\$" <<<"$(readelf -h "$SIM_COPY")" \
    || { echo "target/release/wxrefund-sim is not an x86-64 binary" >&2; exit 1; }
javac -g -Xlint:all -Werror -Xdoclint:all/protected --release 8 -encoding UTF-8 \
    -cp "$WORK/classes:$JNA" -d "$WORK/testing" $(find "$TESTING_SRC" -name '*.java' | sort)
printf 'Automatic-Module-Name: io.wxrefund.testing\nImplementation-Title: wxrefund-testing\nImplementation-Version: %s\n' \
    "$VERSION" > "$WORK/TESTING.MF"
rm -f "$DIST/wxrefund-$VERSION-testing.jar"
TZ=UTC jar --create --file "$DIST/wxrefund-$VERSION-testing.jar" --manifest "$WORK/TESTING.MF" \
    --date "$DATE" -C "$WORK/testing" .

echo
echo "natives in the jar: ${NATIVES[*]}"
unzip -l "$JAR" | grep -E 'libwxrefund|\.class$|META-INF/(MANIFEST|maven/.*/pom)' \
    | awk '{printf "  %10s  %s\n", $1, $4}'
for file in "$JAR" "$DIST/wxrefund-$VERSION-sources.jar" "$DIST/wxrefund-$VERSION-javadoc.jar" \
            "$DIST/wxrefund-$VERSION.pom" "$DIST/wxrefund-$VERSION-testing.jar"; do
    printf '%10s  %s\n' "$(stat -c %s "$file")" "$file"
done
