/*
 * The benchmark workload through the C ABI (scripts/bench.sh builds and runs it):
 *
 *   bench CONFIG_JSON_FILE ORDER_PREFIX CALLS BACKEND
 *
 * against a running wxrefund-sim seeded with orders ORDER_PREFIX00000000, ... (4000 fen,
 * 40 refunds of 100 fen each). Measures process CPU time (the simulator is another
 * process; the library starts no thread): wxrefund_client_new, then, after a warm-up that
 * downloads the platform certificates, CALLS creates of new refunds and CALLS queries.
 * Prints one JSON line per figure, as the peer drivers do (benches/peers/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wxrefund.h"

#define WARMUP 5
#define REFUNDS_PER_ORDER 40
#define REFUND_FEN 100

static double seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *grown = realloc(text, cap);
            if (!grown) { free(text); fclose(f); return NULL; }
            text = grown;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (text) text[len] = '\0';
    return text;
}

static void check(wxrefund_status status, char *error_json, const char *what) {
    if (status == WXREFUND_STATUS_OK) return;
    fprintf(stderr, "bench: %s failed: %s\n", what, error_json ? error_json : wxrefund_status_name(status));
    exit(1);
}

static const char *prefix;
static long run_id;

static void refund_number(long k, char *out, size_t size) {
    snprintf(out, size, "%s-c-%ld-%06ld", prefix, run_id, k);
}

static void create(const struct wxrefund_client *client, long k) {
    char request[512], out_refund_no[64];
    refund_number(k, out_refund_no, sizeof out_refund_no);
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"%s%08ld\",\"out_refund_no\":\"%s\","
             "\"amount\":{\"refund\":%d,\"total\":%d,\"currency\":\"CNY\"}}",
             prefix, k / REFUNDS_PER_ORDER, out_refund_no, REFUND_FEN, REFUND_FEN * REFUNDS_PER_ORDER);
    char *response = NULL, *error = NULL;
    check(wxrefund_refund_create(client, request, &response, &error), error, "create");
    if (!strstr(response, "\"refund_id\"")) check(WXREFUND_STATUS_INTERNAL, response, "create (no refund_id)");
    wxrefund_string_free(response);
}

static void query(const struct wxrefund_client *client, long k) {
    char request[128], out_refund_no[64];
    refund_number(k, out_refund_no, sizeof out_refund_no);
    snprintf(request, sizeof request, "{\"out_refund_no\":\"%s\"}", out_refund_no);
    char *response = NULL, *error = NULL;
    check(wxrefund_refund_query(client, request, &response, &error), error, "query");
    wxrefund_string_free(response);
}

static void report(const char *backend, const char *op, long calls, double cpu, double wall) {
    printf("{\"driver\": \"wxrefund-c\", \"backend\": \"%s\", \"op\": \"%s\", \"calls\": %ld, "
           "\"cpu_us_per_call\": %.1f, \"wall_us_per_call\": %.1f}\n",
           backend, op, calls, cpu / (double)calls * 1e6, wall / (double)calls * 1e6);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench CONFIG_JSON_FILE ORDER_PREFIX CALLS BACKEND\n");
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) { perror(argv[1]); return 2; }
    prefix = argv[2];
    long calls = strtol(argv[3], NULL, 10);
    const char *backend = argv[4];
    if (calls <= 0) { fprintf(stderr, "bench: CALLS must be positive\n"); return 2; }
    run_id = (long)getpid();

    /* Key loading, apart: the median of 21 clients. */
    double samples[21];
    for (int i = 0; i < 21; i++) {
        struct wxrefund_client *client = NULL;
        char *error = NULL;
        double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
        check(wxrefund_client_new(config, &client, &error), error, "client_new");
        samples[i] = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
        wxrefund_client_free(client);
    }
    for (int i = 1; i < 21; i++)
        for (int j = i; j > 0 && samples[j - 1] > samples[j]; j--) {
            double t = samples[j]; samples[j] = samples[j - 1]; samples[j - 1] = t;
        }
    report(backend, "client_new", 1, samples[10], samples[10]);

    struct wxrefund_client *client = NULL;
    char *error = NULL;
    check(wxrefund_client_new(config, &client, &error), error, "client_new");
    for (long k = 0; k < WARMUP; k++) create(client, calls + k);

    double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID), wall = seconds(CLOCK_MONOTONIC);
    for (long k = 0; k < calls; k++) create(client, k);
    report(backend, "create", calls, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu, seconds(CLOCK_MONOTONIC) - wall);

    cpu = seconds(CLOCK_PROCESS_CPUTIME_ID), wall = seconds(CLOCK_MONOTONIC);
    for (long k = 0; k < calls; k++) query(client, k);
    report(backend, "query", calls, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu, seconds(CLOCK_MONOTONIC) - wall);

    wxrefund_client_free(client);
    free(config);
    return 0;
}
