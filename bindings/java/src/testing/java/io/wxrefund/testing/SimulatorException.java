package io.wxrefund.testing;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** An error answer of the simulator's control API: {@code {"error": ..., "field": ...}}. */
public final class SimulatorException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private static final Pattern ERROR = Pattern.compile("\"error\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
    private static final Pattern FIELD = Pattern.compile("\"field\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** The HTTP status. */
    private final int status;
    /** The answer's error message. */
    private final String error;
    /** The answer's field. */
    private final String field;
    /** The answer's body. */
    private final String body;

    SimulatorException(String request, int status, String body) {
        super(request + ": HTTP " + status + ": " + body);
        this.status = status;
        this.body = body;
        this.error = find(ERROR, body);
        this.field = find(FIELD, body);
    }

    private static String find(Pattern pattern, String body) {
        Matcher m = pattern.matcher(body);
        return m.find() ? m.group(1).replace("\\\"", "\"").replace("\\\\", "\\") : null;
    }

    /**
     * The HTTP status of the answer.
     *
     * @return the status, 400 or more
     */
    public int status() {
        return status;
    }

    /**
     * The answer's {@code error} message.
     *
     * @return the message, or null when the answer had none
     */
    public String error() {
        return error;
    }

    /**
     * The answer's {@code field}: the request field at fault.
     *
     * @return the field, or null when no single field is at fault
     */
    public String field() {
        return field;
    }

    /**
     * The answer's body as received.
     *
     * @return the JSON text
     */
    public String body() {
        return body;
    }
}
