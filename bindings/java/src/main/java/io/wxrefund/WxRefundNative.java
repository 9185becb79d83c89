package io.wxrefund;

import com.sun.jna.Callback;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

/**
 * JNA direct mapping of every function in {@code include/wxrefund.h}.
 *
 * <p>Conventions: input strings are NUL-terminated UTF-8 {@code byte[]} (see
 * {@link WxRefundClient}); every {@code char *} the library returns through an out-parameter
 * is read as a {@link Pointer} and freed with {@link #wxrefund_string_free}; the two static
 * strings ({@link #wxrefund_version}, {@link #wxrefund_status_name}) are never freed. The
 * library is found as {@code wxrefund} on {@code jna.library.path} or the system path.
 */
final class WxRefundNative {
    static {
        // size_t is mapped as a Java long. A JNA IntegerType would adapt to any width, but JNA
        // must instantiate it reflectively, which a type that is not public API cannot allow.
        if (Native.SIZE_T_SIZE != 8) {
            throw new UnsatisfiedLinkError(
                    "wxrefund's Java binding needs a 64-bit JVM (size_t is "
                            + Native.SIZE_T_SIZE
                            + " bytes here)");
        }
        Native.register(WxRefundNative.class, "wxrefund");
    }

    private WxRefundNative() {}

    /** {@code wxrefund_access_token_fn}. */
    interface AccessTokenFn extends Callback {
        /**
         * Writes a NUL-terminated token of at most {@code tokenCapacity - 1} bytes to
         * {@code tokenOut}; returns 0 on success, anything else to fail the call in progress.
         */
        int invoke(Pointer userData, Pointer rejectedToken, Pointer tokenOut, long tokenCapacity);
    }

    /** {@code const char *wxrefund_version(void)}: static, never freed. */
    static native Pointer wxrefund_version();

    /** {@code const char *wxrefund_status_name(int)}: static, never freed. */
    static native Pointer wxrefund_status_name(int status);

    static native int wxrefund_client_new(
            byte[] configJson, PointerByReference clientOut, PointerByReference errorJsonOut);

    static native int wxrefund_client_new_with_token_provider(
            byte[] configJson,
            AccessTokenFn provider,
            Pointer userData,
            PointerByReference clientOut,
            PointerByReference errorJsonOut);

    static native int wxrefund_client_free(Pointer client);

    static native int wxrefund_refund_create(
            Pointer client,
            byte[] requestJson,
            PointerByReference responseJsonOut,
            PointerByReference errorJsonOut);

    static native int wxrefund_refund_query(
            Pointer client,
            byte[] queryJson,
            PointerByReference responseJsonOut,
            PointerByReference errorJsonOut);

    static native int wxrefund_notification_parse(
            Pointer client,
            byte[] headersJson,
            byte[] body,
            long bodyLen,
            PointerByReference resultJsonOut,
            PointerByReference errorJsonOut);

    static native void wxrefund_string_free(Pointer string);

    /** Status numbers used on the Java side (the header's fixed values). */
    static final int OK = 0;
    static final int INVALID_ARGUMENT = 1;
    static final int INVALID_HANDLE = 5;
    static final int INTERNAL = 13;

    /** Reads a static library string (never freed). */
    static String staticString(Pointer p) {
        return p == null ? null : p.getString(0, "UTF-8");
    }

    /** Reads a library-owned string and frees it, whatever happens while reading. */
    static String take(Pointer p) {
        if (p == null) {
            return null;
        }
        try {
            return p.getString(0, "UTF-8");
        } finally {
            wxrefund_string_free(p);
        }
    }

    /** The stable name of a status number ({@code "UNKNOWN"} for any other number). */
    static String statusName(int status) {
        String name = staticString(wxrefund_status_name(status));
        return name == null ? "UNKNOWN" : name;
    }
}
