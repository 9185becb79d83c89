package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The package's small JSON reader and writer, and the exception built from error JSON. */
public class JsonTest {
    @Test
    public void readsEveryKindOfValue() {
        Map<String, Object> o = Json.parseObject(" {\"s\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\","
                + "\"i\":-42,\"big\":123456789012345678901234567890,\"f\":1.5e2,\"z\":0,"
                + "\"t\":true,\"n\":null,\"a\":[1,[2,{}],\"x\"],\"o\":{\"k\":{\"deep\":false}}} ");
        assertEquals("a\"b\\c/d\n\té\ud83d\ude00", o.get("s"));
        assertEquals(-42L, o.get("i"));
        assertEquals(new BigDecimal("123456789012345678901234567890"), o.get("big"));
        assertEquals(0, new BigDecimal("150").compareTo((BigDecimal) o.get("f")));
        assertEquals(0L, o.get("z"));
        assertEquals(Boolean.TRUE, o.get("t"));
        assertTrue(o.containsKey("n"));
        assertNull(o.get("n"));
        assertEquals(List.of(1L, List.of(2L, Map.of()), "x"), o.get("a"));
        assertEquals(Boolean.FALSE, ((Map<?, ?>) ((Map<?, ?>) o.get("o")).get("k")).get("deep"));
        assertEquals(List.of(), Json.parse("[]"));
        assertEquals("中文", Json.parse("\"中文\""));
    }

    @Test
    public void refusesMalformedJson() {
        for (String bad : new String[] {"", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "-",
                "\"unterminated", "\"bad\\x\"", "\"\\u12\"", "tru", "nul", "{} extra", "{'a':1}",
                "\"ctl\u0001\"", "[1 2]", "1e", "{\"a\":1,}"}) {
            assertThrows(bad, IllegalArgumentException.class, () -> Json.parse(bad));
        }
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[".repeat(10000)));
        assertThrows(IllegalArgumentException.class, () -> Json.parseObject("[]"));
    }

    @Test
    public void writesAndQuotesRoundTrip() {
        String tricky = "q\" b\\ n\n r\r t\t c\u0001 d\u007f é 中 \ud83d\ude00 \u2028/";
        String quoted = Json.quote(tricky);
        assertEquals(tricky, Json.parse(quoted));
        assertTrue(quoted, quoted.chars().allMatch(c -> c >= 0x20 && c != 0x7f));
        Map<String, Object> value = new java.util.LinkedHashMap<>();
        value.put("k\"", List.of(1L, "two", true));
        value.put("n", null);
        assertEquals("{\"k\\\"\":[1,\"two\",true],\"n\":null}", Json.write(value));
        assertEquals(value, Json.parse(Json.write(value)));
    }

    @Test
    public void exceptionReadsTheErrorFields() {
        String json = "{\"status\":\"RATE_LIMITED\",\"kind\":\"order_spacing\",\"message\":\"wait \\\"60\\\" s\","
                + "\"field\":\"out_trade_no\",\"http_status\":429,\"code\":\"45009\",\"detail\":{\"x\":[1]},"
                + "\"request_id\":\"req-1\",\"retry_after_secs\":42,\"reply\":{\"http_status\":401,"
                + "\"body\":\"{}\"},\"retryable\":true,\"outcome_unknown\":true}";
        WxRefundException e = new WxRefundException(9, json, null);
        assertEquals("RATE_LIMITED", e.status());
        assertEquals(9, e.statusCode());
        assertEquals("order_spacing", e.kind());
        assertEquals("wait \"60\" s", e.errorMessage());
        assertEquals("RATE_LIMITED: wait \"60\" s", e.getMessage());
        assertEquals("out_trade_no", e.field());
        assertEquals(Integer.valueOf(429), e.httpStatus());
        assertEquals("45009", e.code());
        assertEquals("req-1", e.requestId());
        assertEquals(Long.valueOf(42), e.retryAfterSecs());
        assertEquals(Integer.valueOf(401), e.replyHttpStatus());
        assertEquals("{}", e.replyBody());
        assertTrue(e.retryable());
        assertTrue(e.outcomeUnknown());
        assertEquals(json, e.errorJson());

        WxRefundException empty = new WxRefundException(8, "not json", null);
        assertEquals("NOT_FOUND", empty.status());
        assertNull(empty.kind());
        assertNull(empty.httpStatus());
        WxRefundException none = new WxRefundException(99, null, null);
        assertEquals("UNKNOWN", none.status());
    }
}
