/*
 * include/wxrefund.h on its own: scripts/test-c.sh compiles this file as C89
 * (-std=c89) and as C99 with -pedantic, with -Wall -Wextra -Werror, links it against
 * the library and runs it. tests/c/header/check.cpp does the same as C++.
 */
#include <stdio.h>
#include <string.h>

#include "wxrefund.h"

int main(void) {
    wxrefund_client *client = NULL;
    char *error = NULL;
    wxrefund_access_token_fn provider = NULL;
#ifdef __STDC_VERSION__
    long version = (long)__STDC_VERSION__;
#else
    long version = 0L; /* C89 */
#endif
    wxrefund_status status = wxrefund_client_new("{", &client, &error);
    int ok = status == WXREFUND_STATUS_INVALID_JSON && client == NULL && error != NULL &&
             strcmp(wxrefund_status_name(WXREFUND_STATUS_NOT_FOUND), "NOT_FOUND") == 0 &&
             wxrefund_version()[0] != '\0' && provider == NULL;
    wxrefund_string_free(error);
    printf("header check (C, __STDC_VERSION__ %ld): %s\n", version, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
