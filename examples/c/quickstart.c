/*
 * Quickstart in C: apply for a mainland refund, then wait until it is final.
 *
 *   target/debug/wxrefund-sim --config-out /tmp/wxrefund.json &   # the offline simulator
 *   cc -Wall -Wextra -Werror -Iinclude examples/c/quickstart.c -Ltarget/debug -lwxrefund -o quickstart
 *   LD_LIBRARY_PATH=target/debug ./quickstart /tmp/wxrefund.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wxrefund.h"

/* Reads a whole file into a NUL-terminated buffer the caller frees. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (text) text[size] = '\0';
    fclose(f);
    return text;
}

/* The library's log records (one line each, never a secret), here to stderr. */
static void log_to_stderr(void *user_data, int level, const char *message, const char *fields_json) {
    (void)user_data;
    fprintf(stderr, "wxrefund[%d] %s %s\n", level, message, fields_json);
}

static int fail(const char *what, wxrefund_status status, char *error_json) {
    fprintf(stderr, "%s failed: %s %s\n", what, wxrefund_status_name(status),
            error_json ? error_json : "");
    wxrefund_string_free(error_json);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG_JSON_FILE\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    printf("wxrefund %s\n", wxrefund_version());
    wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_INFO, log_to_stderr, NULL, NULL);

    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new(config, &client, &error);
    free(config);
    if (status != WXREFUND_STATUS_OK) return fail("wxrefund_client_new", status, error);

    /* One logical refund = one out_refund_no, reused for every retry. */
    char out_refund_no[64];
    snprintf(out_refund_no, sizeof out_refund_no, "C%ld", (long)time(NULL));
    char request[512];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"%s\","
             "\"reason\":\"quickstart\",\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
             out_refund_no);

    char *refund = NULL;
    status = wxrefund_refund_create(client, request, &refund, &error);
    if (status != WXREFUND_STATUS_OK) {
        wxrefund_client_free(client);
        return fail("wxrefund_refund_create", status, error);
    }
    printf("accepted: %s\n", refund);
    wxrefund_string_free(refund);

    /* Queries at once, then after 1, 2, 4, ... s, until final or 60 s have passed. */
    char query[128];
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", out_refund_no);
    status = wxrefund_refund_wait(client, query, 60000, &refund, &error);
    wxrefund_client_free(client);
    /* WXREFUND_STATUS_TIMEOUT: the error JSON's "refund" is the last one seen; wait again later. */
    if (status != WXREFUND_STATUS_OK) return fail("wxrefund_refund_wait", status, error);
    /* "final":true (SUCCESS or CLOSED), or "action_required":true (ABNORMAL). */
    printf("final: %s\n", refund);
    wxrefund_string_free(refund);
    return 0;
}
