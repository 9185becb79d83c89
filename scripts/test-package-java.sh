#!/usr/bin/env bash
# Tests the Java artifacts of DIST (default dist/, made by scripts/package-java.sh) from a
# fresh folder outside the repository:
#   1. the jar's manifest, Maven metadata, class file versions (Java 8) and natives; the
#      sources and javadoc jars;
#   2. the pom: well-formed (xmllint), valid against the Maven 4.0.0 XSD when MAVEN_XSD names
#      a copy of it (none ships offline), and accepted by Maven's own model builder at its
#      strictest level when Maven's libraries are installed (/usr/share/maven/lib);
#   3. bindings/java/examples/Quickstart.java compiled with --release 8 against the jar and
#      JNA alone, and run with only those two on the classpath (no jna.library.path, no
#      LD_LIBRARY_PATH) against wxrefund-sim: a refund round trip with the bundled library,
#      whose extracted copy is removed again; then the two development overrides
#      (-Dwxrefund.library, -Djna.library.path);
#   4. the JUnit suite against the jar (the jar, the testing jar, JNA, JUnit, Hamcrest, the
#      test classes);
#   5. io.wxrefund.testing.Simulator with only the two jars and JNA on the classpath (no
#      wxrefund.sim property, no WXREFUND_SIM): the bundled simulator is extracted, a queued
#      SYSTEM_ERROR is resent, the request log shows it, and close() removes the copy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=$(cd "${1:-dist}" && pwd)

VERSION=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
JAR=$DIST/wxrefund-$VERSION.jar
SOURCES_JAR=$DIST/wxrefund-$VERSION-sources.jar
TESTING_JAR=$DIST/wxrefund-$VERSION-testing.jar
JAVADOC_JAR=$DIST/wxrefund-$VERSION-javadoc.jar
POM=$DIST/wxrefund-$VERSION.pom
for file in "$JAR" "$SOURCES_JAR" "$JAVADOC_JAR" "$POM" "$TESTING_JAR"; do
    [ -f "$file" ] || { echo "missing $file (run scripts/package-java.sh $DIST)" >&2; exit 1; }
done

JNA=/usr/share/java/jna.jar
JUNIT=/usr/share/java/junit4.jar
HAMCREST=/usr/share/java/hamcrest-core.jar
if [ ! -f "$JNA" ] || [ ! -f "$JUNIT" ] || [ ! -f "$HAMCREST" ] \
    || ! command -v xmllint >/dev/null; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends \
        libjna-java junit4 libhamcrest-java libxml2-utils
fi
cargo build -p wxrefund-sim --bin wxrefund-sim
SIM=$ROOT/target/debug/wxrefund-sim

TMP=$(mktemp -d)
SIM_PID=
cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP"
case "$TMP/" in "$ROOT"/*) echo "$TMP is inside the repository" >&2; exit 1 ;; esac
unset LD_LIBRARY_PATH JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS CLASSPATH WXREFUND_SIM
step() { printf -- '--- %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- 1. the jars -----------------------------------------------------------------------
step "jar contents"
MANIFEST=$(unzip -p "$JAR" META-INF/MANIFEST.MF | tr -d '\r')
grep -qx "Automatic-Module-Name: io.wxrefund" <<<"$MANIFEST" || fail "no Automatic-Module-Name"
grep -qx "Implementation-Version: $VERSION" <<<"$MANIFEST" || fail "no Implementation-Version"
unzip -p "$JAR" META-INF/maven/io.wxrefund/wxrefund/pom.xml | cmp -s - "$POM" \
    || fail "the jar's pom.xml differs from $POM"
[ "$(unzip -p "$JAR" META-INF/maven/io.wxrefund/wxrefund/pom.properties | sort)" = \
  "$(printf 'artifactId=wxrefund\ngroupId=io.wxrefund\nversion=%s' "$VERSION")" ] \
    || fail "pom.properties"
mkdir jar
(cd jar && unzip -q "$JAR")
for class in jar/io/wxrefund/*.class; do
    major=$(od -An -j6 -N2 -tu1 "$class" | awk '{print $1 * 256 + $2}')
    [ "$major" -eq 52 ] || fail "$class has class file version $major, not 52 (Java 8)"
done
[ -f jar/linux-x86-64/libwxrefund.so ] || fail "no linux-x86-64/libwxrefund.so"
NATIVES=$(cd jar && ls -d linux-*/libwxrefund.so | paste -sd ' ' -)
echo "natives: $NATIVES"
echo "manifest: $(grep '^Wxrefund-Natives' <<<"$MANIFEST")"
SOURCES_LIST=$(unzip -Z1 "$SOURCES_JAR")
JAVADOC_LIST=$(unzip -Z1 "$JAVADOC_JAR")
for source in "$ROOT"/bindings/java/src/main/java/io/wxrefund/*.java; do
    grep -qx "io/wxrefund/$(basename "$source")" <<<"$SOURCES_LIST" || fail "sources: $source"
done
for public in WxRefundClient WxRefundException AccessTokenProvider; do
    grep -qx "io/wxrefund/$public.html" <<<"$JAVADOC_LIST" || fail "javadoc: $public"
done
grep -qx 'index.html' <<<"$JAVADOC_LIST" || fail "javadoc: no index.html"

# --- 2. the pom ------------------------------------------------------------------------
step "pom"
xmllint --noout "$POM"
echo "well-formed"
if [ -n "${MAVEN_XSD:-}" ]; then
    xmllint --noout --schema "$MAVEN_XSD" "$POM"
else
    echo "not checked against the Maven 4.0.0 XSD: set MAVEN_XSD to a copy of maven-4.0.0.xsd"
fi
MAVEN_LIB=/usr/share/maven/lib
if compgen -G "$MAVEN_LIB/maven-model-builder-*.jar" >/dev/null; then
    mkdir pomcheck
    cat > pomcheck/PomCheck.java <<'EOF'
import java.io.File;
import org.apache.maven.model.Model;
import org.apache.maven.model.building.DefaultModelBuilderFactory;
import org.apache.maven.model.building.DefaultModelBuildingRequest;
import org.apache.maven.model.building.ModelBuildingException;
import org.apache.maven.model.building.ModelBuildingRequest;
import org.apache.maven.model.building.ModelBuildingResult;
import org.apache.maven.model.building.ModelProblem;

/** Builds the effective model of a pom the way Maven does, at its strictest validation. */
public class PomCheck {
    public static void main(String[] args) throws Exception {
        DefaultModelBuildingRequest request = new DefaultModelBuildingRequest();
        request.setPomFile(new File(args[0]));
        request.setValidationLevel(ModelBuildingRequest.VALIDATION_LEVEL_STRICT);
        request.setSystemProperties(System.getProperties());
        try {
            ModelBuildingResult result =
                    new DefaultModelBuilderFactory().newInstance().build(request);
            for (ModelProblem problem : result.getProblems()) {
                System.out.println("problem: " + problem);
            }
            Model model = result.getEffectiveModel();
            System.out.println(model.getGroupId() + ":" + model.getArtifactId() + ":"
                    + model.getVersion() + " " + model.getDependencies());
            System.exit(result.getProblems().isEmpty() ? 0 : 1);
        } catch (ModelBuildingException e) {
            for (ModelProblem problem : e.getProblems()) {
                System.out.println("problem: " + problem);
            }
            System.exit(1);
        }
    }
}
EOF
    MAVEN_CP=$(printf '%s:' "$MAVEN_LIB"/*.jar)
    javac -nowarn -cp "$MAVEN_CP" -d pomcheck pomcheck/PomCheck.java
    MODEL=$(java -cp "$MAVEN_CP:pomcheck" PomCheck "$POM") || fail "Maven's model builder: $MODEL"
    echo "Maven's model builder (strict): $MODEL"
    grep -q "^io.wxrefund:wxrefund:$VERSION " <<<"$MODEL" || fail "coordinates: $MODEL"
    grep -q "groupId=net.java.dev.jna, artifactId=jna, version=" <<<"$MODEL" \
        || fail "no JNA dependency: $MODEL"
else
    echo "Maven's model builder not checked: no $MAVEN_LIB (Debian's maven package)"
fi

# --- 3. the quickstart, with the jar and JNA alone -------------------------------------
step "quickstart with only the jar and JNA on the classpath"
cp "$ROOT/bindings/java/examples/Quickstart.java" .
javac -Xlint:all -Werror --release 8 -cp "$JAR:$JNA" -d quickstart Quickstart.java
"$SIM" --settle-ms 200 --family domestic --config-out "$TMP/sim.json" \
    >/dev/null 2>"$TMP/sim.log" &
SIM_PID=$!
for _ in $(seq 150); do [ -s sim.json ] && break; sleep 0.1; done
[ -s sim.json ] || { cat sim.log >&2; fail "wxrefund-sim did not start"; }

mkdir jna-tmp
# jna.debug_load logs JNA's search to stderr; jna.tmpdir keeps the extracted copy in sight.
java -Djna.debug_load=true -Djna.tmpdir="$TMP/jna-tmp" -cp "$JAR:$JNA:quickstart" \
    Quickstart sim.json >out.txt 2>err.txt || { cat out.txt err.txt >&2; fail "quickstart"; }
cat out.txt
grep -Fqx "native library: jar:file:$JAR!/linux-x86-64/libwxrefund.so" out.txt \
    || { cat err.txt >&2; fail "the library did not come from the jar"; }
grep -Fq "Found library resource at jar:file:$JAR!/linux-x86-64/libwxrefund.so" err.txt \
    || { cat err.txt >&2; fail "JNA did not extract the bundled library"; }
[ -z "$(ls -A jna-tmp)" ] || fail "the extracted library was left behind: $(ls -A jna-tmp)"
python3 - out.txt <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
def answer(prefix):
    found = [l[len(prefix):] for l in lines if l.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return json.loads(found[0])
accepted, final = answer("accepted: "), answer("final: ")
assert accepted["wxrefund"]["status"] in ("PROCESSING", "ACCEPTED"), accepted
assert final["out_refund_no"] == accepted["out_refund_no"], (accepted, final)
assert final["wxrefund"]["final"] is True and final["wxrefund"]["status"] == "SUCCESS", final
assert final["amount"]["refund"] == 100, final
print("round trip: %s %s -> %s" % (final["out_refund_no"], accepted["wxrefund"]["status"],
                                   final["wxrefund"]["status"]))
PY

step "development overrides: -Dwxrefund.library, -Djna.library.path"
mkdir devlib
cp jar/linux-x86-64/libwxrefund.so devlib/ # a library outside any jar, as in development
java -Dwxrefund.library="$TMP/devlib/libwxrefund.so" -cp "$JAR:$JNA:quickstart" \
    Quickstart sim.json >out.txt 2>&1 || { cat out.txt >&2; fail "-Dwxrefund.library"; }
grep -Fqx "native library: $TMP/devlib/libwxrefund.so" out.txt \
    || { cat out.txt >&2; fail "-Dwxrefund.library was not used"; }
grep -q '^final: ' out.txt || fail "-Dwxrefund.library: no final answer"
java -Djna.library.path="$TMP/devlib" -cp "$JAR:$JNA:quickstart" \
    Quickstart sim.json >out.txt 2>&1 || { cat out.txt >&2; fail "-Djna.library.path"; }
grep -Fqx "native library: $TMP/devlib/libwxrefund.so" out.txt \
    || { cat out.txt >&2; fail "-Djna.library.path was not used"; }
grep -q '^final: ' out.txt || fail "-Djna.library.path: no final answer"
echo "both load $TMP/devlib/libwxrefund.so"
kill "$SIM_PID" 2>/dev/null || true
wait "$SIM_PID" 2>/dev/null || true
SIM_PID=

# --- 4. the JUnit suite against the jar ------------------------------------------------
step "JUnit suite against the jar (no library path)"
TEST_SRC=$ROOT/bindings/java/src/test/java
mapfile -t TEST_SOURCES < <(find "$TEST_SRC" -name '*.java' | sort)
javac -Xlint:all -Werror --release 17 -encoding UTF-8 \
    -cp "$JAR:$TESTING_JAR:$JNA:$JUNIT:$HAMCREST" -d tests "${TEST_SOURCES[@]}"
TESTS=()
for file in "${TEST_SOURCES[@]}"; do
    case "$file" in *Test.java) ;; *) continue ;; esac
    name=${file#"$TEST_SRC/"}
    name=${name%.java}
    TESTS+=("${name//\//.}")
done
java -Dwxrefund.sim="$SIM" -Djna.tmpdir="$TMP/jna-tmp" -Dfile.encoding=UTF-8 \
    -cp "$JAR:$TESTING_JAR:tests:$JNA:$JUNIT:$HAMCREST" org.junit.runner.JUnitCore "${TESTS[@]}"

# --- 5. the Simulator helper with its bundled binary -----------------------------------
step "io.wxrefund.testing.Simulator with the jars and JNA alone (bundled wxrefund-sim)"
TESTING_LIST=$(unzip -Z1 "$TESTING_JAR")
grep -qx 'io/wxrefund/testing/linux-x86-64/wxrefund-sim' <<<"$TESTING_LIST" \
    || fail "the testing jar has no io/wxrefund/testing/linux-x86-64/wxrefund-sim"
mkdir testing-jar
(cd testing-jar && unzip -q "$TESTING_JAR")
if readelf -S -W testing-jar/io/wxrefund/testing/linux-x86-64/wxrefund-sim | grep -q ' \.symtab '; then
    fail "the bundled wxrefund-sim is not stripped"
fi
for class in testing-jar/io/wxrefund/testing/*.class; do
    major=$(od -An -j6 -N2 -tu1 "$class" | awk '{print $1 * 256 + $2}')
    [ "$major" -eq 52 ] || fail "$class has class file version $major, not 52 (Java 8)"
done
mkdir simcheck sim-tmp
cat > simcheck/SimCheck.java <<'EOF'
import io.wxrefund.WxRefundClient;
import io.wxrefund.testing.Simulator;

public class SimCheck {
    public static void main(String[] args) throws Exception {
        try (Simulator sim = Simulator.start("--settle-ms", "200")) {
            System.out.println("base url: " + sim.baseUrl());
            sim.inject("SYSTEM_ERROR", 1);
            try (WxRefundClient client = new WxRefundClient(sim.configJson())) {
                System.out.println("created: " + client.createRefund("{\"out_trade_no\":"
                        + "\"T20261122000001\",\"out_refund_no\":\"R-SIMCHECK-1\","
                        + "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}"));
            }
            System.out.println("requests: " + sim.requests());
        }
    }
}
EOF
javac -Xlint:all -Werror --release 8 -cp "$JAR:$TESTING_JAR:$JNA" -d simcheck simcheck/SimCheck.java
java -Djava.io.tmpdir="$TMP/sim-tmp" -cp "$JAR:$TESTING_JAR:$JNA:simcheck" SimCheck \
    >out.txt 2>&1 || { cat out.txt >&2; fail "SimCheck"; }
grep '^base url: ' out.txt
python3 - out.txt <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
log = json.loads([l for l in lines if l.startswith("requests: ")][0][len("requests: "):])
posts = [r for r in log["requests"] if r["method"] == "POST" and "refund" in r["path"]]
assert [r["verdict"] for r in posts] == ["fault:SYSTEM_ERROR", "ok"], posts
assert posts[0]["body_sha256"] == posts[1]["body_sha256"], posts
print("request log: fault:SYSTEM_ERROR then ok, same body_sha256")
PY
LEFT=$(ls -A sim-tmp | grep -v '^jna' || true)
[ -z "$LEFT" ] || fail "Simulator left temporary files behind: $LEFT"
echo "the extracted simulator and its config file were removed"

echo
echo "Java: $(basename "$JAR") works with JNA alone (natives: $NATIVES);" \
    "$(basename "$TESTING_JAR") runs its bundled wxrefund-sim"
