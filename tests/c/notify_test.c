/*
 * Refund notifications through the C ABI: this program is the merchant's
 * notify_url. It applies for a refund with notify_url pointing at its own
 * loopback socket, receives the simulator's notification, hands the headers
 * and the exact body bytes to wxrefund_notification_parse, and answers with
 * the reply the library gives. Also every argument error of that function.
 * Run by scripts/test-c.sh under valgrind:  notify_test CONFIG_JSON_FILE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wxrefund.h"
#include "test_util.h"

/* Appends `text` to `out` as a JSON string (the header values are plain ASCII here). */
static void append_json_string(char *out, size_t size, const char *text) {
    size_t len = strlen(out);
    snprintf(out + len, size - len, "\"");
    for (const char *c = text; *c; c++) {
        len = strlen(out);
        if (*c == '"' || *c == '\\') snprintf(out + len, size - len, "\\%c", *c);
        else snprintf(out + len, size - len, "%c", *c);
    }
    len = strlen(out);
    snprintf(out + len, size - len, "\"");
}

/* Receives one HTTP request on `listener`, parses it with the library, answers the reply.
 * Returns the status of wxrefund_notification_parse, or -1 on a socket problem. */
static int receive_one(int listener, wxrefund_client *client, char **result_out) {
    struct pollfd ready = {listener, POLLIN, 0};
    if (poll(&ready, 1, 10000) != 1) return -1;
    int conn = accept(listener, NULL, NULL);
    if (conn < 0) return -1;
    static char request[65536];
    size_t got = 0;
    char *body = NULL;
    long length = -1;
    while (got < sizeof request - 1) {
        ssize_t n = read(conn, request + got, sizeof request - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        request[got] = '\0';
        char *end = strstr(request, "\r\n\r\n");
        if (end && length < 0) {
            body = end + 4;
            char *cl = strcasestr(request, "\r\nContent-Length:");
            length = cl ? strtol(cl + 17, NULL, 10) : 0;
        }
        if (body && (long)(got - (size_t)(body - request)) >= length) break;
    }
    if (!body) {
        close(conn);
        return -1;
    }
    /* Headers as a JSON object of strings. */
    static char headers[16384];
    snprintf(headers, sizeof headers, "{");
    char *line = strstr(request, "\r\n") + 2;
    int first = 1;
    while (line < body - 2) {
        char *eol = strstr(line, "\r\n");
        char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            *colon = '\0';
            *eol = '\0';
            char *value = colon + 1;
            while (*value == ' ') value++;
            if (!first) strncat(headers, ",", sizeof headers - strlen(headers) - 1);
            append_json_string(headers, sizeof headers, line);
            strncat(headers, ":", sizeof headers - strlen(headers) - 1);
            append_json_string(headers, sizeof headers, value);
            first = 0;
        }
        line = eol + 2;
    }
    strncat(headers, "}", sizeof headers - strlen(headers) - 1);

    char *error = NULL;
    wxrefund_status status = wxrefund_notification_parse(client, headers, (const uint8_t *)body,
                                                         (size_t)length, result_out, &error);
    int reply = status == WXREFUND_STATUS_OK ? 200 : 401;
    if (error) {
        char *at = strstr(error, "\"http_status\":");
        if (at) reply = atoi(at + 14);
        fprintf(stderr, "notification refused: %s\n", error);
        wxrefund_string_free(error);
    }
    char answer[128];
    int n = snprintf(answer, sizeof answer, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", reply);
    if (write(conn, answer, (size_t)n) < 0) fprintf(stderr, "write failed\n");
    close(conn);
    return (int)status;
}

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

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    CHECK(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(listener, 4) == 0);
    CHECK(getsockname(listener, (struct sockaddr *)&addr, &addr_len) == 0);

    char request[512];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"CN%ld\",\"notify_url\":\"http://127.0.0.1:%d/notify\","
             "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
             (long)time(NULL), ntohs(addr.sin_port));
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
