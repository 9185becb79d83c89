package io.wxrefund;

import com.sun.jna.Callback;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.io.File;
import java.io.IOException;
import java.net.URL;

/**
 * JNA direct mapping of every function in {@code include/wxrefund.h}.
 *
 * <p>Conventions: input strings are NUL-terminated UTF-8 {@code byte[]} (see
 * {@link WxRefundClient}); every {@code char *} the library returns through an out-parameter
 * is read as a {@link Pointer} and freed with {@link #wxrefund_string_free}; the two static
 * strings ({@link #wxrefund_version}, {@link #wxrefund_status_name}) are never freed.
 *
 * <p>The native library is, in this order: the file named by the system property
 * {@code wxrefund.library}; {@code libwxrefund.so} in a directory of {@code jna.library.path}
 * (found by JNA's own search); the copy bundled in the jar for this platform
 * ({@code linux-x86-64/libwxrefund.so}, {@code linux-aarch64/...}: JNA's resource prefix),
 * extracted to JNA's temporary directory ({@code jna.tmpdir}); else {@code wxrefund} on the
 * system library path. The bundled copy goes before the system path, so that a
 * {@code libwxrefund.so} installed for C of another version cannot shadow the one this jar was
 * built with.
 */
final class WxRefundNative {
    /** The library's base name for JNA ({@code libwxrefund.so} on Linux). */
    private static final String NAME = "wxrefund";

    /** The system property naming the library file to load, e.g. for development. */
    static final String LIBRARY_PROPERTY = "wxrefund.library";

    /** Where the library was loaded from, for diagnostics: a file, a URL or a search. */
    static final String LOADED_FROM;

    static {
        // size_t is mapped as a Java long. A JNA IntegerType would adapt to any width, but JNA
        // must instantiate it reflectively, which a type that is not public API cannot allow.
        if (Native.SIZE_T_SIZE != 8) {
            throw new UnsatisfiedLinkError(
                    "wxrefund's Java binding needs a 64-bit JVM (size_t is "
                            + Native.SIZE_T_SIZE
                            + " bytes here)");
        }
        Location location = locate();
        try {
            Native.register(WxRefundNative.class, location.library);
        } finally {
            if (location.temporary != null) {
                // Mapped once loaded (or not needed when loading failed): removing the file is
                // safe on Linux and leaves nothing behind, as JNA does with its own extractions.
                if (!location.temporary.delete()) {
                    location.temporary.deleteOnExit();
                }
            }
        }
        LOADED_FROM = location.description;
        NativeLog.install(); // once per loaded library: records go to java.util.logging
    }

    private WxRefundNative() {}

    /** What to hand {@link Native#register(Class, String)}, and where it came from. */
    private static final class Location {
        /** An absolute file name, or {@link #NAME} for JNA's search. */
        final String library;
        /** A copy extracted from the jar, to delete once loaded; or null. */
        final File temporary;
        /** For {@link #LOADED_FROM}. */
        final String description;

        Location(String library, File temporary, String description) {
            this.library = library;
            this.temporary = temporary;
            this.description = description;
        }
    }

    /** Finds the library in the order of the class comment. */
    private static Location locate() {
        String explicit = System.getProperty(LIBRARY_PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            String path = new File(explicit).getAbsolutePath();
            return new Location(path, null, path);
        }
        String fileName = System.mapLibraryName(NAME);
        String searchPath = System.getProperty("jna.library.path");
        if (searchPath != null) {
            for (String dir : searchPath.split(File.pathSeparator)) {
                if (!dir.isEmpty() && new File(dir, fileName).isFile()) {
                    // JNA's search looks in jna.library.path before anywhere else.
                    return new Location(NAME, null, new File(dir, fileName).getAbsolutePath());
                }
            }
        }
        ClassLoader loader = WxRefundNative.class.getClassLoader();
        if (loader == null) {
            loader = ClassLoader.getSystemClassLoader();
        }
        URL bundled = loader.getResource(Platform.RESOURCE_PREFIX + "/" + fileName);
        if (bundled != null) {
            File file;
            try {
                file = Native.extractFromResourcePath(NAME, loader);
            } catch (IOException e) {
                UnsatisfiedLinkError error =
                        new UnsatisfiedLinkError(
                                "cannot extract "
                                        + bundled
                                        + " (jna.tmpdir must name a writable directory that"
                                        + " allows executables): "
                                        + e.getMessage());
                error.initCause(e);
                throw error;
            }
            if (file != null) { // null with -Djna.nounpack=true: then the system path
                boolean extracted = !"file".equalsIgnoreCase(bundled.getProtocol());
                File temporary = extracted && !Boolean.getBoolean("jna.preserve") ? file : null;
                return new Location(file.getAbsolutePath(), temporary, bundled.toString());
            }
        }
        return new Location(NAME, null, "the system library path");
    }

    /** {@code wxrefund_access_token_fn}. */
    interface AccessTokenFn extends Callback {
        /**
         * Writes a NUL-terminated token of at most {@code tokenCapacity - 1} bytes to
         * {@code tokenOut}; returns 0 on success, anything else to fail the call in progress.
         */
        int invoke(Pointer userData, Pointer rejectedToken, Pointer tokenOut, long tokenCapacity);
    }

    /** {@code wxrefund_sign_fn}. */
    interface SignFn extends Callback {
        /**
         * Writes the signature of the {@code messageLen} bytes at {@code message} to
         * {@code signatureOut} (room for {@code signatureCapacity} bytes) and its length to
         * {@code *signatureLenOut} (a {@code size_t}); returns 0 on success, anything else to
         * fail the call in progress. May be called from several threads at once.
         */
        int invoke(
                Pointer userData,
                Pointer message,
                long messageLen,
                Pointer signatureOut,
                long signatureCapacity,
                Pointer signatureLenOut);
    }

    /**
     * {@code wxrefund_log_fn}. Both strings belong to the library and are valid only during
     * the call; it may come from any thread, several at once, and must not throw.
     */
    interface LogFn extends Callback {
        /** Receives one record: a {@code wxrefund_log_level}, a summary and its fields. */
        void invoke(Pointer userData, int level, Pointer message, Pointer fieldsJson);
    }

    /** {@code const char *wxrefund_version(void)}: static, never freed. */
    static native Pointer wxrefund_version();

    /** {@code const char *wxrefund_crypto_backend(void)}: static, never freed. */
    static native Pointer wxrefund_crypto_backend();

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

    static native int wxrefund_client_new_with_signer(
            byte[] configJson,
            SignFn signer,
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

    static native int wxrefund_refund_apply_abnormal(
            Pointer client,
            byte[] requestJson,
            PointerByReference responseJsonOut,
            PointerByReference errorJsonOut);

    /** {@code timeoutMs} is a {@code uint64_t}: never pass a negative value. */
    static native int wxrefund_refund_wait(
            Pointer client,
            byte[] queryJson,
            long timeoutMs,
            PointerByReference responseJsonOut,
            PointerByReference errorJsonOut);

    static native int wxrefund_set_log_callback(
            int level, LogFn callback, Pointer userData, PointerByReference errorJsonOut);

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
