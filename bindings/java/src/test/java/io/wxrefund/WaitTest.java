package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.wxrefund.testing.Simulator;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * {@code waitForFinal} against a simulator whose refunds stay {@code PROCESSING} until the
 * test settles them through the control API.
 */
public class WaitTest {
    private static final String ORDER = "T20261122000001"; // 10000 fen
    private static final String ABNORMAL_ORDER = "T20261122000003"; // 800 fen

    private static Simulator sim;
    private static WxRefundClient client;

    @BeforeClass
    public static void start() throws Exception {
        sim = Simulator.start("--family", "domestic", "--settle-ms", "3600000");
        client = new WxRefundClient(sim.configJson());
        // The certificate download, out of the way of the timings below.
        assertThrows(WxRefundException.class,
                () -> client.queryRefund(J.byOutRefundNo(J.unique("JWW"))));
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

    private static String create(String order, long total) {
        String no = J.unique("JW");
        String created = client.createRefund(J.request(order, no, 1, total, "CNY"));
        assertEquals("PROCESSING", J.status(created));
        return no;
    }

    @Test
    public void returnsSuccessOnceTheSimulatorSettles() throws Exception {
        String no = create(ORDER, 10000);
        CompletableFuture<String> settle = CompletableFuture.supplyAsync(() -> {
            try {
                Thread.sleep(500); // after the first poll, which sees PROCESSING
                return sim.settle(no, "SUCCESS");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long started = System.nanoTime();
        String refund = client.waitForFinal(J.byOutRefundNo(no), 20_000);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        settle.get(5, TimeUnit.SECONDS);
        assertEquals("SUCCESS", J.status(refund));
        assertTrue(J.isFinal(refund));
        assertEquals(no, J.at(refund, "out_refund_no"));
        // A poll at once (PROCESSING), the next 1 s later (SUCCESS; later on a slow machine).
        assertTrue(refund, (Long) J.at(refund, "wxrefund", "attempts") >= 2);
        long elapsed = (Long) J.at(refund, "wxrefund", "elapsed_ms");
        assertTrue("elapsed_ms " + elapsed, elapsed >= 900 && elapsed <= tookMs + 50);
        assertTrue("took " + tookMs + " ms", tookMs < 5_000);
    }

    @Test
    public void abnormalReturnsAtOnce() throws Exception {
        String no = create(ABNORMAL_ORDER, 800);
        sim.settle(no, "ABNORMAL");
        long started = System.nanoTime();
        String refund = client.waitForFinal(J.byOutRefundNo(no), 60_000);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertEquals("ABNORMAL", J.status(refund));
        assertFalse(J.isFinal(refund));
        assertEquals(Boolean.TRUE, J.at(refund, "wxrefund", "action_required"));
        assertEquals(1L, J.at(refund, "wxrefund", "attempts")); // no second poll
        assertTrue("took " + tookMs + " ms", tookMs < 900); // nor a pause before one
    }

    @Test
    public void timeoutCarriesTheLastRefundSeen() {
        String no = create(ORDER, 10000);
        long started = System.nanoTime();
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> client.waitForFinal(J.byOutRefundNo(no), 1_500));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertEquals("TIMEOUT", e.status());
        assertEquals(16, e.statusCode());
        assertTrue(e.retryable());
        assertFalse(e.outcomeUnknown());
        String last = e.refundJson();
        assertNotNull(e.errorJson(), last);
        assertEquals("PROCESSING", J.status(last));
        assertEquals(no, J.at(last, "out_refund_no"));
        // Polls at 0 and 1 s, and a last one at the deadline.
        assertTrue("attempts " + e.attempts(), e.attempts() >= 2);
        assertTrue("elapsed_ms " + e.elapsedMs(), e.elapsedMs() >= 1_500);
        assertTrue("took " + tookMs + " ms", tookMs >= 1_500 && tookMs < 5_000);
    }

    @Test
    public void durationOverloadAndZeroTimeout() {
        String no = create(ORDER, 10000);
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> client.waitForFinal(J.byOutRefundNo(no), Duration.ZERO));
        assertEquals("TIMEOUT", e.status());
        assertEquals(1L, e.attempts()); // one query, no wait
        assertEquals("PROCESSING", J.status(e.refundJson()));

        e = assertThrows(WxRefundException.class,
                () -> client.waitForFinal(J.byOutRefundNo(no), Duration.ofMillis(300)));
        assertEquals("TIMEOUT", e.status());
        assertTrue("elapsed_ms " + e.elapsedMs(), e.elapsedMs() >= 300);

        assertThrows(IllegalArgumentException.class,
                () -> client.waitForFinal(J.byOutRefundNo(no), Duration.ofMillis(-1)));
        assertThrows(IllegalArgumentException.class,
                () -> client.waitForFinal(J.byOutRefundNo(no), -1));
        assertThrows(NullPointerException.class,
                () -> client.waitForFinal(J.byOutRefundNo(no), (Duration) null));
        assertThrows(NullPointerException.class, () -> client.waitForFinal(null, 1_000));
    }

    @Test
    public void notFoundEndsTheWaitAtOnce() {
        long started = System.nanoTime();
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> client.waitForFinal(J.byOutRefundNo(J.unique("JWN")), 60_000));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertEquals("NOT_FOUND", e.status());
        assertNull(e.refundJson());
        assertEquals(1L, e.attempts());
        assertTrue("took " + tookMs + " ms", tookMs < 900);
    }

    @Test
    public void closedClientThrowsInvalidHandle() throws Exception {
        WxRefundClient closed = new WxRefundClient(sim.configJson());
        closed.close();
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> closed.waitForFinal(J.byOutRefundNo("R1"), 1_000));
        assertEquals("INVALID_HANDLE", e.status());
        assertEquals(0L, e.attempts());
        assertNull(e.refundJson());
    }
}
