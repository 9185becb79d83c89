// wxrefund::Client::from_config_with_signer against wxrefund-sim: the merchant key is not in
// the configuration, and the std::function signs with `openssl dgst -sha256 -sign` (a
// stand-in for an HSM). A refund is applied and waited for; 8 threads sign at once; a signer
// that throws or returns no or an oversized signature fails the call with SIGNER_FAILED and
// nothing reaches the simulator (its /_sim/requests log); the Client owns the signer (moves
// keep it, close destroys it). Built with -Wall -Wextra -Werror and run under valgrind by
// scripts/test-cpp.sh:
//   signer_test KEYLESS_CONFIG MERCHANT_KEY_FILE FULL_CONFIG
// Prints "N passed, N failed" last; exits non-zero on any failure.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../c/sim_http.h"
#include "wxrefund.hpp"
#include "test_util.hpp"

using wxrefund::Client;
using wxrefund::Error;
using wxrefund::Refund;

namespace {

using test_util::contains;
using test_util::read_file;

/// Signs `message` with the key in `key_file` by running openssl; throws on any failure.
std::vector<std::uint8_t> openssl_sign(const std::string& key_file, const std::uint8_t* message, std::size_t len) {
    char path[] = "/tmp/wxrefund-signer-cpp-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    std::size_t written = 0;
    while (written < len) {
        ssize_t n = write(fd, message + written, len - written);
        if (n <= 0) break;
        written += static_cast<std::size_t>(n);
    }
    close(fd);
    std::vector<std::uint8_t> signature(1024);
    std::size_t got = 0;
    int status = -1;
    if (written == len) {
        std::string command = "openssl dgst -sha256 -sign '" + key_file + "' '" + path + "'";
        if (FILE* pipe = popen(command.c_str(), "r")) {
            got = std::fread(signature.data(), 1, signature.size(), pipe);
            status = pclose(pipe);
        }
    }
    unlink(path);
    if (status != 0 || got == 0) throw std::runtime_error("openssl failed");
    signature.resize(got);
    return signature;
}

std::string unique(const char* prefix) {
    static std::atomic<int> counter{0};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return prefix + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count() % 100000) + "-" +
           std::to_string(++counter);
}

std::string refund_request(const std::string& no) {
    return R"({"out_trade_no":"T20261122000001","out_refund_no":")" + no +
           R"(","amount":{"refund":1,"total":10000,"currency":"CNY"}})";
}

std::string by_no(const std::string& no) { return R"({"out_refund_no":")" + no + R"("})"; }


void test_refund_and_wait(const std::string& keyless, const std::string& key_file) {
    std::atomic<int> calls{0};
    Client client = Client::from_config_with_signer(keyless, [&](const std::uint8_t* message, std::size_t len) {
        calls++;
        return openssl_sign(key_file, message, len);
    });
    std::string no = unique("PS");
    Refund created(client.create_refund(refund_request(no)));
    CHECK(created.status() == "PROCESSING");
    // Moved: the new owner keeps the signer.
    Client moved = std::move(client);
    CHECK(!client.is_open());
    Refund done(moved.wait_for_final(by_no(no), std::chrono::seconds(20)));
    CHECK(done.status() == "SUCCESS" && done.is_final());
    CHECK(calls >= 3);  // the certificate download, the apply and at least one query
}

void test_threads(const std::string& keyless, const std::string& key_file) {
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::atomic<int> calls{0};
    Client client = Client::from_config_with_signer(keyless, [&](const std::uint8_t* message, std::size_t len) {
        calls++;
        int now = ++inside;
        int most = most_inside.load();
        while (now > most && !most_inside.compare_exchange_weak(most, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(30));  // long enough to overlap
        struct Leave {
            std::atomic<int>& inside;
            ~Leave() { inside--; }
        } leave{inside};
        return openssl_sign(key_file, message, len);
    });
    std::atomic<int> ok{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; i++) {
        threads.emplace_back([&] {
            ready++;
            while (ready < 8) std::this_thread::yield();
            try {
                std::string no = unique("PT");
                client.create_refund(refund_request(no));
                if (Refund(client.query_refund(by_no(no))).out_refund_no() == no) ok++;
            } catch (const std::exception& e) {
                std::cerr << "thread: " << e.what() << "\n";
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(ok == 8);
    CHECK(calls >= 16);
    CHECK(most_inside >= 2);  // the library does not serialize the signer
    if (most_inside < 2) std::cerr << "at most " << most_inside << " signer calls at once\n";
}

void test_failures(const std::string& keyless, const std::string& key_file, int port) {
    struct Case {
        const char* needle;
        Client::Signer signer;
    };
    std::vector<Case> cases;
    cases.push_back({"returned 1", [](const std::uint8_t*, std::size_t) -> std::vector<std::uint8_t> {
                         throw std::runtime_error("the HSM is offline");
                     }});
    cases.push_back({"returned 1", [](const std::uint8_t*, std::size_t) -> std::vector<std::uint8_t> { throw 42; }});
    cases.push_back({"returned 2", [](const std::uint8_t*, std::size_t) { return std::vector<std::uint8_t>(); }});
    cases.push_back({"returned 3", [](const std::uint8_t*, std::size_t) { return std::vector<std::uint8_t>(1025); }});
    for (auto& c : cases) {
        Client client = Client::from_config_with_signer(keyless, c.signer);
        int before = sim_request_count(port);
        CHECK(before >= 0);
        EXPECT_ERROR(WXREFUND_STATUS_SIGNER_FAILED, c.needle, client.create_refund(refund_request(unique("PF"))));
        EXPECT_ERROR(WXREFUND_STATUS_SIGNER_FAILED, "\"retryable\":true", client.query_refund(by_no("PF-none")));
        CHECK(sim_request_count(port) == before);  // nothing was sent
    }
    try {
        Client client = Client::from_config_with_signer(keyless, cases.front().signer);
        client.query_refund(by_no("PF-none"));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(std::string(e.status_name()) == "SIGNER_FAILED");
        CHECK(e.retryable() && !e.outcome_unknown());
        CHECK(e.details().int_or("attempts", -1) == 0);
    }

    // A signature with another key: sent, and refused by the platform.
    int before = sim_request_count(port);
    Client stranger = Client::from_config_with_signer(keyless, [&](const std::uint8_t* message, std::size_t len) {
        std::vector<std::uint8_t> signature = openssl_sign(key_file, message, len);
        signature[0] ^= 0x01;
        return signature;
    });
    try {
        stranger.query_refund(by_no("PF-none"));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() != WXREFUND_STATUS_SIGNER_FAILED && e.http_status() == 401);
    }
    CHECK(sim_request_count(port) > before);
}

void test_arguments(const std::string& keyless, const std::string& full) {
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_ARGUMENT, "signer is empty",
                 Client::from_config_with_signer(keyless, Client::Signer()));
    std::atomic<int> calls{0};
    auto never = [&](const std::uint8_t*, std::size_t) {
        calls++;
        return std::vector<std::uint8_t>(256);
    };
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_CONFIG, "\"field\":\"signer\"", Client::from_config_with_signer(full, never));
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_ARGUMENT, "NUL",
                 Client::from_config_with_signer(std::string("{\0}", 3), never));
    CHECK(calls == 0);  // creating a client signs nothing

    // The Client owns the signer and destroys it when closed.
    auto token = std::make_shared<int>(1);
    std::weak_ptr<int> alive = token;
    Client client = Client::from_config_with_signer(
        keyless, [token](const std::uint8_t*, std::size_t) { return std::vector<std::uint8_t>(256, *token); });
    token.reset();
    CHECK(!alive.expired());
    client.close();
    CHECK(alive.expired());
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_HANDLE, "closed", client.query_refund(by_no("PF-none")));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " KEYLESS_CONFIG MERCHANT_KEY_FILE FULL_CONFIG\n";
        return 2;
    }
    try {
        std::string keyless = read_file(argv[1]);
        std::string full = read_file(argv[3]);
        int port = sim_port(keyless.c_str());
        CHECK(port > 0 && !contains(keyless, "PRIVATE KEY"));
        test_arguments(keyless, full);
        test_refund_and_wait(keyless, argv[2]);
        test_threads(keyless, argv[2]);
        test_failures(keyless, argv[2], port);
    } catch (const std::exception& e) {
        test_util::failures++;
        std::cerr << "unexpected exception: " << e.what() << "\n";
    }
    return test_util::finish();
}
