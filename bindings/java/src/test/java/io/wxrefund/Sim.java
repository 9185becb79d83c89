package io.wxrefund;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A {@code wxrefund-sim} subprocess and the client configuration it printed. */
final class Sim implements AutoCloseable {
    private final Process process;
    private final Path configFile;
    private final Path logFile;
    /** The configuration JSON as printed. */
    final String configJson;
    /** The configuration, parsed. */
    final Map<String, Object> config;

    private Sim(Process process, Path configFile, Path logFile, String configJson) {
        this.process = process;
        this.configFile = configFile;
        this.logFile = logFile;
        this.configJson = configJson;
        this.config = Json.parseObject(configJson);
    }

    /**
     * Starts {@code target/debug/wxrefund-sim} (or {@code -Dwxrefund.sim=PATH}) with
     * {@code --settle-ms 200} and {@code args}; it stops when this JVM closes its stdin.
     */
    static Sim start(String... args) throws IOException, InterruptedException {
        String binary = System.getProperty("wxrefund.sim", "target/debug/wxrefund-sim");
        Path configFile = Files.createTempFile("wxrefund-sim-", ".json");
        Path logFile = Files.createTempFile("wxrefund-sim-", ".log");
        List<String> command = new ArrayList<>(List.of(
                binary, "--settle-ms", "200", "--config-out", configFile.toString(),
                "--exit-on-stdin-eof"));
        command.addAll(Arrays.asList(args));
        Process process = new ProcessBuilder(command)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(logFile.toFile())
                .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < deadline) {
            String text = Files.readString(configFile, StandardCharsets.UTF_8);
            if (text.endsWith("\n")) {
                return new Sim(process, configFile, logFile, text.trim());
            }
            if (!process.isAlive()) {
                break;
            }
            Thread.sleep(20);
        }
        process.destroy();
        String log = Files.readString(logFile, StandardCharsets.UTF_8);
        Files.deleteIfExists(configFile);
        Files.deleteIfExists(logFile);
        throw new IllegalStateException("wxrefund-sim " + command + " did not start:\n" + log);
    }

    /** The configuration with {@code changes} applied (a null value removes the field). */
    String configWith(Object... changes) {
        Map<String, Object> copy = new LinkedHashMap<>(config);
        for (int i = 0; i < changes.length; i += 2) {
            String name = (String) changes[i];
            if (changes[i + 1] == null) {
                copy.remove(name);
            } else {
                copy.put(name, changes[i + 1]);
            }
        }
        return Json.write(copy);
    }

    String baseUrl() {
        return (String) config.get("base_url");
    }

    @Override
    public void close() throws IOException {
        process.getOutputStream().close(); // --exit-on-stdin-eof
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(configFile);
        Files.deleteIfExists(logFile);
    }
}
