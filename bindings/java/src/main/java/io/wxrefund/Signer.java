package io.wxrefund;

/**
 * Signs a client's requests with a merchant key the library never sees: an HSM, a secure
 * element, a signing service (see {@link WxRefundClient#WxRefundClient(String, Signer)}).
 *
 * <p>The library calls it from any thread that uses the client, and from several at once:
 * make it thread-safe. It is kept reachable until the client is closed.
 */
@FunctionalInterface
public interface Signer {
    /**
     * Signs {@code message}, the exact bytes of one request's signing string, with
     * RSASSA-PKCS1-v1_5 over SHA-256 ({@code SHA256withRSA}, {@code CKM_SHA256_RSA_PKCS}).
     *
     * <p>Throwing anything, or returning {@code null}, an empty array or more than 1024
     * bytes, fails the call in progress with a {@link WxRefundException} of status
     * {@code SIGNER_FAILED} (17) whose cause is the exception thrown; its request is not
     * sent, and the JVM never crashes.
     *
     * @param message the bytes to sign (a copy: the signer may keep or change it)
     * @return the raw signature (256 bytes for an RSA-2048 key), not base64
     * @throws Exception any failure to sign
     */
    byte[] sign(byte[] message) throws Exception;
}
