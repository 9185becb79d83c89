/*
 * WeChat Pay Global through the C ABI: apply, then query by out_refund_no
 * (containing | * @) and by refund_id, until final. Run by scripts/test-c.sh
 * under valgrind for direct and institution mode:
 *   global_test CONFIG_JSON_FILE OUT_TRADE_NO TOTAL CURRENCY
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wxrefund.h"
#include "test_util.h"

/* Copies the string value of `"key":"` after `from` into out; 0 when absent. */
static int string_after(const char *from, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = strstr(from, pattern);
    if (!at) return 0;
    at += strlen(pattern);
    const char *end = strchr(at, '"');
    if (!end || (size_t)(end - at) >= size) return 0;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
    return 1;
}

/* Drops the digits of `"elapsed_ms":N` in place: the one value two answers may not share. */
static void drop_elapsed(char *json) {
    char *at = strstr(json, "\"elapsed_ms\":");
    if (!at) return;
    at += strlen("\"elapsed_ms\":");
    size_t digits = strspn(at, "0123456789");
    memmove(at, at + digits, strlen(at + digits) + 1);
}

/* Queries until "final":true; returns the response (caller frees) or NULL. */
static char *query_until_final(wxrefund_client *client, const char *query) {
    for (int attempt = 0; attempt < 100; attempt++) {
        char *response = NULL, *error = NULL;
        wxrefund_status status = wxrefund_refund_query(client, query, &response, &error);
        if (status != WXREFUND_STATUS_OK) {
            fprintf(stderr, "query %s: %s %s\n", query, wxrefund_status_name(status), error);
            wxrefund_string_free(error);
            return NULL;
        }
        if (strstr(response, "\"final\":true")) return response;
        wxrefund_string_free(response);
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONFIG_JSON_FILE OUT_TRADE_NO TOTAL CURRENCY\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) return 2;
    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new(config, &client, &error);
    free(config);
    if (status != WXREFUND_STATUS_OK) {
        fprintf(stderr, "client: %s %s\n", wxrefund_status_name(status), error);
        wxrefund_string_free(error);
        return 1;
    }

    char out_refund_no[64], request[512], query[128], refund_id[64], wxrefund_part[256];
    snprintf(out_refund_no, sizeof out_refund_no, "G|C*%ld@%d", (long)time(NULL), (int)(clock() % 1000));
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\",\"amount\":{\"refund\":100,\"total\":%s,\"currency\":\"%s\"}}",
             argv[2], out_refund_no, argv[3], argv[4]);
    char *response = NULL;
    status = wxrefund_refund_create(client, request, &response, &error);
    checks++;
    if (status != WXREFUND_STATUS_OK) {
        fprintf(stderr, "create: %s %s\n", wxrefund_status_name(status), error);
        wxrefund_string_free(error);
        wxrefund_client_free(client);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *normalized = strstr(response, "\"wxrefund\":");
    checks++;
    if (!normalized || !string_after(normalized, "refund_id", refund_id, sizeof refund_id) ||
        !strstr(normalized, "\"status\":\"ACCEPTED\"")) {
        fprintf(stderr, "apply answer lacks the normalized id/status: %s\n", response);
        failures++;
        refund_id[0] = '\0';
    }
    wxrefund_string_free(response);

    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", out_refund_no);
    char *by_number = query_until_final(client, query);
    snprintf(query, sizeof query, "{\"refund_id\":\"%s\"}", refund_id);
    char *by_id = query_until_final(client, query);
    checks += 3;
    if (!by_number || !by_id) {
        failures++;
    } else {
        const char *a = strstr(by_number, "\"wxrefund\":");
        const char *b = strstr(by_id, "\"wxrefund\":");
        if (!a || !b || !string_after(a, "status", wxrefund_part, sizeof wxrefund_part) ||
            strcmp(wxrefund_part, "SUCCESS") != 0) {
            fprintf(stderr, "not SUCCESS: %s\n", by_number);
            failures++;
        }
        drop_elapsed(by_number);
        drop_elapsed(by_id);
        if (strcmp(by_number, by_id) != 0) {
            fprintf(stderr, "the two query paths disagree:\n%s\n%s\n", by_number, by_id);
            failures++;
        }
        if (!strstr(by_number, "\"settlement_currency\"") || !strstr(by_number, "\"exchange_rate\"")) {
            fprintf(stderr, "settlement fields missing: %s\n", by_number);
            failures++;
        }
    }
    wxrefund_string_free(by_number);
    wxrefund_string_free(by_id);
    checks++;
    if (wxrefund_client_free(client) != WXREFUND_STATUS_OK) failures++;
    return report();
}
