package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.sun.jna.Callback;
import com.sun.jna.Native;
import com.sun.net.httpserver.HttpServer;
import io.wxrefund.testing.Simulator;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.After;
import org.junit.AfterClass;
import org.junit.Before;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The library's log records in {@code java.util.logging}: captured at {@code Level.ALL} on
 * {@code io.wxrefund} over every path, checked for what they say and, after every test, for
 * any secret or personal field.
 */
public class LoggingTest {
    private static final String ORDER = "T20261122000001"; // 10000 fen, settles SUCCESS
    private static final String WECOM_ORDER = "W20261122000001";

    private static Simulator domestic;
    private static Simulator wecom;
    /** Secrets of both configurations: no record may contain any of them. */
    private static final Set<String> SECRETS = new LinkedHashSet<>();

    /** Held strongly for the test: JUL keeps loggers weakly. */
    private final Logger logger = Logger.getLogger("io.wxrefund");
    private Level savedLevel;
    private Capture capture;
    /** Per test: further secrets (tokens) and personal field values seen in answers. */
    private final Set<String> secrets = new LinkedHashSet<>();

    @BeforeClass
    public static void startSims() throws Exception {
        domestic = Simulator.start("--family", "domestic", "--settle-ms", "200");
        wecom = Simulator.start("--family", "wecom", "--settle-ms", "200",
                "--wecom-order-spacing-ms", "0");
        Map<String, Object> config = Json.parseObject(domestic.configJson());
        SECRETS.add((String) config.get("apiv3_key"));
        for (String line : ((String) config.get("private_key_pem")).split("\n")) {
            if (!line.startsWith("-----") && line.trim().length() >= 16) {
                SECRETS.add(line.trim());
            }
        }
        SECRETS.add((String) Json.parseObject(wecom.configJson()).get("corpsecret"));
        assertTrue(SECRETS.toString(), SECRETS.size() >= 10);
        for (String secret : SECRETS) {
            assertNotNull(secret);
        }
    }

    @AfterClass
    public static void stopSims() throws Exception {
        if (domestic != null) {
            domestic.close();
        }
        if (wecom != null) {
            wecom.close();
        }
    }

    @Before
    public void capture() {
        savedLevel = logger.getLevel();
        logger.setLevel(Level.ALL);
        capture = new Capture();
        logger.addHandler(capture);
    }

    /** Whatever the test did: no record carries a secret or a personal field value. */
    @After
    public void noSecretInAnyRecord() {
        logger.removeHandler(capture);
        logger.setLevel(savedLevel);
        Set<String> forbidden = new LinkedHashSet<>(SECRETS);
        forbidden.addAll(secrets);
        for (Captured c : capture.records) {
            String text = c.record.getMessage() + "\n" + Json.write(c.fields());
            for (String secret : forbidden) {
                assertFalse("a record contains a secret or personal value: " + text,
                        text.contains(secret));
            }
        }
    }

    // ---- the paths ----------------------------------------------------------------------

    @Test
    public void createLogsTheAttemptAndTheCertificateDownload() {
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLC");
            String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
            personal(created);
            assertNotNull(J.at(created, "user_received_account")); // checked in every record
            assertEquals(1L, J.at(created, "wxrefund", "attempts"));

            Captured attempt = single(records("attempt", no));
            assertEquals(Level.FINE, attempt.record.getLevel());
            assertEquals("io.wxrefund", attempt.record.getLoggerName());
            Map<String, Object> f = attempt.fields();
            assertEquals("domestic", f.get("family"));
            assertEquals("POST", f.get("method"));
            assertEquals("/v3/refund/domestic/refunds", f.get("path"));
            assertEquals(1L, f.get("attempt"));
            assertEquals(200L, f.get("http_status"));
            assertTrue(f.toString(), f.get("elapsed_ms") instanceof Long);
            String requestId = (String) f.get("request_id");
            assertTrue(f.toString(), requestId != null && !requestId.isEmpty());
            assertTrue(attempt.record.getMessage(), attempt.record.getMessage()
                    .startsWith("POST /v3/refund/domestic/refunds attempt 1: HTTP 200"));

            // The platform certificates were fetched first, in the background of this call.
            Captured download = single(records("certificate_download", null));
            assertEquals(Level.INFO, download.record.getLevel());
            assertTrue(download.fields().toString(),
                    (Long) download.fields().get("certificates") >= 1);
            Captured background = single(pathRecords("/v3/certificates"));
            assertFalse(background.fields().containsKey("out_refund_no"));
            assertEquals(200L, background.fields().get("http_status"));
        }
    }

    @Test
    public void retriedCreateLogsTheRetryAndWhy() throws Exception {
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            // Certificates first, so that the fault hits the refund request itself.
            org.junit.Assert.assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("JLX"))));
            String no = J.unique("JLR");
            domestic.inject("SYSTEM_ERROR", 1);
            String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
            personal(created);
            assertEquals(2L, J.at(created, "wxrefund", "attempts"));

            List<Captured> attempts = records("attempt", no);
            assertEquals(2, attempts.size());
            assertEquals(1L, attempts.get(0).fields().get("attempt"));
            assertEquals(500L, attempts.get(0).fields().get("http_status"));
            assertEquals("SYSTEM_ERROR", attempts.get(0).fields().get("code"));
            assertEquals(2L, attempts.get(1).fields().get("attempt"));
            assertEquals(200L, attempts.get(1).fields().get("http_status"));

            Captured retry = single(records("retry", no));
            assertEquals(Level.WARNING, retry.record.getLevel());
            assertEquals("SYSTEM_ERROR", retry.fields().get("reason"));
            assertEquals(1L, retry.fields().get("attempts"));
            assertTrue(retry.fields().toString(), (Long) retry.fields().get("delay_ms") > 0);
            // In order: the failed attempt, the decision, the attempt that succeeded.
            List<Captured> all = capture.records;
            assertTrue(all.indexOf(attempts.get(0)) < all.indexOf(retry));
            assertTrue(all.indexOf(retry) < all.indexOf(attempts.get(1)));
        }
    }

    @Test
    public void queryLogsItsAttemptWithoutQueryString() {
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLQ");
            personal(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY")));
            personal(client.queryRefund(J.byOutRefundNo(no)));
            Captured query = single(records("attempt", no).stream()
                    .filter(c -> "GET".equals(c.fields().get("method"))).toList());
            assertEquals("/v3/refund/domestic/refunds/" + no, query.fields().get("path"));
            assertEquals(200L, query.fields().get("http_status"));
            assertEquals(Level.FINE, query.record.getLevel());

            String unknown = J.unique("JLN");
            WxRefundException e = org.junit.Assert.assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(unknown)));
            assertEquals("NOT_FOUND", e.status());
            assertEquals(1L, e.attempts());
            Captured missing = single(records("attempt", unknown));
            assertEquals(404L, missing.fields().get("http_status"));
            assertEquals("RESOURCE_NOT_EXISTS", missing.fields().get("code"));
        }
    }

    @Test
    public void waitLogsItsPollsAndHowItEnded() {
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLW");
            personal(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY")));
            String settled = client.waitForFinal(J.byOutRefundNo(no), 20_000);
            personal(settled);
            assertEquals("SUCCESS", J.status(settled));

            Captured ended = single(records("wait_ended", no));
            assertEquals(Level.INFO, ended.record.getLevel());
            assertEquals("SUCCESS", ended.fields().get("status"));
            long polls = (Long) ended.fields().get("polls");
            assertTrue(ended.fields().toString(), polls >= 1);
            long queries = records("attempt", no).stream()
                    .filter(c -> "GET".equals(c.fields().get("method"))).count();
            assertEquals(polls, queries);
            assertEquals(J.at(settled, "wxrefund", "attempts"), ended.fields().get("attempts"));
        }
    }

    @Test
    public void notificationVerdictsAreLogged() throws Exception {
        BlockingQueue<Map.Entry<Map<String, String>, byte[]>> inbox = new ArrayBlockingQueue<>(4);
        HttpServer server = HttpServer.create(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/notify", exchange -> {
            Map<String, String> headers = new LinkedHashMap<>();
            exchange.getRequestHeaders().forEach((name, values) -> headers.put(name, values.get(0)));
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readAllBytes();
            }
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
            inbox.offer(Map.entry(headers, body));
        });
        server.start();
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLN");
            String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/notify";
            personal(client.createRefund("{\"out_trade_no\":\"" + ORDER + "\",\"out_refund_no\":"
                    + Json.quote(no) + ",\"notify_url\":" + Json.quote(url)
                    + ",\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}"));
            Map.Entry<Map<String, String>, byte[]> received = inbox.poll(20, TimeUnit.SECONDS);
            assertNotNull("no notification within 20 s", received);
            String result = client.parseNotification(received.getKey(), received.getValue());
            personal(J.at(result, "refund") == null ? "{}" : Json.write(J.at(result, "refund")));

            Captured accepted = single(records("notification", null).stream()
                    .filter(c -> Boolean.TRUE.equals(c.fields().get("accepted"))).toList());
            assertEquals(Level.INFO, accepted.record.getLevel());
            assertEquals("REFUND.SUCCESS", accepted.fields().get("event_type"));
            assertEquals("SUCCESS", accepted.fields().get("status"));
            assertEquals("domestic", accepted.fields().get("family"));

            byte[] altered = received.getValue().clone();
            altered[altered.length / 2] ^= 1;
            org.junit.Assert.assertThrows(WxRefundException.class,
                    () -> client.parseNotification(received.getKey(), altered));
            Captured refused = single(records("notification", null).stream()
                    .filter(c -> Boolean.FALSE.equals(c.fields().get("accepted"))).toList());
            assertEquals(Level.WARNING, refused.record.getLevel());
            String reason = (String) refused.fields().get("reason");
            assertTrue(refused.fields().toString(), reason != null && !reason.isEmpty());
        } finally {
            server.stop(0);
        }
    }

    @Test
    public void weComLogsTheTokenFetchWithoutTheToken() throws Exception {
        try (WxRefundClient client = new WxRefundClient(wecom.configJson())) {
            String no = J.unique("JLT");
            personal(client.createRefund(J.request(WECOM_ORDER, no, 1, 10000, "CNY")));

            Captured renewal = single(records("token_renewal", null).stream()
                    .filter(c -> "first".equals(c.fields().get("reason"))).toList());
            assertEquals(Level.INFO, renewal.record.getLevel());
            assertEquals(Boolean.TRUE, renewal.fields().get("ok"));
            assertEquals("wecom", renewal.fields().get("family"));
            Captured gettoken = single(pathRecords("/cgi-bin/gettoken"));
            assertFalse(gettoken.fields().containsKey("out_refund_no"));
            assertEquals(200L, gettoken.fields().get("http_status"));
            Captured refund = single(records("attempt", no));
            assertEquals("wecom", refund.fields().get("family"));
            String path = (String) refund.fields().get("path");
            assertTrue(path, path.startsWith("/") && !path.contains("?"));

            // WeCom refuses the token: renewed, and the refusal's errcode is in the attempt.
            wecom.revokeWecomTokens();
            personal(client.queryRefund(J.byOutRefundNo(no)));
            Captured rejected = single(records("token_renewal", null).stream()
                    .filter(c -> "rejected".equals(c.fields().get("reason"))).toList());
            assertEquals(Boolean.TRUE, rejected.fields().get("ok"));
            assertTrue(records("attempt", no).stream()
                    .anyMatch(c -> c.fields().get("code") != null));
        }
        // A host's token provider: the tokens are known here, so their absence is checked.
        secrets.add("bogus-token-from-a-stale-cache");
        AccessTokenProvider provider = rejected -> {
            if (rejected == null) {
                return "bogus-token-from-a-stale-cache";
            }
            String token = fetchToken();
            secrets.add(token);
            return token;
        };
        String providerConfig = withoutCorpSecret(wecom.configJson());
        try (WxRefundClient client = WxRefundClient.withTokenProvider(providerConfig, provider)) {
            String no = J.unique("JLP");
            personal(client.createRefund(J.request(WECOM_ORDER, no, 1, 10000, "CNY")));
            List<Captured> attempts = records("attempt", no);
            assertEquals(2, attempts.size());
            assertNotNull(attempts.get(0).fields().get("code")); // the refused bogus token
            assertNull(attempts.get(1).fields().get("code"));
        }
        assertTrue(secrets.toString(), secrets.size() >= 2);
    }

    // ---- robustness ---------------------------------------------------------------------

    @Test
    public void throwingHandlerDoesNotBreakARefund() {
        AtomicInteger calls = new AtomicInteger();
        Handler broken = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (calls.incrementAndGet() % 2 == 1) {
                    throw new IllegalStateException("a broken handler");
                }
                throw new LinkageError("a broken handler, with an Error");
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        logger.addHandler(broken);
        // JNA's last resort for a callback that throws: it must never be needed.
        List<Throwable> escaped = new CopyOnWriteArrayList<>();
        Callback.UncaughtExceptionHandler saved = Native.getCallbackExceptionHandler();
        Native.setCallbackExceptionHandler((callback, e) -> escaped.add(e));
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLB");
            String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
            personal(created);
            assertEquals("PROCESSING", J.status(created));
            String settled = client.waitForFinal(J.byOutRefundNo(no), 20_000);
            personal(settled);
            assertEquals("SUCCESS", J.status(settled));
            assertTrue("the broken handler was called " + calls.get() + " times",
                    calls.get() >= 4);
            assertFalse(records("wait_ended", no).isEmpty()); // earlier handlers still got them
            assertEquals(List.of(), escaped);
        } finally {
            Native.setCallbackExceptionHandler(saved);
            logger.removeHandler(broken);
        }
    }

    @Test
    public void recordsFromAnotherThreadArrive() throws Exception {
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLO");
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread other = new Thread(() -> {
                try {
                    personal(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY")));
                } catch (Throwable t) {
                    failure.set(t);
                }
            }, "wxrefund-log-test-other");
            other.start();
            other.join(30_000);
            assertFalse(other.isAlive());
            assertNull(failure.get());
            Captured attempt = single(records("attempt", no));
            assertEquals("wxrefund-log-test-other", attempt.thread);
            assertEquals(other.getId(), attempt.record.getLongThreadID());
        }
    }

    @Test
    public void loggerLevelIsHonoured() {
        logger.setLevel(Level.INFO);
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLL");
            personal(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY")));
            assertTrue(records("attempt", null).isEmpty());
            assertTrue(records("attempt", no).isEmpty());
            single(records("certificate_download", null)); // INFO still arrives
        }
    }

    @Test
    public void recordsStillArriveAfterGarbageCollection() {
        // The native side holds only the callback's address: collecting the Java object
        // would free it under the library.
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        try (WxRefundClient client = new WxRefundClient(domestic.configJson())) {
            String no = J.unique("JLG");
            personal(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY")));
            single(records("attempt", no));
        }
    }

    @Test
    public void levelsMapOntoJul() {
        assertEquals(Level.SEVERE, NativeLog.level(1));
        assertEquals(Level.WARNING, NativeLog.level(2));
        assertEquals(Level.INFO, NativeLog.level(3));
        assertEquals(Level.FINE, NativeLog.level(4));
        assertEquals(Level.FINEST, NativeLog.level(5));
    }

    // ---- helpers ------------------------------------------------------------------------

    /** One published record and the name of the thread that published it. */
    private record Captured(LogRecord record, String thread) {
        @SuppressWarnings("unchecked")
        Map<String, Object> fields() {
            Object[] parameters = record.getParameters();
            assertNotNull(record.getMessage(), parameters);
            assertEquals(1, parameters.length);
            assertTrue(parameters[0] instanceof Map);
            return (Map<String, Object>) parameters[0];
        }
    }

    /** A handler at {@code Level.ALL} that keeps every record. */
    private static final class Capture extends Handler {
        final List<Captured> records = new CopyOnWriteArrayList<>();

        Capture() {
            setLevel(Level.ALL);
        }

        @Override
        public void publish(LogRecord record) {
            records.add(new Captured(record, Thread.currentThread().getName()));
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    }

    /** Records of {@code event}; about {@code outRefundNo}, or about no refund if null. */
    private List<Captured> records(String event, String outRefundNo) {
        List<Captured> found = new ArrayList<>();
        for (Captured c : capture.records) {
            Map<String, Object> f = c.fields();
            assertNotNull(c.record.getMessage(), f.get("event"));
            assertNotNull(c.record.getMessage(), f.get("family"));
            if (event.equals(f.get("event"))
                    && (outRefundNo == null || outRefundNo.equals(f.get("out_refund_no")))) {
                found.add(c);
            }
        }
        return found;
    }

    /** Attempt records whose {@code path} is exactly {@code path}. */
    private List<Captured> pathRecords(String path) {
        return records("attempt", null).stream()
                .filter(c -> path.equals(c.fields().get("path"))).toList();
    }

    private Captured single(List<Captured> found) {
        List<String> all = new ArrayList<>();
        for (Captured c : capture.records) {
            all.add(c.record.getLevel() + " " + c.record.getMessage() + " " + c.fields());
        }
        assertEquals("records: " + String.join("\n", all), 1, found.size());
        return found.get(0);
    }

    /** Remembers the personal field values of a refund answer, which no record may carry. */
    private void personal(String refundJson) {
        for (String field : new String[] {"user_received_account", "recv_account"}) {
            Object value = J.at(refundJson, field);
            if (value instanceof String s && !s.isEmpty()) {
                secrets.add(s);
            }
        }
    }

    private static String withoutCorpSecret(String configJson) {
        Map<String, Object> config = new LinkedHashMap<>(Json.parseObject(configJson));
        config.remove("corpid");
        config.remove("corpsecret");
        return Json.write(config);
    }

    /** A real token from the simulator's {@code gettoken}, as a host-side cache would hold. */
    private static String fetchToken() throws Exception {
        Map<String, Object> config = Json.parseObject(wecom.configJson());
        String url = wecom.baseUrl() + "/cgi-bin/gettoken?corpid="
                + URLEncoder.encode((String) config.get("corpid"), StandardCharsets.UTF_8)
                + "&corpsecret="
                + URLEncoder.encode((String) config.get("corpsecret"), StandardCharsets.UTF_8);
        HttpClient http = HttpClient.newBuilder().proxy(HttpClient.Builder.NO_PROXY)
                .connectTimeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> answer = http.send(
                HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertEquals(answer.body(), 200, answer.statusCode());
        return (String) J.at(answer.body(), "access_token");
    }
}
