// wxrefund::Client::apply_abnormal_refund against wxrefund-sim: a refund settled ABNORMAL
// through the control API goes to the payer's new card or the merchant's, PROCESSING and then
// SUCCESS; a refund that is not ABNORMAL is refused by the platform; every rule broken is an
// Error INVALID_REQUEST naming its field, with nothing sent; a Global client refuses; the card
// number and the name never appear in an Error or a log record (wxrefund::set_log_callback).
// Built with -Wall -Wextra -Werror and run under valgrind by scripts/test-cpp.sh:
//   abnormal_test DOMESTIC_CONFIG GLOBAL_CONFIG
// (the domestic simulator runs with --settle-ms 2000: time to settle ABNORMAL first).
// Prints "N passed, N failed" last; exits non-zero on any failure.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../c/sim_http.h"
#include "wxrefund.hpp"
#include "test_util.hpp"

using wxrefund::Client;
using wxrefund::Error;
using wxrefund::Json;
using wxrefund::Refund;

namespace {

using test_util::contains;
using test_util::read_file;

const std::string kAccount = "6222020200098765432";
const std::string kName = "王小明";

bool has_details(const std::string& text) { return contains(text, kAccount) || contains(text, kName); }

std::mutex records_lock;
std::string records;  // every log record: level, message and fields, one per line

std::string unique(const char* prefix) {
    static int counter = 0;
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return prefix + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count() % 100000) + "-" +
           std::to_string(++counter);
}

std::string by_no(const std::string& no) { return R"({"out_refund_no":")" + no + R"("})"; }

/// A 1-fen refund `no`, settled `status` through /_sim; its answer once the status shows.
Refund settled_refund(const Client& client, int port, const std::string& no, const std::string& status) {
    client.create_refund(R"({"out_trade_no":"T20261122000001","out_refund_no":")" + no +
                         R"(","amount":{"refund":1,"total":10000,"currency":"CNY"}})");
    CHECK(sim_request(port, "POST", ("/_sim/refunds/" + no + "/settle").c_str(),
                      ("{\"status\":\"" + status + "\"}").c_str()) == 200);
    Refund refund(client.wait_for_final(by_no(no), std::chrono::seconds(10)));
    CHECK(refund.status() == status);
    return refund;
}

std::string user_card(const std::string& refund_id, const std::string& no) {
    return R"({"refund_id":")" + refund_id + R"(","out_refund_no":")" + no +
           R"(","type":"USER_BANK_CARD","bank_type":"ICBC_DEBIT","bank_account":")" + kAccount +
           R"(","real_name":")" + kName + R"("})";
}

void apply_then_success(const Client& client, const std::string& request, const Refund& abnormal) {
    CHECK(abnormal.action_required());
    std::string answer = client.apply_abnormal_refund(request);
    Refund applied(answer);
    CHECK(applied.status() == "PROCESSING" && !applied.is_final());
    CHECK(applied.out_refund_no() == abnormal.out_refund_no());
    CHECK(applied.refund_id() == abnormal.refund_id());
    CHECK(!has_details(answer));
    Refund done(client.wait_for_final(by_no(abnormal.out_refund_no()), std::chrono::seconds(20)));
    CHECK(done.status() == "SUCCESS" && done.is_final());
}

void test_user_bank_card(const Client& client, int port) {
    Refund abnormal = settled_refund(client, port, unique("PA"), "ABNORMAL");
    std::string request = user_card(abnormal.refund_id(), abnormal.out_refund_no());
    apply_then_success(client, request, abnormal);
    wxrefund::detail::wipe(request);  // the caller's copy of the details
    // The simulator took it: POST .../apply-abnormal-refund answered 200.
    char* log = sim_get(port, "/_sim/requests");
    CHECK(log != nullptr);
    if (log == nullptr) return;
    bool found = false;
    const Json requests = Json::parse(log);  // kept: the loop reads into it
    for (const Json& entry : requests["requests"].elements()) {
        if (entry.string_or("path") ==
            "/v3/refund/domestic/refunds/" + abnormal.refund_id() + "/apply-abnormal-refund") {
            found = entry.string_or("method") == "POST" && entry.int_or("status") == 200;
        }
    }
    free(log);
    CHECK(found);
}

void test_merchant_bank_card(const Client& client, int port) {
    Refund abnormal = settled_refund(client, port, unique("PM"), "ABNORMAL");
    apply_then_success(client,
                       R"({"refund_id":")" + abnormal.refund_id() + R"(","out_refund_no":")" +
                           abnormal.out_refund_no() + R"(","type":"MERCHANT_BANK_CARD"})",
                       abnormal);
}

void test_not_abnormal(const Client& client, int port) {
    Refund done = settled_refund(client, port, unique("PN"), "SUCCESS");
    try {
        client.apply_abnormal_refund(user_card(done.refund_id(), done.out_refund_no()));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.http_status() >= 400 && !e.outcome_unknown());  // sent, and refused
        CHECK(!has_details(e.what()) && !has_details(e.json()));
    }
}

/// `request` throws INVALID_REQUEST naming `field` (any INVALID_* when empty), echoes no
/// detail, and sends nothing.
void expect_refused(const Client& client, int port, const std::string& field, const std::string& request) {
    int before = sim_request_count(port);
    try {
        client.apply_abnormal_refund(request);
        CHECK(false);
    } catch (const Error& e) {
        bool ok = field.empty() ? std::string(e.status_name()).rfind("INVALID_", 0) == 0
                                : e.status() == WXREFUND_STATUS_INVALID_REQUEST && e.field() == field;
        CHECK(ok);
        if (!ok) std::cerr << "want " << field << " for " << request << ": " << e.json() << "\n";
        CHECK(!has_details(e.what()) && !has_details(e.json()));
    }
    CHECK(sim_request_count(port) == before);
}

void test_validation(const Client& client, int port) {
    const std::string head = R"({"refund_id":"50300000012026113000000000001","out_refund_no":"PV1",)";
    const std::string user = R"("type":"USER_BANK_CARD",)";
    const std::string bank = R"("bank_type":"ICBC_DEBIT",)";
    const std::string card = R"("bank_account":")" + kAccount + "\"";
    const std::string holder = R"("real_name":")" + kName + "\"";
    expect_refused(client, port, "real_name", head + user + bank + card + "}");
    expect_refused(client, port, "bank_account", head + user + bank + holder + "}");
    expect_refused(client, port, "bank_type", head + user + card + "," + holder + "}");
    expect_refused(client, port, "bank_type", head + user + R"("bank_type":"icbc",)" + card + "," + holder + "}");
    expect_refused(client, port, "bank_account", head + R"("type":"MERCHANT_BANK_CARD",)" + card + "}");
    expect_refused(client, port, "real_name", head + R"("type":"MERCHANT_BANK_CARD",)" + holder + "}");
    expect_refused(client, port, "type", head + R"("type":"CASH",)" + card + "," + holder + "}");
    expect_refused(client, port, "refund_id", R"({"refund_id":"","out_refund_no":"PV1","type":"MERCHANT_BANK_CARD"})");
    // Malformed: the card number as a number, a misspelt field, the name in an array.
    expect_refused(client, port, "", head + user + bank + R"("bank_account":)" + kAccount + "," + holder + "}");
    expect_refused(client, port, "", head + user + bank + R"("bank_acount":")" + kAccount + "\"," + holder + "}");
    expect_refused(client, port, "", head + user + bank + card + R"(,"real_name":[")" + kName + "\"]}");
    expect_refused(client, port, "", head + user + bank + card + "," + holder);
}

void test_other_family(const std::string& global_config) {
    Client global = Client::from_config(global_config);
    int port = sim_port(global_config.c_str());
    int before = sim_request_count(port);
    try {
        global.apply_abnormal_refund(user_card("50300000012026113000000000001", "PG1"));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() == WXREFUND_STATUS_INVALID_REQUEST && !has_details(e.json()));
    }
    CHECK(sim_request_count(port) == before);
    global.close();
    try {
        global.apply_abnormal_refund("{}");
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() == WXREFUND_STATUS_INVALID_HANDLE);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " DOMESTIC_CONFIG GLOBAL_CONFIG\n";
        return 2;
    }
    try {
        std::string config = read_file(argv[1]);
        std::string global_config = read_file(argv[2]);
        int port = sim_port(config.c_str());
        CHECK(port > 0);
        wxrefund::set_log_callback(wxrefund::LogLevel::Trace,
                                   [](wxrefund::LogLevel, std::string_view message, std::string_view fields) {
                                       std::lock_guard<std::mutex> guard(records_lock);
                                       records.append(message).append(" ").append(fields).append("\n");
                                   });
        {
            Client client = Client::from_config(config);
            test_validation(client, port);
            test_user_bank_card(client, port);
            test_merchant_bank_card(client, port);
            test_not_abnormal(client, port);
        }
        test_other_family(global_config);
        wxrefund::clear_log_callback();  // no record arrives after this
        CHECK(contains(records, "apply-abnormal-refund"));  // the records were caught
        CHECK(!has_details(records));
        CHECK(!contains(records, "user_received_account"));
    } catch (const std::exception& e) {
        test_util::failures++;
        std::cerr << "unexpected exception: " << e.what() << "\n";
    }
    return test_util::finish();
}
