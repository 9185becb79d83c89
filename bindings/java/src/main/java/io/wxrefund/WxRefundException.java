package io.wxrefund;

import java.util.Collections;
import java.util.Map;

/**
 * A failed wxrefund call: the library's status and the fields of its error JSON.
 *
 * <p>The status names and numbers are those of the C ABI ({@code wxrefund_status}), e.g.
 * {@code "NOT_FOUND"} (8), {@code "RATE_LIMITED"} (9) or {@code "TIMEOUT"} (16, from
 * {@link WxRefundClient#waitForFinal(String, long)}, with the last refund seen in
 * {@link #refundJson()}) or {@code "SIGNER_FAILED"} (17: the host's {@link Signer} or the
 * PKCS#11 token failed, nothing was sent; the signer's exception is the {@link #getCause()});
 * see the error table in the README. When {@link #outcomeUnknown()}
 * is true after a refund apply, query the refund before retrying, and retry only with the
 * same {@code out_refund_no} and amounts. Secrets never appear in the message or the error
 * JSON.
 */
public final class WxRefundException extends RuntimeException {
    /** Serialization version. */
    private static final long serialVersionUID = 1L;

    /** The status number. */
    private final int statusCode;
    /** The status name. */
    private final String status;
    /** The error JSON's {@code kind}. */
    private final String kind;
    /** The error JSON's {@code message}. */
    private final String errorMessage;
    /** The error JSON's {@code field}. */
    private final String field;
    /** The error JSON's {@code code}. */
    private final String code;
    /** The error JSON's {@code http_status}. */
    private final Integer httpStatus;
    /** The error JSON's {@code retryable}. */
    private final boolean retryable;
    /** The error JSON's {@code outcome_unknown}. */
    private final boolean outcomeUnknown;
    /** The error JSON's {@code request_id}. */
    private final String requestId;
    /** The error JSON's {@code retry_after_secs}. */
    private final Long retryAfterSecs;
    /** The error JSON's {@code reply.http_status}. */
    private final Integer replyHttpStatus;
    /** The error JSON's {@code reply.body}. */
    private final String replyBody;
    /** The error JSON's {@code attempts}. */
    private final long attempts;
    /** The error JSON's {@code elapsed_ms}. */
    private final long elapsedMs;
    /** The error JSON's {@code refund}, written back as JSON text; or null. */
    private final String refundJson;
    /** The raw error JSON. */
    private final String errorJson;

    /**
     * An exception for a status and the library's error JSON ({@code null} or unreadable
     * JSON is tolerated: the fields are then empty).
     */
    WxRefundException(int statusCode, String errorJson, Throwable cause) {
        super(describe(statusCode, errorJson), cause);
        this.statusCode = statusCode;
        this.errorJson = errorJson;
        Map<String, Object> fields = fields(errorJson);
        String name = string(fields.get("status"));
        this.status = name != null ? name : WxRefundNative.statusName(statusCode);
        this.kind = string(fields.get("kind"));
        this.errorMessage = string(fields.get("message"));
        this.field = string(fields.get("field"));
        this.code = string(fields.get("code"));
        this.httpStatus = integer(fields.get("http_status"));
        this.retryable = Boolean.TRUE.equals(fields.get("retryable"));
        this.outcomeUnknown = Boolean.TRUE.equals(fields.get("outcome_unknown"));
        this.requestId = string(fields.get("request_id"));
        Object retryAfter = fields.get("retry_after_secs");
        this.retryAfterSecs = retryAfter instanceof Long ? (Long) retryAfter : null;
        Object reply = fields.get("reply");
        Map<?, ?> replyFields = reply instanceof Map ? (Map<?, ?>) reply : Collections.emptyMap();
        this.replyHttpStatus = integer(replyFields.get("http_status"));
        this.replyBody = string(replyFields.get("body"));
        this.attempts = count(fields.get("attempts"));
        this.elapsedMs = count(fields.get("elapsed_ms"));
        Object refund = fields.get("refund");
        this.refundJson = refund instanceof Map ? Json.write(refund) : null;
    }

    /** An error raised on the Java side, shaped like one of the library's. */
    static WxRefundException local(int statusCode, String kind, String message, String field) {
        StringBuilder json = new StringBuilder("{\"status\":");
        Json.quote(json, WxRefundNative.statusName(statusCode));
        json.append(",\"kind\":");
        Json.quote(json, kind);
        json.append(",\"message\":");
        Json.quote(json, message);
        if (field != null) {
            json.append(",\"field\":");
            Json.quote(json, field);
        }
        json.append(",\"retryable\":false,\"outcome_unknown\":false}");
        return new WxRefundException(statusCode, json.toString(), null);
    }

    private static Map<String, Object> fields(String errorJson) {
        if (errorJson == null) {
            return Collections.emptyMap();
        }
        try {
            return Json.parseObject(errorJson);
        } catch (IllegalArgumentException unreadable) {
            return Collections.emptyMap();
        }
    }

    private static String describe(int statusCode, String errorJson) {
        Map<String, Object> fields = fields(errorJson);
        String name = string(fields.get("status"));
        if (name == null) {
            name = WxRefundNative.statusName(statusCode);
        }
        String message = string(fields.get("message"));
        return message == null ? name : name + ": " + message;
    }

    private static String string(Object value) {
        return value instanceof String ? (String) value : null;
    }

    /** A non-negative count, or 0 when absent or not one. */
    private static long count(Object value) {
        return value instanceof Long && (Long) value >= 0 ? (Long) value : 0;
    }

    private static Integer integer(Object value) {
        if (value instanceof Long) {
            long n = (Long) value;
            if (n >= Integer.MIN_VALUE && n <= Integer.MAX_VALUE) {
                return (int) n;
            }
        }
        return null;
    }

    /**
     * The status name, e.g. {@code "NOT_FOUND"}, {@code "INVALID_HANDLE"}.
     *
     * @return the stable name of {@link #statusCode()}
     */
    public String status() {
        return status;
    }

    /**
     * The status number of the C ABI, e.g. 8 for {@code NOT_FOUND}.
     *
     * @return the {@code wxrefund_status} value
     */
    public int statusCode() {
        return statusCode;
    }

    /**
     * The finer reason, e.g. {@code "invalid_field"}, {@code "order_spacing"},
     * {@code "probe_signature"}.
     *
     * @return the error JSON's {@code kind}, or {@code null}
     */
    public String kind() {
        return kind;
    }

    /**
     * The library's message without the status prefix ({@link #getMessage()} has both).
     *
     * @return the error JSON's {@code message}, or {@code null}
     */
    public String errorMessage() {
        return errorMessage;
    }

    /**
     * The request or configuration field at fault, for {@code INVALID_CONFIG} and
     * {@code INVALID_REQUEST}.
     *
     * @return the error JSON's {@code field}, or {@code null}
     */
    public String field() {
        return field;
    }

    /**
     * WeChat's error code, e.g. {@code "RESOURCE_NOT_EXISTS"}; for WeCom the
     * {@code errcode} as a string.
     *
     * @return the error JSON's {@code code}, or {@code null}
     */
    public String code() {
        return code;
    }

    /**
     * The platform's HTTP status, when it answered.
     *
     * @return the error JSON's {@code http_status}, or {@code null}
     */
    public Integer httpStatus() {
        return httpStatus;
    }

    /**
     * Whether sending the same request again is safe and may succeed.
     *
     * @return the error JSON's {@code retryable}
     */
    public boolean retryable() {
        return retryable;
    }

    /**
     * Whether the platform may have accepted the refund: query before retrying.
     *
     * @return the error JSON's {@code outcome_unknown}
     */
    public boolean outcomeUnknown() {
        return outcomeUnknown;
    }

    /**
     * The platform's request id; quote it to WeChat Pay support.
     *
     * @return the error JSON's {@code request_id}, or {@code null}
     */
    public String requestId() {
        return requestId;
    }

    /**
     * Seconds to wait before retrying, e.g. for WeCom's local order guard.
     *
     * @return the error JSON's {@code retry_after_secs}, or {@code null}
     */
    public Long retryAfterSecs() {
        return retryAfterSecs;
    }

    /**
     * For a failed notification: the HTTP status to answer the platform with (e.g. 401
     * for {@code VERIFICATION_FAILED}), so that it delivers again later.
     *
     * @return the error JSON's {@code reply.http_status}, or {@code null}
     */
    public Integer replyHttpStatus() {
        return replyHttpStatus;
    }

    /**
     * For a failed notification: the body to answer the platform with.
     *
     * @return the error JSON's {@code reply.body}, or {@code null}
     */
    public String replyBody() {
        return replyBody;
    }

    /**
     * How many HTTP requests the failed call sent (0 when nothing was sent), retries and a
     * wait's queries included.
     *
     * @return the error JSON's {@code attempts}, or 0
     */
    public long attempts() {
        return attempts;
    }

    /**
     * How long the failed call took, in milliseconds.
     *
     * @return the error JSON's {@code elapsed_ms}, or 0
     */
    public long elapsedMs() {
        return elapsedMs;
    }

    /**
     * For {@code TIMEOUT}: the last refund the wait saw (e.g. still {@code PROCESSING}), as
     * {@link WxRefundClient#queryRefund(String)} returns it.
     *
     * @return the error JSON's {@code refund} as JSON text, or {@code null} when no query of
     *     the wait succeeded or the error is of another kind
     */
    public String refundJson() {
        return refundJson;
    }

    /**
     * The error JSON object exactly as the library produced it (it may carry more, such as
     * {@code detail}).
     *
     * @return the raw error JSON, or {@code null} when the library gave none
     */
    public String errorJson() {
        return errorJson;
    }
}
