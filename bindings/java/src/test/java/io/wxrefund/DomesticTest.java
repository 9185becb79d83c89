package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** Mainland refunds, errors and the client's life cycle against {@code wxrefund-sim}. */
public class DomesticTest {
    private static final String ORDER = "T20261122000001"; // 10000 fen, settles SUCCESS
    private static Sim sim;

    @BeforeClass
    public static void startSim() throws Exception {
        sim = Sim.start("--family", "domestic");
    }

    @AfterClass
    public static void stopSim() throws Exception {
        if (sim != null) {
            sim.close();
        }
    }

    @Test
    public void versionIsTheLibrarys() {
        assertTrue(WxRefundClient.version(), WxRefundClient.version().matches("\\d+\\.\\d+\\.\\d+.*"));
        assertTrue(WxRefundClient.cryptoBackend(), WxRefundClient.cryptoBackend().matches("ring|aws-lc"));
    }

    @Test
    public void applyThenQueryUntilFinal() throws Exception {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            String no = J.unique("JD-");
            String created = client.createRefund(J.request(ORDER, no, 100, 10000, "CNY"));
            assertEquals(no, J.at(created, "out_refund_no"));
            assertTrue(created, List.of("PROCESSING", "ACCEPTED").contains(J.status(created)));
            assertFalse(J.isFinal(created));
            assertNotNull(J.at(created, "wxrefund", "refund_id"));

            String settled = J.queryUntilFinal(client, J.byOutRefundNo(no));
            assertEquals("SUCCESS", J.status(settled));
            assertEquals(100L, J.at(settled, "amount", "refund"));
            assertEquals(J.at(created, "refund_id"), J.at(settled, "refund_id"));
        }
    }

    @Test
    public void closedRefundIsFinalToo() throws Exception {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            String no = J.unique("JC-");
            client.createRefund(J.request("T20261122000002", no, 100, 500, "CNY"));
            String settled = J.queryUntilFinal(client, J.byOutRefundNo(no));
            assertEquals("CLOSED", J.status(settled));
        }
    }

    @Test
    public void unknownRefundIsNotFoundWithCodeAndHttpStatus() {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo(J.unique("NOPE-"))));
            assertEquals("NOT_FOUND", e.status());
            assertEquals(8, e.statusCode());
            assertEquals("RESOURCE_NOT_EXISTS", e.code());
            assertEquals(Integer.valueOf(404), e.httpStatus());
            assertFalse(e.retryable());
            assertFalse(e.outcomeUnknown());
            assertNotNull(e.kind());
            assertTrue(e.getMessage(), e.getMessage().startsWith("NOT_FOUND: "));
            assertEquals("NOT_FOUND", J.at(e.errorJson(), "status"));
            assertNull(e.replyHttpStatus());
        }
    }

    @Test
    public void brokenRuleIsInvalidRequestWithField() {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.createRefund(J.request(ORDER, "R 1 has spaces", 1, 10000, "CNY")));
            assertEquals("INVALID_REQUEST", e.status());
            assertEquals(4, e.statusCode());
            assertEquals("out_refund_no", e.field());
            assertFalse(e.outcomeUnknown());

            e = assertThrows(WxRefundException.class,
                    () -> client.createRefund(J.request(ORDER, J.unique("JR-"), 20000, 10000, "CNY")));
            assertEquals("INVALID_REQUEST", e.status());
            assertNotNull(e.field());
            assertTrue(e.field(), e.field().startsWith("amount"));
        }
    }

    @Test
    public void badConfigurationIsInvalidConfigWithFieldAndNoSecret() {
        String apiv3Key = (String) sim.config.get("apiv3_key");
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> new WxRefundClient(sim.configWith("mchid", "")));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals(3, e.statusCode());
        assertEquals("mchid", e.field());
        assertFalse(e.errorJson(), e.errorJson().contains(apiv3Key));

        String shortKey = "secret-but-31-bytes-long-abcdef";
        e = assertThrows(WxRefundException.class,
                () -> new WxRefundClient(sim.configWith("apiv3_key", shortKey)));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals("apiv3_key", e.field());
        assertFalse(e.errorJson(), e.errorJson().contains(shortKey));
        assertFalse(e.getMessage(), e.getMessage().contains(shortKey));

        // A field this family does not use, next to a valid key.
        String corpsecret = "corp-SECRET-9f8e7d6c5b4a";
        e = assertThrows(WxRefundException.class,
                () -> new WxRefundClient(sim.configWith("corpsecret", corpsecret)));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals("corpsecret", e.field());
        assertFalse(e.errorJson(), e.errorJson().contains(apiv3Key));
        assertFalse(e.errorJson(), e.errorJson().contains(corpsecret));

        // A missing field is reported by the JSON layer, still as INVALID_CONFIG.
        e = assertThrows(WxRefundException.class,
                () -> new WxRefundClient(sim.configWith("mchid", null)));
        assertEquals("INVALID_CONFIG", e.status());
        assertTrue(e.getMessage(), e.getMessage().contains("mchid"));
        assertFalse(e.errorJson(), e.errorJson().contains(apiv3Key));
    }

    @Test
    public void malformedJsonIsInvalidJson() {
        WxRefundException e = assertThrows(WxRefundException.class, () -> new WxRefundClient("{"));
        assertEquals("INVALID_JSON", e.status());
        assertEquals(2, e.statusCode());
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            e = assertThrows(WxRefundException.class, () -> client.createRefund("[1,2"));
            assertEquals("INVALID_JSON", e.status());
            e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund("{\"out_refund_no\":\"R1\",\"surprise\":1}"));
            assertEquals("INVALID_JSON", e.status());
        }
    }

    @Test
    public void nulAndUnpairedSurrogateAreInvalidArgument() {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund("{\"out_refund_no\":\"R1\"}\0trailing"));
            assertEquals("INVALID_ARGUMENT", e.status());
            assertEquals(1, e.statusCode());
            assertEquals("query_json", e.field());
            e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund("{\"out_refund_no\":\"R\ud800\"}"));
            assertEquals("INVALID_ARGUMENT", e.status());
            assertThrows(NullPointerException.class, () -> client.queryRefund(null));
        }
        assertThrows(NullPointerException.class, () -> new WxRefundClient(null));
    }

    @Test
    public void nonAsciiTextSurvivesTheRoundTrip() throws Exception {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            String no = J.unique("JU-");
            String request = "{\"out_trade_no\":\"" + ORDER + "\",\"out_refund_no\":\"" + no
                    + "\",\"reason\":\"商品已售完 ✓\",\"amount\":{\"refund\":1,\"total\":10000,"
                    + "\"currency\":\"CNY\"}}";
            String created = client.createRefund(request);
            assertEquals(no, J.at(created, "out_refund_no"));
        }
    }

    @Test
    public void closeTwiceThenCallsAreInvalidHandle() {
        WxRefundClient client = new WxRefundClient(sim.configJson);
        assertFalse(client.isClosed());
        client.close();
        client.close();
        assertTrue(client.isClosed());
        for (Runnable call : List.<Runnable>of(
                () -> client.createRefund(J.request(ORDER, "R1", 1, 10000, "CNY")),
                () -> client.queryRefund(J.byOutRefundNo("R1")),
                () -> client.parseNotification(Map.of(), new byte[0]))) {
            WxRefundException e = assertThrows(WxRefundException.class, call::run);
            assertEquals("INVALID_HANDLE", e.status());
            assertEquals(5, e.statusCode());
            assertEquals("INVALID_HANDLE", J.at(e.errorJson(), "status"));
        }
    }

    @Test
    public void eightThreadsShareOneClient() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    String no = J.unique("JT-");
                    String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
                    assertEquals(no, J.at(created, "out_refund_no"));
                    for (int q = 0; q < 3; q++) {
                        assertEquals(no, J.at(client.queryRefund(J.byOutRefundNo(no)), "out_refund_no"));
                    }
                    WxRefundException e = assertThrows(WxRefundException.class,
                            () -> client.queryRefund(J.byOutRefundNo(no + "-missing")));
                    assertEquals("NOT_FOUND", e.status());
                    return no;
                }));
            }
            start.countDown();
            List<String> numbers = new ArrayList<>();
            for (Future<String> result : results) {
                numbers.add(result.get(60, TimeUnit.SECONDS));
            }
            assertEquals(8, numbers.stream().distinct().count());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void closeWhileOtherThreadsCallIsSafe() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            WxRefundClient client = new WxRefundClient(sim.configJson);
            Callable<Integer> caller = () -> {
                int closedSeen = 0;
                for (int i = 0; i < 20; i++) {
                    try {
                        client.queryRefund(J.byOutRefundNo("NOPE-close-race"));
                    } catch (WxRefundException e) {
                        if (e.status().equals("INVALID_HANDLE")) {
                            closedSeen++;
                        } else {
                            assertEquals("NOT_FOUND", e.status());
                        }
                    }
                }
                return closedSeen;
            };
            List<Future<Integer>> results = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                results.add(pool.submit(caller));
            }
            Thread.sleep(30);
            Future<?> closer = pool.submit(() -> {
                client.close();
                return null;
            });
            closer.get(30, TimeUnit.SECONDS);
            for (Future<Integer> result : results) {
                result.get(60, TimeUnit.SECONDS);
            }
            assertTrue(client.isClosed());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void nativeLibraryTellsWhereItCameFrom() {
        String from = WxRefundClient.nativeLibrary();
        assertTrue(from, from.endsWith("libwxrefund.so") || from.equals("the system library path"));
    }

    @Test
    public void aClientUsedOnceAndDroppedStillAnswers() {
        // Nothing keeps the client reachable but the call itself (the reachability fence).
        for (int i = 0; i < 20; i++) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> new WxRefundClient(sim.configJson)
                            .queryRefund(J.byOutRefundNo(J.unique("ONCE-"))));
            assertEquals("NOT_FOUND", e.status());
            System.gc();
        }
    }

    @Test
    public void reaperFreesClientsThatWereNeverClosed() throws Exception {
        long before = WxRefundClient.liveClients();
        openAndDrop(5);
        assertTrue(WxRefundClient.liveClients() >= before + 5);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (WxRefundClient.liveClients() > before && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
        }
        assertTrue("live clients: " + WxRefundClient.liveClients() + ", before: " + before,
                WxRefundClient.liveClients() <= before);
    }

    private static void openAndDrop(int count) {
        for (int i = 0; i < count; i++) {
            WxRefundClient client = new WxRefundClient(sim.configJson);
            assertFalse(client.isClosed()); // and then dropped without close()
        }
    }
}
