// The C++ wrapper (bindings/cpp/wxrefund.hpp) against wxrefund-sim processes: round trips
// for the three families read through wxrefund::Refund, a WeCom token provider, errors as
// exceptions with their typed accessors, closed and moved-from clients, moves, one client
// shared by 4 threads; and the JSON reader (wxrefund::Json) on valid, invalid, deep and
// hostile text. Built with -Wall -Wextra -Werror and run under valgrind by scripts/test-cpp.sh:
//   client_test DOMESTIC_CONFIG GLOBAL_CONFIG WECOM_PROVIDER_CONFIG TOKEN_FILE
// Prints "N passed, N failed" last; exits non-zero on any failure.
#include <atomic>
#include <chrono>
#include <clocale>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "wxrefund.hpp"
#include "test_util.hpp"

using wxrefund::Client;
using wxrefund::Error;
using wxrefund::Json;
using wxrefund::JsonError;
using wxrefund::Refund;

namespace {

using test_util::contains;
using test_util::read_file;


/// A suffix that keeps refund numbers unique across runs against one simulator.
std::string unique_suffix() {
    static std::atomic<int> counter{0};
    return std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1)) +
           "-" + std::to_string(counter++);
}

std::string refund_request(const std::string& order, long total, const std::string& currency,
                           const std::string& out_refund_no, long amount = 100) {
    return R"({"out_trade_no":")" + order + R"(","out_refund_no":")" + out_refund_no +
           R"(","amount":{"refund":)" + std::to_string(amount) + R"(,"total":)" + std::to_string(total) +
           R"(,"currency":")" + currency + R"("}})";
}

/// Queries until the refund is final; returns the final refund (status "" when it never settles).
Refund query_until_final(const Client& client, const std::string& query) {
    for (int attempt = 0; attempt < 100; attempt++) {
        Refund refund(client.query_refund(query));
        if (refund.is_final()) return refund;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Refund(std::string_view("{}"));
}

/// Json::parse must throw JsonError for `text`; returns the offset it reported.
std::size_t expect_invalid(int line, std::string_view text, std::size_t max_depth = Json::kDefaultMaxDepth) {
    test_util::checks++;
    try {
        Json value = Json::parse(text, max_depth);
        test_util::failures++;
        std::cerr << __FILE__ << ":" << line << ": parsed invalid JSON: " << std::string(text.substr(0, 60)) << "\n";
    } catch (const JsonError& e) {
        if (e.offset() == JsonError::npos || e.offset() > text.size()) {
            test_util::failures++;
            std::cerr << __FILE__ << ":" << line << ": bad offset in: " << e.what() << "\n";
        }
        return e.offset();
    }
    return JsonError::npos;
}
#define EXPECT_INVALID(...) expect_invalid(__LINE__, __VA_ARGS__)

/// Runs `call`, which must throw JsonError for a type error (offset npos).
template <class Call>
void expect_type_error(int line, Call&& call) {
    test_util::checks++;
    try {
        call();
        test_util::failures++;
        std::cerr << __FILE__ << ":" << line << ": no JsonError\n";
    } catch (const JsonError& e) {
        if (e.offset() != JsonError::npos) {
            test_util::failures++;
            std::cerr << __FILE__ << ":" << line << ": a type error with an offset: " << e.what() << "\n";
        }
    }
}
#define EXPECT_TYPE_ERROR(...) expect_type_error(__LINE__, [&] { __VA_ARGS__; })

void test_json_scalars() {
    CHECK(Json().is_null());
    CHECK(Json::parse("null").is_null());
    CHECK(Json::parse(" \t\r\n true \n").as_bool());
    CHECK(!Json::parse("false").as_bool());
    CHECK(Json::parse("0").as_int64() == 0);
    CHECK(Json::parse("-0").is_integer() && Json::parse("-0").as_int64() == 0);
    CHECK(Json::parse("123").as_int64() == 123);
    CHECK(Json::parse("-9223372036854775808").as_int64() == INT64_MIN);
    CHECK(Json::parse("9223372036854775807").as_int64() == INT64_MAX);
    Json too_big = Json::parse("9223372036854775808");
    CHECK(too_big.is_number() && !too_big.is_integer());
    CHECK(too_big.number_text() == "9223372036854775808");
    CHECK(too_big.as_double() == 9223372036854775808.0);
    CHECK(!Json::parse("-9223372036854775809").is_integer());
    CHECK(Json::parse("1.5").as_double() == 1.5);
    CHECK(!Json::parse("1.5").is_integer());
    CHECK(Json::parse("-2.5e3").as_double() == -2500.0);
    CHECK(Json::parse("1E+2").as_double() == 100.0);
    CHECK(Json::parse("25e-1").as_double() == 2.5);
    CHECK(Json::parse("1.50").number_text() == "1.50");
    CHECK(std::isinf(Json::parse("1e400").as_double()) && Json::parse("-1e400").as_double() < 0);
    CHECK(Json::parse("1e-400").as_double() == 0.0);
    // The program's locale does not change how numbers read.
    if (std::setlocale(LC_ALL, "de_DE.UTF-8") != nullptr || std::setlocale(LC_ALL, "fr_FR.UTF-8") != nullptr) {
        std::locale::global(std::locale(std::setlocale(LC_ALL, nullptr)));
        CHECK(Json::parse("1.25").as_double() == 1.25);
        std::locale::global(std::locale::classic());
        std::setlocale(LC_ALL, "C");
    }
}

void test_json_strings() {
    CHECK(Json::parse(R"("")").as_string().empty());
    CHECK(Json::parse(R"("plain")").as_string() == "plain");
    CHECK(Json::parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
    CHECK(Json::parse(R"("\u0041\u00e9\u4E2D")").as_string() == "A\xC3\xA9\xE4\xB8\xAD");
    // Surrogate pairs, lower and upper case hex: U+1F600 and U+10FFFF.
    CHECK(Json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
    CHECK(Json::parse(R"("\uD83D\uDE00x")").as_string() == "\xF0\x9F\x98\x80x");
    CHECK(Json::parse(R"("\udbff\udfff")").as_string() == "\xF4\x8F\xBF\xBF");
    CHECK(Json::parse(R"("\u0000")").as_string() == std::string(1, '\0'));
    CHECK(Json::parse(R"("\u007f\u0080\u07ff\u0800\uffff")").as_string() ==
          "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF");
    // Raw UTF-8 passes unchanged (the simulator's user_received_account is Chinese).
    CHECK(Json::parse("\"\xE6\x94\xAF\xE4\xBB\x98 \xF0\x9F\x98\x80\"").as_string() ==
          "\xE6\x94\xAF\xE4\xBB\x98 \xF0\x9F\x98\x80");

    EXPECT_INVALID(R"("abc)");
    EXPECT_INVALID(R"("\)");
    CHECK(EXPECT_INVALID(R"("ab\x")") == 4);  // the x
    EXPECT_INVALID(R"("\u12")");
    EXPECT_INVALID(R"("\u12G4")");
    EXPECT_INVALID(R"("\ud83d")");            // lone high surrogate
    EXPECT_INVALID(R"("\ud83dx")");
    EXPECT_INVALID(R"("\ud83d\u0041")");      // high surrogate + not a low one
    EXPECT_INVALID(R"("\ud83d\ud83d")");
    EXPECT_INVALID(R"("\ude00")");            // lone low surrogate
    EXPECT_INVALID("\"a\nb\"");               // raw control character
    EXPECT_INVALID(std::string_view("\"a\0b\"", 5));
    EXPECT_INVALID("\"\xFF\"");               // not UTF-8
    EXPECT_INVALID("\"\x80\"");               // continuation byte first
    EXPECT_INVALID("\"\xC0\xAF\"");           // overlong '/'
    EXPECT_INVALID("\"\xE0\x80\xAF\"");       // overlong, 3 bytes
    EXPECT_INVALID("\"\xF0\x80\x80\xAF\"");   // overlong, 4 bytes
    EXPECT_INVALID("\"\xED\xA0\x80\"");       // an encoded surrogate
    EXPECT_INVALID("\"\xF4\x90\x80\x80\"");   // above U+10FFFF
    EXPECT_INVALID("\"\xE4\xB8\"");           // truncated sequence
    EXPECT_INVALID("\"\xE4\xB8");
    EXPECT_INVALID("'single'");
}

void test_json_structure() {
    Json value = Json::parse(R"( {"a":[1,"two",true,null,{"b":{"c":[]}}],"n":-7,"s":"x","a2":{},"dup":1,"dup":2} )");
    CHECK(value.is_object() && value.size() == 6 && value.members().size() == 6);
    CHECK(value.members()[0].name == "a" && value.members()[5].value.as_int64() == 2);
    CHECK(value["a"].is_array() && value["a"].size() == 5 && value["a"].elements().size() == 5);
    CHECK(value["a"][0].as_int64() == 1);
    CHECK(value["a"][1].as_string() == "two");
    CHECK(value["a"][2].as_bool());
    CHECK(value["a"][3].is_null());
    CHECK(value["a"][4]["b"]["c"].is_array() && value["a"][4]["b"]["c"].size() == 0);
    CHECK(value["a"][5].is_null());                // out of range
    CHECK(value["a"]["key"].is_null());            // a name on an array
    CHECK(value["n"][0].is_null());                // an index on a number
    CHECK(value["missing"]["deeper"][3].is_null());
    CHECK(value["dup"].as_int64() == 2);           // the last one
    CHECK(value.contains("s") && !value.contains("S") && value.find("nope") == nullptr);
    CHECK(value.find("s") != nullptr && value.find("s")->as_string() == "x");
    CHECK(value["a2"].is_object() && value["a2"].size() == 0);
    CHECK(value.string_or("s") == "x" && value.string_or("n", "fallback") == "fallback");
    CHECK(value.int_or("n") == -7 && value.int_or("s", 9) == 9 && value.int_or("missing") == 0);
    CHECK(!value.bool_or("a") && value["a"][4].bool_or("b", true));
    CHECK(value["s"].size() == 0 && value["s"].elements().empty() && value["s"].members().empty());
    CHECK(Json::parse("[]").is_array() && Json::parse("[ ]").size() == 0);
    CHECK(Json::parse("{ }").is_object());
    CHECK(Json::parse(R"({"":1})")[""].as_int64() == 1);
    CHECK(Json::parse(R"({"\u00e9":1})")["\xC3\xA9"].as_int64() == 1);
    CHECK(Json::parse("[[[[]]]]")[0][0][0].is_array());
    CHECK(value.type() == Json::Type::Object && value["a"][1].type() == Json::Type::String);

    Json copy = value;                              // values copy deeply
    CHECK(copy["a"][4]["b"]["c"].is_array() && copy["dup"].as_int64() == 2);

    EXPECT_TYPE_ERROR(value.as_bool());
    EXPECT_TYPE_ERROR(value["s"].as_int64());
    EXPECT_TYPE_ERROR(value["s"].as_double());
    EXPECT_TYPE_ERROR(value["n"].as_string());
    EXPECT_TYPE_ERROR(value["n"].as_bool());
    EXPECT_TYPE_ERROR(value["missing"].as_string());
    EXPECT_TYPE_ERROR(Json::parse("1.5").as_int64());
    EXPECT_TYPE_ERROR(Json::parse("\"1\"").number_text());

    EXPECT_INVALID("");
    EXPECT_INVALID("   ");
    EXPECT_INVALID("nul");
    EXPECT_INVALID("tru");
    EXPECT_INVALID("falsey");
    EXPECT_INVALID("True");
    CHECK(EXPECT_INVALID("[1,]") == 3);
    EXPECT_INVALID("[1 2]");
    EXPECT_INVALID("[1,,2]");
    EXPECT_INVALID("[");
    EXPECT_INVALID("]");
    EXPECT_INVALID(R"({"a":1,})");
    EXPECT_INVALID(R"({"a" 1})");
    EXPECT_INVALID(R"({"a":})");
    EXPECT_INVALID(R"({"a":1)");
    EXPECT_INVALID("{1:2}");
    EXPECT_INVALID("{a:2}");
    CHECK(EXPECT_INVALID("[1] x") == 4);
    EXPECT_INVALID("1 2");
    EXPECT_INVALID("01");
    EXPECT_INVALID("-01");
    EXPECT_INVALID("1.");
    EXPECT_INVALID(".5");
    EXPECT_INVALID("-");
    EXPECT_INVALID("1e");
    EXPECT_INVALID("1e+");
    EXPECT_INVALID("+1");
    EXPECT_INVALID("0x10");
    EXPECT_INVALID("NaN");
    EXPECT_INVALID("Infinity");
    EXPECT_INVALID("-Infinity");
    EXPECT_INVALID("[1]\xEF\xBB\xBF");
    EXPECT_INVALID("/* comment */ 1");
}

void test_json_depth() {
    auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    CHECK(Json::parse(nested(Json::kDefaultMaxDepth)).is_array());
    EXPECT_INVALID(nested(Json::kDefaultMaxDepth + 1));
    CHECK(Json::parse("[[1]]", 2)[0][0].as_int64() == 1);
    EXPECT_INVALID("[[[1]]]", 2);
    EXPECT_INVALID(R"({"a":{"b":{}}})", 2);
    CHECK(Json::parse("7", 0).as_int64() == 7);
    EXPECT_INVALID("[]", 0);
    // A million brackets, opened or unbalanced: a clean error, no stack overflow.
    EXPECT_INVALID(std::string(1000000, '['));
    EXPECT_INVALID(nested(1000000));
    EXPECT_INVALID(std::string(500000, '{') + "\"a\":");
    // Wide is fine: 100,000 elements.
    std::string wide = "[";
    for (int i = 0; i < 100000; i++) wide += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
    wide += "]";
    Json many = Json::parse(wide);
    CHECK(many.size() == 100000 && many[99999].as_string() == "99999");
}

void test_refund_type() {
    Refund refund(std::string_view(
        R"({"out_refund_no":"R1","amount":{"refund":100},"wxrefund":{"status":"ABNORMAL","final":false,)"
        R"("action_required":true,"refund_id":null}})"));
    CHECK(refund.status() == "ABNORMAL" && !refund.is_final() && refund.action_required());
    CHECK(refund.refund_id().empty() && refund.out_refund_no() == "R1");
    CHECK(refund.field("amount")["refund"].as_int64() == 100);
    Refund bare(Json::parse("{}"));  // nothing normalized: empty answers, no throw
    CHECK(bare.status().empty() && !bare.is_final() && bare.refund_id().empty() && bare.out_refund_no().empty());
    test_util::checks++;
    try {
        Refund not_object(std::string_view("[1]"));
        test_util::failures++;
        std::cerr << "Refund accepted an array\n";
    } catch (const JsonError&) {
    }
    test_util::checks++;
    try {
        Refund broken(std::string_view("{\"wxrefund\":"));
        test_util::failures++;
        std::cerr << "Refund accepted broken JSON\n";
    } catch (const JsonError&) {
    }
}

void test_error_type() {
    // The accessors read the error JSON; absent fields read as defaults.
    Error full(WXREFUND_STATUS_RATE_LIMITED,
               R"({"status":"RATE_LIMITED","kind":"order_spacing","message":"wait","field":"out_trade_no",)"
               R"("http_status":429,"code":"FREQUENCY_LIMITED","request_id":"req-1","retry_after_secs":42,)"
               R"("reply":{"http_status":401,"body":"{\"code\":\"FAIL\"}"},"retryable":true,"outcome_unknown":true})");
    CHECK(full.status() == WXREFUND_STATUS_RATE_LIMITED && std::string(full.status_name()) == "RATE_LIMITED");
    CHECK(full.kind() == "order_spacing" && full.message() == "wait" && full.field() == "out_trade_no");
    CHECK(full.http_status() == 429 && full.code() == "FREQUENCY_LIMITED" && full.request_id() == "req-1");
    CHECK(full.retryable() && full.outcome_unknown());
    CHECK(full.retry_after_secs() && *full.retry_after_secs() == 42);
    CHECK(full.reply() && full.reply()->http_status == 401 && full.reply()->body == R"({"code":"FAIL"})");
    CHECK(full.details()["status"].as_string() == "RATE_LIMITED");
    Error copy = full;  // shares the parsed JSON
    CHECK(copy.request_id() == "req-1" && &copy.json() == &full.json());

    Error sparse(WXREFUND_STATUS_INTERNAL, R"({"status":"INTERNAL"})");
    CHECK(!sparse.retryable() && !sparse.outcome_unknown() && sparse.code().empty() && sparse.http_status() == 0);
    CHECK(sparse.request_id().empty() && sparse.field().empty() && !sparse.retry_after_secs() && !sparse.reply());
    Error garbage(WXREFUND_STATUS_INTERNAL, "not json at all");
    CHECK(garbage.json() == "not json at all" && garbage.details().is_null() && garbage.kind().empty());
    CHECK(std::string(garbage.what()) == "INTERNAL: not json at all");
    Error array(WXREFUND_STATUS_INTERNAL, "[true]");
    CHECK(array.details().is_null() && !array.retryable());
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
    CHECK(Client::crypto_backend() == "ring" || Client::crypto_backend() == "aws-lc");
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
    Refund accepted(client.create_refund(refund_request("T20261122000001", 10000, "CNY", no)));
    CHECK(accepted.out_refund_no() == no);
    CHECK(accepted.status() == "PROCESSING");
    CHECK(!accepted.is_final() && !accepted.action_required());
    CHECK(accepted.field("amount")["refund"].as_int64() == 100);
    CHECK(accepted.field("amount")["total"].as_int64() == 10000);
    CHECK(accepted.field("amount")["currency"].as_string() == "CNY");
    CHECK(accepted.field("no_such_field").is_null());
    Refund final_refund = query_until_final(client, R"({"out_refund_no":")" + no + R"("})");
    CHECK(final_refund.status() == "SUCCESS");
    CHECK(final_refund.is_final());
    CHECK(!final_refund.refund_id().empty());
    CHECK(final_refund.refund_id() == accepted.refund_id());
    CHECK(final_refund.refund_id() == final_refund.field("refund_id").as_string());
    CHECK(final_refund.value()["wxrefund"]["final"].as_bool());
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
    // The same errors through the typed accessors.
    try {
        client.query_refund(R"({"out_refund_no":"NO_SUCH_REFUND"})");
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() == WXREFUND_STATUS_NOT_FOUND && e.code() == "RESOURCE_NOT_EXISTS");
        CHECK(e.http_status() == 404 && !e.request_id().empty() && !e.message().empty());
        CHECK(!e.retryable() && !e.outcome_unknown() && e.field().empty() && !e.reply());
    }
    try {
        client.create_refund(refund_request("T20261122000001", 10000, "CNY", "R1", 20000));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() == WXREFUND_STATUS_INVALID_REQUEST && e.field() == "amount.refund");
        CHECK(!e.kind().empty() && e.http_status() == 0 && e.code().empty() && !e.retryable());
    }
    try {
        client.query_refund(std::string("{\"out_refund_no\":\"R1\"}\0x", 24));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.kind() == "embedded_nul" && e.message() == "query_json contains a NUL byte");
    }
    EXPECT_ERROR(WXREFUND_STATUS_INVALID_ARGUMENT, "query_json contains a NUL byte",
                 client.query_refund(std::string("{\"out_refund_no\":\"R1\"}\0x", 24)));
    // A notification without its signature headers: an Error carrying the reply to send.
    test_util::checks++;
    try {
        client.parse_notification("{}", std::string_view("{\"id\":\"x\"}\0tail", 15));
        test_util::failures++;
        std::cerr << "parse_notification accepted an unsigned notification\n";
    } catch (const Error& e) {
        bool ok = (e.status() == WXREFUND_STATUS_VERIFICATION_FAILED ||
                   e.status() == WXREFUND_STATUS_MALFORMED_NOTIFICATION) &&
                  contains(e.json(), "\"reply\":{") && e.reply() && e.reply()->http_status >= 400 &&
                  !e.reply()->body.empty();
        if (!ok) {
            test_util::failures++;
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
    Refund accepted(client.create_refund(refund_request("G20261122000001", 10000, "USD", no)));
    CHECK(accepted.status() == "ACCEPTED");
    const std::string refund_id = accepted.refund_id();
    CHECK(!refund_id.empty());
    Refund by_id = query_until_final(client, R"({"refund_id":")" + refund_id + R"("})");
    CHECK(by_id.status() == "SUCCESS");
    CHECK(by_id.out_refund_no() == no);  // "|" and "*" survive the round trip
    CHECK(by_id.refund_id() == refund_id);
    CHECK(!by_id.field("amount")["settlement_currency"].is_null());
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
    Refund accepted(client.create_refund(refund_request("W20261122000001", 10000, "CNY", no)));
    CHECK(accepted.status() == "ACCEPTED");
    CHECK(!accepted.is_final());
    Refund final_refund = query_until_final(client, R"({"out_refund_no":")" + no + R"("})");
    CHECK(final_refund.status() == "SUCCESS");
    CHECK(rejected.size() == 1 && rejected[0] == "bogus-token-from-yesterday");
    // A second refund of the same order within the minute: the local guard answers
    // RATE_LIMITED with retry_after_secs, and nothing was sent.
    try {
        client.create_refund(refund_request("W20261122000001", 10000, "CNY", no + "-2"));
        CHECK(false);
    } catch (const Error& e) {
        CHECK(e.status() == WXREFUND_STATUS_RATE_LIMITED);
        CHECK(e.retry_after_secs() && *e.retry_after_secs() > 0 && *e.retry_after_secs() <= 60);
        CHECK(e.retryable() && !e.outcome_unknown());
    }
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

        test_json_scalars();
        test_json_strings();
        test_json_structure();
        test_json_depth();
        test_refund_type();
        test_error_type();
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
        test_util::failures++;
        std::cerr << "unexpected exception: " << e.what() << "\n";
    }
    return test_util::finish();
}
