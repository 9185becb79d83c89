/*
 * Refund notifications through the C ABI: this program is the merchant's
 * notify_url. It applies for a refund with notify_url pointing at its own
 * loopback socket, receives the simulator's notification, hands the headers
 * and the exact body bytes to wxrefund_notification_parse, and answers with
 * the reply the library gives. Also every argument error of that function.
 * Run by scripts/test-c.sh under valgrind:  notify_test CONFIG_JSON_FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wxrefund.h"
#include "test_util.h"
#include "sim_http.h"

static void test_argument_errors(wxrefund_client *client) {
    char *result = NULL, *error = NULL;
    const uint8_t body[] = "{}";
    CHECK(wxrefund_notification_parse(client, NULL, body, 2, &result, &error) == WXREFUND_STATUS_INVALID_ARGUMENT);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_notification_parse(client, "{}", NULL, 5, &result, &error) == WXREFUND_STATUS_INVALID_ARGUMENT);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_notification_parse(client, "{}", body, 2, NULL, &error) == WXREFUND_STATUS_INVALID_ARGUMENT);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_notification_parse(client, "[1,2", body, 2, &result, &error) == WXREFUND_STATUS_INVALID_JSON);
    CHECK(error && strstr(error, "\"reply\":{\"body\":") && strstr(error, "\"http_status\":400"));
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_notification_parse(client, "{}", body, 2, &result, &error) == WXREFUND_STATUS_VERIFICATION_FAILED);
    CHECK(error && strstr(error, "\"http_status\":401") && strstr(error, "\"kind\":\"missing_header\""));
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_notification_parse(NULL, "{}", body, 2, &result, &error) == WXREFUND_STATUS_INVALID_HANDLE);
    wxrefund_string_free(error);
    CHECK(result == NULL); /* never written on failure */
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG_JSON_FILE\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) return 2;
    wxrefund_client *client = NULL;
    char *error = NULL;
    if (wxrefund_client_new(config, &client, &error) != WXREFUND_STATUS_OK) {
        fprintf(stderr, "client: %s\n", error);
        wxrefund_string_free(error);
        free(config);
        return 1;
    }
    free(config);
    test_argument_errors(client);

    int port = 0;
    int listener = notify_listen(&port);
    CHECK(listener >= 0);
    char request[512];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"CN%ld\",\"notify_url\":\"http://127.0.0.1:%d/notify\","
             "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
             (long)time(NULL), port);
    char *refund = NULL;
    wxrefund_status status = wxrefund_refund_create(client, request, &refund, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    if (status == WXREFUND_STATUS_OK) {
        char *result = NULL;
        CHECK(receive_one(listener, client, &result) == WXREFUND_STATUS_OK);
        CHECK(result && strstr(result, "\"event_type\":\"REFUND.SUCCESS\""));
        CHECK(result && strstr(result, "\"refund_status\":\"SUCCESS\""));
        CHECK(result && strstr(result, "\"reply\":{\"body\":\"\",\"http_status\":200}"));
        /* The notification and the apply answer name the same refund. */
        const char *id = strstr(refund, "\"refund_id\":\"");
        char refund_id[64] = "";
        if (id) snprintf(refund_id, sizeof refund_id, "%.34s", id);
        CHECK(id && result && strstr(result, refund_id));
        wxrefund_string_free(result);
        wxrefund_string_free(refund);
    } else {
        fprintf(stderr, "create: %s\n", error);
        wxrefund_string_free(error);
    }
    close(listener);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    return report();
}
