package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.wxrefund.testing.Simulator;
import java.io.IOException;
import java.security.KeyFactory;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * {@link Signer}: requests signed by the host with {@code SHA256withRSA} and the simulator's
 * merchant key, which the library never sees; a failing signer is {@code SIGNER_FAILED} with
 * nothing sent.
 */
public class SignerTest {
    private static final String ORDER = "T20261122000001"; // 10000 fen

    private static Simulator sim;
    private static Simulator global;
    private static PrivateKey merchantKey;
    /** The simulator's configuration without {@code private_key_pem}. */
    private static String keylessConfig;

    @BeforeClass
    public static void start() throws Exception {
        sim = Simulator.start("--family", "domestic", "--settle-ms", "200");
        global = Simulator.start("--family", "global", "--settle-ms", "200");
        Map<String, Object> config = new LinkedHashMap<>(Json.parseObject(sim.configJson()));
        merchantKey = pkcs8((String) config.remove("private_key_pem"));
        keylessConfig = Json.write(config);
    }

    @AfterClass
    public static void stop() throws Exception {
        if (sim != null) {
            sim.close();
        }
        if (global != null) {
            global.close();
        }
    }

    /** An RSA private key from a PKCS#8 PEM ({@code BEGIN PRIVATE KEY}). */
    private static PrivateKey pkcs8(String pem) throws Exception {
        String base64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(base64);
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    /** SHA256withRSA with {@code key}: what an HSM's CKM_SHA256_RSA_PKCS gives. */
    private static byte[] sign(PrivateKey key, byte[] message) throws Exception {
        Signature signature = Signature.getInstance("SHA256withRSA");
        signature.initSign(key);
        signature.update(message);
        return signature.sign();
    }

    /** How many platform requests {@code simulator} has logged. */
    private static int requestCount(Simulator simulator) throws IOException {
        Object requests = J.at(simulator.requests(), "requests");
        return ((List<?>) requests).size();
    }

    @Test
    public void refundsAndQueriesWithAHostSigner() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Signer signer = message -> {
            calls.incrementAndGet();
            return sign(merchantKey, message);
        };
        try (WxRefundClient client = new WxRefundClient(keylessConfig, signer)) {
            String no = J.unique("JS");
            String created = client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"));
            assertEquals("PROCESSING", J.status(created));
            String settled = client.waitForFinal(J.byOutRefundNo(no), 20_000);
            assertEquals("SUCCESS", J.status(settled));
            // The certificate download, the apply and at least one query.
            assertTrue("signer calls: " + calls.get(), calls.get() >= 3);
        }
    }

    @Test
    public void signsGlobalRequestsToo() throws Exception {
        Map<String, Object> config = new LinkedHashMap<>(Json.parseObject(global.configJson()));
        PrivateKey key = pkcs8((String) config.remove("private_key_pem"));
        try (WxRefundClient client =
                new WxRefundClient(Json.write(config), message -> sign(key, message))) {
            String no = J.unique("JSG");
            String created =
                    client.createRefund(J.request("G20261122000001", no, 5, 10000, "USD"));
            assertEquals("ACCEPTED", J.status(created));
            assertEquals("SUCCESS", J.status(J.queryUntilFinal(client, J.byOutRefundNo(no))));
        }
    }

    @Test
    public void signsOnEveryCallingThreadAtOnce() throws Exception {
        int threads = 8;
        Set<Long> signingThreads = ConcurrentHashMap.newKeySet();
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger mostInside = new AtomicInteger();
        Signer signer = message -> {
            signingThreads.add(Thread.currentThread().getId());
            int now = inside.incrementAndGet();
            mostInside.accumulateAndGet(now, Math::max);
            try {
                Thread.sleep(20); // long enough for the other threads to come in
                return sign(merchantKey, message);
            } finally {
                inside.decrementAndGet();
            }
        };
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (WxRefundClient client = new WxRefundClient(keylessConfig, signer)) {
            client.queryRefund(J.byOutRefundNo(createOne(client))); // certificates, once
            signingThreads.clear();
            CyclicBarrier start = new CyclicBarrier(threads);
            Set<Long> workers = ConcurrentHashMap.newKeySet();
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                results.add(pool.submit(() -> {
                    workers.add(Thread.currentThread().getId());
                    start.await(10, TimeUnit.SECONDS);
                    String no = createOne(client);
                    return J.status(client.queryRefund(J.byOutRefundNo(no)));
                }));
            }
            for (Future<String> result : results) {
                String status = result.get(60, TimeUnit.SECONDS);
                assertTrue(status, "PROCESSING".equals(status) || "SUCCESS".equals(status));
            }
            // Called on each calling thread, and by several of them at once.
            assertEquals(workers, signingThreads);
            assertTrue("at most " + mostInside.get() + " at once", mostInside.get() >= 2);
        } finally {
            pool.shutdownNow();
        }
    }

    private static String createOne(WxRefundClient client) {
        String no = J.unique("JST");
        assertEquals("PROCESSING",
                J.status(client.createRefund(J.request(ORDER, no, 1, 10000, "CNY"))));
        return no;
    }

    @Test
    public void aThrowingSignerFailsTheCallAndNothingIsSent() throws Exception {
        IOException offline = new IOException("the HSM is offline");
        int before = requestCount(sim);
        try (WxRefundClient client = new WxRefundClient(keylessConfig, message -> {
            throw offline;
        })) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.createRefund(J.request(ORDER, J.unique("JSF"), 1, 10000, "CNY")));
            assertEquals("SIGNER_FAILED", e.status());
            assertEquals(17, e.statusCode());
            assertSame(offline, e.getCause());
            assertTrue(e.retryable());
            assertFalse(e.outcomeUnknown());
            assertEquals(0, e.attempts());
            // Queries and waits fail the same way, and the client stays usable.
            WxRefundException query = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo("JSF-none")));
            assertEquals("SIGNER_FAILED", query.status());
            assertSame(offline, query.getCause());
        }
        assertEquals("requests the simulator saw", before, requestCount(sim));
    }

    @Test
    public void aSignerReturningNoSignatureFails() throws Exception {
        List<Signer> broken = new ArrayList<>();
        broken.add(message -> null);
        broken.add(message -> new byte[0]);
        broken.add(message -> new byte[1025]);
        int before = requestCount(sim);
        for (Signer signer : broken) {
            try (WxRefundClient client = new WxRefundClient(keylessConfig, signer)) {
                WxRefundException e = assertThrows(WxRefundException.class,
                        () -> client.queryRefund(J.byOutRefundNo("JSN")));
                assertEquals("SIGNER_FAILED", e.status());
                assertTrue(String.valueOf(e.getCause()),
                        e.getCause() instanceof IllegalStateException);
            }
        }
        assertEquals(before, requestCount(sim));
    }

    @Test
    public void aSignatureWithAnotherKeyIsRefusedByThePlatform() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        PrivateKey stranger = generator.generateKeyPair().getPrivate();
        int before = requestCount(sim);
        try (WxRefundClient client =
                new WxRefundClient(keylessConfig, message -> sign(stranger, message))) {
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo("JSK")));
            // Sent, and refused by the platform: the signature is the signer's own.
            assertNotEquals("SIGNER_FAILED", e.status());
            assertEquals(Integer.valueOf(401), e.httpStatus());
        }
        assertTrue(requestCount(sim) > before);
    }

    @Test
    public void aPrivateKeyAndASignerTogetherAreRefused() {
        WxRefundException e = assertThrows(WxRefundException.class,
                () -> new WxRefundClient(sim.configJson(), message -> new byte[256]));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals("signer", e.field());
        assertThrows(NullPointerException.class,
                () -> new WxRefundClient(keylessConfig, (Signer) null));
    }

    @Test
    public void closingFromInsideTheSignerFailsTheCallInstead() throws Exception {
        WxRefundClient[] self = new WxRefundClient[1];
        try (WxRefundClient client = new WxRefundClient(keylessConfig, message -> {
            self[0].close();
            return sign(merchantKey, message);
        })) {
            self[0] = client;
            WxRefundException e = assertThrows(WxRefundException.class,
                    () -> client.queryRefund(J.byOutRefundNo("JSC")));
            assertEquals("SIGNER_FAILED", e.status());
            assertTrue(String.valueOf(e.getCause()),
                    e.getCause() instanceof IllegalStateException);
            assertFalse(client.isClosed());
        }
    }
}
