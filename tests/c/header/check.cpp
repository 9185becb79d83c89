// include/wxrefund.h on its own, as C++: scripts/test-c.sh compiles this file with
// -std=c++11 -pedantic -Wall -Wextra -Werror, links it against the library (which fails
// unless the header declares the functions extern "C") and runs it.
#include <cstdio>
#include <cstring>

#include "wxrefund.h"
#include "wxrefund.h"  // the include guard holds

int main() {
    wxrefund_client* client = nullptr;
    char* error = nullptr;
    wxrefund_status status = wxrefund_client_new("{", &client, &error);
    bool ok = status == WXREFUND_STATUS_INVALID_JSON && client == nullptr && error != nullptr &&
              std::strcmp(wxrefund_status_name(WXREFUND_STATUS_NOT_FOUND), "NOT_FOUND") == 0;
    wxrefund_string_free(error);
    std::printf("header check (C++ %ld): %s\n", static_cast<long>(__cplusplus), ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
