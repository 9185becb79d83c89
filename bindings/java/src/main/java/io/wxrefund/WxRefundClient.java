package io.wxrefund;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A wxrefund client: applies for and queries WeChat Pay refunds (families {@code domestic},
 * {@code global}, {@code wecom}) and verifies refund notifications, JSON in and out.
 *
 * <p>Requests and answers use WeChat's own field names; answers are the platform's refund
 * object plus {@code "wxrefund": {"status", "final", "action_required", "refund_id",
 * "attempts", "elapsed_ms"}}. See the project README for the configuration fields and the
 * error table.
 *
 * <p>The library's log records (one per HTTP attempt at {@code FINE}, one per decision at
 * {@code INFO} or {@code WARNING}: a retry, a certificate download, a token renewal, a
 * notification verdict, the end of a wait) go to the {@code java.util.logging} logger
 * {@code io.wxrefund}, each with its fields as its one parameter, a
 * {@code Map<String, Object>}. They never carry a secret or a personal field.
 *
 * <p>A client is thread-safe: share one between threads. Close it when done (it is
 * {@link AutoCloseable}); a client that is never closed is freed once it is unreachable (a
 * phantom reference, reaped by a daemon thread: Java 8 has no {@code java.lang.ref.Cleaner}).
 * {@link #close()} waits for calls in flight on the client and is idempotent; calls after it
 * throw {@link WxRefundException} with status {@code INVALID_HANDLE}. Every
 * failure of the library is a {@link WxRefundException}; {@code null} arguments are a
 * {@link NullPointerException}.
 *
 * <pre>{@code
 * try (WxRefundClient client = new WxRefundClient(configJson)) {
 *     String refund = client.createRefund(
 *         "{\"out_trade_no\":\"T1\",\"out_refund_no\":\"R1\","
 *             + "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}");
 *     String settled = client.waitForFinal("{\"out_refund_no\":\"R1\"}", 60_000);
 * } catch (WxRefundException e) {
 *     if (e.outcomeUnknown()) { ... query before retrying ... }
 *     if ("TIMEOUT".equals(e.status())) { ... e.refundJson(): still PROCESSING ... }
 * }
 * }</pre>
 */
public final class WxRefundClient implements AutoCloseable {
    private final Handle handle;
    /** Frees {@link #handle} once this client is unreachable, unless closed before. */
    private final Reaper.Registration registration;
    /** Never set: read by {@link #reachabilityFence()}. */
    private volatile boolean fence;

    /**
     * Creates a client from a configuration JSON object. Loads and checks the keys; does not
     * touch the network.
     *
     * @param configJson the configuration (see the README's configuration table)
     * @throws WxRefundException {@code INVALID_JSON} or {@code INVALID_CONFIG} (with
     *     {@link WxRefundException#field()}), never echoing a secret
     * @throws NullPointerException if {@code configJson} is null
     */
    public WxRefundClient(String configJson) {
        this(Handle.open(configJson, null));
    }

    private WxRefundClient(Handle handle) {
        this.handle = handle;
        this.registration = Reaper.register(this, handle);
    }

    /**
     * Creates a mainland or Global client whose requests are signed by {@code signer}, with a
     * key the library never sees (an HSM, a secure element, a signing service).
     * {@code configJson} has {@code merchant_serial_no} and no {@code private_key_pem},
     * {@code private_key_file} or {@code signer}.
     *
     * <p>The signer is called for every request, from any thread that uses the client and
     * from several at once, and is kept reachable until the client is closed. When it fails
     * the call in progress throws {@link WxRefundException} with status
     * {@code SIGNER_FAILED}, the signer's exception as its cause, and nothing is sent.
     *
     * <p>A PKCS#11 token needs no Java code: give {@code "signer": {"pkcs11": {...}}} in the
     * configuration and use {@link #WxRefundClient(String)}.
     *
     * @param configJson the configuration, without a private key
     * @param signer signs each request with the merchant's key
     * @throws WxRefundException {@code INVALID_JSON} or {@code INVALID_CONFIG} (e.g. field
     *     {@code signer} when the configuration holds a private key too)
     * @throws NullPointerException if an argument is null
     */
    public WxRefundClient(String configJson, Signer signer) {
        this(Handle.open(configJson, new SignCallback(Objects.requireNonNull(signer, "signer"))));
    }

    /**
     * Creates a WeCom client whose access tokens come from {@code provider}, e.g. a cache
     * shared by a fleet of terminals. {@code configJson} is a {@code "wecom"} configuration
     * without {@code corpid}, {@code corpsecret} and {@code access_token}.
     *
     * <p>The library asks the provider for a token when it needs one, and asks again with the
     * rejected token when WeCom refuses it (expired or revoked). The provider is kept
     * reachable until the client is closed.
     *
     * @param configJson the WeCom configuration
     * @param provider supplies the access tokens
     * @return the new client
     * @throws WxRefundException {@code INVALID_JSON} or {@code INVALID_CONFIG}
     * @throws NullPointerException if an argument is null
     */
    public static WxRefundClient withTokenProvider(
            String configJson, AccessTokenProvider provider) {
        Objects.requireNonNull(provider, "provider");
        return new WxRefundClient(Handle.open(configJson, new TokenCallback(provider)));
    }

    /**
     * The library version, e.g. {@code "0.1.0"}.
     *
     * @return the version of the loaded native library
     */
    public static String version() {
        return WxRefundNative.staticString(WxRefundNative.wxrefund_version());
    }

    /**
     * The crypto backend the native library was built with: {@code "ring"} or {@code "aws-lc"}.
     *
     * @return the backend name of the loaded native library
     */
    public static String cryptoBackend() {
        return WxRefundNative.staticString(WxRefundNative.wxrefund_crypto_backend());
    }

    /**
     * Applies for a refund. {@code requestJson} is the request object of the client's family
     * with WeChat's field names (mainland: {@code out_refund_no}, {@code out_trade_no} or
     * {@code transaction_id}, {@code amount{refund,total,currency}}, ...). It is validated
     * before anything is sent. Blocks until the platform answers or the retries are spent.
     *
     * <p>The answer means "accepted" ({@code PROCESSING} or {@code ACCEPTED}): wait with
     * {@link #waitForFinal(String, long)}, or query until {@code "final": true}. On failure, when {@link WxRefundException#outcomeUnknown()},
     * query before retrying, and retry only with the same {@code out_refund_no} and amounts.
     *
     * @param requestJson the refund request
     * @return the platform's refund object plus {@code "wxrefund"}
     * @throws WxRefundException on any failure
     * @throws NullPointerException if {@code requestJson} is null
     */
    public String createRefund(String requestJson) {
        byte[] request = cString(requestJson, "request_json");
        try {
            return handle.call(
                    (client, out, error) ->
                            WxRefundNative.wxrefund_refund_create(client, request, out, error));
        } finally {
            reachabilityFence();
        }
    }

    /**
     * Sends the money of an {@code ABNORMAL} mainland refund another way
     * (apply-abnormal-refund). {@code requestJson} is {@code {"refund_id", "out_refund_no",
     * "type": "USER_BANK_CARD", "bank_type", "bank_account", "real_name"}} with the bank
     * details in plaintext (the library encrypts them with the platform's key before sending
     * and never echoes or logs them), or {@code "type": "MERCHANT_BANK_CARD"} without the
     * bank details; plus {@code "sub_mchid"} in partner mode when the configuration has no
     * default. Validated before anything is sent.
     *
     * <p>The binding wipes its UTF-8 copy of the request when the call returns; a Java
     * {@code String} cannot be wiped, so keep the one passed here short-lived.
     *
     * @param requestJson the apply-abnormal-refund request
     * @return the refund, {@code PROCESSING} again: wait for its final status with
     *     {@link #waitForFinal(String, long)}
     * @throws WxRefundException on any failure: {@code INVALID_REQUEST} with
     *     {@link WxRefundException#field()} for a request that breaks a rule (never quoting
     *     the bank details) or for a client of another family
     * @throws NullPointerException if {@code requestJson} is null
     */
    public String applyAbnormalRefund(String requestJson) {
        byte[] request = cString(requestJson, "request_json");
        try {
            return handle.call(
                    (client, out, error) ->
                            WxRefundNative.wxrefund_refund_apply_abnormal(
                                    client, request, out, error));
        } finally {
            Arrays.fill(request, (byte) 0);
            reachabilityFence();
        }
    }

    /**
     * Queries one refund by {@code {"out_refund_no": "..."}} or, for Global,
     * {@code {"refund_id": "..."}}; plus {@code "sub_mchid"} in partner or institution mode
     * when the configuration has no default.
     *
     * @param queryJson the query object
     * @return the platform's refund object plus {@code "wxrefund"}, its status normalized
     * @throws WxRefundException on any failure; {@code NOT_FOUND} for an unknown refund
     * @throws NullPointerException if {@code queryJson} is null
     */
    public String queryRefund(String queryJson) {
        byte[] query = cString(queryJson, "query_json");
        try {
            return handle.call(
                    (client, out, error) ->
                            WxRefundNative.wxrefund_refund_query(client, query, out, error));
        } finally {
            reachabilityFence();
        }
    }

    /**
     * Queries a refund until it is final ({@code SUCCESS}, {@code CLOSED}) or needs action
     * ({@code ABNORMAL}), within {@code timeoutMillis}: at once, then after 1, 2, 4, 8, 16 and
     * then every 30 seconds (within the platforms' rate limits), never past the timeout.
     * Network failures and busy answers are polled through; any other error ends the wait.
     *
     * <p>Blocks the calling thread for up to {@code timeoutMillis} and is not interruptible;
     * {@link #close()} waits for it. The answer's {@code wxrefund.attempts} counts every
     * request of the wait and {@code wxrefund.elapsed_ms} its whole duration.
     *
     * @param queryJson the query object, as for {@link #queryRefund(String)}
     * @param timeoutMillis how long to wait at most, in milliseconds (0: one query)
     * @return the refund, final or {@code ABNORMAL}, as {@link #queryRefund(String)} returns it
     * @throws WxRefundException status {@code TIMEOUT} when time runs out, with the last
     *     refund seen in {@link WxRefundException#refundJson()}; any other failure that ended
     *     the wait, e.g. {@code NOT_FOUND}
     * @throws IllegalArgumentException if {@code timeoutMillis} is negative
     * @throws NullPointerException if {@code queryJson} is null
     */
    public String waitForFinal(String queryJson, long timeoutMillis) {
        if (timeoutMillis < 0) {
            throw new IllegalArgumentException("timeoutMillis is negative: " + timeoutMillis);
        }
        byte[] query = cString(queryJson, "query_json");
        try {
            return handle.call(
                    (client, out, error) ->
                            WxRefundNative.wxrefund_refund_wait(
                                    client, query, timeoutMillis, out, error));
        } finally {
            reachabilityFence();
        }
    }

    /**
     * {@link #waitForFinal(String, long)} with the timeout as a {@link Duration}; one longer
     * than {@code Long.MAX_VALUE} milliseconds waits that long.
     *
     * @param queryJson the query object, as for {@link #queryRefund(String)}
     * @param timeout how long to wait at most
     * @return the refund, final or {@code ABNORMAL}
     * @throws WxRefundException {@code TIMEOUT} or any other failure that ended the wait
     * @throws IllegalArgumentException if {@code timeout} is negative
     * @throws NullPointerException if an argument is null
     */
    public String waitForFinal(String queryJson, Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout is negative: " + timeout);
        }
        long millis;
        try {
            millis = timeout.toMillis();
        } catch (ArithmeticException tooLong) {
            millis = Long.MAX_VALUE;
        }
        return waitForFinal(queryJson, millis);
    }

    /**
     * Verifies and decrypts a refund notification the host received.
     *
     * <p>On success, answer the platform with the result's {@code reply} (200, empty body) and
     * process each notification {@code id} once. On failure, answer
     * {@link WxRefundException#replyHttpStatus()} and {@link WxRefundException#replyBody()}
     * (e.g. 401 for {@code VERIFICATION_FAILED}); the platform delivers again later.
     *
     * @param headers the request's headers (names in any case; CGI names such as
     *     {@code HTTP_WECHATPAY_SIGNATURE} work); for WeCom callbacks the callback URL's query
     *     parameters {@code msg_signature}, {@code timestamp} and {@code nonce}
     * @param body the raw request body, exactly as received
     * @return {@code {"id", "event_type", "create_time", "resource_type", "summary",
     *     "refund": {...}, "reply": {"http_status", "body"}}}
     * @throws WxRefundException {@code VERIFICATION_FAILED}, {@code TIMESTAMP_OUT_OF_WINDOW},
     *     {@code DECRYPTION_FAILED}, {@code MALFORMED_NOTIFICATION}, ...
     * @throws NullPointerException if {@code headers}, a name or value in it, or {@code body}
     *     is null
     */
    public String parseNotification(Map<String, String> headers, byte[] body) {
        Objects.requireNonNull(headers, "headers");
        Objects.requireNonNull(body, "body");
        StringBuilder json = new StringBuilder("{");
        for (Map.Entry<String, String> header : headers.entrySet()) {
            if (json.length() > 1) {
                json.append(',');
            }
            Json.quote(json, Objects.requireNonNull(header.getKey(), "header name"));
            json.append(':');
            Json.quote(json, Objects.requireNonNull(header.getValue(), "header value"));
        }
        byte[] headersJson = cString(json.append('}').toString(), "headers_json");
        byte[] bodyCopy = body.clone();
        long length = bodyCopy.length;
        try {
            return handle.call(
                    (client, out, error) ->
                            WxRefundNative.wxrefund_notification_parse(
                                    client, headersJson, bodyCopy, length, out, error));
        } finally {
            reachabilityFence();
        }
    }

    /**
     * Frees the client: waits for calls in flight on it, then frees it and zeroes its secrets.
     * Idempotent and thread-safe; later calls throw {@link WxRefundException} with status
     * {@code INVALID_HANDLE}.
     *
     * @throws IllegalStateException if called on this client from inside one of its own calls
     *     (from its {@link AccessTokenProvider} or {@link Signer}), which would wait for
     *     itself
     */
    @Override
    public void close() {
        handle.free();
        registration.clean(); // already freed: this only unregisters the reaper's action
    }

    /**
     * Whether {@link #close()} was called (or the client was otherwise freed).
     *
     * @return true once the native client is freed
     */
    public boolean isClosed() {
        return handle.isFreed();
    }

    /**
     * Where the native library was loaded from: the jar's bundled copy (a {@code jar:} URL),
     * a file named by {@code -Dwxrefund.library} or found on {@code jna.library.path}, or the
     * system library path. Loads the library if it is not loaded yet.
     *
     * @return a URL, a file name, or {@code "the system library path"}
     */
    public static String nativeLibrary() {
        return WxRefundNative.LOADED_FROM;
    }

    /**
     * Keeps this client strongly reachable until here, as {@code Reference.reachabilityFence}
     * does on Java 9+: a volatile read of its field, which the JIT may neither drop nor move
     * before the native call's lock is taken. Without it, a client used once and dropped
     * ({@code new WxRefundClient(config).createRefund(...)}) could be reaped during the
     * call; the handle's lock makes that safe, but the call would fail as closed.
     */
    private void reachabilityFence() {
        if (fence) {
            throw new AssertionError("never set");
        }
    }

    /** Native clients created and not yet freed, in this JVM (for tests and diagnostics). */
    static long liveClients() {
        return Handle.LIVE.get();
    }

    /**
     * {@code s} as NUL-terminated UTF-8. A NUL inside or an unpaired surrogate (not
     * representable in UTF-8) is {@code INVALID_ARGUMENT}, as invalid UTF-8 is for the C ABI.
     */
    static byte[] cString(String s, String name) {
        Objects.requireNonNull(s, name);
        if (s.indexOf('\0') >= 0) {
            throw WxRefundException.local(
                    WxRefundNative.INVALID_ARGUMENT,
                    "nul_in_string",
                    name + ": contains a NUL character",
                    name);
        }
        byte[] bytes = utf8(s, name);
        byte[] terminated = new byte[bytes.length + 1];
        System.arraycopy(bytes, 0, terminated, 0, bytes.length);
        return terminated;
    }

    /** Strict UTF-8: an unpaired surrogate is {@code INVALID_ARGUMENT}, never a silent '?'. */
    static byte[] utf8(String s, String name) {
        try {
            ByteBuffer encoded =
                    StandardCharsets.UTF_8
                            .newEncoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .encode(CharBuffer.wrap(s));
            byte[] bytes = new byte[encoded.remaining()];
            encoded.get(bytes);
            return bytes;
        } catch (CharacterCodingException e) {
            throw WxRefundException.local(
                    WxRefundNative.INVALID_ARGUMENT,
                    "invalid_utf16",
                    name + ": contains an unpaired surrogate, which has no UTF-8 form",
                    name);
        }
    }

    /** One native operation on a live client handle. */
    @FunctionalInterface
    private interface NativeCall {
        int call(Pointer client, PointerByReference out, PointerByReference error);
    }

    /**
     * The native client and everything that must live as long as it: the {@link Reaper}'s
     * action, so it never refers to the {@link WxRefundClient}.
     *
     * <p>Calls hold the read lock, {@link #free()} the write lock: a call never runs on a freed
     * (and perhaps reused) handle address, and free waits for calls in flight.
     */
    private static final class Handle implements Runnable {
        static final AtomicLong LIVE = new AtomicLong();

        private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
        private Pointer client; // guarded by lock; null once freed: the once-only close flag
        private HostCallback callback; // strong reference: the native trampoline lives with it
        private volatile boolean freed; // for isFreed() without waiting on the lock

        private Handle(Pointer client, HostCallback callback) {
            this.client = client;
            this.callback = callback;
        }

        static Handle open(String configJson, HostCallback callback) {
            byte[] config = cString(configJson, "config_json");
            PointerByReference out = new PointerByReference();
            PointerByReference error = new PointerByReference();
            int status;
            if (callback instanceof TokenCallback) {
                status =
                        WxRefundNative.wxrefund_client_new_with_token_provider(
                                config, (TokenCallback) callback, null, out, error);
            } else if (callback instanceof SignCallback) {
                status =
                        WxRefundNative.wxrefund_client_new_with_signer(
                                config, (SignCallback) callback, null, out, error);
            } else {
                status = WxRefundNative.wxrefund_client_new(config, out, error);
            }
            if (status != WxRefundNative.OK) {
                throw new WxRefundException(status, WxRefundNative.take(error.getValue()), null);
            }
            WxRefundNative.take(error.getValue()); // never set on success; freed if it were
            Pointer client = out.getValue();
            if (client == null) {
                throw WxRefundException.local(
                        WxRefundNative.INTERNAL,
                        "null_handle",
                        "the library returned no client",
                        null);
            }
            LIVE.incrementAndGet();
            return new Handle(client, callback);
        }

        String call(NativeCall operation) {
            lock.readLock().lock();
            try {
                if (client == null) {
                    throw WxRefundException.local(
                            WxRefundNative.INVALID_HANDLE,
                            "closed",
                            "the client is closed",
                            null);
                }
                if (callback != null) {
                    callback.takeFailure(); // nothing stale from an earlier call on this thread
                }
                PointerByReference out = new PointerByReference();
                PointerByReference error = new PointerByReference();
                int status = operation.call(client, out, error);
                String result;
                String errorJson;
                try {
                    result = WxRefundNative.take(out.getValue());
                } finally {
                    errorJson = WxRefundNative.take(error.getValue());
                }
                Throwable cause = callback == null ? null : callback.takeFailure();
                if (status != WxRefundNative.OK) {
                    throw new WxRefundException(status, errorJson, cause);
                }
                if (result == null) {
                    throw WxRefundException.local(
                            WxRefundNative.INTERNAL,
                            "null_output",
                            "the library returned no output",
                            null);
                }
                return result;
            } finally {
                lock.readLock().unlock();
            }
        }

        boolean isFreed() {
            return freed;
        }

        /** Frees the native client once; later calls do nothing. */
        void free() {
            if (lock.getReadHoldCount() > 0) {
                throw new IllegalStateException(
                        "close() called from inside a call on the same client");
            }
            lock.writeLock().lock();
            try {
                if (client != null) {
                    WxRefundNative.wxrefund_client_free(client);
                    client = null;
                    callback = null;
                    freed = true;
                    LIVE.decrementAndGet();
                }
            } finally {
                lock.writeLock().unlock();
            }
        }

        /** The {@link Reaper}'s action for a client that was never closed. */
        @Override
        public void run() {
            free();
        }
    }

    /**
     * A host callback the library calls during a call on the client, on the calling thread:
     * what it threw is kept for that call's exception.
     */
    private abstract static class HostCallback {
        /** What the host's code threw, kept for the caller's exception (same thread). */
        private final ThreadLocal<Throwable> failure = new ThreadLocal<>();

        /** Keeps {@code t} as the cause of the failing call; returns the failure code 1. */
        final int fail(Throwable t) {
            if (t instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            try {
                failure.set(t);
            } catch (Throwable ignored) {
                // Out of memory, say: the call still fails, only without the cause.
            }
            return 1;
        }

        final Throwable takeFailure() {
            Throwable t = failure.get();
            failure.remove();
            return t;
        }
    }

    /**
     * The {@code wxrefund_sign_fn} the library calls: asks the {@link Signer} and never lets an
     * exception cross into native code.
     */
    private static final class SignCallback extends HostCallback
            implements WxRefundNative.SignFn {
        private final Signer signer;

        SignCallback(Signer signer) {
            this.signer = signer;
        }

        @Override
        public int invoke(
                Pointer userData,
                Pointer message,
                long messageLen,
                Pointer signatureOut,
                long signatureCapacity,
                Pointer signatureLenOut) {
            try {
                if (messageLen < 0 || messageLen > Integer.MAX_VALUE) {
                    throw new IllegalStateException("a message of " + messageLen + " bytes");
                }
                byte[] bytes =
                        messageLen == 0 ? new byte[0] : message.getByteArray(0, (int) messageLen);
                byte[] signature = signer.sign(bytes);
                if (signature == null || signature.length == 0) {
                    throw new IllegalStateException("the signer returned no signature");
                }
                if (signature.length > signatureCapacity) {
                    throw new IllegalStateException(
                            "the signer returned "
                                    + signature.length
                                    + " bytes, more than the "
                                    + signatureCapacity
                                    + " an RSA signature can have");
                }
                signatureOut.write(0, signature, 0, signature.length);
                signatureLenOut.setLong(0, signature.length); // size_t: 64-bit, checked at load
                return 0;
            } catch (Throwable t) {
                return fail(t);
            }
        }
    }

    /**
     * The {@code wxrefund_access_token_fn} the library calls: asks the
     * {@link AccessTokenProvider} and never lets an exception cross into native code.
     */
    private static final class TokenCallback extends HostCallback
            implements WxRefundNative.AccessTokenFn {
        private final AccessTokenProvider provider;

        TokenCallback(AccessTokenProvider provider) {
            this.provider = provider;
        }

        @Override
        public int invoke(
                Pointer userData,
                Pointer rejectedToken,
                Pointer tokenOut,
                long tokenCapacity) {
            try {
                String rejected =
                        rejectedToken == null ? null : rejectedToken.getString(0, "UTF-8");
                String token = provider.accessToken(rejected);
                if (token == null || token.isEmpty()) {
                    throw new IllegalStateException("the access token provider returned no token");
                }
                if (token.indexOf('\0') >= 0) {
                    throw new IllegalStateException("the access token contains a NUL character");
                }
                byte[] bytes = utf8(token, "access_token");
                if (tokenOut == null || bytes.length + 1L > tokenCapacity) {
                    throw new IllegalStateException(
                            "the access token is longer than "
                                    + (tokenCapacity - 1)
                                    + " bytes");
                }
                tokenOut.write(0, bytes, 0, bytes.length);
                tokenOut.setByte(bytes.length, (byte) 0);
                return 0;
            } catch (Throwable t) {
                return fail(t);
            }
        }
    }
}
