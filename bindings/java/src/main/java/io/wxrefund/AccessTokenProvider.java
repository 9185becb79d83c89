package io.wxrefund;

/**
 * Supplies WeCom access tokens from the host, e.g. from a cache shared by a fleet of
 * terminals (see {@link WxRefundClient#withTokenProvider}).
 *
 * <p>The library never calls a provider concurrently (for one client), but may call it from
 * any thread that uses the client, during a {@code createRefund} or {@code queryRefund} call.
 */
@FunctionalInterface
public interface AccessTokenProvider {
    /**
     * Returns a current access token.
     *
     * <p>Returning {@code null} or an empty token, a token longer than 1023 UTF-8 bytes, or
     * throwing anything fails the call in progress with an {@link WxRefundException}
     * ({@code API_ERROR}, kind {@code token_provider_failed}) whose cause is the exception
     * thrown; it never crashes the JVM.
     *
     * @param rejectedOrNull {@code null} on a first request, or the token WeCom just
     *     refused (expired or revoked): then return a fresh one
     * @return the token to use
     * @throws Exception any failure to obtain a token
     */
    String accessToken(String rejectedOrNull) throws Exception;
}
