/*
 * wxrefund_refund_apply_abnormal against the simulator: a refund settled ABNORMAL
 * through the control API goes to the payer's new card (USER_BANK_CARD) or to the
 * merchant's (MERCHANT_BANK_CARD), PROCESSING and then SUCCESS; a refund that is
 * not ABNORMAL is refused by the platform; every rule broken is INVALID_REQUEST
 * naming its field with nothing sent; other families refuse; the card number and
 * the name never appear in an error JSON or a log record (wxrefund_set_log_callback
 * at TRACE). Built with -Wall -Wextra -Werror and run under valgrind by
 * scripts/test-c.sh:  abnormal_test DOMESTIC_CONFIG_FILE GLOBAL_CONFIG_FILE
 * (the domestic simulator runs with --settle-ms 2000: time to settle ABNORMAL first).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_http.h"
#include "test_util.h"
#include "wxrefund.h"

#define ACCOUNT "6222020200098765432"
#define NAME "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e" /* 王小明 */

/* ---- every log record, kept as text ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_text;
static size_t log_len, log_cap;

static void keep_record(void *user_data, int level, const char *message, const char *fields_json) {
    (void)user_data;
    char line[8192];
    int n = snprintf(line, sizeof line, "%d %s %s\n", level, message, fields_json);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    pthread_mutex_lock(&log_lock);
    if (log_len + len + 1 > log_cap) {
        size_t cap = (log_cap + len + 1) * 2;
        char *bigger = realloc(log_text, cap);
        if (bigger) {
            log_text = bigger;
            log_cap = cap;
        }
    }
    if (log_len + len + 1 <= log_cap) {
        memcpy(log_text + log_len, line, len);
        log_len += len;
        log_text[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_lock);
}

/* Whether `text` holds the card number or the name. */
static int has_details(const char *text) {
    return text && (strstr(text, ACCOUNT) || strstr(text, NAME));
}

/* ---- helpers ---- */

static const char *unique_no(const char *prefix) {
    static char no[64];
    static int counter;
    snprintf(no, sizeof no, "%s%ld-%d", prefix, (long)time(NULL) % 100000, ++counter);
    return no;
}

/* Copies the first "refund_id" string of `json` to `out`; 0 when absent. */
static int refund_id_of(const char *json, char *out, size_t size) {
    const char *at = json ? strstr(json, "\"refund_id\":\"") : NULL;
    if (!at) return 0;
    at += strlen("\"refund_id\":\"");
    const char *end = strchr(at, '"');
    if (!end || (size_t)(end - at) >= size || end == at) return 0;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
    return 1;
}

/* Creates a 1-fen refund `no`, settles it `status` through /_sim and waits until it shows.
 * Writes its refund_id; 1 on success. */
static int settled_refund(wxrefund_client *client, int port, const char *no, const char *status, char *refund_id,
                          size_t size) {
    char request[256], path[128], body[64], query[96];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"%s\","
             "\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}",
             no);
    char *response = NULL, *error = NULL;
    wxrefund_status created = wxrefund_refund_create(client, request, &response, &error);
    CHECK(created == WXREFUND_STATUS_OK);
    if (error) fprintf(stderr, "create: %s\n", error);
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    snprintf(path, sizeof path, "/_sim/refunds/%s/settle", no);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    CHECK(sim_request(port, "POST", path, body) == 200);
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", no);
    response = error = NULL;
    wxrefund_status waited = wxrefund_refund_wait(client, query, 10000, &response, &error);
    char want[64];
    snprintf(want, sizeof want, "\"status\":\"%s\"", status);
    int ok = created == WXREFUND_STATUS_OK && waited == WXREFUND_STATUS_OK && response && strstr(response, want) &&
             refund_id_of(response, refund_id, size);
    CHECK(ok);
    if (!ok) fprintf(stderr, "settled %s: %s\n", status, response ? response : error ? error : "(none)");
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    return ok;
}

static void user_card_request(char *out, size_t size, const char *refund_id, const char *no) {
    snprintf(out, size,
             "{\"refund_id\":\"%s\",\"out_refund_no\":\"%s\",\"type\":\"USER_BANK_CARD\","
             "\"bank_type\":\"ICBC_DEBIT\",\"bank_account\":\"" ACCOUNT "\",\"real_name\":\"" NAME "\"}",
             refund_id, no);
}

/* Applies `request` and waits: PROCESSING, then SUCCESS. */
static void apply_then_success(wxrefund_client *client, const char *request, const char *no,
                               const char *refund_id) {
    char *response = NULL, *error = NULL;
    wxrefund_status status = wxrefund_refund_apply_abnormal(client, request, &response, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    CHECK(response && strstr(response, "\"status\":\"PROCESSING\"") && strstr(response, no) &&
          strstr(response, refund_id));
    CHECK(!has_details(response));
    if (status != WXREFUND_STATUS_OK) fprintf(stderr, "apply: %s\n", error ? error : "(none)");
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    char query[96];
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", no);
    response = error = NULL;
    status = wxrefund_refund_wait(client, query, 20000, &response, &error);
    CHECK(status == WXREFUND_STATUS_OK && response && strstr(response, "\"status\":\"SUCCESS\"") &&
          strstr(response, "\"final\":true"));
    if (status != WXREFUND_STATUS_OK) fprintf(stderr, "wait: %s\n", error ? error : "(none)");
    wxrefund_string_free(response);
    wxrefund_string_free(error);
}

/* ---- the cases ---- */

static void test_user_bank_card(wxrefund_client *client, int port) {
    char no[64], refund_id[64], request[512];
    snprintf(no, sizeof no, "%s", unique_no("CA"));
    if (!settled_refund(client, port, no, "ABNORMAL", refund_id, sizeof refund_id)) return;
    user_card_request(request, sizeof request, refund_id, no);
    apply_then_success(client, request, no, refund_id);
    memset(request, 0, sizeof request); /* the caller wipes its copy of the details */
    /* The simulator took it: POST .../apply-abnormal-refund answered 200. */
    char *log = sim_get(port, "/_sim/requests");
    char expected[256];
    snprintf(expected, sizeof expected, "\"path\":\"/v3/refund/domestic/refunds/%s/apply-abnormal-refund\"",
             refund_id);
    char *entry = log ? strstr(log, expected) : NULL;
    while (entry && entry > log && entry[-1] != '{') entry--; /* the entry's members, in any order */
    char *end = entry ? strchr(entry, '}') : NULL;
    if (end) *end = '\0';
    CHECK(entry && strstr(entry, "\"method\":\"POST\"") && strstr(entry, "\"status\":200"));
    if (!entry) fprintf(stderr, "request log lacks %s\n", expected);
    free(log);
}

static void test_merchant_bank_card(wxrefund_client *client, int port) {
    char no[64], refund_id[64], request[256];
    snprintf(no, sizeof no, "%s", unique_no("CM"));
    if (!settled_refund(client, port, no, "ABNORMAL", refund_id, sizeof refund_id)) return;
    snprintf(request, sizeof request,
             "{\"refund_id\":\"%s\",\"out_refund_no\":\"%s\",\"type\":\"MERCHANT_BANK_CARD\"}", refund_id, no);
    apply_then_success(client, request, no, refund_id);
}

static void test_not_abnormal(wxrefund_client *client, int port) {
    char no[64], refund_id[64], request[512];
    snprintf(no, sizeof no, "%s", unique_no("CN"));
    if (!settled_refund(client, port, no, "SUCCESS", refund_id, sizeof refund_id)) return;
    user_card_request(request, sizeof request, refund_id, no);
    char *response = (char *)"untouched", *error = NULL;
    wxrefund_status status = wxrefund_refund_apply_abnormal(client, request, &response, &error);
    CHECK(status != WXREFUND_STATUS_OK);
    CHECK(strcmp(response, "untouched") == 0);
    /* Sent, and the platform said no: not unknown, nothing echoed. */
    CHECK(error && strstr(error, "\"http_status\":") && strstr(error, "\"outcome_unknown\":false"));
    CHECK(!has_details(error));
    wxrefund_string_free(error);
}

/* `request` is INVALID_REQUEST naming `field`, echoes no detail, and sends nothing. */
static void expect_refused(wxrefund_client *client, int port, const char *field, const char *request) {
    int before = sim_request_count(port);
    char *response = (char *)"untouched", *error = NULL;
    wxrefund_status status = wxrefund_refund_apply_abnormal(client, request, &response, &error);
    char want[96] = "";
    if (field) snprintf(want, sizeof want, "\"field\":\"%s\"", field);
    int ok = (field ? status == WXREFUND_STATUS_INVALID_REQUEST : status != WXREFUND_STATUS_OK) && error &&
             strstr(error, want) && !has_details(error) && strcmp(response, "untouched") == 0;
    CHECK(ok);
    if (!ok) fprintf(stderr, "want %s for %s: %s %s\n", field ? field : "an error", request,
                     wxrefund_status_name(status), error ? error : "(none)");
    wxrefund_string_free(error);
    CHECK(sim_request_count(port) == before);
}

#define HEAD "{\"refund_id\":\"50300000012026113000000000001\",\"out_refund_no\":\"CV1\","
#define USER "\"type\":\"USER_BANK_CARD\","
#define BANK "\"bank_type\":\"ICBC_DEBIT\","
#define CARD "\"bank_account\":\"" ACCOUNT "\""
#define HOLDER "\"real_name\":\"" NAME "\""

static void test_validation(wxrefund_client *client, int port) {
    expect_refused(client, port, "real_name", HEAD USER BANK CARD "}");
    expect_refused(client, port, "bank_account", HEAD USER BANK HOLDER "}");
    expect_refused(client, port, "bank_type", HEAD USER CARD "," HOLDER "}");
    expect_refused(client, port, "bank_type", HEAD USER "\"bank_type\":\"icbc\"," CARD "," HOLDER "}");
    expect_refused(client, port, "bank_account", HEAD "\"type\":\"MERCHANT_BANK_CARD\"," CARD "}");
    expect_refused(client, port, "real_name", HEAD "\"type\":\"MERCHANT_BANK_CARD\"," HOLDER "}");
    expect_refused(client, port, "type", HEAD "\"type\":\"CASH\"," CARD "," HOLDER "}");
    expect_refused(client, port, "refund_id",
                   "{\"refund_id\":\"\",\"out_refund_no\":\"CV1\",\"type\":\"MERCHANT_BANK_CARD\"}");
    /* Malformed: the card number as a number, a misspelt field, the name in an array. */
    expect_refused(client, port, NULL, HEAD USER BANK "\"bank_account\":" ACCOUNT "," HOLDER "}");
    expect_refused(client, port, NULL, HEAD USER BANK "\"bank_acount\":\"" ACCOUNT "\"," HOLDER "}");
    expect_refused(client, port, NULL, HEAD USER BANK CARD ",\"real_name\":[\"" NAME "\"]}");
    expect_refused(client, port, NULL, HEAD USER BANK CARD "," HOLDER);
}

static void test_other_family(const char *global_config) {
    wxrefund_client *global = NULL;
    char *error = NULL;
    CHECK(wxrefund_client_new(global_config, &global, &error) == WXREFUND_STATUS_OK);
    wxrefund_string_free(error);
    if (!global) return;
    int port = sim_port(global_config);
    int before = sim_request_count(port);
    char *response = (char *)"untouched";
    error = NULL;
    CHECK(wxrefund_refund_apply_abnormal(global, HEAD USER BANK CARD "," HOLDER "}", &response, &error) ==
          WXREFUND_STATUS_INVALID_REQUEST);
    CHECK(error && !has_details(error));
    wxrefund_string_free(error);
    CHECK(sim_request_count(port) == before);
    CHECK(wxrefund_client_free(global) == WXREFUND_STATUS_OK);
    /* And the NULL arguments of the C ABI. */
    error = NULL;
    CHECK(wxrefund_refund_apply_abnormal(NULL, "{}", &response, &error) == WXREFUND_STATUS_INVALID_HANDLE);
    wxrefund_string_free(error);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DOMESTIC_CONFIG_FILE GLOBAL_CONFIG_FILE\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    char *global_config = read_file(argv[2]);
    if (!config || !global_config) {
        fprintf(stderr, "cannot read the configuration files\n");
        return 2;
    }
    int port = sim_port(config);
    CHECK(port > 0);
    char *error = NULL;
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, keep_record, NULL, &error) == WXREFUND_STATUS_OK);
    wxrefund_string_free(error);
    wxrefund_client *client = NULL;
    error = NULL;
    CHECK(wxrefund_client_new(config, &client, &error) == WXREFUND_STATUS_OK);
    if (error) fprintf(stderr, "client: %s\n", error);
    wxrefund_string_free(error);
    if (client) {
        test_validation(client, port);
        test_user_bank_card(client, port);
        test_merchant_bank_card(client, port);
        test_not_abnormal(client, port);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    }
    test_other_family(global_config);
    /* Off before the records are read: no callback runs any more. */
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, NULL, NULL, NULL) == WXREFUND_STATUS_OK);
    CHECK(log_text && strstr(log_text, "apply-abnormal-refund")); /* the records were caught */
    CHECK(!has_details(log_text));
    CHECK(!log_text || !strstr(log_text, "user_received_account"));
    free(log_text);
    free(config);
    free(global_config);
    return report();
}
