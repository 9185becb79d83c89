/*
 * wxrefund_set_log_callback and wxrefund_refund_wait through the C ABI. A
 * callback at TRACE collects every record (from any thread) while the program
 * runs a create, a create resent after a SYSTEM_ERROR fault, queries, waits
 * (SUCCESS after the simulator settles, ABNORMAL at once, TIMEOUT with the last
 * refund), an APIv3 notification and a WeCom refund with a token fetch; then
 * checks what the records carry, and that no secret and no personal field
 * value is in any of them. Also: the callback's own rules (levels, NULL turns
 * it off for good, no replacing it from inside, several threads at once) and
 * `attempts`/`elapsed_ms` in results and error JSON.
 *
 * Run by scripts/test-c.sh under valgrind and under AddressSanitizer:
 *   log_wait_test HELD_CONFIG WECOM_CONFIG WECOM_PROVIDER_CONFIG WECOM_TOKEN_FILE
 * HELD_CONFIG: a domestic configuration of a simulator whose refunds stay
 * PROCESSING until settled through /_sim (so every timing here is decided by
 * the test, not by the simulator's clock).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wxrefund.h"
#include "test_util.h"
#include "sim_http.h"

/* ---- the collecting callback ---- */

struct record {
    int level;
    char *message;
    char *fields;
    pthread_t thread;
};

/* Every record received, in order. Records arrive from any thread. */
static struct {
    pthread_mutex_t lock;
    struct record *items;
    size_t count, capacity;
} book = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

enum { COLLECT, REENTER, RENDEZVOUS };
static atomic_int mode = COLLECT; /* what the callback does besides collecting */
static atomic_int turned_off;     /* set once wxrefund_set_log_callback(NULL) returned */
static atomic_int late_calls, wrong_user_data, inside, most_inside;
static atomic_int reentered, reentry_status = -1, reentry_off_status = -1, reentry_named_status;
static _Thread_local int met; /* RENDEZVOUS: this thread has waited once */

static void pause_ms(long ms) {
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void collect(void *user_data, int level, const char *message, const char *fields_json) {
    if (user_data != &book) atomic_fetch_add(&wrong_user_data, 1);
    if (atomic_load(&turned_off)) {
        atomic_fetch_add(&late_calls, 1);
        return;
    }
    if (atomic_load(&mode) == REENTER && atomic_exchange(&reentered, 1) == 0) {
        char *error = NULL;
        atomic_store(&reentry_status, wxrefund_set_log_callback(5, collect, &book, &error));
        atomic_store(&reentry_named_status, error && strstr(error, "\"status\":\"INVALID_ARGUMENT\"") != NULL);
        wxrefund_string_free(error);
        atomic_store(&reentry_off_status, wxrefund_set_log_callback(5, NULL, NULL, NULL));
    }
    if (atomic_load(&mode) == RENDEZVOUS && !met) {
        /* Hold this thread's first record until another thread is inside the callback too. */
        met = 1;
        int now = atomic_fetch_add(&inside, 1) + 1;
        for (int waited = 0; waited < 3000 && now < 2; waited++) {
            pause_ms(1);
            now = atomic_load(&inside);
        }
        int most = atomic_load(&most_inside);
        while (now > most && !atomic_compare_exchange_weak(&most_inside, &most, now)) {
        }
        atomic_fetch_sub(&inside, 1);
    }
    struct record record = {level, strdup(message), strdup(fields_json), pthread_self()};
    if (!record.message || !record.fields) abort();
    pthread_mutex_lock(&book.lock);
    if (book.count == book.capacity) {
        book.capacity = book.capacity ? book.capacity * 2 : 64;
        book.items = realloc(book.items, book.capacity * sizeof *book.items);
        if (!book.items) abort();
    }
    book.items[book.count++] = record;
    pthread_mutex_unlock(&book.lock);
}

static size_t records_now(void) {
    pthread_mutex_lock(&book.lock);
    size_t count = book.count;
    pthread_mutex_unlock(&book.lock);
    return count;
}

/* Whether record `r` is at `level` (0: any) and its fields hold every needle. */
static int matches(const struct record *r, int level, const char *const *needles) {
    if (level && r->level != level) return 0;
    for (; *needles; needles++)
        if (!strstr(r->fields, *needles)) return 0;
    return 1;
}

/* How many records from index `from` on match. */
static size_t count_at(size_t from, int level, const char *const *needles) {
    size_t found = 0;
    pthread_mutex_lock(&book.lock);
    for (size_t i = from; i < book.count; i++) found += matches(&book.items[i], level, needles);
    pthread_mutex_unlock(&book.lock);
    return found;
}
#define COUNT(from, level, ...) count_at((from), (level), (const char *const[]){__VA_ARGS__, NULL})

/* The first record from `from` on that matches, or NULL. */
static const struct record *find_at(size_t from, int level, const char *const *needles) {
    const struct record *found = NULL;
    pthread_mutex_lock(&book.lock);
    for (size_t i = from; i < book.count && !found; i++)
        if (matches(&book.items[i], level, needles)) found = &book.items[i];
    pthread_mutex_unlock(&book.lock);
    return found;
}
#define FIND(from, level, ...) find_at((from), (level), (const char *const[]){__VA_ARGS__, NULL})

static void dump_records(size_t from) {
    for (size_t i = from; i < book.count; i++)
        fprintf(stderr, "  [%zu] level %d: %s | %s\n", i, book.items[i].level, book.items[i].message,
                book.items[i].fields);
}

/* ---- small helpers ---- */

/* The string value of `"name":"..."` in compact JSON, copied to `out`; "" when absent. */
static void json_text(const char *json, const char *name, char *out, size_t size) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\":\"", name);
    const char *at = json ? strstr(json, key) : NULL;
    out[0] = '\0';
    if (!at) return;
    at += strlen(key);
    const char *end = strchr(at, '"');
    if (end) snprintf(out, size, "%.*s", (int)(end - at), at);
}

/* Checks a status, printing the error JSON when it is not the one wanted. */
#define CHECK_STATUS(got, want, error)                                                                  \
    do {                                                                                                \
        wxrefund_status got_ = (got);                                                                   \
        CHECK(got_ == (want));                                                                          \
        if (got_ != (want))                                                                             \
            fprintf(stderr, "  got %s, want %s: %s\n", wxrefund_status_name(got_),                      \
                    wxrefund_status_name(want), (error) ? (error) : "(no error json)");                 \
    } while (0)

static char *refund_request(const char *order, long total, const char *no, const char *notify_url) {
    static char request[512];
    char notify[128] = "";
    if (notify_url) snprintf(notify, sizeof notify, "\"notify_url\":\"%s\",", notify_url);
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\",%s"
             "\"amount\":{\"refund\":100,\"total\":%ld,\"currency\":\"CNY\"}}",
             order, no, notify, total);
    return request;
}

static char *query_of(const char *no) {
    static char query[128];
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", no);
    return query;
}

/* ---- what must never be logged ---- */

static char *secrets[64];
static size_t n_secrets;

static void add_secret(const char *value) {
    if (value && strlen(value) >= 8 && n_secrets < sizeof secrets / sizeof secrets[0])
        secrets[n_secrets++] = strdup(value);
}

/* The configuration's secrets: the APIv3 key, every body line of the private
 * key PEM, corpsecret, the WeCom callback keys. */
static void add_config_secrets(const char *config) {
    char value[4096];
    const char *names[] = {"apiv3_key", "corpsecret", "encoding_aes_key", "callback_token", "access_token"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_text(config, names[i], value, sizeof value);
        add_secret(value);
    }
    json_text(config, "private_key_pem", value, sizeof value);
    for (char *line = value; *line;) {
        char *end = strstr(line, "\\n");
        if (end) *end = '\0';
        if (strncmp(line, "-----", 5) != 0) add_secret(line);
        if (!end) break;
        line = end + 2;
    }
}

/* 1 when `text` holds a run of at least 48 letters and digits: the shape of an
 * access token (64) or a PEM line (64), longer than any request id (32). */
static int has_long_token(const char *text) {
    size_t run = 0;
    for (const char *c = text; *c; c++) {
        int alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        run = alnum ? run + 1 : 0;
        if (run >= 48) return 1;
    }
    return 0;
}

/* No record holds a secret, a personal field value, a header or a query string. */
static void check_no_secrets(void) {
    static const char *forbidden[] = {"PRIVATE KEY", "access_token=", "corpsecret=", "Authorization",
                                      "WECHATPAY2", "user_received_account", "支付用户零钱", NULL};
    pthread_mutex_lock(&book.lock);
    for (size_t i = 0; i < book.count; i++) {
        const struct record *r = &book.items[i];
        const char *texts[] = {r->message, r->fields};
        for (int t = 0; t < 2; t++) {
            for (size_t s = 0; s < n_secrets; s++) {
                CHECK(strstr(texts[t], secrets[s]) == NULL);
                if (strstr(texts[t], secrets[s])) fprintf(stderr, "  a secret in record %zu\n", i);
            }
            for (const char **f = forbidden; *f; f++) {
                CHECK(strstr(texts[t], *f) == NULL);
                if (strstr(texts[t], *f)) fprintf(stderr, "  %s in record %zu: %s\n", *f, i, texts[t]);
            }
            CHECK(!has_long_token(texts[t]));
        }
        char path[512];
        json_text(r->fields, "path", path, sizeof path);
        CHECK(strchr(path, '?') == NULL);
    }
    pthread_mutex_unlock(&book.lock);
}

/* ---- the cases ---- */

static int held_port;
static const char *domestic_notify_url;

static void test_set_errors(void) {
    const int bad_levels[] = {0, 6, -1, 100};
    for (size_t i = 0; i < sizeof bad_levels / sizeof bad_levels[0]; i++) {
        char *error = NULL;
        CHECK(wxrefund_set_log_callback(bad_levels[i], collect, &book, &error) == WXREFUND_STATUS_INVALID_ARGUMENT);
        CHECK(error && strstr(error, "\"status\":\"INVALID_ARGUMENT\"") && strstr(error, "level"));
        wxrefund_string_free(error);
        CHECK(wxrefund_set_log_callback(bad_levels[i], collect, &book, NULL) == WXREFUND_STATUS_INVALID_ARGUMENT);
    }
    /* NULL turns logging off whatever the level; nothing was installed above. */
    CHECK(wxrefund_set_log_callback(5, NULL, NULL, NULL) == WXREFUND_STATUS_OK);
    CHECK(records_now() == 0);
}

struct settle_job {
    const char *out_refund_no;
    int http_status;
};

/* Settles a refund through the control API after the wait has seen it PROCESSING. */
static void *settle_later(void *arg) {
    struct settle_job *job = arg;
    pause_ms(400);
    char path[128];
    snprintf(path, sizeof path, "/_sim/refunds/%s/settle", job->out_refund_no);
    job->http_status = sim_request(held_port, "POST", path, "{\"status\":\"SUCCESS\"}");
    return NULL;
}

static void test_domestic(wxrefund_client *client, int listener, const char *suffix) {
    char no_a[64], no_b[64], no_c[64], no_d[64], personal[256] = "";
    snprintf(no_a, sizeof no_a, "LW%s-A", suffix);
    snprintf(no_b, sizeof no_b, "LW%s-B", suffix);
    snprintf(no_c, sizeof no_c, "LW%s-C", suffix);
    snprintf(no_d, sizeof no_d, "LW%s-D", suffix);
    char field_a[96], field_b[96], field_c[96], field_d[96];
    snprintf(field_a, sizeof field_a, "\"out_refund_no\":\"%s\"", no_a);
    snprintf(field_b, sizeof field_b, "\"out_refund_no\":\"%s\"", no_b);
    snprintf(field_c, sizeof field_c, "\"out_refund_no\":\"%s\"", no_c);
    snprintf(field_d, sizeof field_d, "\"out_refund_no\":\"%s\"", no_d);
    char *response = NULL, *error = NULL;

    /* A create: one attempt. */
    size_t mark = records_now();
    wxrefund_status status =
        wxrefund_refund_create(client, refund_request("T20261122000001", 10000, no_a, domestic_notify_url), &response,
                               &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    CHECK(response && strstr(response, "\"attempts\":1") && strstr(response, "\"elapsed_ms\":"));
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", "\"family\":\"domestic\"", field_a, "\"method\":\"POST\"",
                "\"path\":\"/v3/refund/domestic/refunds\"", "\"attempt\":1,", "\"http_status\":200",
                "\"request_id\":\"", "\"elapsed_ms\":") == 1);
    const struct record *first = FIND(mark, 4, "\"event\":\"attempt\"", field_a);
    CHECK(first && strstr(first->message, "POST /v3/refund/domestic/refunds attempt 1: HTTP 200 in "));
    /* The first answer made the client fetch the platform certificates: a background request. */
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", "\"method\":\"GET\"", "\"path\":\"/v3/certificates\"",
                "\"http_status\":200") == 1);
    CHECK(COUNT(mark, 3, "\"event\":\"certificate_download\"", "\"family\":\"domestic\"", "\"certificates\":1") == 1);
    CHECK(COUNT(mark, 0, "\"path\":\"/v3/certificates\"", "out_refund_no") == 0);

    /* A create that meets SYSTEM_ERROR once: the same body again, 2 attempts. */
    CHECK(sim_request(held_port, "POST", "/_sim/faults",
                      "{\"kind\":\"SYSTEM_ERROR\",\"count\":1,\"endpoint\":\"/v3/refund/domestic/refunds\"}") == 201);
    mark = records_now();
    status = wxrefund_refund_create(client, refund_request("T20261122000001", 10000, no_b, NULL), &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    CHECK(response && strstr(response, "\"attempts\":2") && strstr(response, "\"elapsed_ms\":"));
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", field_b, "\"attempt\":1,", "\"http_status\":500",
                "\"code\":\"SYSTEM_ERROR\"", "\"request_id\":\"") == 1);
    CHECK(COUNT(mark, 2, "\"event\":\"retry\"", "\"family\":\"domestic\"", field_b, "\"reason\":\"SYSTEM_ERROR\"",
                "\"delay_ms\":", "\"attempts\":1,", "\"elapsed_ms\":") == 1);
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", field_b, "\"attempt\":2,", "\"http_status\":200") == 1);

    /* A query: PROCESSING (the simulator holds refunds until told). */
    mark = records_now();
    status = wxrefund_refund_query(client, query_of(no_a), &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    CHECK(response && strstr(response, "\"status\":\"PROCESSING\"") && strstr(response, "\"attempts\":1"));
    json_text(response, "user_received_account", personal, sizeof personal);
    CHECK(strlen(personal) > 0); /* the value that must never be logged */
    add_secret(personal);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    char query_path[128];
    snprintf(query_path, sizeof query_path, "\"path\":\"/v3/refund/domestic/refunds/%s\"", no_a);
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", field_a, "\"method\":\"GET\"", query_path, "\"http_status\":200",
                "\"request_id\":\"") == 1);

    /* Errors carry attempts and elapsed_ms too: 1 for an answered query, 0 when nothing was sent. */
    status = wxrefund_refund_query(client, "{\"out_refund_no\":\"LW-NO-SUCH\"}", &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_NOT_FOUND, error);
    CHECK(error && strstr(error, "\"attempts\":1") && strstr(error, "\"elapsed_ms\":"));
    wxrefund_string_free(error);
    error = NULL;
    status = wxrefund_refund_create(client, refund_request("T20261122000001", 10000, "LW bad", NULL), &response,
                                    &error);
    CHECK_STATUS(status, WXREFUND_STATUS_INVALID_REQUEST, error);
    CHECK(error && strstr(error, "\"attempts\":0") && strstr(error, "\"elapsed_ms\":"));
    wxrefund_string_free(error);
    error = NULL;

    /* A wait that ends in SUCCESS once the simulator settles, part way through. */
    struct settle_job job = {no_a, 0};
    pthread_t settler;
    CHECK(pthread_create(&settler, NULL, settle_later, &job) == 0);
    mark = records_now();
    long start = now_ms();
    status = wxrefund_refund_wait(client, query_of(no_a), 30000, &response, &error);
    long took = now_ms() - start;
    pthread_join(settler, NULL);
    CHECK(job.http_status == 200);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    CHECK(response && strstr(response, "\"status\":\"SUCCESS\"") && strstr(response, "\"final\":true"));
    CHECK(response && strstr(response, "\"attempts\":2") && strstr(response, "\"elapsed_ms\":"));
    CHECK(took >= 1000 && took < 10000); /* queried at once, then after 1 s */
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", field_a, "\"method\":\"GET\"") == 2);
    CHECK(COUNT(mark, 3, "\"event\":\"wait_ended\"", "\"family\":\"domestic\"", field_a, "\"status\":\"SUCCESS\"",
                "\"polls\":2", "\"attempts\":2,", "\"elapsed_ms\":") == 1);

    /* The SUCCESS the wait saw made the simulator notify: this program is the notify_url. */
    mark = records_now();
    char *notification = NULL;
    CHECK(receive_one(listener, client, &notification) == WXREFUND_STATUS_OK);
    CHECK(notification && strstr(notification, "\"event_type\":\"REFUND.SUCCESS\""));
    json_text(notification, "user_received_account", personal, sizeof personal);
    add_secret(personal);
    wxrefund_string_free(notification);
    CHECK(COUNT(mark, 3, "\"event\":\"notification\"", "\"family\":\"domestic\"", "\"accepted\":true",
                "\"reason\":\"verified\"", "\"event_type\":\"REFUND.SUCCESS\"", "\"status\":\"SUCCESS\"") == 1);
    /* A refused one is a WARN. */
    mark = records_now();
    const uint8_t body[] = "{}";
    status = wxrefund_notification_parse(client, "{}", body, 2, &notification, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_VERIFICATION_FAILED, error);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(COUNT(mark, 2, "\"event\":\"notification\"", "\"accepted\":false", "\"reason\":\"") == 1);

    /* ABNORMAL ends a wait at once: it needs a person, not more queries. */
    status = wxrefund_refund_create(client, refund_request("T20261122000003", 800, no_c, NULL), &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    char path[128];
    snprintf(path, sizeof path, "/_sim/refunds/%s/settle", no_c);
    CHECK(sim_request(held_port, "POST", path, "{\"status\":\"ABNORMAL\"}") == 200);
    mark = records_now();
    start = now_ms();
    status = wxrefund_refund_wait(client, query_of(no_c), 30000, &response, &error);
    took = now_ms() - start;
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    CHECK(response && strstr(response, "\"status\":\"ABNORMAL\"") && strstr(response, "\"action_required\":true"));
    CHECK(response && strstr(response, "\"attempts\":1"));
    CHECK(took < 1000);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    CHECK(COUNT(mark, 3, "\"event\":\"wait_ended\"", field_c, "\"status\":\"ABNORMAL\"", "\"polls\":1") == 1);

    /* Out of time: TIMEOUT, with the last refund seen (PROCESSING) in the error JSON. */
    status = wxrefund_refund_create(client, refund_request("T20261122000001", 10000, no_d, NULL), &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    mark = records_now();
    char *untouched = (char *)"untouched";
    response = untouched;
    start = now_ms();
    status = wxrefund_refund_wait(client, query_of(no_d), 300, &response, &error);
    took = now_ms() - start;
    CHECK_STATUS(status, WXREFUND_STATUS_TIMEOUT, error);
    CHECK(response == untouched);
    CHECK(strcmp(wxrefund_status_name(WXREFUND_STATUS_TIMEOUT), "TIMEOUT") == 0);
    const char *refund = error ? strstr(error, "\"refund\":{") : NULL;
    CHECK(error && strstr(error, "\"status\":\"TIMEOUT\"") && strstr(error, "\"retryable\":true"));
    CHECK(refund && strstr(refund, "\"status\":\"PROCESSING\"") && strstr(refund, no_d));
    CHECK(error && strstr(error, "\"attempts\":2") && strstr(error, "\"elapsed_ms\":"));
    /* Never past the timeout: the second query comes at 300 ms, not after the 1 s pause. */
    CHECK(took >= 300 && took < 1000);
    if (took < 300 || took >= 1000) fprintf(stderr, "  the timed-out wait took %ld ms\n", took);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(COUNT(mark, 3, "\"event\":\"wait_ended\"", field_d, "\"status\":\"TIMEOUT\"", "\"polls\":2") == 1);

    /* Other errors end a wait at once. */
    response = untouched;
    status = wxrefund_refund_wait(client, "{\"out_refund_no\":\"LW-NO-SUCH\"}", 30000, &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_NOT_FOUND, error);
    CHECK(error && strstr(error, "\"attempts\":1"));
    CHECK(response == untouched);
    wxrefund_string_free(error);
    error = NULL;

    /* NULL arguments. */
    status = wxrefund_refund_wait(client, NULL, 1000, &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_INVALID_ARGUMENT, error);
    CHECK(error && strstr(error, "query_json is NULL"));
    wxrefund_string_free(error);
    error = NULL;
    status = wxrefund_refund_wait(client, query_of(no_a), 1000, NULL, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_INVALID_ARGUMENT, error);
    CHECK(error && strstr(error, "response_json_out is NULL"));
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_refund_wait(client, NULL, 1000, NULL, NULL) == WXREFUND_STATUS_INVALID_ARGUMENT);
    status = wxrefund_refund_wait(NULL, query_of(no_a), 1000, &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_INVALID_HANDLE, error);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(response == untouched);
}

/* A token provider handing out the host's cached token (whose value must never be logged). */
static int provide_token(void *user_data, const char *rejected_token, char *token_out, size_t capacity) {
    const char *token = user_data;
    if (rejected_token || strlen(token) + 1 > capacity) return 1;
    strcpy(token_out, token);
    return 0;
}

static void test_wecom(const char *wecom_config, const char *provider_config, const char *token,
                       const char *suffix) {
    char no[64], field[96], personal[256] = "";
    snprintf(no, sizeof no, "LWW%s", suffix);
    snprintf(field, sizeof field, "\"out_refund_no\":\"%s\"", no);
    wxrefund_client *client = NULL;
    char *response = NULL, *error = NULL;
    CHECK(wxrefund_client_new(wecom_config, &client, NULL) == WXREFUND_STATUS_OK);
    size_t mark = records_now();
    wxrefund_status status =
        wxrefund_refund_create(client, refund_request("W20261122000001", 10000, no, NULL), &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    /* The token fetch: a background attempt (no refund in it), then the decision. */
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", "\"family\":\"wecom\"", "\"method\":\"GET\"",
                "\"path\":\"/cgi-bin/gettoken\"", "\"http_status\":200") == 1);
    const struct record *fetch = FIND(mark, 4, "\"path\":\"/cgi-bin/gettoken\"");
    CHECK(fetch && !strstr(fetch->fields, "out_refund_no"));
    CHECK(COUNT(mark, 3, "\"event\":\"token_renewal\"", "\"family\":\"wecom\"", "\"reason\":\"first\"",
                "\"ok\":true") == 1);
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", "\"family\":\"wecom\"", field, "\"method\":\"POST\"",
                "\"path\":\"/cgi-bin/miniapppay/refund\"", "\"attempt\":1,", "\"http_status\":200") == 1);

    mark = records_now();
    status = wxrefund_refund_wait(client, query_of(no), 30000, &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    CHECK(response && strstr(response, "\"final\":true"));
    json_text(response, "user_received_account", personal, sizeof personal);
    add_secret(personal);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = error = NULL;
    CHECK(COUNT(mark, 3, "\"event\":\"wait_ended\"", "\"family\":\"wecom\"", field, "\"status\":\"SUCCESS\"") == 1);
    CHECK(COUNT(mark, 3, "\"event\":\"token_renewal\"") == 0); /* the cached token served */
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);

    /* A host-provided token: the same refund, queried with it. */
    add_secret(token);
    client = NULL;
    CHECK(wxrefund_client_new_with_token_provider(provider_config, provide_token, (void *)token, &client, NULL) ==
          WXREFUND_STATUS_OK);
    mark = records_now();
    status = wxrefund_refund_query(client, query_of(no), &response, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", "\"family\":\"wecom\"", field,
                "\"path\":\"/cgi-bin/miniapppay/get_refund_detail\"", "\"http_status\":200") == 1);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
}

/* Below the level set, nothing arrives. */
static void test_level(wxrefund_client *client, const char *no) {
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_INFO, collect, &book, NULL) == WXREFUND_STATUS_OK);
    size_t mark = records_now();
    char *response = NULL;
    CHECK(wxrefund_refund_query(client, query_of(no), &response, NULL) == WXREFUND_STATUS_OK);
    wxrefund_string_free(response);
    CHECK(records_now() == mark); /* a query writes only DEBUG records */
    response = NULL;
    CHECK(wxrefund_refund_wait(client, query_of(no), 1000, &response, NULL) == WXREFUND_STATUS_OK);
    wxrefund_string_free(response);
    CHECK(records_now() == mark + 1 && COUNT(mark, 3, "\"event\":\"wait_ended\"") == 1);
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, collect, &book, NULL) == WXREFUND_STATUS_OK);
}

struct querier {
    wxrefund_client *client;
    const char *query;
    int rounds; /* 0: until `stop` */
    atomic_int *stop;
    int failures;
    pthread_t self;
};

static void *query_loop(void *arg) {
    struct querier *q = arg;
    q->self = pthread_self();
    for (int i = 0; q->rounds ? i < q->rounds : !atomic_load(q->stop); i++) {
        char *response = NULL;
        if (wxrefund_refund_query(q->client, q->query, &response, NULL) != WXREFUND_STATUS_OK) q->failures++;
        wxrefund_string_free(response);
    }
    return NULL;
}

/* Two threads querying at once: the callback runs on both, at the same time. */
static void test_threads(wxrefund_client *client, const char *no) {
    char field[96];
    snprintf(field, sizeof field, "\"out_refund_no\":\"%s\"", no);
    size_t mark = records_now();
    atomic_store(&mode, RENDEZVOUS);
    struct querier q[2] = {{client, query_of(no), 3, NULL, 0, 0}, {client, query_of(no), 3, NULL, 0, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&threads[i], NULL, query_loop, &q[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    atomic_store(&mode, COLLECT);
    CHECK(q[0].failures == 0 && q[1].failures == 0);
    CHECK(COUNT(mark, 4, "\"event\":\"attempt\"", field) == 6);
    CHECK(atomic_load(&most_inside) >= 2);
    int from_each[2] = {0, 0};
    pthread_mutex_lock(&book.lock);
    for (size_t i = mark; i < book.count; i++)
        for (int t = 0; t < 2; t++) from_each[t] += pthread_equal(book.items[i].thread, q[t].self) != 0;
    pthread_mutex_unlock(&book.lock);
    CHECK(from_each[0] == 3 && from_each[1] == 3);
}

/* Replacing the callback from inside it is refused; the callback stays. */
static void test_reentry(wxrefund_client *client, const char *no) {
    atomic_store(&mode, REENTER);
    size_t mark = records_now();
    char *response = NULL;
    CHECK(wxrefund_refund_query(client, query_of(no), &response, NULL) == WXREFUND_STATUS_OK);
    wxrefund_string_free(response);
    atomic_store(&mode, COLLECT);
    CHECK(atomic_load(&reentered) == 1);
    CHECK(atomic_load(&reentry_status) == WXREFUND_STATUS_INVALID_ARGUMENT);
    CHECK(atomic_load(&reentry_named_status) == 1);
    CHECK(atomic_load(&reentry_off_status) == WXREFUND_STATUS_INVALID_ARGUMENT);
    CHECK(records_now() == mark + 1);
    response = NULL;
    CHECK(wxrefund_refund_query(client, query_of(no), &response, NULL) == WXREFUND_STATUS_OK);
    wxrefund_string_free(response);
    CHECK(records_now() == mark + 2); /* still installed */
}

/* NULL turns it off while another thread is logging: after the call returns, never again. */
static void test_turn_off(wxrefund_client *client, const char *no) {
    atomic_int stop = 0;
    struct querier q = {client, query_of(no), 0, &stop, 0, 0};
    size_t mark = records_now();
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, query_loop, &q) == 0);
    for (int waited = 0; waited < 10000 && records_now() < mark + 2; waited += 5) pause_ms(5);
    CHECK(records_now() >= mark + 2); /* the thread is logging */
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, NULL, NULL, NULL) == WXREFUND_STATUS_OK);
    atomic_store(&turned_off, 1);
    size_t after = records_now();
    pause_ms(300); /* the thread keeps querying */
    atomic_store(&stop, 1);
    pthread_join(thread, NULL);
    CHECK(q.failures == 0);
    CHECK(atomic_load(&late_calls) == 0);
    CHECK(records_now() == after);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HELD_CONFIG WECOM_CONFIG WECOM_PROVIDER_CONFIG WECOM_TOKEN_FILE\n", argv[0]);
        return 2;
    }
    char *held_config = read_file(argv[1]);
    char *wecom_config = read_file(argv[2]);
    char *provider_config = read_file(argv[3]);
    char *token = read_file(argv[4]);
    if (!held_config || !wecom_config || !provider_config || !token) return 2;
    token[strcspn(token, "\r\n")] = '\0';
    held_port = sim_port(held_config);
    CHECK(held_port > 0);
    add_config_secrets(held_config);
    add_config_secrets(wecom_config);
    CHECK(n_secrets >= 20); /* the APIv3 key, corpsecret, the AES key, the callback token, PEM lines */
    char suffix[32];
    snprintf(suffix, sizeof suffix, "%ld-%ld", (long)time(NULL), (long)getpid());

    test_set_errors();
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, collect, &book, NULL) == WXREFUND_STATUS_OK);

    int port = 0;
    int listener = notify_listen(&port);
    CHECK(listener >= 0);
    char notify_url[64];
    snprintf(notify_url, sizeof notify_url, "http://127.0.0.1:%d/notify", port);
    domestic_notify_url = notify_url;

    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new(held_config, &client, &error);
    CHECK_STATUS(status, WXREFUND_STATUS_OK, error);
    wxrefund_string_free(error);
    if (status == WXREFUND_STATUS_OK) {
        test_domestic(client, listener, suffix);
        test_wecom(wecom_config, provider_config, token, suffix);
        char settled[64];
        snprintf(settled, sizeof settled, "LW%s-A", suffix);
        test_level(client, settled);
        test_threads(client, settled);
        test_reentry(client, settled);
        test_turn_off(client, settled);
        check_no_secrets();
        CHECK(atomic_load(&wrong_user_data) == 0);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    }
    if (failures) dump_records(0);
    printf("%zu records checked, %zu secrets and personal values looked for\n", records_now(), n_secrets);

    if (listener >= 0) close(listener);
    for (size_t i = 0; i < book.count; i++) {
        free(book.items[i].message);
        free(book.items[i].fields);
    }
    free(book.items);
    for (size_t i = 0; i < n_secrets; i++) free(secrets[i]);
    free(held_config);
    free(wecom_config);
    free(provider_config);
    free(token);
    return report();
}
