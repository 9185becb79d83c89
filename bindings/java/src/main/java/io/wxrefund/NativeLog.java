package io.wxrefund;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.util.Collections;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Forwards the library's log records to {@code java.util.logging}, logger
 * {@value #LOGGER_NAME}.
 *
 * <p>Installed once, by {@link WxRefundNative} when the native library loads, at the most
 * verbose native level ({@code TRACE}): JUL levels can change at any time without telling
 * anyone, so the callback itself asks {@link Logger#isLoggable} before building a record.
 * Levels map ERROR to {@link Level#SEVERE}, WARN to {@link Level#WARNING}, INFO to
 * {@link Level#INFO}, DEBUG to {@link Level#FINE} and TRACE to {@link Level#FINEST}. A
 * record's message is the library's one-line summary; its only parameter is the record's
 * fields, an unmodifiable {@code Map<String, Object>} as {@link Json} reads them.
 */
final class NativeLog {
    /** The JUL logger name the records go to. */
    static final String LOGGER_NAME = "io.wxrefund";

    /** {@code WXREFUND_LOG_LEVEL_TRACE}: every record the library writes. */
    private static final int NATIVE_TRACE = 5;

    /**
     * Held strongly: JUL keeps loggers only weakly, and a level or handler a host set on a
     * collected logger would be lost.
     */
    private static final Logger LOGGER = Logger.getLogger(LOGGER_NAME);

    /**
     * The callback, reachable for the life of the process: the library keeps its native
     * address, which JNA frees once the Java object is collected.
     */
    private static final Forwarder CALLBACK = new Forwarder();

    private NativeLog() {}

    /**
     * Hands {@link #CALLBACK} to the library. Called once, right after the native functions
     * are registered; a failure is itself logged rather than making the library unusable.
     */
    static void install() {
        try {
            PointerByReference error = new PointerByReference();
            int status =
                    WxRefundNative.wxrefund_set_log_callback(NATIVE_TRACE, CALLBACK, null, error);
            String errorJson = WxRefundNative.take(error.getValue());
            if (status != WxRefundNative.OK) {
                LOGGER.log(Level.WARNING, "wxrefund log records cannot be forwarded: {0}",
                        errorJson);
            }
        } catch (RuntimeException | LinkageError e) {
            LOGGER.log(Level.WARNING, "wxrefund log records cannot be forwarded", e);
        }
    }

    /** The JUL level of a {@code wxrefund_log_level}. */
    static Level level(int nativeLevel) {
        switch (nativeLevel) {
            case 1:
                return Level.SEVERE;
            case 2:
                return Level.WARNING;
            case 3:
                return Level.INFO;
            case 4:
                return Level.FINE;
            default: // 5, TRACE; the numbers are fixed, so nothing else arrives
                return Level.FINEST;
        }
    }

    /** The {@code wxrefund_log_fn}: called by the library on any thread, at any time. */
    private static final class Forwarder implements WxRefundNative.LogFn {
        @Override
        public void invoke(Pointer userData, int nativeLevel, Pointer message, Pointer fields) {
            try {
                Level level = level(nativeLevel);
                if (!LOGGER.isLoggable(level)) {
                    return;
                }
                LogRecord record =
                        new LogRecord(level, message == null ? "" : message.getString(0, "UTF-8"));
                record.setLoggerName(LOGGER_NAME);
                // Not inferred from the stack, which here is JNA's dispatch: handlers show
                // the logger name instead.
                record.setSourceClassName(null);
                record.setSourceMethodName(null);
                record.setParameters(new Object[] {fields(fields)});
                LOGGER.log(record);
            } catch (Throwable t) {
                // A failing handler (or formatter, or anything else) must never unwind into
                // native code, nor fail the refund call that logged.
            }
        }

        private static Map<String, Object> fields(Pointer json) {
            if (json == null) {
                return Collections.emptyMap();
            }
            try {
                return Json.parseObject(json.getString(0, "UTF-8"));
            } catch (IllegalArgumentException unreadable) {
                return Collections.emptyMap();
            }
        }
    }
}
