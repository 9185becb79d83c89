#!/usr/bin/env bash
# Builds the Java binding (bindings/java; its main code for Java 8) with javac -Xlint:all
# -Werror and runs its JUnit 4 tests against the real library and wxrefund-sim subprocesses,
# then examples/Quickstart.java (compiled for Java 8) against one more wxrefund-sim.
# No Maven: JNA and JUnit come from Debian (libjna-java, junit4, libhamcrest-java), installed
# here when missing. scripts/package-java.sh makes the jar; test-package-java.sh tests it.
set -euo pipefail
cd "$(dirname "$0")/.."

JNA=/usr/share/java/jna.jar
JUNIT=/usr/share/java/junit4.jar
HAMCREST=/usr/share/java/hamcrest-core.jar
if [ ! -f "$JNA" ] || [ ! -f "$JUNIT" ] || [ ! -f "$HAMCREST" ]; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends libjna-java junit4 libhamcrest-java
fi
for jar in "$JNA" "$JUNIT" "$HAMCREST"; do
    [ -f "$jar" ] || { echo "missing $jar" >&2; exit 1; }
done
command -v javac >/dev/null || { echo "javac (JDK 17+) is required" >&2; exit 1; }

cargo build -p wxrefund -p wxrefund-sim

SRC=bindings/java/src
OUT=target/java
rm -rf "$OUT"
mkdir -p "$OUT/main" "$OUT/testing" "$OUT/test" "$OUT/native"
# Test exactly what was just built, even if another build rewrites target/debug meanwhile.
cp target/debug/libwxrefund.so target/debug/wxrefund-sim "$OUT/native/"
# The main code is Java 8 (--release 8 checks the language and every API against Java 8's);
# -Xdoclint:all/protected: every public type and member has complete Javadoc.
javac -Xlint:all -Werror -Xdoclint:all/protected --release 8 -encoding UTF-8 \
    -cp "$JNA" -d "$OUT/main" $(find "$SRC/main/java" -name '*.java')
javadoc -quiet -Xdoclint:all -Werror --release 8 -encoding UTF-8 -cp "$JNA" -d "$OUT/javadoc" \
    $(find "$SRC/main/java" -name '*.java')
# io.wxrefund.testing (the Simulator helper, shipped in the -testing jar): Java 8 too.
javac -Xlint:all -Werror -Xdoclint:all/protected --release 8 -encoding UTF-8 \
    -cp "$OUT/main:$JNA" -d "$OUT/testing" $(find "$SRC/testing/java" -name '*.java')
javadoc -quiet -Xdoclint:all -Werror --release 8 -encoding UTF-8 -cp "$OUT/main:$JNA" \
    -d "$OUT/javadoc-testing" $(find "$SRC/testing/java" -name '*.java')
# The tests may use Java 17; they run against the Java 8 classes above.
javac -Xlint:all -Werror --release 17 -encoding UTF-8 \
    -cp "$OUT/main:$OUT/testing:$JNA:$JUNIT:$HAMCREST" -d "$OUT/test" $(find "$SRC/test/java" -name '*.java')

TESTS=()
while IFS= read -r file; do
    name=${file#"$SRC/test/java/"}
    name=${name%.java}
    TESTS+=("${name//\//.}")
done < <(find "$SRC/test/java" -name '*Test.java' | sort)

# No console handler: the library's records (java.util.logging, io.wxrefund) would drown
# JUnit's output; LoggingTest installs its own handler.
printf 'handlers=\n.level=INFO\n' >"$OUT/logging.properties"
java -Djna.library.path="$OUT/native" -Dwxrefund.sim="$OUT/native/wxrefund-sim" \
    -Dfile.encoding=UTF-8 -Djava.util.logging.config.file="$OUT/logging.properties" \
    -cp "$OUT/main:$OUT/testing:$OUT/test:$JNA:$JUNIT:$HAMCREST" \
    org.junit.runner.JUnitCore "${TESTS[@]}"

# The quickstart, compiled for Java 8 against the classes above, against a fresh simulator.
javac -Xlint:all -Werror --release 8 -encoding UTF-8 -cp "$OUT/main:$JNA" -d "$OUT/quickstart" \
    bindings/java/examples/Quickstart.java
QS="$OUT/quickstart"
"$OUT/native/wxrefund-sim" --settle-ms 200 --config-out "$QS/sim.json" \
    >"$QS/ready.txt" 2>"$QS/sim.log" &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true' EXIT
# The ready line comes once the configuration file is complete.
for _ in $(seq 150); do [ -s "$QS/ready.txt" ] && break; sleep 0.1; done
[ -s "$QS/ready.txt" ] || { cat "$QS/sim.log" >&2; echo "wxrefund-sim did not start" >&2; exit 1; }
java -Djna.library.path="$OUT/native" -cp "$OUT/main:$JNA:$QS" Quickstart "$QS/sim.json" \
    >"$QS/out.txt"
cat "$QS/out.txt"
FINAL=$(grep '^final: ' "$QS/out.txt")
grep -q '"final":true' <<<"$FINAL" && grep -q '"status":"SUCCESS"' <<<"$FINAL" \
    || { echo "quickstart: no final SUCCESS" >&2; exit 1; }

# PKCS#11 from Java is configuration only: Pkcs11TokenIT, in a JVM of its own, against a
# library built with the cargo feature pkcs11 (into target/pkcs11) and a fresh SoftHSM2
# token (scripts/softhsm.sh; SoftHSM2 from scripts/install-deps.sh). Test PINs, in the
# environment as pin_env says; a second token for the wrong PIN, as PKCS#11 logins are per
# process and token.
CARGO_TARGET_DIR=target/pkcs11 cargo build -p wxrefund --features pkcs11
mkdir -p "$OUT/native-pkcs11"
cp target/pkcs11/debug/libwxrefund.so "$OUT/native-pkcs11/"
export WXREFUND_JAVA_PKCS11_PIN=java-pkcs11-pin-3318 WXREFUND_JAVA_PKCS11_WRONG_PIN=java-wrong-pin-9902
WXREFUND_PKCS11_PIN=$WXREFUND_JAVA_PKCS11_PIN scripts/softhsm.sh "$OUT/softhsm" wxrefund-java-pin >/dev/null
TOKENS=$(WXREFUND_PKCS11_PIN=$WXREFUND_JAVA_PKCS11_PIN scripts/softhsm.sh "$OUT/softhsm" wxrefund-java)
eval "$TOKENS"
export SOFTHSM2_CONF
java -Djna.library.path="$OUT/native-pkcs11" -Dwxrefund.sim="$OUT/native/wxrefund-sim" \
    -Dfile.encoding=UTF-8 -Djava.util.logging.config.file="$OUT/logging.properties" \
    -Dwxrefund.pkcs11.module="$WXREFUND_PKCS11_MODULE" -Dwxrefund.pkcs11.token="$WXREFUND_PKCS11_TOKEN" \
    -Dwxrefund.pkcs11.pinToken=wxrefund-java-pin -Dwxrefund.pkcs11.keyLabel="$WXREFUND_PKCS11_KEY_LABEL" \
    -Dwxrefund.pkcs11.pinEnv=WXREFUND_JAVA_PKCS11_PIN -Dwxrefund.pkcs11.wrongPinEnv=WXREFUND_JAVA_PKCS11_WRONG_PIN \
    -cp "$OUT/main:$OUT/testing:$OUT/test:$JNA:$JUNIT:$HAMCREST" \
    org.junit.runner.JUnitCore io.wxrefund.Pkcs11TokenIT
