/*
 * wxrefund_client_new_with_signer against the simulator: the merchant key is not
 * in the configuration, and the callback signs with `openssl dgst -sha256 -sign`
 * (a stand-in for an HSM). A refund is applied and waited for; 8 threads sign at
 * once; a failing, empty, oversized or wrong signature fails the call, and when
 * the signer fails nothing reaches the simulator (its /_sim/requests log).
 * Built with -Wall -Wextra -Werror and run under valgrind by scripts/test-c.sh:
 *   signer_test KEYLESS_CONFIG_FILE MERCHANT_KEY_FILE FULL_CONFIG_FILE
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_http.h"
#include "test_util.h"
#include "wxrefund.h"

/* What the test signer does. */
enum sign_mode { SIGN_OK, SIGN_FAIL, SIGN_EMPTY, SIGN_TOO_LONG, SIGN_CORRUPT };

/* The callback's user_data: settings and what the calls saw (updated atomically). */
struct signer {
    const char *key_file;
    enum sign_mode mode;
    int pause_ms; /* hold each call this long, so that calls overlap */
    int calls;
    int inside;
    int most_inside;
    int bad_arguments; /* calls whose arguments broke the documented contract */
};

/* Signs `message` with the key in `key_file` by running openssl; 0 on success. */
static int openssl_sign(const char *key_file, const uint8_t *message, size_t len, uint8_t *out, size_t capacity,
                        size_t *out_len) {
    char path[] = "/tmp/wxrefund-signer-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    size_t written = 0;
    while (written < len) {
        ssize_t n = write(fd, message + written, len - written);
        if (n <= 0) break;
        written += (size_t)n;
    }
    close(fd);
    int result = -1;
    char command[2048];
    int n = snprintf(command, sizeof command, "openssl dgst -sha256 -sign '%s' '%s'", key_file, path);
    FILE *pipe = written == len && n > 0 && (size_t)n < sizeof command ? popen(command, "r") : NULL;
    if (pipe) {
        size_t got = fread(out, 1, capacity, pipe);
        if (pclose(pipe) == 0 && got > 0 && got < capacity) {
            *out_len = got;
            result = 0;
        }
    }
    unlink(path);
    return result;
}

static int sign_with_openssl(void *user_data, const uint8_t *message, size_t message_len, uint8_t *signature_out,
                             size_t signature_capacity, size_t *signature_len_out) {
    struct signer *s = user_data;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
    /* The signing string is METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n; the room is 1024 bytes. */
    if (!message || message_len < 8 || message[message_len - 1] != '\n' || signature_capacity != 1024 ||
        !signature_out || !signature_len_out ||
        (memcmp(message, "GET\n", 4) != 0 && memcmp(message, "POST\n", 5) != 0))
        __atomic_add_fetch(&s->bad_arguments, 1, __ATOMIC_SEQ_CST);
    int now = __atomic_add_fetch(&s->inside, 1, __ATOMIC_SEQ_CST);
    int most = __atomic_load_n(&s->most_inside, __ATOMIC_SEQ_CST);
    while (now > most && !__atomic_compare_exchange_n(&s->most_inside, &most, now, 0, __ATOMIC_SEQ_CST,
                                                      __ATOMIC_SEQ_CST)) {
    }
    if (s->pause_ms > 0) {
        struct timespec pause = {0, (long)s->pause_ms * 1000000L};
        nanosleep(&pause, NULL);
    }
    int result = 0;
    switch (s->mode) {
    case SIGN_FAIL:
        result = 7;
        break;
    case SIGN_EMPTY:
        *signature_len_out = 0;
        break;
    case SIGN_TOO_LONG:
        *signature_len_out = signature_capacity + 1;
        break;
    case SIGN_OK:
    case SIGN_CORRUPT:
        result = openssl_sign(s->key_file, message, message_len, signature_out, signature_capacity,
                              signature_len_out);
        if (result == 0 && s->mode == SIGN_CORRUPT) signature_out[0] ^= 0x01;
        break;
    }
    __atomic_sub_fetch(&s->inside, 1, __ATOMIC_SEQ_CST);
    return result;
}

/* A unique refund number: prefix, run and counter. */
static const char *refund_no(const char *prefix) {
    static _Thread_local char no[64];
    static int counter;
    snprintf(no, sizeof no, "%s%ld-%d", prefix, (long)time(NULL) % 100000, __atomic_add_fetch(&counter, 1,
                                                                                              __ATOMIC_SEQ_CST));
    return no;
}

/* A mainland refund request of 1 fen on the demo order that settles SUCCESS. */
static const char *refund_request(const char *no) {
    static _Thread_local char request[256];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"%s\","
             "\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}",
             no);
    return request;
}

static wxrefund_client *new_client(const char *config, struct signer *signer) {
    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new_with_signer(config, sign_with_openssl, signer, &client, &error);
    CHECK(status == WXREFUND_STATUS_OK && client != NULL);
    if (status != WXREFUND_STATUS_OK) fprintf(stderr, "client: %s\n", error ? error : "(no error json)");
    wxrefund_string_free(error);
    return client;
}

static void test_refund_and_wait(const char *config, const char *key_file) {
    struct signer signer = {key_file, SIGN_OK, 0, 0, 0, 0, 0};
    wxrefund_client *client = new_client(config, &signer);
    if (!client) return;
    char no[64];
    snprintf(no, sizeof no, "%s", refund_no("CS"));
    char *response = NULL, *error = NULL;
    wxrefund_status status = wxrefund_refund_create(client, refund_request(no), &response, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    CHECK(response && strstr(response, "\"status\":\"PROCESSING\""));
    if (error) fprintf(stderr, "create: %s\n", error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    char query[96];
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", no);
    response = error = NULL;
    status = wxrefund_refund_wait(client, query, 20000, &response, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    CHECK(response && strstr(response, "\"status\":\"SUCCESS\"") && strstr(response, "\"final\":true"));
    if (error) fprintf(stderr, "wait: %s\n", error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    /* The certificate download, the apply and at least one query were signed. */
    CHECK(signer.calls >= 3);
    CHECK(signer.bad_arguments == 0);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
}

/* ---- 8 threads on one client ---- */

#define THREADS 8

struct worker {
    wxrefund_client *client;
    pthread_barrier_t *start;
    int ok;
};

static void *work(void *arg) {
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    char no[64];
    snprintf(no, sizeof no, "%s", refund_no("CT"));
    char *response = NULL, *error = NULL;
    wxrefund_status created = wxrefund_refund_create(w->client, refund_request(no), &response, &error);
    if (error) fprintf(stderr, "thread create: %s\n", error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    char query[96];
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", no);
    response = error = NULL;
    wxrefund_status queried = wxrefund_refund_query(w->client, query, &response, &error);
    if (error) fprintf(stderr, "thread query: %s\n", error);
    w->ok = created == WXREFUND_STATUS_OK && queried == WXREFUND_STATUS_OK && response &&
            strstr(response, no) != NULL;
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    return NULL;
}

static void test_threads(const char *config, const char *key_file) {
    struct signer signer = {key_file, SIGN_OK, 30, 0, 0, 0, 0};
    wxrefund_client *client = new_client(config, &signer);
    if (!client) return;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){client, &start, 0};
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok);
    }
    pthread_barrier_destroy(&start);
    CHECK(signer.calls >= 2 * THREADS);
    CHECK(signer.bad_arguments == 0);
    /* Called by several threads at once: the library does not serialize the signer. */
    CHECK(signer.most_inside >= 2);
    if (signer.most_inside < 2) fprintf(stderr, "at most %d signer calls at once\n", signer.most_inside);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
}

/* ---- failures ---- */

/* A signer in `mode` fails a create and a query with SIGNER_FAILED; nothing is sent. */
static void expect_signer_failed(const char *config, const char *key_file, int port, enum sign_mode mode,
                                 const char *needle) {
    struct signer signer = {key_file, mode, 0, 0, 0, 0, 0};
    wxrefund_client *client = new_client(config, &signer);
    if (!client) return;
    int before = sim_request_count(port);
    CHECK(before >= 0);
    char *response = (char *)"untouched", *error = NULL;
    wxrefund_status status = wxrefund_refund_create(client, refund_request(refund_no("CF")), &response, &error);
    CHECK(status == WXREFUND_STATUS_SIGNER_FAILED);
    CHECK(strcmp(response, "untouched") == 0); /* outputs are written only on success */
    CHECK(error && strstr(error, "\"status\":\"SIGNER_FAILED\"") && strstr(error, "\"retryable\":true") &&
          strstr(error, "\"outcome_unknown\":false") && strstr(error, needle));
    if (status != WXREFUND_STATUS_SIGNER_FAILED || !error || !strstr(error, needle))
        fprintf(stderr, "mode %d: %s: %s\n", (int)mode, wxrefund_status_name(status), error ? error : "(none)");
    wxrefund_string_free(error);
    error = NULL;
    status = wxrefund_refund_query(client, "{\"out_refund_no\":\"CF-none\"}", &response, &error);
    CHECK(status == WXREFUND_STATUS_SIGNER_FAILED);
    wxrefund_string_free(error);
    CHECK(signer.calls >= 2);
    CHECK(sim_request_count(port) == before);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
}

static void test_failures(const char *config, const char *key_file, int port) {
    expect_signer_failed(config, key_file, port, SIGN_FAIL, "returned 7");
    expect_signer_failed(config, key_file, port, SIGN_EMPTY, "0 bytes");
    expect_signer_failed(config, key_file, port, SIGN_TOO_LONG, "1-1024");
    CHECK(strcmp(wxrefund_status_name(WXREFUND_STATUS_SIGNER_FAILED), "SIGNER_FAILED") == 0);

    /* A signature that is not the merchant's: sent, and refused by the platform (401). */
    struct signer corrupt = {key_file, SIGN_CORRUPT, 0, 0, 0, 0, 0};
    wxrefund_client *client = new_client(config, &corrupt);
    if (client) {
        int before = sim_request_count(port);
        char *response = NULL, *error = NULL;
        wxrefund_status status = wxrefund_refund_query(client, "{\"out_refund_no\":\"CF-none\"}", &response, &error);
        CHECK(status != WXREFUND_STATUS_OK && status != WXREFUND_STATUS_SIGNER_FAILED);
        CHECK(error && strstr(error, "\"http_status\":401"));
        if (error && !strstr(error, "\"http_status\":401")) fprintf(stderr, "corrupt: %s\n", error);
        wxrefund_string_free(response);
        wxrefund_string_free(error);
        CHECK(sim_request_count(port) > before);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    }
}

static void test_arguments(const char *keyless, const char *full, const char *key_file) {
    struct signer signer = {key_file, SIGN_OK, 0, 0, 0, 0, 0};
    wxrefund_client *client = (wxrefund_client *)(uintptr_t)0x7e50;
    char *error = NULL;
    CHECK(wxrefund_client_new_with_signer(keyless, NULL, &signer, &client, &error) ==
          WXREFUND_STATUS_INVALID_ARGUMENT);
    CHECK(error && strstr(error, "signer"));
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_client_new_with_signer(keyless, sign_with_openssl, &signer, NULL, &error) ==
          WXREFUND_STATUS_INVALID_ARGUMENT);
    wxrefund_string_free(error);
    error = NULL;
    /* A private key in the configuration and a signer: one way to sign only. */
    client = NULL;
    CHECK(wxrefund_client_new_with_signer(full, sign_with_openssl, &signer, &client, &error) ==
          WXREFUND_STATUS_INVALID_CONFIG);
    CHECK(client == NULL);
    CHECK(error && strstr(error, "\"field\":\"signer\"") && !strstr(error, "PRIVATE KEY"));
    wxrefund_string_free(error);
    /* A keyless configuration without a signer has no way to sign. */
    error = NULL;
    CHECK(wxrefund_client_new(keyless, &client, &error) == WXREFUND_STATUS_INVALID_CONFIG);
    CHECK(error && strstr(error, "private_key_pem"));
    wxrefund_string_free(error);
    CHECK(signer.calls == 0); /* creating a client signs nothing */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s KEYLESS_CONFIG_FILE MERCHANT_KEY_FILE FULL_CONFIG_FILE\n", argv[0]);
        return 2;
    }
    char *keyless = read_file(argv[1]);
    char *full = read_file(argv[3]);
    if (!keyless || !full) {
        fprintf(stderr, "cannot read the configuration files\n");
        return 2;
    }
    int port = sim_port(keyless);
    CHECK(port > 0);
    CHECK(strstr(keyless, "PRIVATE KEY") == NULL);
    test_arguments(keyless, full, argv[2]);
    test_refund_and_wait(keyless, argv[2]);
    test_threads(keyless, argv[2]);
    test_failures(keyless, argv[2], port);
    free(keyless);
    free(full);
    return report();
}
