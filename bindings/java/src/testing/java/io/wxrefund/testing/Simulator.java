package io.wxrefund.testing;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code wxrefund-sim} subprocess for tests, with its client configuration and its control
 * API under {@code /_sim/}.
 *
 * <p>The binary is, in this order: the {@code wxrefund.sim} system property, the
 * {@code WXREFUND_SIM} environment variable, or the copy shipped in the testing jar under
 * {@code io/wxrefund/testing/linux-x86-64/wxrefund-sim} (extracted to a temporary file).
 */
public final class Simulator implements AutoCloseable {
    /** The resource path of the bundled binary. */
    public static final String RESOURCE = "io/wxrefund/testing/linux-x86-64/wxrefund-sim";
    private static final Pattern READY =
            Pattern.compile("^wxrefund-sim ready on (http://127\\.0\\.0\\.1:[0-9]+) .*");
    private static final long START_TIMEOUT_MS = 15_000;

    private final Process process;
    private final Path configFile;
    private final Path extracted;
    private final String configJson;
    private final String baseUrl;

    private Simulator(Process process, Path configFile, Path extracted, String configJson,
            String baseUrl) {
        this.process = process;
        this.configFile = configFile;
        this.extracted = extracted;
        this.configJson = configJson;
        this.baseUrl = baseUrl;
    }

    /**
     * Starts the simulator with {@code --config-out} a temporary file and {@code args}, and
     * waits (at most 15 s) for its ready line.
     *
     * @param args further command-line arguments, such as {@code "--family", "global"}
     * @return the running simulator
     * @throws IOException when no binary is found or it does not start
     */
    public static Simulator start(String... args) throws IOException {
        Path extracted = null;
        String binary = System.getProperty("wxrefund.sim");
        if (binary == null || binary.isEmpty()) {
            binary = System.getenv("WXREFUND_SIM");
        }
        if (binary == null || binary.isEmpty()) {
            extracted = extract();
            binary = extracted.toString();
        }
        Path configFile = Files.createTempFile("wxrefund-sim-", ".json");
        Files.delete(configFile); // the simulator creates it (mode 0600)
        List<String> command = new ArrayList<String>(Arrays.asList(binary,
                "--config-out", configFile.toString(), "--exit-on-stdin-eof"));
        command.addAll(Arrays.asList(args));
        final Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            deleteQuietly(extracted);
            throw e;
        }
        final String[] ready = new String[1];
        final StringBuilder output = new StringBuilder();
        Thread reader = new Thread(new Runnable() {
            @Override
            public void run() {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(
                        process.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = in.readLine()) != null) {
                        synchronized (ready) {
                            Matcher m = READY.matcher(line);
                            if (ready[0] == null && m.matches()) {
                                ready[0] = m.group(1);
                                ready.notifyAll();
                            } else if (output.length() < 65536) {
                                output.append(line).append('\n');
                            }
                        }
                    }
                } catch (IOException e) {
                    // the process ended
                }
                synchronized (ready) {
                    ready.notifyAll();
                }
            }
        }, "wxrefund-sim output");
        reader.setDaemon(true);
        reader.start();
        String url;
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        synchronized (ready) {
            while (ready[0] == null && process.isAlive()
                    && System.currentTimeMillis() < deadline) {
                try {
                    ready.wait(Math.max(1, Math.min(100, deadline - System.currentTimeMillis())));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            url = ready[0];
        }
        if (url == null) {
            stop(process);
            Files.deleteIfExists(configFile);
            deleteQuietly(extracted);
            String text;
            synchronized (ready) {
                text = output.toString();
            }
            throw new IOException("wxrefund-sim " + command + " did not start within "
                    + START_TIMEOUT_MS + " ms:\n" + text);
        }
        String config = new String(Files.readAllBytes(configFile), StandardCharsets.UTF_8).trim();
        return new Simulator(process, configFile, extracted, config, url);
    }

    private static Path extract() throws IOException {
        ClassLoader loader = Simulator.class.getClassLoader();
        InputStream in = loader == null ? ClassLoader.getSystemResourceAsStream(RESOURCE)
                : loader.getResourceAsStream(RESOURCE);
        if (in == null) {
            throw new IOException("no wxrefund-sim binary: set the system property wxrefund.sim"
                    + " or the environment variable WXREFUND_SIM to its path, or put the testing"
                    + " jar (with " + RESOURCE + ", Linux x86-64 only) on the classpath");
        }
        Path file = Files.createTempFile("wxrefund-sim-", "");
        try (InputStream source = in) {
            Files.copy(source, file, StandardCopyOption.REPLACE_EXISTING);
        }
        File asFile = file.toFile();
        if (!asFile.setExecutable(true, true)) {
            Files.deleteIfExists(file);
            throw new IOException("cannot make " + file + " executable");
        }
        return file;
    }

    /**
     * The client configuration JSON the simulator wrote, for {@code new WxRefundClient(...)}.
     *
     * @return the configuration JSON text
     */
    public String configJson() {
        return configJson;
    }

    /**
     * The simulator's base URL, {@code http://127.0.0.1:PORT}, from its ready line.
     *
     * @return the base URL, without a trailing slash
     */
    public String baseUrl() {
        return baseUrl;
    }

    /**
     * Adds (or replaces) an order: {@code POST /_sim/orders}.
     *
     * @param family {@code "domestic"}, {@code "global"} or {@code "wecom"}
     * @param fields the order's fields, as in an {@code --orders} file (strings, numbers,
     *     booleans or null)
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the order
     */
    public String addOrder(String family, Map<String, ?> fields) throws IOException {
        StringBuilder json = new StringBuilder("{\"family\":").append(quote(family));
        for (Map.Entry<String, ?> field : fields.entrySet()) {
            json.append(',').append(quote(field.getKey())).append(':')
                    .append(value(field.getValue()));
        }
        return addOrder(json.append('}').toString());
    }

    /**
     * Adds (or replaces) an order given as a JSON object with its {@code family}:
     * {@code POST /_sim/orders}.
     *
     * @param orderJson the request body
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the order
     */
    public String addOrder(String orderJson) throws IOException {
        return call("POST", "/_sim/orders", orderJson);
    }

    /**
     * Queues a fault for the next {@code count} refund requests: {@code POST /_sim/faults}.
     *
     * @param kind {@code SYSTEM_ERROR}, {@code RATE_LIMITED}, {@code DROP_AFTER_COMMIT},
     *     {@code BAD_SIGNATURE}, {@code PROBE_SIGNATURE} or {@code UNSIGNED}
     * @param count how many requests it affects (at least 1)
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the fault
     */
    public String inject(String kind, int count) throws IOException {
        return call("POST", "/_sim/faults",
                "{\"kind\":" + quote(kind) + ",\"count\":" + count + "}");
    }

    /**
     * Queues a {@code DELAY} fault: the next {@code count} refund requests are answered after
     * {@code delayMs} milliseconds.
     *
     * @param count how many requests it affects
     * @param delayMs the delay in milliseconds
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the fault
     */
    public String injectDelay(int count, long delayMs) throws IOException {
        return call("POST", "/_sim/faults",
                "{\"kind\":\"DELAY\",\"count\":" + count + ",\"delay_ms\":" + delayMs + "}");
    }

    /**
     * Queues a {@code CLOCK_SKEW} fault: the next {@code count} answers are signed with a
     * timestamp {@code skewSecs} seconds off.
     *
     * @param count how many requests it affects
     * @param skewSecs the skew in seconds
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the fault
     */
    public String injectClockSkew(int count, long skewSecs) throws IOException {
        return call("POST", "/_sim/faults", "{\"kind\":\"CLOCK_SKEW\",\"count\":" + count
                + ",\"skew_secs\":" + skewSecs + "}");
    }

    /**
     * Settles a processing refund now: {@code POST /_sim/refunds/{no}/settle}.
     *
     * @param outRefundNo the refund's {@code out_refund_no}
     * @param status {@code SUCCESS}, {@code CLOSED} or {@code ABNORMAL}
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the refund is unknown (404) or already final (409)
     */
    public String settle(String outRefundNo, String status) throws IOException {
        return call("POST", "/_sim/refunds/" + URLEncoder.encode(outRefundNo, "UTF-8")
                .replace("+", "%20") + "/settle", "{\"status\":" + quote(status) + "}");
    }

    /**
     * Shifts the timestamp of every signature by {@code secs} seconds (0 restores):
     * {@code POST /_sim/clock}.
     *
     * @param secs the skew in seconds
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the skew
     */
    public String skewClock(long secs) throws IOException {
        return call("POST", "/_sim/clock", "{\"skew_secs\":" + secs + "}");
    }

    /**
     * Signs with the next platform certificate from now on:
     * {@code POST /_sim/certificates/rotate}.
     *
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException on an API error
     */
    public String rotateCertificate() throws IOException {
        return call("POST", "/_sim/certificates/rotate", null);
    }

    /**
     * Revokes every WeCom token issued so far: {@code POST /_sim/wecom/tokens/revoke}.
     *
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException on an API error
     */
    public String revokeWecomTokens() throws IOException {
        return call("POST", "/_sim/wecom/tokens/revoke", null);
    }

    /**
     * Queues a notification fault: {@code POST /_sim/notifications/faults}.
     *
     * @param kind {@code DUPLICATE}, {@code PROBE}, {@code BAD_SIGNATURE}, {@code TAMPERED},
     *     {@code WRONG_KEY} or {@code STALE}
     * @param count how many notifications it affects
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the simulator refuses the fault
     */
    public String injectNotification(String kind, int count) throws IOException {
        return call("POST", "/_sim/notifications/faults",
                "{\"kind\":" + quote(kind) + ",\"count\":" + count + "}");
    }

    /**
     * Delivers the notification with envelope {@code id} once more, now:
     * {@code POST /_sim/notifications/{id}/redeliver}.
     *
     * @param id the envelope id, from {@link #state()}'s deliveries
     * @return the answer's JSON text
     * @throws IOException on a connection error
     * @throws SimulatorException when the notification is unknown (404)
     */
    public String redeliver(String id) throws IOException {
        return call("POST", "/_sim/notifications/" + URLEncoder.encode(id, "UTF-8")
                .replace("+", "%20") + "/redeliver", null);
    }

    /**
     * Orders, refunds, deliveries, queued faults, skew and rotation: {@code GET /_sim/state}.
     *
     * @return the state's JSON text
     * @throws IOException on a connection error
     */
    public String state() throws IOException {
        return call("GET", "/_sim/state", null);
    }

    /**
     * The last 1,000 platform requests with their verdicts: {@code GET /_sim/requests}.
     *
     * @return the request log's JSON text
     * @throws IOException on a connection error
     */
    public String requests() throws IOException {
        return call("GET", "/_sim/requests", null);
    }

    /**
     * Back to the start state: {@code POST /_sim/reset}.
     *
     * @return the answer's JSON text
     * @throws IOException on a connection error
     */
    public String reset() throws IOException {
        return call("POST", "/_sim/reset", null);
    }

    private String call(String method, String path, String body) throws IOException {
        HttpURLConnection connection =
                (HttpURLConnection) new URL(baseUrl + path).openConnection();
        try {
            connection.setRequestMethod(method);
            connection.setConnectTimeout(10_000);
            connection.setReadTimeout(30_000);
            connection.setUseCaches(false);
            if (body != null || "POST".equals(method)) {
                byte[] bytes = (body == null ? "" : body).getBytes(StandardCharsets.UTF_8);
                connection.setDoOutput(true);
                connection.setRequestProperty("Content-Type", "application/json");
                connection.setFixedLengthStreamingMode(bytes.length);
                try (OutputStream out = connection.getOutputStream()) {
                    out.write(bytes);
                }
            }
            int status = connection.getResponseCode();
            InputStream in = status >= 400 ? connection.getErrorStream()
                    : connection.getInputStream();
            String text = in == null ? "" : readAll(in);
            if (status >= 400) {
                throw new SimulatorException(method + " " + path, status, text);
            }
            return text;
        } finally {
            connection.disconnect();
        }
    }

    private static String readAll(InputStream in) throws IOException {
        try (InputStream source = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            int n;
            while ((n = source.read(buffer)) > 0) {
                out.write(buffer, 0, n);
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
    }

    private static String value(Object value) {
        if (value == null || value instanceof Number || value instanceof Boolean) {
            return String.valueOf(value);
        }
        return quote(value.toString());
    }

    static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    /**
     * Stops the simulator (closing its stdin, then forcibly after 5 s) and deletes its
     * temporary files.
     *
     * @throws IOException when a temporary file cannot be deleted
     */
    @Override
    public void close() throws IOException {
        stop(process);
        Files.deleteIfExists(configFile);
        deleteQuietly(extracted);
    }

    private static void stop(Process process) {
        try {
            process.getOutputStream().close(); // --exit-on-stdin-eof
        } catch (IOException e) {
            // already gone
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroy();
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static void deleteQuietly(Path file) {
        if (file != null) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                file.toFile().deleteOnExit();
            }
        }
    }

}
