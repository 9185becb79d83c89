package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** WeCom mini-program refunds, token sources and the local order guard. */
public class WeComTest {
    private static final String ORDER = "W20261122000001"; // 10000 fen, settles SUCCESS
    private static Sim sim;
    /** The configuration for a token provider: no corpid, corpsecret or access_token. */
    private static String providerConfig;

    @BeforeClass
    public static void startSim() throws Exception {
        // The simulator's own per-order spacing is off; the library's local guard is not.
        sim = Sim.start("--family", "wecom", "--wecom-order-spacing-ms", "0");
        providerConfig = sim.configWith("corpid", null, "corpsecret", null);
    }

    @AfterClass
    public static void stopSim() throws Exception {
        if (sim != null) {
            sim.close();
        }
    }

    /** A real token from the simulator's {@code gettoken}, as a host-side cache would hold. */
    private static String fetchToken() throws IOException, InterruptedException {
        String url = sim.baseUrl() + "/cgi-bin/gettoken?corpid="
                + URLEncoder.encode((String) sim.config.get("corpid"), StandardCharsets.UTF_8)
                + "&corpsecret="
                + URLEncoder.encode((String) sim.config.get("corpsecret"), StandardCharsets.UTF_8);
        HttpClient http = HttpClient.newBuilder()
                .proxy(HttpClient.Builder.NO_PROXY)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
        HttpResponse<String> answer = http.send(
                HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertEquals(answer.body(), 200, answer.statusCode());
        assertEquals(answer.body(), 0L, J.at(answer.body(), "errcode"));
        return (String) J.at(answer.body(), "access_token");
    }

    @Test
    public void corpSecretApplyThenQueryUntilFinal() throws Exception {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            String no = J.unique("WS");
            String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
            assertEquals("ACCEPTED", J.status(created));
            String settled = J.queryUntilFinal(client, J.byOutRefundNo(no));
            assertEquals("SUCCESS", J.status(settled));
            assertNotNull(J.at(settled, "wxrefund", "refund_id"));
        }
    }

    @Test
    public void tokenProviderIsAskedAgainWithTheRejectedToken() throws Exception {
        List<String> asked = Collections.synchronizedList(new ArrayList<>());
        AccessTokenProvider provider = rejected -> {
            asked.add(rejected);
            return rejected == null ? "bogus-token-from-a-stale-cache" : fetchToken();
        };
        try (WxRefundClient client = WxRefundClient.withTokenProvider(providerConfig, provider)) {
            String no = J.unique("WP");
            String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
            assertEquals("ACCEPTED", J.status(created));
            assertTrue(asked.toString(), asked.size() >= 2);
            assertEquals(null, asked.get(0));
            assertEquals("bogus-token-from-a-stale-cache", asked.get(1));

            String settled = J.queryUntilFinal(client, J.byOutRefundNo(no));
            assertEquals("SUCCESS", J.status(settled));
        }
    }

    @Test
    public void providerFailureFailsTheCallNotTheJvm() throws Exception {
        IOException cacheDown = new IOException("token cache unreachable");
        try (WxRefundClient client = WxRefundClient.withTokenProvider(providerConfig, rejected -> {
            throw cacheDown;
        })) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("WX"))));
            assertEquals("token_provider_failed", e.kind());
            assertEquals(cacheDown, e.getCause());
            assertFalse(e.outcomeUnknown());
        }
        try (WxRefundClient client = WxRefundClient.withTokenProvider(providerConfig, rejected -> null)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("WX"))));
            assertEquals("token_provider_failed", e.kind());
            assertTrue(String.valueOf(e.getCause()), e.getCause() instanceof IllegalStateException);
        }
        String huge = "t".repeat(5000);
        try (WxRefundClient client = WxRefundClient.withTokenProvider(providerConfig, rejected -> huge)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("WX"))));
            assertEquals("token_provider_failed", e.kind());
            assertFalse(e.errorJson().contains(huge));
        }
        // The client still works when the provider recovers.
        String token = fetchToken();
        try (WxRefundClient client = WxRefundClient.withTokenProvider(providerConfig, rejected -> token)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("WX"))));
            assertEquals("NOT_FOUND", e.status());
        }
    }

    @Test
    public void secondApplyWithinTheMinuteIsRateLimitedLocally() {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            client.createRefund(J.request(ORDER, J.unique("WG"), 1, 10000, "CNY"));
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.createRefund(J.request(ORDER, J.unique("WG"), 1, 10000, "CNY")));
            assertEquals("RATE_LIMITED", e.status());
            assertEquals(9, e.statusCode());
            assertEquals("order_spacing", e.kind());
            assertNotNull(e.errorJson(), e.retryAfterSecs());
            assertTrue(e.errorJson(), e.retryAfterSecs() > 0 && e.retryAfterSecs() <= 60);
            assertFalse(e.outcomeUnknown());
        }
    }

    @Test
    public void unknownRefundIsNotFoundWithErrcode() {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("WN"))));
            assertEquals("NOT_FOUND", e.status());
            assertEquals("720501", e.code());
        }
    }

    @Test
    public void apiv3FieldInWeComConfigIsInvalidConfig() {
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> new WxRefundClient(sim.configWith("apiv3_key", "wxrefundSimulatorApiV3Key0123456")));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals("apiv3_key", e.field());
        assertFalse(e.errorJson(), e.errorJson().contains("wxrefundSimulatorApiV3Key0123456"));
        String corpsecret = (String) sim.config.get("corpsecret");
        assertFalse(e.errorJson(), e.errorJson().contains(corpsecret));
    }

    /**
     * The outside review's finding 1: a body of {@code "<a>" * 2000} killed the JVM (stack
     * overflow before the signature check). Every deeply nested body is now
     * MALFORMED_NOTIFICATION with reply 400, also on a thread with a 256 KiB stack.
     */
    @Test
    public void deeplyNestedCallbackBodiesAreMalformedNotACrash() throws Exception {
        java.util.Map<String, String> params = new java.util.LinkedHashMap<>();
        params.put("msg_signature", "0000000000000000000000000000000000000000");
        params.put("timestamp", Long.toString(System.currentTimeMillis() / 1000));
        params.put("nonce", "n");
        List<byte[]> bodies = new ArrayList<>();
        for (int depth : new int[] {2_000, 20_000, 1_000_000}) {
            StringBuilder nested = new StringBuilder(depth * 3);
            for (int i = 0; i < depth; i++) {
                nested.append("<a>");
            }
            bodies.add(nested.toString().getBytes(StandardCharsets.UTF_8));
        }
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            List<Object> outcomes = Collections.synchronizedList(new ArrayList<>());
            Runnable parseAll = () -> {
                for (byte[] body : bodies) {
                    try {
                        client.parseNotification(params, body);
                        outcomes.add("accepted");
                    } catch (WxRefundException e) {
                        outcomes.add(e.status() + " " + e.replyHttpStatus());
                    }
                }
            };
            parseAll.run();
            Thread small = new Thread(null, parseAll, "small-stack", 256 * 1024);
            small.start();
            small.join();
            assertEquals(Collections.nCopies(2 * bodies.size(), "MALFORMED_NOTIFICATION 400"),
                    outcomes);
        }
    }
}
