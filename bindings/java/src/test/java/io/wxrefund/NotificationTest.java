package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;

import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** {@code parseNotification}: refused notifications and the reply to give. */
public class NotificationTest {
    private static Sim sim;
    private static WxRefundClient client;
    private static final byte[] BODY = ("{\"id\":\"EV-2018\",\"create_time\":\"2026-11-22T10:00:00+08:00\","
            + "\"resource_type\":\"encrypt-resource\",\"event_type\":\"REFUND.SUCCESS\","
            + "\"summary\":\"退款成功\",\"resource\":{\"algorithm\":\"AEAD_AES_256_GCM\","
            + "\"ciphertext\":\"AAAA\",\"associated_data\":\"refund\",\"nonce\":\"abcdefghijkl\"}}")
            .getBytes(StandardCharsets.UTF_8);

    @BeforeClass
    public static void start() throws Exception {
        // Public-key verification: the serial below is a key the client knows.
        sim = Sim.start("--family", "domestic", "--verification", "pubkey");
        client = new WxRefundClient(sim.configJson);
    }

    @AfterClass
    public static void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (sim != null) {
            sim.close();
        }
    }

    private static Map<String, String> headers(String signature, long timestamp) {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Wechatpay-Serial", (String) sim.config.get("wechatpay_public_key_id"));
        headers.put("Wechatpay-Timestamp", Long.toString(timestamp));
        headers.put("Wechatpay-Nonce", "nonce-5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
        headers.put("Wechatpay-Signature", signature);
        headers.put("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048");
        return headers;
    }

    private static long now() {
        return System.currentTimeMillis() / 1000;
    }

    private static String badSignature() {
        return Base64.getEncoder().encodeToString(new byte[256]);
    }

    /** One notification as received: the headers (first value of each) and the raw body. */
    private static final class Received {
        final Map<String, String> headers = new LinkedHashMap<>();
        byte[] body;
    }

    @Test
    public void notificationFromTheSimulatorVerifiesAndDecrypts() throws Exception {
        BlockingQueue<Received> inbox = new ArrayBlockingQueue<>(16);
        HttpServer server = HttpServer.create(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/wxrefund/notify", exchange -> {
            Received received = new Received();
            for (Map.Entry<String, List<String>> h : exchange.getRequestHeaders().entrySet()) {
                received.headers.put(h.getKey(), h.getValue().get(0));
            }
            try (InputStream in = exchange.getRequestBody()) {
                received.body = in.readAllBytes();
            }
            String reply;
            int status;
            try {
                String result = client.parseNotification(received.headers, received.body);
                status = ((Long) J.at(result, "reply", "http_status")).intValue();
                reply = (String) J.at(result, "reply", "body");
            } catch (WxRefundException e) {
                status = e.replyHttpStatus();
                reply = e.replyBody();
            }
            byte[] answer = reply.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, answer.length == 0 ? -1 : answer.length);
            exchange.getResponseBody().write(answer);
            exchange.close();
            inbox.add(received);
        });
        server.start();
        try {
            String no = J.unique("JN-");
            String notifyUrl = "http://127.0.0.1:" + server.getAddress().getPort() + "/wxrefund/notify";
            client.createRefund("{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":"
                    + Json.quote(no) + ",\"notify_url\":" + Json.quote(notifyUrl)
                    + ",\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}");
            Received received = inbox.poll(20, TimeUnit.SECONDS);
            if (received == null) {
                throw new AssertionError("no notification within 20 s");
            }
            String result = client.parseNotification(received.headers, received.body);
            assertEquals("REFUND.SUCCESS", J.at(result, "event_type"));
            assertEquals(no, J.at(result, "refund", "out_refund_no"));
            assertEquals("SUCCESS", J.at(result, "refund", "wxrefund", "status"));
            assertEquals(200L, J.at(result, "reply", "http_status"));

            // One altered byte and the same headers: refused, to be answered with 401.
            byte[] altered = received.body.clone();
            altered[altered.length / 2] ^= 1;
            WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                    () -> client.parseNotification(received.headers, altered));
            assertEquals("VERIFICATION_FAILED", e.status());
            assertEquals(Integer.valueOf(401), e.replyHttpStatus());
        } finally {
            server.stop(0);
        }
    }

    @Test
    public void badSignatureIsVerificationFailedAndReply401() {
        WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                () -> client.parseNotification(headers(badSignature(), now()), BODY));
        assertEquals("VERIFICATION_FAILED", e.status());
        assertEquals(10, e.statusCode());
        assertEquals(Integer.valueOf(401), e.replyHttpStatus());
        assertEquals(401L, J.at(e.errorJson(), "reply", "http_status"));
        String apiv3Key = (String) sim.config.get("apiv3_key");
        assertFalse(e.errorJson(), e.errorJson().contains(apiv3Key));
    }

    @Test
    public void probeSignatureAndCgiHeaderNames() {
        Map<String, String> cgi = new LinkedHashMap<>();
        for (Map.Entry<String, String> h : headers("WECHATPAY/SIGNTEST/abc", now()).entrySet()) {
            cgi.put("HTTP_" + h.getKey().toUpperCase().replace('-', '_'), h.getValue());
        }
        WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                () -> client.parseNotification(cgi, BODY));
        assertEquals("VERIFICATION_FAILED", e.status());
        assertEquals("probe_signature", e.kind());
        assertEquals(Integer.valueOf(401), e.replyHttpStatus());
    }

    @Test
    public void staleTimestampIsOutOfWindow() {
        WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                () -> client.parseNotification(headers(badSignature(), now() - 3600), BODY));
        assertEquals("TIMESTAMP_OUT_OF_WINDOW", e.status());
        assertEquals(14, e.statusCode());
        assertEquals(Integer.valueOf(401), e.replyHttpStatus());
    }

    @Test
    public void headerValuesAreEscapedIntoJson() {
        // Quotes, backslashes, controls and non-ASCII in a value must reach the library as
        // one valid JSON string: the answer is about the signature, not INVALID_JSON.
        Map<String, String> headers = headers(badSignature(), now());
        headers.put("Wechatpay-Nonce", "n\"\\\n\t\u0001\u007f é 中 \ud83d\ude00 \u2028");
        headers.put("X-\"Odd\\Name\"", "{\"not\":\"json\"}");
        WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                () -> client.parseNotification(headers, BODY));
        assertEquals(e.errorJson(), "VERIFICATION_FAILED", e.status());
    }

    @Test
    public void emptyBodyWithoutHeaders() {
        WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                () -> client.parseNotification(Map.of(), new byte[0]));
        assertNotEquals("OK", e.status());
        assertEquals(Integer.valueOf(401), e.replyHttpStatus()); // unsigned: missing header
    }
}
