package io.wxrefund;

import java.util.Map;

/** Test helpers for JSON answers. */
final class J {
    private J() {}

    /** The value at {@code path} (object keys) in {@code json}, or null. */
    static Object at(String json, String... path) {
        Object value = Json.parse(json);
        for (String key : path) {
            if (!(value instanceof Map)) {
                return null;
            }
            value = ((Map<?, ?>) value).get(key);
        }
        return value;
    }

    /** {@code "wxrefund"."status"} of a refund answer. */
    static String status(String refund) {
        return (String) at(refund, "wxrefund", "status");
    }

    /** {@code "wxrefund"."final"} of a refund answer. */
    static boolean isFinal(String refund) {
        return Boolean.TRUE.equals(at(refund, "wxrefund", "final"));
    }

    /** A refund number unique to this run: {@code prefix} + time + counter. */
    static String unique(String prefix) {
        return prefix + Long.toString(System.nanoTime(), 36) + COUNTER.incrementAndGet();
    }

    private static final java.util.concurrent.atomic.AtomicInteger COUNTER =
            new java.util.concurrent.atomic.AtomicInteger();

    /** A mainland/Global/WeCom refund request of {@code refund} out of {@code total}. */
    static String request(String outTradeNo, String outRefundNo, long refund, long total,
            String currency) {
        return "{\"out_trade_no\":" + Json.quote(outTradeNo)
                + ",\"out_refund_no\":" + Json.quote(outRefundNo)
                + ",\"amount\":{\"refund\":" + refund + ",\"total\":" + total
                + ",\"currency\":" + Json.quote(currency) + "}}";
    }

    /** {@code {"out_refund_no": no}}. */
    static String byOutRefundNo(String outRefundNo) {
        return "{\"out_refund_no\":" + Json.quote(outRefundNo) + "}";
    }

    /** Queries until {@code "final": true} (at most 15 s); returns the final answer. */
    static String queryUntilFinal(WxRefundClient client, String query)
            throws InterruptedException {
        long deadline = System.nanoTime() + 15_000_000_000L;
        String refund = client.queryRefund(query);
        while (!isFinal(refund)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("never final: " + refund);
            }
            Thread.sleep(100);
            refund = client.queryRefund(query);
        }
        return refund;
    }
}
