/*
 * Every error path of the C ABI, plus one client shared by 8 threads, against
 * the simulator. Built with -Wall -Wextra -Werror and run under valgrind by
 * scripts/test.sh:  ffi_test CONFIG_JSON_FILE
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wxrefund.h"
#include "test_util.h"

/* Runs CALL, which writes to `err`, then checks it with expect(). */
#define EXPECT(want, needle, call)                    \
    do {                                              \
        char *err = NULL;                             \
        wxrefund_status got_ = (call);                \
        expect(got_, want, err, needle);              \
    } while (0)

/* Checks the status, that the error JSON names it, and frees the JSON. */
static void expect(wxrefund_status got, wxrefund_status want, char *error_json, const char *needle) {
    CHECK(got == want);
    if (got != want) fprintf(stderr, "  got %s, want %s: %s\n", wxrefund_status_name(got),
                             wxrefund_status_name(want), error_json ? error_json : "(no error json)");
    if (want != WXREFUND_STATUS_OK) {
        CHECK(error_json != NULL);
        if (error_json) {
            char status_field[64];
            snprintf(status_field, sizeof status_field, "\"status\":\"%s\"", wxrefund_status_name(want));
            CHECK(strstr(error_json, status_field) != NULL);
            if (needle && !strstr(error_json, needle)) {
                failures++;
                fprintf(stderr, "  error json lacks %s: %s\n", needle, error_json);
            }
        }
    }
    wxrefund_string_free(error_json);
}

static void test_static_strings(void) {
    CHECK(strlen(wxrefund_version()) > 0);
    CHECK(strcmp(wxrefund_status_name(WXREFUND_STATUS_OK), "OK") == 0);
    CHECK(strcmp(wxrefund_status_name(WXREFUND_STATUS_NOT_FOUND), "NOT_FOUND") == 0);
    CHECK(strcmp(wxrefund_status_name(WXREFUND_STATUS_INTERNAL), "INTERNAL") == 0);
    CHECK(strcmp(wxrefund_status_name(999), "UNKNOWN") == 0);
    CHECK(strcmp(wxrefund_status_name(-1), "UNKNOWN") == 0);
}

static void test_client_new_errors(const char *config) {
    wxrefund_client *client = NULL;
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "config_json is NULL",
           wxrefund_client_new(NULL, &client, &err));
    CHECK(client == NULL);
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "client_out",
           wxrefund_client_new(config, NULL, &err));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "UTF-8",
           wxrefund_client_new("{\"family\":\"\xff\"}", &client, &err));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL,
           wxrefund_client_new("{not json", &client, &err));
    EXPECT(WXREFUND_STATUS_INVALID_CONFIG, "invalid type",
           wxrefund_client_new("{\"family\":\"domestic\",\"mchid\":42}", &client, &err));
    /* Oversized input: 2 MiB of whitespace around an object. */
    size_t big = 2u << 20;
    char *huge = malloc(big + 3);
    memset(huge, ' ', big);
    memcpy(huge + big, "{}", 3);
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "larger than",
           wxrefund_client_new(huge, &client, &err));
    free(huge);
    /* error_json_out may be NULL. */
    CHECK(wxrefund_client_new("[]", &client, NULL) == WXREFUND_STATUS_INVALID_CONFIG);
    CHECK(client == NULL);
}

static void test_handle_errors(const char *config) {
    char *response = (char *)"untouched";
    const char *query = "{\"out_refund_no\":\"R1\"}";
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, NULL,
           wxrefund_refund_query(NULL, query, &response, &err));
    int not_a_client = 0;
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, NULL,
           wxrefund_refund_query((wxrefund_client *)&not_a_client, query, &response, &err));
    CHECK(strcmp(response, "untouched") == 0); /* outputs are written only on success */
    CHECK(wxrefund_client_free(NULL) == WXREFUND_STATUS_INVALID_HANDLE);
    CHECK(wxrefund_client_free((wxrefund_client *)&not_a_client) == WXREFUND_STATUS_INVALID_HANDLE);

    wxrefund_client *client = NULL;
    CHECK(wxrefund_client_new(config, &client, NULL) == WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_INVALID_HANDLE); /* double free is harmless */
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, NULL,
           wxrefund_refund_query(client, query, &response, &err));
}

static void test_string_free(void) {
    wxrefund_string_free(NULL);
    char local[] = "not from wxrefund";
    wxrefund_string_free(local); /* ignored: not a string the library returned */
    char *error = NULL;
    CHECK(wxrefund_client_new("{", NULL, &error) != WXREFUND_STATUS_OK);
    CHECK(error != NULL);
    wxrefund_string_free(error);
    wxrefund_string_free(error); /* double free is ignored */
}

static void test_request_errors(wxrefund_client *client) {
    char *response = NULL;
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "request_json",
           wxrefund_refund_create(client, NULL, &response, &err));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "response_json_out",
           wxrefund_refund_create(client, "{}", NULL, &err));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL,
           wxrefund_refund_create(client, "{\"out_refund_no\":", &response, &err));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "invalid type",
           wxrefund_refund_create(client,
               "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R1\",\"amount\":{\"refund\":\"100\",\"total\":10000,\"currency\":\"CNY\"}}",
               &response, &err));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "unknown field `reasn`",
           wxrefund_refund_create(client,
               "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R1\",\"reasn\":\"x\",\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
               &response, &err));
    EXPECT(WXREFUND_STATUS_INVALID_REQUEST, "\"field\":\"out_refund_no\"",
           wxrefund_refund_create(client,
               "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R 1\",\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
               &response, &err));
    EXPECT(WXREFUND_STATUS_INVALID_REQUEST, "\"field\":\"amount.refund\"",
           wxrefund_refund_create(client,
               "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R1\",\"amount\":{\"refund\":20000,\"total\":10000,\"currency\":\"CNY\"}}",
               &response, &err));
    EXPECT(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS",
           wxrefund_refund_query(client, "{\"out_refund_no\":\"NO_SUCH_REFUND\"}", &response, &err));
    EXPECT(WXREFUND_STATUS_NOT_FOUND, "\"http_status\":404",
           wxrefund_refund_create(client,
               "{\"out_trade_no\":\"T99999999999999\",\"out_refund_no\":\"R-unknown-order\",\"amount\":{\"refund\":1,\"total\":1,\"currency\":\"CNY\"}}",
               &response, &err));
}

struct worker {
    wxrefund_client *client;
    int index;
    int ok;
};

static void *refund_worker(void *arg) {
    struct worker *w = arg;
    char request[512], query[128];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"CT%ld-%d\","
             "\"amount\":{\"refund\":10,\"total\":10000,\"currency\":\"CNY\"}}",
             (long)time(NULL), w->index);
    snprintf(query, sizeof query, "{\"out_refund_no\":\"CT%ld-%d\"}", (long)time(NULL), w->index);
    char *response = NULL, *error = NULL;
    wxrefund_status status = wxrefund_refund_create(w->client, request, &response, &error);
    if (status == WXREFUND_STATUS_OK) {
        wxrefund_string_free(response);
        status = wxrefund_refund_query(w->client, query, &response, &error);
        if (status == WXREFUND_STATUS_OK) wxrefund_string_free(response);
    }
    if (status != WXREFUND_STATUS_OK) {
        fprintf(stderr, "worker %d: %s %s\n", w->index, wxrefund_status_name(status), error ? error : "");
        wxrefund_string_free(error);
    }
    w->ok = status == WXREFUND_STATUS_OK;
    return NULL;
}

static void test_threads(wxrefund_client *client) {
    pthread_t threads[8];
    struct worker workers[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (struct worker){client, i, 0};
        CHECK(pthread_create(&threads[i], NULL, refund_worker, &workers[i]) == 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG_JSON_FILE\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) return 2;

    test_static_strings();
    test_client_new_errors(config);
    test_handle_errors(config);
    test_string_free();

    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new(config, &client, &error);
    expect(status, WXREFUND_STATUS_OK, error, NULL);
    if (status == WXREFUND_STATUS_OK) {
        test_request_errors(client);
        test_threads(client);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    }
    free(config);
    return report();
}
