package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;

import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** WeChat Pay Global refunds, direct and institution mode, against {@code wxrefund-sim}. */
public class GlobalTest {
    private static Sim direct;
    private static Sim institution;

    @BeforeClass
    public static void startSims() throws Exception {
        direct = Sim.start("--family", "global");
        institution = Sim.start("--family", "global", "--mode", "institution");
    }

    @AfterClass
    public static void stopSims() throws Exception {
        if (direct != null) {
            direct.close();
        }
        if (institution != null) {
            institution.close();
        }
    }

    /** Applies, then queries by refund_id and by out_refund_no until final. */
    private static void roundTrip(Sim sim, String order, long total, String currency)
            throws Exception {
        try (WxRefundClient client = new WxRefundClient(sim.configJson)) {
            String no = J.unique("G|R*1@");
            String created = client.createRefund(J.request(order, no, 123, total, currency));
            assertEquals("ACCEPTED", J.status(created));
            String refundId = (String) J.at(created, "wxrefund", "refund_id");
            assertNotNull(created, refundId);

            String byId = J.queryUntilFinal(client, "{\"refund_id\":" + Json.quote(refundId) + "}");
            assertEquals("SUCCESS", J.status(byId));
            assertEquals(no, J.at(byId, "out_refund_no"));
            assertEquals(refundId, J.at(byId, "id"));

            String byNo = client.queryRefund(J.byOutRefundNo(no));
            assertEquals("SUCCESS", J.status(byNo));
            assertEquals(refundId, J.at(byNo, "wxrefund", "refund_id"));
            assertEquals(123L, J.at(byNo, "amount", "refund"));
            assertEquals(currency, J.at(byNo, "amount", "currency"));
        }
    }

    @Test
    public void directApplyThenQueryByRefundIdAndByOutRefundNo() throws Exception {
        roundTrip(direct, "G20261122000001", 10000, "USD");
    }

    @Test
    public void institutionApplyThenQuery() throws Exception {
        roundTrip(institution, "G20261122000009", 20000, "EUR");
    }

    @Test
    public void refundCloseIsNormalizedToClosed() throws Exception {
        try (WxRefundClient client = new WxRefundClient(direct.configJson)) {
            String no = J.unique("GC-");
            client.createRefund(J.request("G20261122000002", no, 100, 5000, "HKD"));
            String settled = J.queryUntilFinal(client, J.byOutRefundNo(no));
            assertEquals("CLOSED", J.status(settled));
            assertEquals("REFUNDCLOSE", J.at(settled, "status"));
        }
    }

    @Test
    public void unknownRefundIdIsNotFound() {
        try (WxRefundClient client = new WxRefundClient(direct.configJson)) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund("{\"refund_id\":\"50300000000000000000000000000000\"}"));
            assertEquals("NOT_FOUND", e.status());
            assertNotNull(e.code());
            assertNotNull(e.httpStatus());
        }
    }
}
