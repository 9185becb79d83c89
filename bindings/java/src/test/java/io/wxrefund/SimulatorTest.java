package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.wxrefund.testing.Simulator;
import io.wxrefund.testing.SimulatorException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.AfterClass;
import org.junit.Before;
import org.junit.BeforeClass;
import org.junit.Test;

/** The three fault scenarios through {@link Simulator} and the control API. */
public class SimulatorTest {
    private static final String ORDER = "T-JAVA-000001";
    private static Simulator sim;

    @BeforeClass
    public static void startSim() throws Exception {
        // Refunds stay PROCESSING for a minute unless settled through the control API.
        sim = Simulator.start("--family", "domestic", "--settle-ms", "60000");
    }

    @AfterClass
    public static void stopSim() throws Exception {
        if (sim != null) {
            sim.close();
        }
    }

    @Before
    public void freshOrder() throws Exception {
        sim.reset();
        Map<String, Object> order = new LinkedHashMap<>();
        order.put("out_trade_no", ORDER);
        order.put("transaction_id", "4200000001209900000000000777");
        order.put("total", 3000);
        sim.addOrder("domestic", order);
    }

    /** The refund POSTs of the request log. */
    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> refundPosts() throws Exception {
        Map<String, Object> log = Json.parseObject(sim.requests());
        List<Map<String, Object>> posts = new ArrayList<>();
        for (Object entry : (List<Object>) log.get("requests")) {
            Map<String, Object> request = (Map<String, Object>) entry;
            if ("POST".equals(request.get("method"))
                    && String.valueOf(request.get("path")).contains("refund")) {
                posts.add(request);
            }
        }
        return posts;
    }

    /** How many refunds numbered {@code no} the simulator's state holds, in any family. */
    @SuppressWarnings("unchecked")
    private static int refundsNumbered(String no) throws Exception {
        Map<String, Object> state = Json.parseObject(sim.state());
        int count = 0;
        for (Object family : ((Map<String, Object>) state.get("refunds")).values()) {
            for (Object refund : (List<Object>) family) {
                if (no.equals(((Map<String, Object>) refund).get("out_refund_no"))) {
                    count++;
                }
            }
        }
        return count;
    }

    @Test
    public void systemErrorIsResentWithTheSameBody() throws Exception {
        sim.inject("SYSTEM_ERROR", 1);
        try (WxRefundClient client = new WxRefundClient(sim.configJson())) {
            String no = J.unique("JS-");
            String created = client.createRefund(J.request(ORDER, no, 100, 3000, "CNY"));
            assertEquals(no, J.at(created, "out_refund_no"));
        }
        List<Map<String, Object>> posts = refundPosts();
        assertEquals(posts.toString(), 2, posts.size());
        assertEquals("fault:SYSTEM_ERROR", posts.get(0).get("verdict"));
        assertEquals("ok", posts.get(1).get("verdict"));
        assertNotNull(posts.get(0).get("body_sha256"));
        assertEquals(posts.get(0).get("body_sha256"), posts.get(1).get("body_sha256"));
    }

    @Test
    public void dropAfterCommitIsOutcomeUnknownThenFoundByQuery() throws Exception {
        sim.inject("DROP_AFTER_COMMIT", 1);
        // No resend: the dropped answer reaches the caller as outcome_unknown.
        Map<String, Object> config = new LinkedHashMap<>(Json.parseObject(sim.configJson()));
        config.put("max_retries", 0L);
        try (WxRefundClient client = new WxRefundClient(Json.write(config))) {
            String no = J.unique("JU-");
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.createRefund(J.request(ORDER, no, 100, 3000, "CNY")));
            assertTrue(e.toString(), e.outcomeUnknown());
            String found = client.queryRefund(J.byOutRefundNo(no));
            assertEquals(no, J.at(found, "out_refund_no"));
            assertEquals(1, refundsNumbered(no));
        }
    }

    @Test
    public void settledAbnormalNeedsAction() throws Exception {
        try (WxRefundClient client = new WxRefundClient(sim.configJson())) {
            String no = J.unique("JA-");
            String created = client.createRefund(J.request(ORDER, no, 100, 3000, "CNY"));
            assertEquals("PROCESSING", J.status(created));
            sim.settle(no, "ABNORMAL");
            String settled = client.queryRefund(J.byOutRefundNo(no));
            assertEquals("ABNORMAL", J.status(settled));
            assertEquals(Boolean.TRUE, J.at(settled, "wxrefund", "action_required"));
        }
    }

    @Test
    public void apiErrorsNameTheField() throws Exception {
        SimulatorException e = assertThrows(SimulatorException.class, () -> sim.inject("NOPE", 1));
        assertEquals(400, e.status());
        assertEquals("kind", e.field());
        assertTrue(e.error(), e.error().contains("NOPE"));
        e = assertThrows(SimulatorException.class, () -> sim.settle("NO-SUCH-REFUND", "SUCCESS"));
        assertEquals(404, e.status());
    }
}
