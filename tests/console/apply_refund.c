/*
 * Applies for one mainland refund through the real client library (libwxrefund)
 * and prints its out_refund_no on stdout; used by scripts/test-sim-console.sh.
 *
 *   apply_refund CONFIG_JSON_FILE OUT_TRADE_NO OUT_REFUND_NO
 */
#include <stdio.h>
#include <stdlib.h>

#include "wxrefund.h"

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

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG_JSON_FILE OUT_TRADE_NO OUT_REFUND_NO\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new(config, &client, &error);
    free(config);
    if (status != WXREFUND_STATUS_OK) {
        fprintf(stderr, "wxrefund_client_new: %s %s\n", wxrefund_status_name(status), error ? error : "");
        wxrefund_string_free(error);
        return 1;
    }
    char request[512];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\",\"reason\":\"console test\","
             "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
             argv[2], argv[3]);
    char *refund = NULL;
    status = wxrefund_refund_create(client, request, &refund, &error);
    if (status != WXREFUND_STATUS_OK) {
        fprintf(stderr, "wxrefund_refund_create: %s %s\n", wxrefund_status_name(status), error ? error : "");
        wxrefund_string_free(error);
        wxrefund_client_free(client);
        return 1;
    }
    fprintf(stderr, "accepted: %s\n", refund);
    wxrefund_string_free(refund);
    printf("%s\n", argv[3]);
    return wxrefund_client_free(client) == WXREFUND_STATUS_OK ? 0 : 1;
}
