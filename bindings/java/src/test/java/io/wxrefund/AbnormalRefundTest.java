package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.wxrefund.testing.Simulator;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
 * {@link WxRefundClient#applyAbnormalRefund(String)} against the simulator: a refund settled
 * {@code ABNORMAL} through the control API goes to the payer's new card or the merchant's
 * card, {@code PROCESSING} and then {@code SUCCESS}; every rule broken is
 * {@code INVALID_REQUEST} naming its field, nothing sent; the bank details never appear in
 * an error or a log record.
 */
public class AbnormalRefundTest {
    private static final String ORDER = "T20261122000001"; // 10000 fen
    private static final String ACCOUNT = "6222020200098765432";
    private static final String NAME = "王小明";

    private static Simulator sim;
    private static WxRefundClient client;

    private final Capture capture = new Capture();
    private final Logger logger = Logger.getLogger("io.wxrefund");
    private Level savedLevel;

    @BeforeClass
    public static void start() throws Exception {
        // Refunds stay PROCESSING for 3 s: time enough to settle them ABNORMAL first.
        sim = Simulator.start("--family", "domestic", "--settle-ms", "3000");
        client = new WxRefundClient(sim.configJson());
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

    @Before
    public void captureRecords() {
        savedLevel = logger.getLevel();
        logger.setLevel(Level.ALL);
        logger.addHandler(capture);
    }

    @After
    public void releaseRecords() {
        logger.removeHandler(capture);
        logger.setLevel(savedLevel);
    }

    /** Every record captured (message and fields) as text. */
    private static final class Capture extends Handler {
        final List<String> records = new ArrayList<>();

        Capture() {
            setLevel(Level.ALL);
        }

        @Override
        public synchronized void publish(LogRecord record) {
            StringBuilder text = new StringBuilder(String.valueOf(record.getMessage()));
            Object[] parameters = record.getParameters();
            if (parameters != null) {
                for (Object parameter : parameters) {
                    text.append(' ').append(parameter);
                }
            }
            records.add(text.toString());
        }

        synchronized List<String> snapshot() {
            return new ArrayList<>(records);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    }

    /** A refund of 1 fen settled ABNORMAL through the control API; its query answer. */
    private static String abnormalRefund() throws Exception {
        String no = J.unique("JA");
        assertEquals("PROCESSING",
                J.status(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"))));
        sim.settle(no, "ABNORMAL");
        String refund = client.waitForFinal(J.byOutRefundNo(no), 10_000);
        assertEquals("ABNORMAL", J.status(refund));
        assertEquals(Boolean.TRUE, J.at(refund, "wxrefund", "action_required"));
        return refund;
    }

    private static String userCard(String refundId, String no) {
        return "{\"refund_id\":" + Json.quote(refundId) + ",\"out_refund_no\":" + Json.quote(no)
                + ",\"type\":\"USER_BANK_CARD\",\"bank_type\":\"ICBC_DEBIT\",\"bank_account\":"
                + Json.quote(ACCOUNT) + ",\"real_name\":" + Json.quote(NAME) + "}";
    }

    private static int requestCount() throws IOException {
        return ((List<?>) J.at(sim.requests(), "requests")).size();
    }

    private static void assertNoBankDetails(String text) {
        assertFalse(text, text.contains(ACCOUNT));
        assertFalse(text, text.contains(NAME));
    }

    private void assertNoBankDetailsLogged() {
        for (String record : capture.snapshot()) {
            assertNoBankDetails(record);
            assertFalse(record, record.contains("user_received_account"));
        }
    }

    @Test
    public void toTheUsersNewCardThenSuccess() throws Exception {
        String abnormal = abnormalRefund();
        String no = (String) J.at(abnormal, "out_refund_no");
        String refundId = (String) J.at(abnormal, "wxrefund", "refund_id");
        assertNotNull(abnormal, refundId);

        String applied = client.applyAbnormalRefund(userCard(refundId, no));
        assertEquals("PROCESSING", J.status(applied));
        assertEquals(no, J.at(applied, "out_refund_no"));
        assertEquals(refundId, J.at(applied, "wxrefund", "refund_id"));
        assertNoBankDetails(applied); // only the card's last digits, if anything

        String settled = client.waitForFinal(J.byOutRefundNo(no), 20_000);
        assertEquals("SUCCESS", J.status(settled));
        assertTrue(J.isFinal(settled));

        // The simulator took the request (it decrypted the details with its own key).
        List<?> requests = (List<?>) J.at(sim.requests(), "requests");
        boolean sent = false;
        for (Object request : requests) {
            Map<?, ?> r = (Map<?, ?>) request;
            if (("/v3/refund/domestic/refunds/" + refundId + "/apply-abnormal-refund")
                    .equals(r.get("path"))) {
                assertEquals("POST", r.get("method"));
                assertEquals(200L, r.get("status"));
                sent = true;
            }
        }
        assertTrue(J.at(sim.requests(), "requests").toString(), sent);
        assertNoBankDetailsLogged();
        boolean logged = false;
        for (String record : capture.snapshot()) {
            logged |= record.contains("apply-abnormal-refund");
        }
        assertTrue("no record of the apply", logged);
    }

    @Test
    public void toTheMerchantsCardThenSuccess() throws Exception {
        String abnormal = abnormalRefund();
        String no = (String) J.at(abnormal, "out_refund_no");
        String refundId = (String) J.at(abnormal, "wxrefund", "refund_id");
        String applied = client.applyAbnormalRefund("{\"refund_id\":" + Json.quote(refundId)
                + ",\"out_refund_no\":" + Json.quote(no) + ",\"type\":\"MERCHANT_BANK_CARD\"}");
        assertEquals("PROCESSING", J.status(applied));
        assertEquals("SUCCESS", J.status(client.waitForFinal(J.byOutRefundNo(no), 20_000)));
    }

    @Test
    public void aRefundThatIsNotAbnormalIsRefusedByThePlatform() throws Exception {
        String no = J.unique("JAS");
        client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
        sim.settle(no, "SUCCESS");
        String refund = client.queryRefund(J.byOutRefundNo(no));
        String refundId = (String) J.at(refund, "wxrefund", "refund_id");
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> client.applyAbnormalRefund(userCard(refundId, no)));
        assertNotNull(e.httpStatus()); // sent, and the platform said no
        assertFalse(e.outcomeUnknown());
        assertNoBankDetails(e.getMessage());
        assertNoBankDetails(e.errorJson());
        assertNoBankDetailsLogged();
    }

    /** {@code request} is refused before sending: INVALID_REQUEST naming {@code field}. */
    private static void assertRefused(String field, String request) throws IOException {
        int before = requestCount();
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> client.applyAbnormalRefund(request));
        assertEquals(e.errorJson(), "INVALID_REQUEST", e.status());
        assertEquals(e.errorJson(), field, e.field());
        assertNoBankDetails(e.getMessage());
        assertNoBankDetails(e.errorJson());
        assertEquals(before, requestCount());
    }

    @Test
    public void everyRuleNamesItsFieldAndNeverEchoesTheDetails() throws Exception {
        String id = "50300000012026113000000000001";
        String head = "{\"refund_id\":\"" + id + "\",\"out_refund_no\":\"JAV1\",";
        String account = "\"bank_account\":" + Json.quote(ACCOUNT);
        String name = "\"real_name\":" + Json.quote(NAME);
        assertRefused("real_name", head
                + "\"type\":\"USER_BANK_CARD\",\"bank_type\":\"ICBC_DEBIT\"," + account + "}");
        assertRefused("bank_account", head
                + "\"type\":\"USER_BANK_CARD\",\"bank_type\":\"ICBC_DEBIT\"," + name + "}");
        assertRefused("bank_type", head + "\"type\":\"USER_BANK_CARD\"," + account + "," + name
                + "}");
        assertRefused("bank_type", head + "\"type\":\"USER_BANK_CARD\",\"bank_type\":\"icbc\","
                + account + "," + name + "}");
        assertRefused("bank_account", head + "\"type\":\"MERCHANT_BANK_CARD\"," + account + "}");
        assertRefused("real_name", head + "\"type\":\"MERCHANT_BANK_CARD\"," + name + "}");
        assertRefused("type", head + "\"type\":\"CASH\"," + account + "," + name + "}");
        assertRefused("refund_id", "{\"refund_id\":\"\",\"out_refund_no\":\"JAV1\","
                + "\"type\":\"MERCHANT_BANK_CARD\"}");
        assertRefused("out_refund_no", "{\"refund_id\":\"" + id + "\",\"out_refund_no\":\"J A\","
                + "\"type\":\"MERCHANT_BANK_CARD\"}");
        // The card number as a JSON number, and a misspelt field: the value is not quoted.
        int before = requestCount();
        for (String request : new String[] {
                head + "\"type\":\"USER_BANK_CARD\",\"bank_type\":\"ICBC_DEBIT\","
                        + "\"bank_account\":" + ACCOUNT + "," + name + "}",
                head + "\"type\":\"USER_BANK_CARD\",\"bank_type\":\"ICBC_DEBIT\","
                        + "\"bank_acount\":" + Json.quote(ACCOUNT) + "," + name + "}",
                head + "\"type\":\"USER_BANK_CARD\",\"bank_type\":\"ICBC_DEBIT\","
                        + account + ",\"real_name\":[" + Json.quote(NAME) + "]}"}) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.applyAbnormalRefund(request));
            assertTrue(e.errorJson(), e.status().startsWith("INVALID_"));
            assertNoBankDetails(e.getMessage());
            assertNoBankDetails(e.errorJson());
        }
        assertEquals(before, requestCount());
        assertNoBankDetailsLogged();
    }

    @Test
    public void otherFamiliesRefuse() throws Exception {
        try (Simulator global = Simulator.start("--family", "global");
                WxRefundClient globalClient = new WxRefundClient(global.configJson())) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> globalClient.applyAbnormalRefund(
                            userCard("50300000012026113000000000001", "JAG1")));
            assertEquals("INVALID_REQUEST", e.status());
            assertNoBankDetails(e.errorJson());
            assertEquals(0, ((List<?>) J.at(global.requests(), "requests")).size());
        }
    }
}
