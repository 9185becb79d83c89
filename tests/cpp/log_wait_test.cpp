// The C++ wrapper's log callback (wxrefund::set_log_callback) and Client::wait_for_final,
// against a simulator whose refunds stay PROCESSING until the test settles them through
// /_sim. Logging: records arrive with their fields, from several threads at once; a handler
// that throws does not disturb the call that logged; a replaced handler is destroyed and never
// called again; replacing it from inside itself is refused; nullptr/clear turn it off; no
// record holds a secret. Waiting: SUCCESS after a settle, ABNORMAL at once, TIMEOUT with the
// last refund, NOT_FOUND, a negative timeout, a closed client.
// Built with -Wall -Wextra -Werror and run under valgrind by scripts/test-cpp.sh:
//   log_wait_test HELD_CONFIG
// Prints "N passed, N failed" last; exits non-zero on any failure.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "wxrefund.hpp"
#include "test_util.hpp"
#include "../c/sim_http.h"

using wxrefund::Client;
using wxrefund::Error;
using wxrefund::Json;
using wxrefund::LogLevel;
using wxrefund::Refund;

namespace {

using test_util::contains;
using test_util::read_file;

/// One record as the handler saw it.
struct Record {
    LogLevel level;
    std::string message;
    Json fields;
    std::thread::id thread;
};

/// Every record the collecting handler received; records arrive from any thread.
class Collector {
public:
    /// A handler that appends to this collector.
    wxrefund::LogHandler handler() {
        return [this](LogLevel level, std::string_view message, std::string_view fields_json) {
            Json fields = Json::parse(fields_json);  // a JsonError here would be dropped: counted below
            std::lock_guard<std::mutex> guard(lock_);
            records_.push_back(Record{level, std::string(message), std::move(fields), std::this_thread::get_id()});
            raw_.push_back(std::string(message) + "\n" + std::string(fields_json));
        };
    }

    std::size_t size() {
        std::lock_guard<std::mutex> guard(lock_);
        return records_.size();
    }

    /// Records from index `from` on whose `event` is `event` and `out_refund_no` is `no` ("" : any).
    std::vector<Record> find(std::size_t from, const std::string& event, const std::string& no = "") {
        std::lock_guard<std::mutex> guard(lock_);
        std::vector<Record> found;
        for (std::size_t i = from; i < records_.size(); i++) {
            const Json& f = records_[i].fields;
            if (f.string_or("event") == event && (no.empty() || f.string_or("out_refund_no") == no)) {
                found.push_back(records_[i]);
            }
        }
        return found;
    }

    /// Every record as text (message and fields).
    std::vector<std::string> raw() {
        std::lock_guard<std::mutex> guard(lock_);
        return raw_;
    }

private:
    std::mutex lock_;
    std::vector<Record> records_;
    std::vector<std::string> raw_;
};

std::string query_of(const std::string& no) { return R"({"out_refund_no":")" + no + R"("})"; }

std::string create(const Client& client, const std::string& order, int total, const std::string& no) {
    return client.create_refund(R"({"out_trade_no":")" + order + R"(","out_refund_no":")" + no +
                                R"(","amount":{"refund":100,"total":)" + std::to_string(total) +
                                R"(,"currency":"CNY"}})");
}

int settle(int port, const std::string& no, const char* status) {
    return sim_request(port, "POST", ("/_sim/refunds/" + no + "/settle").c_str(),
                       (std::string(R"({"status":")") + status + R"("})").c_str());
}

long long millis_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

void test_wait(const Client& client, Collector& log, int port, const std::string& suffix) {
    // SUCCESS once the simulator settles, part way through the wait.
    const std::string a = "CPPW" + suffix + "-A";
    Refund accepted(create(client, "T20261122000001", 10000, a));
    CHECK(accepted.status() == "PROCESSING");
    CHECK(accepted.value()["wxrefund"].int_or("attempts") == 1);
    std::size_t mark = log.size();
    int settled = 0;
    std::thread settler([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        settled = settle(port, a, "SUCCESS");
    });
    auto start = std::chrono::steady_clock::now();
    Refund done(client.wait_for_final(query_of(a), std::chrono::seconds(30)));
    long long took = millis_since(start);
    settler.join();
    CHECK(settled == 200);
    CHECK(done.status() == "SUCCESS" && done.is_final());
    CHECK(done.value()["wxrefund"].int_or("attempts") == 2);
    CHECK(done.value()["wxrefund"]["elapsed_ms"].is_integer());
    CHECK(took >= 1000 && took < 10000);
    auto ended = log.find(mark, "wait_ended", a);
    CHECK(ended.size() == 1 && ended[0].level == LogLevel::Info && ended[0].fields.int_or("polls") == 2 &&
          ended[0].fields.string_or("status") == "SUCCESS");
    auto attempts = log.find(mark, "attempt", a);
    CHECK(attempts.size() == 2);
    for (const Record& r : attempts) {
        CHECK(r.level == LogLevel::Debug && r.fields.string_or("method") == "GET" &&
              r.fields.string_or("path") == "/v3/refund/domestic/refunds/" + a &&
              r.fields.int_or("http_status") == 200 && !r.fields.string_or("request_id").empty() &&
              r.fields.string_or("family") == "domestic" && r.fields["elapsed_ms"].is_integer());
    }

    // ABNORMAL ends the wait at once.
    const std::string c = "CPPW" + suffix + "-C";
    create(client, "T20261122000003", 800, c);
    CHECK(settle(port, c, "ABNORMAL") == 200);
    start = std::chrono::steady_clock::now();
    Refund abnormal(client.wait_for_final(query_of(c), std::chrono::minutes(5)));
    CHECK(millis_since(start) < 1000);
    CHECK(abnormal.status() == "ABNORMAL" && abnormal.action_required() && !abnormal.is_final());

    // Out of time: TIMEOUT, with the last refund seen.
    const std::string d = "CPPW" + suffix + "-D";
    create(client, "T20261122000001", 10000, d);
    start = std::chrono::steady_clock::now();
    bool timed_out = false;
    try {
        client.wait_for_final(query_of(d), std::chrono::milliseconds(300));
    } catch (const Error& e) {
        timed_out = e.status() == WXREFUND_STATUS_TIMEOUT;
        CHECK(std::string(e.status_name()) == "TIMEOUT");
        CHECK(e.retryable());
        CHECK(e.details().int_or("attempts") == 2);
        std::optional<Refund> last = e.last_refund();
        CHECK(last.has_value() && last->status() == "PROCESSING" && last->out_refund_no() == d);
        CHECK(last.has_value() && !last->is_final());
    }
    long long waited = millis_since(start);
    CHECK(timed_out);
    CHECK(waited >= 300 && waited < 1000);

    // Other errors end the wait at once, with no last refund.
    bool not_found = false;
    try {
        client.wait_for_final(query_of("CPPW-NO-SUCH"), std::chrono::seconds(30));
    } catch (const Error& e) {
        not_found = e.status() == WXREFUND_STATUS_NOT_FOUND && !e.last_refund().has_value() &&
                    e.details().int_or("attempts") == 1;
    }
    CHECK(not_found);
    bool negative = false;
    mark = log.size();
    try {
        client.wait_for_final(query_of(a), std::chrono::milliseconds(-1));
    } catch (const Error& e) {
        negative = e.status() == WXREFUND_STATUS_INVALID_ARGUMENT && e.kind() == "negative_timeout";
    }
    CHECK(negative);
    CHECK(log.size() == mark);  // nothing was sent
    bool embedded_nul = false;
    try {
        client.wait_for_final(std::string("{\"out_refund_no\":\"x\"}\0", 23), std::chrono::seconds(1));
    } catch (const Error& e) {
        embedded_nul = e.status() == WXREFUND_STATUS_INVALID_ARGUMENT && e.kind() == "embedded_nul";
    }
    CHECK(embedded_nul);
}

void test_closed_client(const std::string& config) {
    Client client = Client::from_config(config);
    client.close();
    bool refused = false;
    try {
        client.wait_for_final(query_of("X1"), std::chrono::seconds(1));
    } catch (const Error& e) {
        refused = e.status() == WXREFUND_STATUS_INVALID_HANDLE;
    }
    CHECK(refused);
}

/// Two threads querying at once: records from both.
void test_threads(const Client& client, Collector& log, const std::string& no) {
    std::size_t mark = log.size();
    std::atomic<int> errors{0};
    auto worker = [&] {
        for (int i = 0; i < 3; i++) {
            try {
                client.query_refund(query_of(no));
            } catch (const Error&) {
                errors++;
            }
        }
    };
    std::thread first(worker), second(worker);
    first.join();
    second.join();
    CHECK(errors == 0);
    auto attempts = log.find(mark, "attempt", no);
    CHECK(attempts.size() == 6);
    std::set<std::thread::id> threads;
    for (const Record& r : attempts) threads.insert(r.thread);
    CHECK(threads.size() == 2);
}

/// A handler's exception stays in the wrapper; replacing destroys the old handler; a
/// replacement from inside the handler is refused; nullptr and clear turn it off.
void test_handler_rules(const Client& client, Collector& log, const std::string& no) {
    // Throwing handlers: the query still succeeds.
    std::atomic<int> thrown{0};
    wxrefund::set_log_callback(LogLevel::Trace, [&](LogLevel, std::string_view, std::string_view) {
        thrown++;
        throw std::runtime_error("a broken log handler");
    });
    CHECK(Refund(client.query_refund(query_of(no))).status() == "SUCCESS");
    CHECK(thrown == 1);
    wxrefund::set_log_callback(LogLevel::Trace, [&](LogLevel, std::string_view, std::string_view) {
        thrown++;
        throw 42;  // not even an exception class
    });
    CHECK(Refund(client.query_refund(query_of(no))).status() == "SUCCESS");
    CHECK(thrown == 2);

    // The replaced handler is destroyed (its captures released) and never called again.
    auto token = std::make_shared<int>(0);
    std::atomic<int> old_calls{0};
    wxrefund::set_log_callback(LogLevel::Debug,
                               [token, &old_calls](LogLevel, std::string_view, std::string_view) { old_calls++; });
    CHECK(token.use_count() == 2);
    client.query_refund(query_of(no));
    CHECK(old_calls == 1);
    wxrefund::set_log_callback(LogLevel::Trace, log.handler());
    CHECK(token.use_count() == 1);
    std::size_t mark = log.size();
    client.query_refund(query_of(no));
    CHECK(old_calls == 1);
    CHECK(log.size() == mark + 1);

    // A level out of range is refused and the installed handler stays.
    bool refused = false;
    try {
        wxrefund::set_log_callback(static_cast<LogLevel>(6), [](LogLevel, std::string_view, std::string_view) {});
    } catch (const Error& e) {
        refused = e.status() == WXREFUND_STATUS_INVALID_ARGUMENT && contains(e.message(), "level");
    }
    CHECK(refused);
    client.query_refund(query_of(no));
    CHECK(log.size() == mark + 2);

    // Replacing it from inside the handler: refused (no deadlock), the handler stays.
    std::atomic<int> inner_status{-1};
    std::atomic<int> inner_calls{0};
    wxrefund::set_log_callback(LogLevel::Trace, [&](LogLevel, std::string_view, std::string_view) {
        if (inner_calls++ > 0) return;
        try {
            wxrefund::clear_log_callback();
            inner_status = WXREFUND_STATUS_OK;
        } catch (const Error& e) {
            inner_status = e.status();
        }
    });
    client.query_refund(query_of(no));
    CHECK(inner_status == WXREFUND_STATUS_INVALID_ARGUMENT);
    client.query_refund(query_of(no));
    CHECK(inner_calls == 2);

    // nullptr, clear and an empty handler turn it off.
    std::atomic<int> calls{0};
    auto counting = [&](LogLevel, std::string_view, std::string_view) { calls++; };
    wxrefund::set_log_callback(LogLevel::Trace, counting);
    client.query_refund(query_of(no));
    CHECK(calls == 1);
    wxrefund::set_log_callback(nullptr);
    client.query_refund(query_of(no));
    CHECK(calls == 1);
    wxrefund::set_log_callback(LogLevel::Trace, counting);
    wxrefund::clear_log_callback();
    client.query_refund(query_of(no));
    CHECK(calls == 1);
    wxrefund::set_log_callback(LogLevel::Trace, counting);
    wxrefund::set_log_callback(LogLevel::Trace, wxrefund::LogHandler());
    client.query_refund(query_of(no));
    CHECK(calls == 1);
    wxrefund::clear_log_callback();  // twice is fine
}

/// No record holds the APIv3 key, a line of the private key or a personal field.
void check_no_secrets(Collector& log, const std::string& config) {
    Json parsed = Json::parse(config);
    std::vector<std::string> secrets{parsed.string_or("apiv3_key"), "PRIVATE KEY", "user_received_account",
                                     "支付用户零钱", "Authorization"};
    std::istringstream pem(parsed.string_or("private_key_pem"));
    for (std::string line; std::getline(pem, line);) {
        if (line.size() >= 16 && line.rfind("-----", 0) != 0) secrets.push_back(line);
    }
    CHECK(secrets.size() >= 20);
    std::vector<std::string> records = log.raw();
    CHECK(records.size() >= 20);
    for (const std::string& record : records) {
        for (const std::string& secret : secrets) {
            CHECK(!secret.empty() && !contains(record, secret));
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " HELD_CONFIG\n";
        return 2;
    }
    const std::string config = read_file(argv[1]);
    const int port = sim_port(config.c_str());
    CHECK(port > 0);
    const std::string suffix =
        std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::seconds(1)) + "-" +
        std::to_string(getpid());
    Collector log;
    try {
        wxrefund::set_log_callback(LogLevel::Trace, log.handler());
        Client client = Client::from_config(config);
        test_wait(client, log, port, suffix);
        test_closed_client(config);
        const std::string settled = "CPPW" + suffix + "-A";
        test_threads(client, log, settled);
        check_no_secrets(log, config);
        test_handler_rules(client, log, settled);
    } catch (const std::exception& e) {
        test_util::failures++;
        std::cerr << "unexpected exception: " << e.what() << "\n";
    }
    wxrefund::clear_log_callback();
    return test_util::finish();
}
