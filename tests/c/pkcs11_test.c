/*
 * The merchant key in a SoftHSM2 token, from C: wxrefund_client_new with
 * "signer": {"pkcs11": ...} in the configuration (no private key) refunds
 * against the simulator, which verifies every signature with the merchant
 * certificate; a wrong PIN and an unset PIN variable fail wxrefund_client_new
 * with INVALID_CONFIG naming the problem, never the PIN. Needs a library
 * built with --features pkcs11 and a token from scripts/softhsm.sh
 * (scripts/test-c.sh does both):
 *
 *   pkcs11_test CONFIG WRONG_PIN_CONFIG UNSET_PIN_CONFIG PIN_VARIABLE WRONG_PIN_VARIABLE
 *
 * The wrong PIN is tried on a second token nobody has logged in to (a login
 * holds for every session of the process on that token).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wxrefund.h"
#include "test_util.h"

/* Checks that client creation fails with INVALID_CONFIG naming `needle`, not a PIN. */
static void expect_config_error(const char *config, const char *needle, const char *pin,
                                const char *wrong_pin) {
    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_status status = wxrefund_client_new(config, &client, &error);
    CHECK(status == WXREFUND_STATUS_INVALID_CONFIG);
    CHECK(client == NULL);
    CHECK(error != NULL);
    if (error) {
        CHECK(strstr(error, needle) != NULL);
        CHECK(strstr(error, pin) == NULL);
        CHECK(strstr(error, wrong_pin) == NULL);
        if (!strstr(error, needle) || strstr(error, pin) || strstr(error, wrong_pin))
            fprintf(stderr, "  error json: %s\n", error);
    }
    wxrefund_string_free(error);
    if (client) wxrefund_client_free(client);
}

static void test_refund_signed_by_the_token(const char *config) {
    wxrefund_client *client = NULL;
    char *error = NULL;
    CHECK(wxrefund_client_new(config, &client, &error) == WXREFUND_STATUS_OK);
    if (!client) {
        fprintf(stderr, "  wxrefund_client_new: %s\n", error ? error : "(no error json)");
        wxrefund_string_free(error);
        return;
    }
    char *response = NULL;
    wxrefund_status status = wxrefund_refund_create(
        client,
        "{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"R-c-pkcs11\","
        "\"amount\":{\"refund\":100,\"total\":10000,\"currency\":\"CNY\"}}",
        &response, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    if (status != WXREFUND_STATUS_OK) fprintf(stderr, "  create: %s\n", error ? error : "?");
    CHECK(response && strstr(response, "\"status\":\"PROCESSING\""));
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    response = NULL;
    error = NULL;
    /* The query is signed by the token too; the simulator settles in 200 ms. */
    status = wxrefund_refund_wait(client, "{\"out_refund_no\":\"R-c-pkcs11\"}", 10000, &response, &error);
    CHECK(status == WXREFUND_STATUS_OK);
    if (status != WXREFUND_STATUS_OK) fprintf(stderr, "  wait: %s\n", error ? error : "?");
    CHECK(response && strstr(response, "\"status\":\"SUCCESS\""));
    wxrefund_string_free(response);
    wxrefund_string_free(error);
    CHECK(wxrefund_client_free(client) == WXREFUND_STATUS_OK);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s CONFIG WRONG_PIN_CONFIG UNSET_PIN_CONFIG PIN_VARIABLE "
                        "WRONG_PIN_VARIABLE\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    char *wrong_pin = read_file(argv[2]);
    char *unset_pin = read_file(argv[3]);
    const char *pin = getenv(argv[4]);
    const char *wrong_pin_value = getenv(argv[5]);
    if (!config || !wrong_pin || !unset_pin || !pin || !*pin || !wrong_pin_value || !*wrong_pin_value) {
        fprintf(stderr, "cannot read the configurations, or %s or %s is not set\n", argv[4], argv[5]);
        return 2;
    }
    test_refund_signed_by_the_token(config);
    expect_config_error(wrong_pin, "incorrect PIN", pin, wrong_pin_value);
    expect_config_error(unset_pin, "signer.pkcs11.pin_env", pin, wrong_pin_value);
    free(config);
    free(wrong_pin);
    free(unset_pin);
    return report();
}
