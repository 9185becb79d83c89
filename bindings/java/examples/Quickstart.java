/*
 * Quickstart in Java: apply for a mainland refund, then wait until it is final. Needs only
 * the wxrefund jar and JNA; Java 8 or later (a 64-bit JVM).
 *
 *   scripts/package-java.sh dist
 *   target/debug/wxrefund-sim --config-out /tmp/wxrefund.json &   # the offline simulator
 *   javac -cp dist/wxrefund-0.1.0.jar:/usr/share/java/jna.jar -d /tmp/quickstart \
 *       bindings/java/examples/Quickstart.java
 *   java -cp dist/wxrefund-0.1.0.jar:/usr/share/java/jna.jar:/tmp/quickstart \
 *       Quickstart /tmp/wxrefund.json
 */

import io.wxrefund.WxRefundClient;
import io.wxrefund.WxRefundException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

/** Applies for a refund of 1.00 CNY and waits until it is final. */
public final class Quickstart {
    private Quickstart() {}

    /**
     * Runs the round trip.
     *
     * @param args the configuration JSON file, e.g. the one {@code wxrefund-sim} writes
     * @throws Exception when the configuration cannot be read
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java Quickstart CONFIG_JSON_FILE");
            System.exit(2);
        }
        String configJson =
                new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
        System.out.println("wxrefund " + WxRefundClient.version());
        System.out.println("native library: " + WxRefundClient.nativeLibrary());

        // One logical refund = one out_refund_no, reused for every retry.
        String outRefundNo = "J" + System.currentTimeMillis();
        try (WxRefundClient client = new WxRefundClient(configJson)) {
            String refund = client.createRefund(
                    "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"" + outRefundNo
                            + "\",\"reason\":\"quickstart\","
                            + "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}");
            System.out.println("accepted: " + refund);

            // Queries at once, then with backoff (1, 2, 4, 8, 16, then every 30 s) until the
            // refund is final or needs action (ABNORMAL); TIMEOUT after 60 s.
            String query = "{\"out_refund_no\":\"" + outRefundNo + "\"}";
            String settled = client.waitForFinal(query, 60_000);
            System.out.println("final: " + settled);
        } catch (WxRefundException e) {
            // e.status(), e.code(), e.httpStatus(), e.retryable(), e.requestId(), ...
            // When e.outcomeUnknown(): query before retrying, with the same out_refund_no.
            // TIMEOUT: e.refundJson() is the last refund seen (still PROCESSING): wait again.
            System.err.println("failed: " + e.status() + " " + e.errorJson());
            System.exit(1);
        }
    }
}
