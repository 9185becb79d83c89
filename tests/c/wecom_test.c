/*
 * WeCom refunds through the C ABI, with both token sources: corpid +
 * corpsecret in the configuration, and a host callback (which first hands out
 * a stale token, so the library must ask again with rejected_token set).
 * Run by scripts/test-c.sh under valgrind:
 *   wecom_test CORPSECRET_CONFIG_FILE PROVIDER_CONFIG_FILE TOKEN_FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wxrefund.h"
#include "test_util.h"

/* The host's token cache: holds a stale token until WeCom rejects it. */
struct token_cache {
    const char *current;
    const char *fresh;
    int calls;
    int rejections;
};

static int provide_token(void *user_data, const char *rejected_token, char *token_out, size_t capacity) {
    struct token_cache *cache = user_data;
    cache->calls++;
    if (rejected_token) {
        cache->rejections++;
        if (strcmp(rejected_token, cache->current) != 0) return 1;
        cache->current = cache->fresh; /* renew, as the fleet's cache would */
    }
    if (strlen(cache->current) + 1 > capacity) return 2;
    strcpy(token_out, cache->current);
    return 0;
}

/* Applies for a refund on `order` and queries until final; 1 when it settles. */
static int refund_round_trip(wxrefund_client *client, const char *order, long total, const char *no) {
    char request[512], query[128];
    snprintf(request, sizeof request,
             "{\"out_trade_no\":\"%s\",\"out_refund_no\":\"%s\",\"amount\":{\"refund\":100,\"total\":%ld,\"currency\":\"CNY\"}}",
             order, no, total);
    char *response = NULL, *error = NULL;
    wxrefund_status status = wxrefund_refund_create(client, request, &response, &error);
    if (status != WXREFUND_STATUS_OK) {
        fprintf(stderr, "create %s: %s %s\n", no, wxrefund_status_name(status), error);
        wxrefund_string_free(error);
        return 0;
    }
    CHECK(strstr(response, "\"status\":\"ACCEPTED\"") != NULL);
    wxrefund_string_free(response);
    snprintf(query, sizeof query, "{\"out_refund_no\":\"%s\"}", no);
    for (int attempt = 0; attempt < 100; attempt++) {
        status = wxrefund_refund_query(client, query, &response, &error);
        if (status != WXREFUND_STATUS_OK) {
            fprintf(stderr, "query %s: %s %s\n", no, wxrefund_status_name(status), error);
            wxrefund_string_free(error);
            return 0;
        }
        int final = strstr(response, "\"final\":true") != NULL;
        wxrefund_string_free(response);
        if (final) return 1;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CORPSECRET_CONFIG PROVIDER_CONFIG TOKEN_FILE\n", argv[0]);
        return 2;
    }
    char *corpsecret_config = read_file(argv[1]);
    char *provider_config = read_file(argv[2]);
    char *token = read_file(argv[3]);
    if (!corpsecret_config || !provider_config || !token) return 2;
    token[strcspn(token, "\r\n")] = '\0';
    char suffix[32];
    snprintf(suffix, sizeof suffix, "%ld", (long)time(NULL));

    /* corpid + corpsecret: the library fetches and caches the token. */
    wxrefund_client *client = NULL;
    char *error = NULL;
    CHECK(wxrefund_client_new(corpsecret_config, &client, &error) == WXREFUND_STATUS_OK);
    char no[64];
    snprintf(no, sizeof no, "WC-%s-1", suffix);
    CHECK(refund_round_trip(client, "W20261122000001", 10000, no));
    /* The order guard: a second request on the same order within a minute is refused locally. */
    char *response = NULL;
    char too_early[256];
    snprintf(too_early, sizeof too_early, "{\"out_trade_no\":\"W20261122000001\",\"out_refund_no\":\"WC-%s-2\","
             "\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}", suffix);
    CHECK(wxrefund_refund_create(client, too_early, &response, &error) == WXREFUND_STATUS_RATE_LIMITED);
    CHECK(error && strstr(error, "\"retry_after_secs\":") && strstr(error, "\"kind\":\"order_spacing\""));
    CHECK(error && !strstr(error, "wxrefundSimulatorCorpSecret"));
    wxrefund_string_free(error);
    error = NULL;
    /* A validation error names the field. */
    CHECK(wxrefund_refund_create(client,
              "{\"out_trade_no\":\"W1\",\"out_refund_no\":\"x\",\"amount\":{\"refund\":1,\"total\":1,\"currency\":\"CNY\"}}",
              &response, &error) == WXREFUND_STATUS_INVALID_REQUEST);
    CHECK(error && strstr(error, "\"field\":\"out_trade_no\""));
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);

    /* A host callback supplies the token. */
    struct token_cache cache = {"stale-token-from-yesterday", token, 0, 0};
    client = NULL;
    CHECK(wxrefund_client_new_with_token_provider(provider_config, NULL, &cache, &client, &error) ==
          WXREFUND_STATUS_INVALID_ARGUMENT);
    wxrefund_string_free(error);
    error = NULL;
    CHECK(wxrefund_client_new_with_token_provider(corpsecret_config, provide_token, &cache, &client, &error) ==
          WXREFUND_STATUS_INVALID_CONFIG); /* two token sources */
    wxrefund_string_free(error);
    error = NULL;
    wxrefund_status status = wxrefund_client_new_with_token_provider(provider_config, provide_token, &cache, &client, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    if (status == WXREFUND_STATUS_OK) {
        snprintf(no, sizeof no, "WC-%s-3", suffix);
        CHECK(refund_round_trip(client, "W20261122000002", 500, no));
        CHECK(cache.rejections == 1);
        CHECK(cache.calls >= 3);
        CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
    } else {
        fprintf(stderr, "provider client: %s\n", error);
        wxrefund_string_free(error);
    }

    free(corpsecret_config);
    free(provider_config);
    free(token);
    return report();
}
