/*
 * Shared by the C test programs that talk HTTP themselves: calls to the
 * simulator's control API (/_sim/...), and a loopback notify_url that hands
 * one received notification to wxrefund_notification_parse and answers the
 * reply the library gives. Plain sockets: loopback only, small bodies. Compiles
 * as C11 and as C++17 (tests/cpp includes it too).
 */
#ifndef WXREFUND_SIM_HTTP_H
#define WXREFUND_SIM_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wxrefund.h"

/* The port of a configuration's "base_url":"http://127.0.0.1:PORT"; 0 when absent. */
static inline int sim_port(const char *config) {
    const char *url = strstr(config, "\"base_url\":\"http://127.0.0.1:");
    return url ? atoi(url + strlen("\"base_url\":\"http://127.0.0.1:")) : 0;
}

/* Sends `method path` with a JSON `body` (NULL: none) to the simulator on `port`.
 * Returns the HTTP status, or -1 when the exchange failed. */
static inline int sim_request(int port, const char *method, const char *path, const char *body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    char request[2048];
    int n = snprintf(request, sizeof request,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    if (n < 0 || (size_t)n >= sizeof request || write(fd, request, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char answer[256] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof answer - 1 && (r = read(fd, answer + got, sizeof answer - 1 - got)) > 0) got += (size_t)r;
    answer[got] = '\0';
    close(fd);
    int status = -1;
    return sscanf(answer, "HTTP/1.1 %d", &status) == 1 ? status : -1;
}

/* Appends `text` to `out` as a JSON string (the header values are plain ASCII here). */
static inline void append_json_string(char *out, size_t size, const char *text) {
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

/* A listening loopback socket; its port goes to *port. -1 on failure. */
static inline int notify_listen(int *port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0) {
        close(listener);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return listener;
}

/* Receives one HTTP request on `listener`, parses it with the library, answers the reply.
 * Returns the status of wxrefund_notification_parse, or -1 on a socket problem. */
static inline int receive_one(int listener, wxrefund_client *client, char **result_out) {
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
        char *colon = (char *)memchr(line, ':', (size_t)(eol - line));
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

/* GETs `path` from the simulator on `port` (a control-API read such as /_sim/requests).
 * Returns the response body, malloc'd and NUL-terminated, for the caller to free; NULL when
 * the exchange failed or the status was not 200. */
static inline char *sim_get(int port, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char request[1024];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || n < 0 || (size_t)n >= sizeof request ||
        write(fd, request, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t size = 65536, got = 0;
    char *answer = (char *)malloc(size);
    ssize_t r;
    while (answer && (r = read(fd, answer + got, size - 1 - got)) > 0) {
        got += (size_t)r;
        if (got == size - 1) { /* the request log can be long: grow */
            char *bigger = (char *)realloc(answer, size * 2);
            if (!bigger) {
                free(answer);
                answer = NULL;
                break;
            }
            answer = bigger;
            size *= 2;
        }
    }
    close(fd);
    if (!answer) return NULL;
    answer[got] = '\0';
    int status = -1;
    char *body = strstr(answer, "\r\n\r\n");
    if (sscanf(answer, "HTTP/1.1 %d", &status) != 1 || status != 200 || !body) {
        free(answer);
        return NULL;
    }
    memmove(answer, body + 4, strlen(body + 4) + 1);
    return answer;
}

/* How many platform requests the simulator on `port` has logged (GET /_sim/requests); -1 on
 * failure. */
static inline int sim_request_count(int port) {
    char *log = sim_get(port, "/_sim/requests");
    if (!log) return -1;
    int count = 0;
    for (const char *at = log; (at = strstr(at, "\"seq\":")) != NULL; at++) count++;
    free(log);
    return count;
}

#endif
