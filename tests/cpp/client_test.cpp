// The C++ wrapper (bindings/cpp/wxrefund.hpp) against wxrefund-sim processes: round trips
// for the three families, a WeCom token provider, errors as exceptions, closed and
// moved-from clients, moves, and one client shared by 4 threads. Built with -Wall -Wextra
// -Werror and run under valgrind by scripts/test-cpp.sh:
//   client_test DOMESTIC_CONFIG GLOBAL_CONFIG WECOM_PROVIDER_CONFIG TOKEN_FILE
// Prints "N passed, N failed" last; exits non-zero on any failure.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "wxrefund.hpp"

using wxrefund::Client;
using wxrefund::Error;

namespace {

std::atomic<int> checks{0};
std::atomic<int> failures{0};

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        checks++;                                                                            \
        if (!(cond)) {                                                                       \
            failures++;                                                                      \
            std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond "\n";       \
        }                                                                                    \
    } while (0)

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// Runs `call`, which must throw an Error with `want` whose JSON contains `needle`.
template <class Call>
void expect_error(int line, wxrefund_status want, const std::string& needle, Call&& call) {
    checks++;
    try {
        call();
        failures++;
        std::cerr << __FILE__ << ":" << line << ": no exception, want " << wxrefund_status_name(want) << "\n";
    } catch (const Error& e) {
        const std::string name = wxrefund_status_name(want);
        bool ok = e.status() == want && e.status_name() == name &&
                  contains(e.json(), "\"status\":\"" + name + "\"") && contains(e.json(), needle) &&
                  std::string(e.what()).rfind(name + ": {", 0) == 0;
        if (!ok) {
            failures++;
            std::cerr << __FILE__ << ":" << line << ": want " << name << " with " << needle << ", got "
                      << e.what() << "\n";
        }
    } catch (const std::exception& e) {
        failures++;
        std::cerr << __FILE__ << ":" << line << ": not a wxrefund::Error: " << e.what() << "\n";
    }
}
#define EXPECT_ERROR(want, needle, ...) expect_error(__LINE__, want, needle, [&] { __VA_ARGS__; })

std::string read_file(const char* path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error(std::string("cannot read ") + path);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

/// A suffix that keeps refund numbers unique across runs against one simulator.
std::string unique_suffix() {
    static std::atomic<int> counter{0};
    return std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1)) +
           "-" + std::to_string(counter++);
}

/// The string value of `"key":"` after the `"wxrefund":` part of a response ("" when absent).
std::string normalized(const std::string& response, const std::string& key) {
    std::size_t at = response.find("\"wxrefund\":");
    if (at == std::string::npos) return "";
    const std::string pattern = "\"" + key + "\":\"";
    at = response.find(pattern, at);
    if (at == std::string::npos) return "";
    at += pattern.size();
    std::size_t end = response.find('"', at);
    return end == std::string::npos ? "" : response.substr(at, end - at);
}

std::string refund_request(const std::string& order, long total, const std::string& currency,
                           const std::string& out_refund_no, long amount = 100) {
    return R"({"out_trade_no":")" + order + R"(","out_refund_no":")" + out_refund_no +
           R"(","amount":{"refund":)" + std::to_string(amount) + R"(,"total":)" + std::to_string(total) +
           R"(,"currency":")" + currency + R"("}})";
}

/// Queries until "final":true; returns the final response ("" when it never settles).
std::string query_until_final(const Client& client, const std::string& query) {
    for (int attempt = 0; attempt < 100; attempt++) {
        std::string response = client.query_refund(query);
        if (contains(response, "\"final\":true")) return response;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
}

void test_types() {
    static_assert(!std::is_copy_constructible_v<Client>, "Client is move-only");
    static_assert(!std::is_copy_assignable_v<Client>, "Client is move-only");
    static_assert(std::is_nothrow_move_constructible_v<Client>, "noexcept move");
    static_assert(std::is_nothrow_move_assignable_v<Client>, "noexcept move");
    static_assert(std::is_base_of_v<std::runtime_error, Error>, "Error is a runtime_error");
    static_assert(std::is_nothrow_copy_constructible_v<Error>, "copying an Error never throws");
    CHECK(!Client::version().empty());
    CHECK(Client::version() == wxrefund_version());
}

void test_config_errors(const std::string& domestic, const std::string& provider_config) {
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_JSON, "", Client::from_config("{not json"));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_CONFIG, "invalid type",
                 Client::from_config(R"({"family":"domestic","mchid":42})"));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_CONFIG, "", Client::from_config("[]"));
    // A NUL inside the string would cut it short in C: refused before the call.
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_ARGUMENT, "config_json contains a NUL byte",
                 Client::from_config(domestic + std::string(1, '\0') + "garbage"));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_ARGUMENT, "provider is empty",
                 Client::with_token_provider(provider_config, nullptr));
    // A provider for a configuration that has its own token source (or is not WeCom).
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_CONFIG, "",
                 Client::with_token_provider(domestic, [](const char*) { return std::string("t"); }));
}

void test_domestic(const Client& client) {
    const std::string no = "CPP-D-" + unique_suffix();
    std::string accepted = client.create_refund(refund_request("T20261122000001", 10000, "CNY", no));
    CHECK(contains(accepted, "\"out_refund_no\":\"" + no + "\""));
    CHECK(normalized(accepted, "status") == "PROCESSING");
    std::string final_answer = query_until_final(client, R"({"out_refund_no":")" + no + R"("})");
    CHECK(normalized(final_answer, "status") == "SUCCESS");
    CHECK(!normalized(final_answer, "refund_id").empty());
}

void test_request_errors(const Client& client) {
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_JSON, "", client.create_refund(R"({"out_refund_no":)"));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_JSON, "unknown field `reasn`",
                 client.create_refund(R"({"out_trade_no":"T20261122000001","out_refund_no":"R1","reasn":"x",)"
                                      R"("amount":{"refund":100,"total":10000,"currency":"CNY"}})"));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_REQUEST, "\"field\":\"out_refund_no\"",
                 client.create_refund(refund_request("T20261122000001", 10000, "CNY", "R 1")));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_REQUEST, "\"field\":\"amount.refund\"",
                 client.create_refund(refund_request("T20261122000001", 10000, "CNY", "R1", 20000)));
    EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS",
                 client.query_refund(R"({"out_refund_no":"NO_SUCH_REFUND"})"));
    EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "\"http_status\":404",
                 client.create_refund(refund_request("T99999999999999", 1, "CNY", "R-unknown-order", 1)));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json contains a NUL byte",
                 client.query_refund(std::string("{\"out_refund_no\":\"R1\"}\0x", 24)));
    // A notification without its signature headers: an Error carrying the reply to send.
    checks++;
    try {
        client.parse_notification("{}", std::string_view("{\"id\":\"x\"}\0tail", 15));
        failures++;
        std::cerr << "parse_notification accepted an unsigned notification\n";
    } catch (const Error& e) {
        bool ok = (e.status() == WXREFUND_STATUS_VERIFICATION_FAILED ||
                   e.status() == WXREFUND_STATUS_MALFORMED_NOTIFICATION) &&
                  contains(e.json(), "\"reply\":{");
        if (!ok) {
            failures++;
            std::cerr << "parse_notification: " << e.what() << "\n";
        }
    }
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_JSON, "", client.parse_notification("not json", ""));
}

void test_close_and_moves(const std::string& domestic) {
    const std::string query = R"({"out_refund_no":"NO_SUCH_REFUND"})";

    Client closed = Client::from_config(domestic);
    CHECK(closed.is_open());
    closed.close();
    closed.close();  // idempotent
    CHECK(!closed.is_open());
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed or moved from", closed.query_refund(query));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed or moved from",
                 closed.create_refund(refund_request("T20261122000001", 10000, "CNY", "R1")));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed or moved from", closed.parse_notification("{}", ""));

    // Move construction: the source is left closed, the target works.
    Client a = Client::from_config(domestic);
    Client b(std::move(a));
    CHECK(!a.is_open());  // NOLINT(bugprone-use-after-move): a moved-from Client is defined
    CHECK(b.is_open());
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed or moved from", a.query_refund(query));
    EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS", b.query_refund(query));

    // Move assignment onto an open client frees the old handle (valgrind checks).
    Client c = Client::from_config(domestic);
    c = std::move(b);
    CHECK(c.is_open() && !b.is_open());
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed or moved from", b.query_refund(query));
    EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS", c.query_refund(query));
    // Onto a closed one, from a closed one, and onto itself.
    a = std::move(c);
    CHECK(a.is_open() && !c.is_open());
    c = std::move(b);
    CHECK(!c.is_open() && !b.is_open());
    Client& alias = a;
    a = std::move(alias);
    CHECK(a.is_open());
    EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS", a.query_refund(query));

    // Moves in a container.
    std::vector<Client> clients;
    clients.push_back(Client::from_config(domestic));
    clients.push_back(Client::from_config(domestic));
    clients.push_back(std::move(a));
    for (const Client& client : clients) {
        EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "RESOURCE_NOT_EXISTS", client.query_refund(query));
    }
}

void test_global(const std::string& config) {
    Client client = Client::from_config(config);
    const std::string no = "CPP|G*" + unique_suffix();
    std::string accepted = client.create_refund(refund_request("G20261122000001", 10000, "USD", no));
    CHECK(normalized(accepted, "status") == "ACCEPTED");
    const std::string refund_id = normalized(accepted, "refund_id");
    CHECK(!refund_id.empty());
    std::string by_id = query_until_final(client, R"({"refund_id":")" + refund_id + R"("})");
    CHECK(normalized(by_id, "status") == "SUCCESS");
    CHECK(contains(by_id, "\"out_refund_no\":\"" + no + "\""));
    CHECK(contains(by_id, "\"settlement_currency\""));
    EXPECT_ERROR(WXREFUND_STATUS_NOT_FOUND, "", client.query_refund(R"({"refund_id":"50000000000000000000000000"})"));
}

void test_wecom_provider(const std::string& config, const std::string& token) {
    // The host's token cache: it starts with a stale token and renews it (from the file)
    // when WeCom rejects it. The library asks it for a token on every request.
    int calls = 0;
    std::vector<std::string> rejected;
    std::string cached = "bogus-token-from-yesterday";
    Client client = Client::with_token_provider(config, [&](const char* rejected_or_null) {
        calls++;
        if (rejected_or_null != nullptr) {
            rejected.emplace_back(rejected_or_null);
            cached = token;
        }
        return cached;
    });
    const std::string no = "CPP-W-" + unique_suffix();
    std::string accepted = client.create_refund(refund_request("W20261122000001", 10000, "CNY", no));
    CHECK(normalized(accepted, "status") == "ACCEPTED");
    std::string final_answer = query_until_final(client, R"({"out_refund_no":")" + no + R"("})");
    CHECK(normalized(final_answer, "status") == "SUCCESS");
    CHECK(rejected.size() == 1 && rejected[0] == "bogus-token-from-yesterday");
    CHECK(calls >= 3);  // the rejected request, its resend, the queries

    // Moving the client keeps the provider alive (it is owned on the heap).
    Client moved = std::move(client);
    CHECK(!moved.query_refund(R"({"out_refund_no":")" + no + R"("})").empty());
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed or moved from",
                 client.query_refund(R"({"out_refund_no":")" + no + R"("})"));

    // A provider that throws: the exception stays on the C++ side and fails the call.
    Client throwing = Client::with_token_provider(
        config, [](const char*) -> std::string { throw std::runtime_error("token cache unreachable"); });
    EXPECT_ERROR(WXREFUND_STATUS_API_ERROR, "token_provider_failed",
                 throwing.query_refund(R"({"out_refund_no":")" + no + R"("})"));
    // A token that does not fit the library's buffer, and one with a NUL byte.
    Client too_long = Client::with_token_provider(config, [](const char*) { return std::string(5000, 'x'); });
    EXPECT_ERROR(WXREFUND_STATUS_API_ERROR, "provider returned 2",
                 too_long.query_refund(R"({"out_refund_no":")" + no + R"("})"));
    Client with_nul = Client::with_token_provider(config, [](const char*) { return std::string("ab\0cd", 5); });
    EXPECT_ERROR(WXREFUND_STATUS_API_ERROR, "provider returned 3",
                 with_nul.query_refund(R"({"out_refund_no":")" + no + R"("})"));
}

void test_threads(const Client& client) {
    constexpr int kThreads = 4;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    const std::string suffix = unique_suffix();
    for (int i = 0; i < kThreads; i++) {
        threads.emplace_back([&client, &ok, &suffix, i] {
            const std::string no = "CPP-T-" + suffix + "-" + std::to_string(i);
            try {
                client.create_refund(refund_request("T20261122000001", 10000, "CNY", no, 10));
                std::string answer = client.query_refund(R"({"out_refund_no":")" + no + R"("})");
                if (contains(answer, "\"out_refund_no\":\"" + no + "\"")) ok++;
                // Errors are per call, not shared between threads.
                try {
                    client.query_refund(R"({"out_refund_no":"NO_SUCH_REFUND"})");
                } catch (const Error& e) {
                    if (e.status() != WXREFUND_STATUS_NOT_FOUND) ok--;
                }
            } catch (const Error& e) {
                std::cerr << "thread " << i << ": " << e.what() << "\n";
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    CHECK(ok == kThreads);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: " << argv[0] << " DOMESTIC_CONFIG GLOBAL_CONFIG WECOM_PROVIDER_CONFIG TOKEN_FILE\n";
        return 2;
    }
    try {
        const std::string domestic = read_file(argv[1]);
        const std::string global = read_file(argv[2]);
        const std::string wecom_provider = read_file(argv[3]);
        std::string token = read_file(argv[4]);
        token = token.substr(0, token.find_first_of("\r\n"));

        test_types();
        test_config_errors(domestic, wecom_provider);
        {
            Client client = Client::from_config(domestic);
            test_domestic(client);
            test_request_errors(client);
            test_threads(client);
        }
        test_close_and_moves(domestic);
        test_global(global);
        test_wecom_provider(wecom_provider, token);
    } catch (const std::exception& e) {
        failures++;
        std::cerr << "unexpected exception: " << e.what() << "\n";
    }
    std::cout << (checks - failures) << " passed, " << failures << " failed" << std::endl;
    return failures == 0 ? 0 : 1;
}
