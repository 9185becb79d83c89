/*
 * The C ABI misuse matrix. Every exported function gets: NULL for each pointer
 * parameter, freed, twice-freed and foreign handles, foreign and double string
 * frees, invalid UTF-8, JSON cut short by an embedded NUL, 10 MB and
 * 1,000,000-deep inputs, out-of-range and negative amounts, hostile WeCom
 * callback bodies (also on a 256 KiB thread stack) and token providers that
 * misbehave. Every call must return a documented status (never PANIC or
 * INTERNAL), leave its outputs untouched on failure, and hand back an error
 * JSON object naming that status; each case runs once with an
 * error_json_out and once with NULL there.
 *
 * Run by scripts/test-c.sh under valgrind and, built a second time with
 * -fsanitize=address,undefined, under AddressSanitizer:
 *   misuse_test DOMESTIC_CONFIG WECOM_CONFIG WECOM_PROVIDER_CONFIG
 * (WECOM_PROVIDER_CONFIG: a "wecom" configuration without a token source.)
 */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wxrefund.h"
#include "test_util.h"

#define MB10 ((size_t)10 << 20)
#define DEEP 1000000

/* ---- a small JSON validator, for the error JSON the library hands back ---- */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *json_string(const char *p) {
    if (*p++ != '"') return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) return NULL; /* also the terminating NUL */
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i])) return NULL;
                p += 4;
            } else if (*p == '\0' || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *json_digits(const char *p) {
    if (!isdigit((unsigned char)*p)) return NULL;
    while (isdigit((unsigned char)*p)) p++;
    return p;
}

static const char *json_number(const char *p) {
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (!(p = json_digits(p))) return NULL;
    if (*p == '.' && !(p = json_digits(p + 1))) return NULL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(p = json_digits(p))) return NULL;
    }
    return p;
}

/* `open` ... `close` holding values (arrays) or string: value pairs (objects). */
static const char *json_container(const char *p, int depth, char close, int pairs) {
    p = json_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (pairs) {
            if (!(p = json_string(json_ws(p)))) return NULL;
            p = json_ws(p);
            if (*p++ != ':') return NULL;
        }
        if (!(p = json_value(p, depth + 1))) return NULL;
        p = json_ws(p);
        if (*p == close) return p + 1;
        if (*p++ != ',') return NULL;
    }
}

static const char *json_value(const char *p, int depth) {
    if (depth > 64) return NULL;
    p = json_ws(p);
    switch (*p) {
    case '{': return json_container(p, depth, '}', 1);
    case '[': return json_container(p, depth, ']', 0);
    case '"': return json_string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return json_number(p);
    }
}

/* 1 when `text` is exactly one JSON object. */
static int json_is_object(const char *text) {
    const char *start = json_ws(text);
    if (*start != '{') return 0;
    const char *end = json_value(start, 0);
    return end && *json_ws(end) == '\0';
}

/* ---- expectations ---- */

static char untouched[] = "untouched";
#define UNTOUCHED_CLIENT ((wxrefund_client *)(uintptr_t)0x7e50)

static int cases; /* calls checked with expect_at and an error_json_out */

static int documented(int status) {
    return status >= WXREFUND_STATUS_OK && status <= WXREFUND_STATUS_SIGNER_FAILED &&
           status != WXREFUND_STATUS_PANIC && status != WXREFUND_STATUS_INTERNAL;
}

static const char *context = ""; /* which handle, body or provider a helper is on */

/* Counts one check; on failure prints where, the call and the error JSON. */
static void verdict(int line, const char *call, const char *problem, const char *error_json) {
    checks++;
    if (!problem) return;
    failures++;
    fprintf(stderr, "misuse_test.c:%d: %s%s%s\n  call: %.200s\n  error json: %.400s\n", line, problem,
            *context ? " | " : "", context, call, error_json ? error_json : "(none)");
}

/* Checks one call's outcome, frees what it returned. `reply` > 0 asks for
 * "reply":{"http_status":reply,...} in the error JSON. */
static void expect_at(int line, const char *call, int with_error_out, wxrefund_status got,
                      wxrefund_status want, wxrefund_status alt, const char *needle, int reply,
                      char *error_json, char *out, wxrefund_client *client_out) {
    char problem[256];
    const char *verdict_text = NULL;
    if (with_error_out) cases++;
    if (!documented(got)) {
        snprintf(problem, sizeof problem, "undocumented status %d (%s)", got, wxrefund_status_name(got));
        verdict_text = problem;
    } else if (got != want && got != alt) {
        snprintf(problem, sizeof problem, "got %s, want %s", wxrefund_status_name(got),
                 wxrefund_status_name(want));
        verdict_text = problem;
    } else if (got != WXREFUND_STATUS_OK && (out != untouched || client_out != UNTOUCHED_CLIENT)) {
        verdict_text = "an output parameter was written on failure";
    } else if (got != WXREFUND_STATUS_OK && with_error_out) {
        char status_field[64];
        snprintf(status_field, sizeof status_field, "\"status\":\"%s\"", wxrefund_status_name(got));
        char reply_field[64];
        snprintf(reply_field, sizeof reply_field, "\"http_status\":%d", reply);
        const char *reply_object = error_json ? strstr(error_json, "\"reply\":{") : NULL;
        if (!error_json) verdict_text = "no error JSON";
        else if (!json_is_object(error_json)) verdict_text = "the error JSON is not a JSON object";
        else if (!strstr(error_json, status_field)) verdict_text = "the error JSON does not name the status";
        else if (needle && !strstr(error_json, needle)) {
            snprintf(problem, sizeof problem, "the error JSON lacks %s", needle);
            verdict_text = problem;
        } else if (reply > 0 && !(reply_object && strstr(reply_object, reply_field))) {
            snprintf(problem, sizeof problem, "the error JSON lacks \"reply\" with %s", reply_field);
            verdict_text = problem;
        }
    }
    verdict(line, call, verdict_text, error_json);
    wxrefund_string_free(error_json);
    if (out != untouched) wxrefund_string_free(out);
    if (client_out != UNTOUCHED_CLIENT && client_out) wxrefund_client_free(client_out);
}

/*
 * Runs CALL twice: first with `errp` = &err, then with `errp` = NULL. CALL may
 * write `&out` (a string output) and `&cout` (a client output), which start as
 * sentinels that must survive a failure. `alt` is a second acceptable status.
 */
#define EXPECT_FULL(want, alt, needle, reply, call)                                         \
    do {                                                                                    \
        for (int pass_ = 0; pass_ < 2; pass_++) {                                           \
            char *err = NULL, **errp = pass_ == 0 ? &err : NULL, *out = untouched;          \
            wxrefund_client *cout = UNTOUCHED_CLIENT;                                       \
            (void)errp;                                                                     \
            wxrefund_status got_ = (call);                                                  \
            expect_at(__LINE__, #call, pass_ == 0, got_, want, alt, needle, reply, err, out, \
                      cout);                                                                \
        }                                                                                   \
    } while (0)
#define EXPECT(want, needle, call) EXPECT_FULL(want, want, needle, 0, call)
#define EXPECT_REPLY(want, needle, reply, call) EXPECT_FULL(want, want, needle, reply, call)

/* ---- inputs ---- */

/* prefix + count copies of unit + suffix, NUL-terminated; the caller frees it. */
static char *repeat(const char *prefix, const char *unit, size_t count, const char *suffix) {
    size_t p = strlen(prefix), u = strlen(unit), s = strlen(suffix);
    char *text = malloc(p + u * count + s + 1);
    if (!text) {
        perror("malloc");
        exit(2);
    }
    char *at = text;
    memcpy(at, prefix, p);
    at += p;
    if (u == 1) {
        memset(at, unit[0], count);
        at += count;
    } else {
        for (size_t i = 0; i < count; i++, at += u) memcpy(at, unit, u);
    }
    memcpy(at, suffix, s + 1);
    return text;
}

static char *must_read(const char *path) {
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    return text;
}

/* `config` without its string member `name` (compact JSON, as the simulator writes it). */
static void drop_member(char *config, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\":\"", name);
    char *start = strstr(config, key);
    if (!start) return;
    char *end = strchr(start + strlen(key), '"');
    if (!end) return;
    end++;
    if (*end == ',') end++;
    else if (start > config && start[-1] == ',') start--;
    memmove(start, end, strlen(end) + 1);
}

/* The WeCom configuration with this test's callback_token and a 43-character
 * EncodingAESKey (whose last character carries trailing bits, as real keys do). */
static char *with_callback_keys(const char *config) {
    char *stripped = strdup(config);
    drop_member(stripped, "callback_token");
    drop_member(stripped, "encoding_aes_key");
    const char *brace = strchr(stripped, '{');
    if (!brace) return stripped;
    const char *rest = brace + 1;
    while (*rest == ' ' || *rest == '\n') rest++;
    const char *keys = "{\"callback_token\":\"misuseCallbackToken\","
                       "\"encoding_aes_key\":\"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\"";
    char *text = malloc(strlen(keys) + strlen(rest) + 2);
    sprintf(text, "%s%s%s", keys, *rest == '}' ? "" : ",", rest);
    free(stripped);
    return text;
}

static const char *const BAD_UTF8[] = {
    "\xff",             /* never valid */
    "\xc0\xaf",         /* overlong '/' */
    "\xed\xa0\x80",     /* a UTF-16 surrogate */
    "\xf4\x90\x80\x80", /* beyond U+10FFFF */
    "\xe4\xb8",         /* a sequence cut short */
};
#define N_BAD_UTF8 (sizeof BAD_UTF8 / sizeof BAD_UTF8[0])

static const char *REQUEST =
    "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"MISUSE1\","
    "\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}";
static const char *QUERY = "{\"out_refund_no\":\"MISUSE1\"}";

static char *domestic_config, *wecom_config, *provider_config;
static wxrefund_client *domestic, *wecom;
static char wecom_headers[256]; /* msg_signature, timestamp (now), nonce */

/* ---- token providers ---- */

struct provider_log {
    int calls;
    size_t capacity;
    int rejected_calls;
    const char *token; /* for provide_fixed */
};

static void log_call(void *user_data, const char *rejected, size_t capacity) {
    struct provider_log *log = user_data;
    if (!log) return;
    log->calls++;
    log->capacity = capacity;
    if (rejected) log->rejected_calls++;
}

static int provide_failure(void *user_data, const char *rejected, char *token_out, size_t capacity) {
    log_call(user_data, rejected, capacity);
    (void)token_out;
    return 1;
}

static int provide_negative(void *user_data, const char *rejected, char *token_out, size_t capacity) {
    log_call(user_data, rejected, capacity);
    strcpy(token_out, "written-but-the-call-failed");
    return -1;
}

static int provide_no_nul(void *user_data, const char *rejected, char *token_out, size_t capacity) {
    log_call(user_data, rejected, capacity);
    memset(token_out, 'A', capacity); /* the whole capacity, no terminator */
    return 0;
}

static int provide_empty(void *user_data, const char *rejected, char *token_out, size_t capacity) {
    log_call(user_data, rejected, capacity);
    token_out[0] = '\0';
    return 0;
}

static int provide_bad_utf8(void *user_data, const char *rejected, char *token_out, size_t capacity) {
    log_call(user_data, rejected, capacity);
    strcpy(token_out, "token\xff\xfe");
    return 0;
}

static int provide_fixed(void *user_data, const char *rejected, char *token_out, size_t capacity) {
    log_call(user_data, rejected, capacity);
    const char *token = user_data ? ((struct provider_log *)user_data)->token : "misuse-token";
    if (strlen(token) + 1 > capacity) return 2;
    strcpy(token_out, token);
    return 0;
}

/* ---- a log callback ---- */

static int log_records; /* records counted by count_records */

/* Counts records; the strings must be readable NUL-terminated text during the call. */
static void count_records(void *user_data, int level, const char *message, const char *fields_json) {
    (void)user_data;
    if (level >= WXREFUND_LOG_LEVEL_ERROR && level <= WXREFUND_LOG_LEVEL_TRACE && strlen(message) > 0 &&
        json_is_object(fields_json))
        __atomic_add_fetch(&log_records, 1, __ATOMIC_SEQ_CST);
}

/* ---- the cases ---- */

static void test_static_functions(void) {
    const char *version = wxrefund_version();
    CHECK(version != NULL && strlen(version) > 0 && strchr(version, '.') != NULL);
    CHECK(version == wxrefund_version()); /* static: the same pointer every time */
    const char *backend = wxrefund_crypto_backend();
    CHECK(strcmp(backend, "ring") == 0 || strcmp(backend, "aws-lc") == 0);
    for (int s = WXREFUND_STATUS_OK; s <= WXREFUND_STATUS_SIGNER_FAILED; s++) {
        const char *name = wxrefund_status_name(s);
        CHECK(name != NULL && strcmp(name, "UNKNOWN") != 0 && strlen(name) > 0);
    }
    const int unknown[] = {-1, 18, 19, 255, 256, 12345, INT_MIN, INT_MAX, INT_MIN + 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECK(strcmp(wxrefund_status_name(unknown[i]), "UNKNOWN") == 0);
}

static void test_null_arguments(void) {
    struct provider_log log = {0};
    /* wxrefund_client_new */
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "config_json is NULL", wxrefund_client_new(NULL, &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "client_out is NULL",
           wxrefund_client_new(domestic_config, NULL, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "is NULL", wxrefund_client_new(NULL, NULL, errp));
    /* wxrefund_client_new_with_token_provider */
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "config_json is NULL",
           wxrefund_client_new_with_token_provider(NULL, provide_fixed, &log, &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "provider is NULL",
           wxrefund_client_new_with_token_provider(provider_config, NULL, &log, &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "client_out is NULL",
           wxrefund_client_new_with_token_provider(provider_config, provide_fixed, &log, NULL, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "is NULL",
           wxrefund_client_new_with_token_provider(NULL, NULL, NULL, NULL, errp));
    CHECK(log.calls == 0); /* building a client does not ask for a token */
    /* user_data may be NULL: it is only handed back to the provider. */
    wxrefund_client *client = NULL;
    CHECK(wxrefund_client_new_with_token_provider(provider_config, provide_fixed, NULL, &client, NULL) ==
          WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    /* wxrefund_client_free */
    CHECK(wxrefund_client_free(NULL) == WXREFUND_STATUS_INVALID_HANDLE);
    /* wxrefund_refund_create */
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle", wxrefund_refund_create(NULL, REQUEST, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "request_json is NULL",
           wxrefund_refund_create(domestic, NULL, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "response_json_out is NULL",
           wxrefund_refund_create(domestic, REQUEST, NULL, errp));
    EXPECT_FULL(WXREFUND_STATUS_INVALID_ARGUMENT, WXREFUND_STATUS_INVALID_HANDLE, NULL, 0,
                wxrefund_refund_create(NULL, NULL, NULL, errp));
    /* wxrefund_refund_query */
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle", wxrefund_refund_query(NULL, QUERY, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json is NULL",
           wxrefund_refund_query(domestic, NULL, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "response_json_out is NULL",
           wxrefund_refund_query(domestic, QUERY, NULL, errp));
    EXPECT_FULL(WXREFUND_STATUS_INVALID_ARGUMENT, WXREFUND_STATUS_INVALID_HANDLE, NULL, 0,
                wxrefund_refund_query(NULL, NULL, NULL, errp));
    /* wxrefund_refund_wait */
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle", wxrefund_refund_wait(NULL, QUERY, 1000, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json is NULL",
           wxrefund_refund_wait(domestic, NULL, 1000, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "response_json_out is NULL",
           wxrefund_refund_wait(domestic, QUERY, 1000, NULL, errp));
    EXPECT_FULL(WXREFUND_STATUS_INVALID_ARGUMENT, WXREFUND_STATUS_INVALID_HANDLE, NULL, 0,
                wxrefund_refund_wait(NULL, NULL, 0, NULL, errp));
    /* wxrefund_set_log_callback: only the callback is a pointer the library uses;
     * user_data is handed back as it is, and NULL there is fine. */
    EXPECT(WXREFUND_STATUS_OK, NULL, wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, NULL, NULL, errp));
    EXPECT(WXREFUND_STATUS_OK, NULL, wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, count_records, NULL, errp));
    EXPECT(WXREFUND_STATUS_OK, NULL, wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, NULL, NULL, errp));
    /* wxrefund_notification_parse, on both kinds of client */
    const uint8_t body[] = "{\"id\":\"x\"}";
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle",
           wxrefund_notification_parse(NULL, wecom_headers, body, sizeof body - 1, &out, errp));
    EXPECT_FULL(WXREFUND_STATUS_INVALID_ARGUMENT, WXREFUND_STATUS_INVALID_HANDLE, NULL, 0,
                wxrefund_notification_parse(NULL, NULL, NULL, 1, NULL, errp));
    wxrefund_client *clients[] = {domestic, wecom};
    for (int i = 0; i < 2; i++) {
        wxrefund_client *c = clients[i];
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "headers_json is NULL",
               wxrefund_notification_parse(c, NULL, body, sizeof body - 1, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "body is NULL",
               wxrefund_notification_parse(c, wecom_headers, NULL, 10, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "body is NULL",
               wxrefund_notification_parse(c, wecom_headers, NULL, SIZE_MAX, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "result_json_out is NULL",
               wxrefund_notification_parse(c, wecom_headers, body, sizeof body - 1, NULL, errp));
    }
    /* body NULL with body_len 0 is allowed: an empty body, which is not a notification. */
    EXPECT_REPLY(WXREFUND_STATUS_VERIFICATION_FAILED, NULL, 401,
                 wxrefund_notification_parse(domestic, "{}", NULL, 0, &out, errp));
    EXPECT_REPLY(WXREFUND_STATUS_MALFORMED_NOTIFICATION, NULL, 400,
                 wxrefund_notification_parse(wecom, wecom_headers, NULL, 0, &out, errp));
    /* wxrefund_string_free(NULL): see test_string_free. */
}

/* Every client function on `handle`, which must be refused as INVALID_HANDLE. */
static void expect_invalid_handle(wxrefund_client *handle, const char *what) {
    const uint8_t body[] = "<xml><Encrypt>x</Encrypt></xml>";
    context = what;
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle", wxrefund_refund_create(handle, REQUEST, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle", wxrefund_refund_query(handle, QUERY, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle",
           wxrefund_refund_wait(handle, QUERY, 1000, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle",
           wxrefund_notification_parse(handle, wecom_headers, body, sizeof body - 1, &out, errp));
    CHECK(wxrefund_client_free(handle) == WXREFUND_STATUS_INVALID_HANDLE);
    CHECK(wxrefund_client_free(handle) == WXREFUND_STATUS_INVALID_HANDLE);
    context = "";
}

static void test_handles(void) {
    /* Freed, and freed twice, of each kind of client. */
    const char *configs[] = {domestic_config, wecom_config};
    for (int i = 0; i < 2; i++) {
        wxrefund_client *client = NULL;
        CHECK(wxrefund_client_new(configs[i], &client, NULL) == WXREFUND_STATUS_OK);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
        expect_invalid_handle(client, i == 0 ? "freed domestic client" : "freed wecom client");
    }
    struct provider_log log = {0};
    wxrefund_client *client = NULL;
    CHECK(wxrefund_client_new_with_token_provider(provider_config, provide_fixed, &log, &client, NULL) ==
          WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_INVALID_HANDLE);
    expect_invalid_handle(client, "freed token-provider client");
    CHECK(log.calls == 0); /* a freed client never calls its provider */

    /* Foreign values. 0x51 has the shape of the library's handles ((n << 4) | 1,
     * n counting the clients ever created): here it is the freed wecom client
     * above, and no live client (domestic and wecom are 0x11 and 0x21). */
    int on_stack = 0;
    void *heap = malloc(64);
    char *library_string = NULL;
    CHECK(wxrefund_client_new("{", &client, &library_string) == WXREFUND_STATUS_INVALID_JSON);
    CHECK((uintptr_t)domestic != 0x51 && (uintptr_t)wecom != 0x51);
    expect_invalid_handle((wxrefund_client *)&on_stack, "a stack address");
    expect_invalid_handle((wxrefund_client *)(uintptr_t)1, "(void *)1");
    expect_invalid_handle((wxrefund_client *)(uintptr_t)0x51, "(void *)0x51");
    expect_invalid_handle((wxrefund_client *)heap, "a malloc'd pointer");
    expect_invalid_handle((wxrefund_client *)library_string, "a string from the library");
    expect_invalid_handle((wxrefund_client *)(uintptr_t)UINTPTR_MAX, "(void *)UINTPTR_MAX");
    /* The foreign frees touched nothing: the heap block and the string are intact. */
    memset(heap, 0x5a, 64);
    free(heap);
    CHECK(library_string && json_is_object(library_string));
    wxrefund_string_free(library_string);

    /* The live clients survived all of that. */
    EXPECT(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS",
           wxrefund_refund_query(domestic, "{\"out_refund_no\":\"NO_SUCH_REFUND\"}", &out, errp));
}

static void test_string_free(void) {
    wxrefund_string_free(NULL);
    /* Not from the library: a malloc'd string (freed here afterwards: under
     * valgrind or ASan a free by the library would show as a double free), a
     * string literal, a stack array. */
    char *mine = strdup("{\"status\":\"OK\"}");
    wxrefund_string_free(mine);
    mine[0] = '[';
    free(mine);
    wxrefund_string_free((char *)"a string literal");
    char local[] = "on the stack";
    wxrefund_string_free(local);
    CHECK(strcmp(local, "on the stack") == 0);
    /* A library string: an interior pointer is ignored, then a double free. */
    char *error = NULL;
    CHECK(wxrefund_client_new("{", NULL, &error) == WXREFUND_STATUS_INVALID_ARGUMENT);
    CHECK(error != NULL && json_is_object(error));
    if (error) {
        wxrefund_string_free(error + 1);
        CHECK(json_is_object(error)); /* still alive */
    }
    wxrefund_string_free(error);
    wxrefund_string_free(error); /* ignored: already freed */
    /* Static strings from the library are not the caller's to free either. */
    wxrefund_string_free((char *)wxrefund_version());
    wxrefund_string_free((char *)wxrefund_status_name(0));
    CHECK(strcmp(wxrefund_status_name(0), "OK") == 0 && strlen(wxrefund_version()) > 0);
}

static void test_invalid_utf8(void) {
    char config[256], request[512], query[128], headers[256];
    struct provider_log log = {0};
    for (size_t i = 0; i < N_BAD_UTF8; i++) {
        const char *bad = BAD_UTF8[i];
        snprintf(config, sizeof config, "{\"family\":\"domestic\",\"mchid\":\"19%s00\"}", bad);
        snprintf(request, sizeof request,
                 "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R%s1\","
                 "\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}",
                 bad);
        snprintf(query, sizeof query, "{\"out_refund_no\":\"R1%s\"}", bad);
        snprintf(headers, sizeof headers, "{\"msg_signature\":\"%s\",\"timestamp\":\"1\",\"nonce\":\"n\"}", bad);
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "config_json is not valid UTF-8",
               wxrefund_client_new(config, &cout, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "config_json is not valid UTF-8",
               wxrefund_client_new_with_token_provider(config, provide_fixed, &log, &cout, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "request_json is not valid UTF-8",
               wxrefund_refund_create(domestic, request, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "request_json is not valid UTF-8",
               wxrefund_refund_create(wecom, request, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json is not valid UTF-8",
               wxrefund_refund_query(domestic, query, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json is not valid UTF-8",
               wxrefund_refund_query(wecom, query, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json is not valid UTF-8",
               wxrefund_refund_wait(domestic, query, 1000, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json is not valid UTF-8",
               wxrefund_refund_wait(wecom, query, 1000, &out, errp));
        const uint8_t body[] = "{}";
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "headers_json is not valid UTF-8",
               wxrefund_notification_parse(domestic, headers, body, 2, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "headers_json is not valid UTF-8",
               wxrefund_notification_parse(wecom, headers, body, 2, &out, errp));
    }
    /* A cut-short sequence as the very last bytes before the NUL. */
    snprintf(query, sizeof query, "%s%s", QUERY, "\xe4\xb8");
    EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "UTF-8", wxrefund_refund_query(domestic, query, &out, errp));
    /* The body is bytes, not a C string: invalid UTF-8 there is a malformed
     * WeCom callback, and for APIv3 a body whose signature does not verify. */
    const uint8_t bad_body[] = "<xml><Encrypt>\xff\xfe</Encrypt></xml>";
    EXPECT_REPLY(WXREFUND_STATUS_MALFORMED_NOTIFICATION, "UTF-8", 400,
                 wxrefund_notification_parse(wecom, wecom_headers, bad_body, sizeof bad_body - 1, &out, errp));
    EXPECT_REPLY(WXREFUND_STATUS_VERIFICATION_FAILED, NULL, 401,
                 wxrefund_notification_parse(domestic, "{}", bad_body, sizeof bad_body - 1, &out, errp));
    CHECK(log.calls == 0);
}

/* A copy of `text` with a NUL at `cut`: the library must see only text[0..cut). */
static char *cut_at(const char *text, size_t cut) {
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    memcpy(copy, text, n + 1);
    copy[cut < n ? cut : n] = '\0';
    return copy;
}

static void test_embedded_nul(void) {
    struct provider_log log = {0};
    char *config = cut_at(domestic_config, strlen(domestic_config) / 2);
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_client_new(config, &cout, errp));
    free(config);
    config = cut_at(provider_config, strlen(provider_config) / 2);
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF",
           wxrefund_client_new_with_token_provider(config, provide_fixed, &log, &cout, errp));
    free(config);
    static const char request[] = "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R1\"\0,"
                                  "\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}";
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_create(domestic, request, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_create(wecom, request, &out, errp));
    static const char query[] = "{\"out_refund_no\":\0\"R1\"}";
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_query(domestic, query, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_query(wecom, query, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_wait(domestic, query, 1000, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_wait(wecom, "", 1000, &out, errp));
    static const char headers[] = "{\"msg_signature\":\"x\"\0,\"timestamp\":\"1\",\"nonce\":\"n\"}";
    const uint8_t body[] = "{}";
    EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, "EOF", 400,
                 wxrefund_notification_parse(domestic, headers, body, 2, &out, errp));
    EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, "EOF", 400,
                 wxrefund_notification_parse(wecom, headers, body, 2, &out, errp));
    /* Whatever follows the NUL is never read: here the JSON before it is complete. */
    static const char complete[] = "{\"out_refund_no\":\"NO_SUCH_REFUND\"}\0{\"broken";
    EXPECT(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS", wxrefund_refund_query(domestic, complete, &out, errp));
    /* Empty strings (a NUL first). */
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_client_new("", &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF",
           wxrefund_client_new_with_token_provider("", provide_fixed, &log, &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_create(domestic, "", &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "EOF", wxrefund_refund_query(wecom, "", &out, errp));
    EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, "EOF", 400,
                 wxrefund_notification_parse(wecom, "", body, 2, &out, errp));
    /* A body with a NUL inside is bytes like any other (body_len counts them):
     * the envelope is found, and its signature does not match. */
    const uint8_t nul_body[] = "<xml>\0<Encrypt>x</Encrypt></xml>";
    EXPECT_REPLY(WXREFUND_STATUS_VERIFICATION_FAILED, "bad_signature", 401,
                 wxrefund_notification_parse(wecom, wecom_headers, nul_body, sizeof nul_body - 1, &out, errp));
    CHECK(log.calls == 0);
}

static void test_huge_and_deep_json(void) {
    struct provider_log log = {0};
    const uint8_t body[] = "{}";
    /* 10 MB: a string value of 10 MB inside otherwise plausible JSON. */
    char *config = repeat("{\"family\":\"domestic\",\"mchid\":\"", "1", MB10, "\"}");
    char *request = repeat("{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R1\",\"reason\":\"", "x",
                           MB10, "\",\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}");
    char *query = repeat("{\"out_refund_no\":\"", "R", MB10, "\"}");
    char *headers = repeat("{\"timestamp\":\"1\",\"nonce\":\"n\",\"msg_signature\":\"", "a", MB10, "\"}");
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "larger than", wxrefund_client_new(config, &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "larger than",
           wxrefund_client_new_with_token_provider(config, provide_fixed, &log, &cout, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "larger than", wxrefund_refund_create(domestic, request, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "larger than", wxrefund_refund_query(wecom, query, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "larger than", wxrefund_refund_wait(domestic, query, 1000, &out, errp));
    EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, "larger than", 400,
                 wxrefund_notification_parse(domestic, headers, body, 2, &out, errp));
    EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, "larger than", 400,
                 wxrefund_notification_parse(wecom, headers, body, 2, &out, errp));
    free(config);
    free(request);
    free(query);
    free(headers);

    /* 1,000,000-deep arrays: unclosed (1,000,000 bytes, under the 1 MiB cap, so
     * the parser sees them), and closed at 500,000 deep (exactly 1,000,000 bytes). */
    char *deep = repeat("", "[", DEEP, "");
    char *balanced = repeat("", "[", DEEP / 2, "");
    char *closed = repeat(balanced, "]", DEEP / 2, "");
    free(balanced);
    char *nested_headers = repeat("{\"msg_signature\":", "[", DEEP - 20, "");
    char *nested_request = repeat("{\"out_refund_no\":\"R1\",\"amount\":", "[", DEEP - 40, "");
    /* serde stops at the first token the target type cannot take, or at its
     * recursion limit (128) for free-form values: never 1,000,000 frames deep. */
    const char *inputs[] = {deep, closed};
    for (int i = 0; i < 2; i++) {
        const char *input = inputs[i];
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_client_new(input, &cout, errp));
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL,
               wxrefund_client_new_with_token_provider(input, provide_fixed, &log, &cout, errp));
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_refund_create(domestic, input, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_refund_create(wecom, input, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_refund_query(domestic, input, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_refund_query(wecom, input, &out, errp));
        EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_refund_wait(domestic, input, 1000, &out, errp));
        EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, NULL, 400,
                     wxrefund_notification_parse(domestic, input, body, 2, &out, errp));
        EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, NULL, 400,
                     wxrefund_notification_parse(wecom, input, body, 2, &out, errp));
    }
    /* Deep values where an object's member is expected. */
    EXPECT_REPLY(WXREFUND_STATUS_INVALID_JSON, "recursion limit", 400,
                 wxrefund_notification_parse(wecom, nested_headers, body, 2, &out, errp));
    EXPECT(WXREFUND_STATUS_INVALID_JSON, NULL, wxrefund_refund_create(domestic, nested_request, &out, errp));
    free(deep);
    free(closed);
    free(nested_headers);
    free(nested_request);
    CHECK(log.calls == 0);
}

/* A mainland request whose amount object is `amount`. */
static char *domestic_request(const char *amount) {
    char *text = malloc(strlen(amount) + 128);
    sprintf(text, "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"MISUSE-AMOUNT\",\"amount\":%s}", amount);
    return text;
}

static void test_amounts(void) {
    static const struct {
        const char *amount;
        wxrefund_status want;
        const char *needle;
    } cases[] = {
        {"{\"refund\":99999999999999999999999,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON,
         "expected i64"},
        {"{\"refund\":1,\"total\":99999999999999999999999,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON,
         "expected i64"},
        {"{\"refund\":-9223372036854775809,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON,
         "expected i64"},
        {"{\"refund\":18446744073709551616,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON,
         "expected i64"},
        {"{\"refund\":9223372036854775808,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON,
         "expected i64"},
        {"{\"refund\":1.5,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON, "expected i64"},
        {"{\"refund\":1e400,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_JSON, NULL},
        {"{\"refund\":-100,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_REQUEST,
         "\"field\":\"amount.refund\""},
        {"{\"refund\":0,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_REQUEST,
         "\"field\":\"amount.refund\""},
        {"{\"refund\":-9223372036854775808,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_REQUEST,
         "\"field\":\"amount.refund\""},
        {"{\"refund\":1,\"total\":-1,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_REQUEST,
         "\"field\":\"amount.total\""},
        {"{\"refund\":-5,\"total\":-10,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_REQUEST,
         "\"field\":\"amount.refund\""},
        {"{\"refund\":9223372036854775807,\"total\":10000,\"currency\":\"CNY\"}", WXREFUND_STATUS_INVALID_REQUEST,
         "\"field\":\"amount.refund\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *request = domestic_request(cases[i].amount);
        EXPECT(cases[i].want, cases[i].needle, wxrefund_refund_create(domestic, request, &out, errp));
        /* The WeCom request has the same amount object (and a different out_trade_no rule). */
        EXPECT(cases[i].want, cases[i].needle, wxrefund_refund_create(wecom, request, &out, errp));
        free(request);
    }
    /* amount.from (mainland only): a negative share, and shares whose true sum
     * overflows i64 (i64::MAX + 1 must not be taken for i64::MAX). */
    char *request = domestic_request(
        "{\"refund\":10,\"total\":10000,\"currency\":\"CNY\",\"from\":[{\"account\":\"AVAILABLE\",\"amount\":-5}]}");
    EXPECT(WXREFUND_STATUS_INVALID_REQUEST, "\"field\":\"amount.from[0].amount\"",
           wxrefund_refund_create(domestic, request, &out, errp));
    free(request);
    request = domestic_request(
        "{\"refund\":9223372036854775807,\"total\":9223372036854775807,\"currency\":\"CNY\","
        "\"from\":[{\"account\":\"AVAILABLE\",\"amount\":9223372036854775807},"
        "{\"account\":\"UNAVAILABLE\",\"amount\":1}]}");
    /* The sum is checked, not saturated at i64::MAX: refused before sending. */
    EXPECT(WXREFUND_STATUS_INVALID_REQUEST, "\"field\":\"amount.from\"",
           wxrefund_refund_create(domestic, request, &out, errp));
    free(request);
    request = domestic_request(
        "{\"refund\":99999999999999999999999,\"total\":10000,\"currency\":\"CNY\","
        "\"from\":[{\"account\":\"AVAILABLE\",\"amount\":99999999999999999999999}]}");
    EXPECT(WXREFUND_STATUS_INVALID_JSON, "expected i64", wxrefund_refund_create(domestic, request, &out, errp));
    free(request);
}

/* ---- hostile WeCom callback bodies, each in a child process ---- */

struct body_case {
    const char *name;
    uint8_t *body;
    size_t len;
};

/* The parse every hostile-body case expects: MALFORMED_NOTIFICATION, reply 400. */
static void parse_hostile_body(const struct body_case *c) {
    EXPECT_REPLY(WXREFUND_STATUS_MALFORMED_NOTIFICATION, NULL, 400,
                 wxrefund_notification_parse(wecom, wecom_headers, c->body, c->len, &out, errp));
}

static void *hostile_body_thread(void *arg) {
    parse_hostile_body(arg);
    return NULL;
}

/* Runs `c` on a thread with a 256 KiB stack. */
static void parse_on_small_stack(const struct body_case *c) {
    pthread_attr_t attr;
    pthread_t thread;
    CHECK(pthread_attr_init(&attr) == 0);
    CHECK(pthread_attr_setstacksize(&attr, 256 * 1024) == 0);
    int created = pthread_create(&thread, &attr, hostile_body_thread, (void *)c);
    CHECK(created == 0);
    if (created == 0) pthread_join(thread, NULL);
    pthread_attr_destroy(&attr);
}

/*
 * Runs one case in a child process, so that a crash (a stack overflow, say)
 * fails that case and the others still run and report. The child ends with
 * exit(), not _exit(): valgrind and LeakSanitizer check it for leaks too, and
 * their error exit status fails the case.
 */
static void isolated(const char *name, void (*run)(const struct body_case *), const struct body_case *c) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        checks = failures = 0;
        run(c);
        int counts[3] = {checks, failures, cases};
        if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts) exit(3);
        close(fds[1]);
        exit(0);
    }
    close(fds[1]);
    int counts[3] = {0, 0, 0};
    ssize_t got = read(fds[0], counts, sizeof counts);
    close(fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        exit(2);
    }
    if (got == (ssize_t)sizeof counts) {
        checks += counts[0];
        failures += counts[1];
        cases = counts[2];
    }
    checks++;
    if (WIFSIGNALED(status)) {
        failures++;
        fprintf(stderr, "misuse_test.c: %s: the process died of signal %d (%s): a crash, or a sanitizer report\n",
                name, WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof counts) {
        failures++;
        fprintf(stderr, "misuse_test.c: %s: the process exited with status %d (a valgrind or sanitizer report?)\n",
                name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

static void test_hostile_bodies(void) {
    /* 10 MB: of text that is no envelope, and of an envelope whose Encrypt is 10 MB. */
    uint8_t *garbage = (uint8_t *)repeat("", "x", MB10, "");
    uint8_t *envelope = (uint8_t *)repeat("<xml><Encrypt><![CDATA[", "A", MB10, "]]></Encrypt></xml>");
    uint8_t *deep = (uint8_t *)repeat("", "<a>", DEEP, "");
    uint8_t *nested = (uint8_t *)repeat("", "<a>", 20000, "");
    struct body_case cases[] = {
        {"10 MB of x", garbage, strlen((char *)garbage)},
        {"a 10 MB XML envelope", envelope, strlen((char *)envelope)},
        {"1,000,000-deep XML", deep, strlen((char *)deep)},
        {"\"<a>\" * 20000", nested, strlen((char *)nested)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        context = cases[i].name;
        isolated(cases[i].name, parse_hostile_body, &cases[i]);
    }
    /* The deep cases again on a thread with a 256 KiB stack. */
    for (size_t i = 2; i < 4; i++) {
        context = cases[i].name;
        isolated(cases[i].name, parse_on_small_stack, &cases[i]);
    }
    context = "";
    /* APIv3 caps bodies at 1 MiB. */
    EXPECT_REPLY(WXREFUND_STATUS_MALFORMED_NOTIFICATION, "larger than", 400,
                 wxrefund_notification_parse(domestic, "{}", envelope, strlen((char *)envelope), &out, errp));
    free(garbage);
    free(envelope);
    free(deep);
    free(nested);
}

/* ---- token providers that misbehave ---- */

static void test_token_providers(void) {
    static const struct {
        const char *name;
        wxrefund_access_token_fn provider;
        const char *needle;
    } cases[] = {
        {"returns 1", provide_failure, "returned 1"},
        {"returns -1", provide_negative, "returned -1"},
        {"no NUL", provide_no_nul, "NUL-terminate"},
        {"empty", provide_empty, "empty token"},
        {"invalid UTF-8", provide_bad_utf8, "invalid UTF-8"},
    };
    char request[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct provider_log log = {0};
        wxrefund_client *client = NULL;
        char *error = NULL;
        wxrefund_status status =
            wxrefund_client_new_with_token_provider(provider_config, cases[i].provider, &log, &client, &error);
        CHECK(status == WXREFUND_STATUS_OK);
        if (status != WXREFUND_STATUS_OK) {
            fprintf(stderr, "provider client (%s): %s\n", cases[i].name, error ? error : "");
            wxrefund_string_free(error);
            continue;
        }
        context = cases[i].name;
        EXPECT(WXREFUND_STATUS_API_ERROR, cases[i].needle, wxrefund_refund_query(client, QUERY, &out, errp));
        /* A refund apply fails the same way, before anything is sent (a fresh order per case). */
        snprintf(request, sizeof request,
                 "{\"out_trade_no\":\"WMISUSE%zu\",\"out_refund_no\":\"WMISUSE-R%zu\","
                 "\"amount\":{\"refund\":1,\"total\":100,\"currency\":\"CNY\"}}",
                 i, i);
        char *response = untouched;
        error = NULL;
        status = wxrefund_refund_create(client, request, &response, &error);
        expect_at(__LINE__, cases[i].name, 1, status, WXREFUND_STATUS_API_ERROR, WXREFUND_STATUS_API_ERROR,
                  cases[i].needle, 0, error, response, UNTOUCHED_CLIENT);
        CHECK(log.calls >= 3);
        CHECK(log.capacity == 1024);
        CHECK(log.rejected_calls == 0);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
        context = "";
    }
    /* A token WeCom refuses, full of URL metacharacters: the library asks once
     * more with it as rejected_token, then gives up with an API error. */
    struct provider_log log = {0, 0, 0, "bad token&access_token=x/?#%00"};
    wxrefund_client *client = NULL;
    CHECK(wxrefund_client_new_with_token_provider(provider_config, provide_fixed, &log, &client, NULL) ==
          WXREFUND_STATUS_OK);
    char *response = untouched, *error = NULL;
    wxrefund_status status = wxrefund_refund_query(client, QUERY, &response, &error);
    expect_at(__LINE__, "query with a refused token", 1, status, WXREFUND_STATUS_API_ERROR,
              WXREFUND_STATUS_API_ERROR, NULL, 0, error, response, UNTOUCHED_CLIENT);
    CHECK(log.calls == 2);
    CHECK(log.rejected_calls == 1);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
}

/* The wait's timeout at its extremes, and every level the log callback refuses. */
static void test_wait_and_log(void) {
    const char *missing = "{\"out_refund_no\":\"NO_SUCH_REFUND\"}";
    /* A wait of 0 ms still queries once; UINT64_MAX ms (no deadline a clock can hold) too. */
    EXPECT(WXREFUND_STATUS_NOT_FOUND, "\"attempts\":1", wxrefund_refund_wait(domestic, missing, 0, &out, errp));
    EXPECT(WXREFUND_STATUS_NOT_FOUND, "\"attempts\":1",
           wxrefund_refund_wait(domestic, missing, UINT64_MAX, &out, errp));
    const int levels[] = {0, 6, -1, 7, 255, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        EXPECT(WXREFUND_STATUS_INVALID_ARGUMENT, "level",
               wxrefund_set_log_callback(levels[i], count_records, &log_records, errp));
        /* Turning logging off takes any level. */
        EXPECT(WXREFUND_STATUS_OK, NULL, wxrefund_set_log_callback(levels[i], NULL, &log_records, errp));
    }
    CHECK(log_records == 0);
    /* Installed, it hears a query that fails; removed, nothing more. */
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_DEBUG, count_records, NULL, NULL) == WXREFUND_STATUS_OK);
    EXPECT(WXREFUND_STATUS_NOT_FOUND, NULL, wxrefund_refund_query(domestic, missing, &out, errp));
    CHECK(wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_DEBUG, NULL, NULL, NULL) == WXREFUND_STATUS_OK);
    int heard = __atomic_load_n(&log_records, __ATOMIC_SEQ_CST);
    CHECK(heard == 2); /* one attempt per query, twice (with and without error_json_out) */
    EXPECT(WXREFUND_STATUS_NOT_FOUND, NULL, wxrefund_refund_query(domestic, missing, &out, errp));
    CHECK(__atomic_load_n(&log_records, __ATOMIC_SEQ_CST) == heard);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DOMESTIC_CONFIG WECOM_CONFIG WECOM_PROVIDER_CONFIG\n", argv[0]);
        return 2;
    }
    domestic_config = must_read(argv[1]);
    char *wecom_file = must_read(argv[2]);
    wecom_config = with_callback_keys(wecom_file);
    free(wecom_file);
    provider_config = must_read(argv[3]);
    snprintf(wecom_headers, sizeof wecom_headers,
             "{\"msg_signature\":\"0123456789abcdef0123456789abcdef01234567\",\"timestamp\":\"%ld\",\"nonce\":\"n\"}",
             (long)time(NULL));

    char *error = NULL;
    CHECK(wxrefund_client_new(domestic_config, &domestic, &error) == WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_new(wecom_config, &wecom, &error) == WXREFUND_STATUS_OK);
    if (error) {
        fprintf(stderr, "client: %s\n", error);
        wxrefund_string_free(error);
        return report();
    }

    test_static_functions();
    test_null_arguments();
    test_handles();
    test_string_free();
    test_invalid_utf8();
    test_embedded_nul();
    test_huge_and_deep_json();
    test_amounts();
    test_wait_and_log();
    test_token_providers();
    test_hostile_bodies(); /* last: it forks */

    CHECK(wxrefund_client_free(domestic) == WXREFUND_STATUS_OK);
    CHECK(wxrefund_client_free(wecom) == WXREFUND_STATUS_OK);
    free(domestic_config);
    free(wecom_config);
    free(provider_config);
    printf("%d calls checked (each also with error_json_out NULL)\n", cases);
    return report();
}
