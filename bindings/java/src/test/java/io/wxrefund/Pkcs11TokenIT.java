package io.wxrefund;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;

import io.wxrefund.testing.Simulator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The merchant key in a SoftHSM2 token, from Java through the configuration alone
 * ({@code "signer": {"pkcs11": {...}}}). Not a {@code *Test}: scripts/test-java.sh runs it in
 * a JVM of its own, against a library built with the cargo feature {@code pkcs11}, with a
 * fresh token from scripts/softhsm.sh described by the system properties
 * {@code wxrefund.pkcs11.module}, {@code .token}, {@code .pinToken} (a second token, for the
 * wrong PIN), {@code .keyLabel}, {@code .pinEnv} and {@code .wrongPinEnv} (the names of the
 * environment variables holding the PINs).
 */
public class Pkcs11TokenIT {
    private static Simulator sim;

    @BeforeClass
    public static void start() throws Exception {
        sim = Simulator.start("--family", "domestic", "--settle-ms", "200");
    }

    @AfterClass
    public static void stop() throws Exception {
        if (sim != null) {
            sim.close();
        }
    }

    private static String property(String name) {
        String value = System.getProperty("wxrefund.pkcs11." + name);
        assertNotNull("-Dwxrefund.pkcs11." + name + " is required", value);
        return value;
    }

    /** The simulator's configuration with the token instead of the PEM key. */
    private static String tokenConfig(String token, String keyLabel, String pinEnv) {
        Map<String, Object> config = new LinkedHashMap<>(Json.parseObject(sim.configJson()));
        config.remove("private_key_pem");
        Map<String, Object> pkcs11 = new LinkedHashMap<>();
        pkcs11.put("module", property("module"));
        pkcs11.put("token_label", token);
        pkcs11.put("key_label", keyLabel);
        pkcs11.put("pin_env", pinEnv);
        Map<String, Object> signer = new LinkedHashMap<>();
        signer.put("pkcs11", pkcs11);
        config.put("signer", signer);
        return Json.write(config);
    }

    private static void assertNoPin(String text) {
        for (String variable : new String[] {property("pinEnv"), property("wrongPinEnv")}) {
            String pin = System.getenv(variable);
            assertNotNull(variable + " is not set", pin);
            assertFalse(text, text.contains(pin));
        }
    }

    @Test
    public void aRefundSignedByTheTokenSettles() throws Exception {
        String config = tokenConfig(property("token"), property("keyLabel"), property("pinEnv"));
        try (WxRefundClient client = new WxRefundClient(config)) {
            String no = J.unique("JP");
            String created =
                    client.createRefund(J.request("T20261122000001", no, 1, 10000, "CNY"));
            assertEquals("PROCESSING", J.status(created));
            assertEquals("SUCCESS", J.status(client.waitForFinal(J.byOutRefundNo(no), 20_000)));
        }
    }

    @Test
    public void aWrongPinNamesPinEnvWithoutEchoingIt() {
        WxRefundException e = assertThrows(WxRefundException.class, () -> new WxRefundClient(
                tokenConfig(property("pinToken"), property("keyLabel"), property("wrongPinEnv"))));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals("signer.pkcs11.pin_env", e.field());
        assertNoPin(e.getMessage());
        assertNoPin(e.errorJson());
    }

    @Test
    public void aMissingKeyLabelIsNamed() {
        WxRefundException e = assertThrows(WxRefundException.class, () -> new WxRefundClient(
                tokenConfig(property("token"), "no-such-key", property("pinEnv"))));
        assertEquals("INVALID_CONFIG", e.status());
        assertEquals("signer.pkcs11.key_label", e.field());
        assertNoPin(e.errorJson());
    }
}
