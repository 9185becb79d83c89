// wxrefund for C++17: a header-only RAII wrapper around the C ABI in wxrefund.h.
//
//   #include "wxrefund.hpp"
//   wxrefund::Client client = wxrefund::Client::from_config(config_json);
//   try {
//       wxrefund::Refund refund(client.create_refund(R"({"out_trade_no":"T1","out_refund_no":"R1",
//           "amount":{"refund":100,"total":10000,"currency":"CNY"}})"));
//       if (!refund.is_final()) { /* query_refund later */ }
//   } catch (const wxrefund::Error& e) {
//       if (e.outcome_unknown()) { /* query before deciding */ }
//       // e.status(), e.code(), e.http_status(), e.retryable(), e.request_id(), e.json()
//   }
//   wxrefund::Client hsm = wxrefund::Client::from_config_with_signer(config_without_key,
//       [](const std::uint8_t* message, std::size_t len) { return sign_sha256_rsa(message, len); });
//   wxrefund::Refund done(client.wait_for_final(R"({"out_refund_no":"R1"})", std::chrono::minutes(2)));
//   wxrefund::set_log_callback(wxrefund::LogLevel::Info,
//       [](wxrefund::LogLevel, std::string_view message, std::string_view fields_json) { /* ... */ });
//
// JSON goes in and out as std::string, exactly as in the C ABI (README: "API conventions").
// Every non-OK status becomes a wxrefund::Error; every string the library returns is freed.
// wxrefund::Json is a small JSON reader for the answers (wxrefund::Refund, Error's accessors).
// Depends only on the standard library and wxrefund.h; link with -lwxrefund.
#ifndef WXREFUND_HPP
#define WXREFUND_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <locale>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wxrefund.h"

namespace wxrefund {

/// The status numbers of the C ABI (`WXREFUND_STATUS_*`), fixed forever.
using Status = wxrefund_status;

/// Thrown by Json::parse for text that is not JSON (with the byte offset of the problem), and
/// by Json's `as_*` accessors for a value of another type (offset npos).
class JsonError : public std::runtime_error {
public:
    /// An error saying `what`, found at byte `offset` of the text (npos: not a parse error).
    explicit JsonError(const std::string& what, std::size_t offset = npos)
        : std::runtime_error(offset == npos ? what : what + " at byte " + std::to_string(offset)),
          offset_(offset) {}

    /// Where in the text parsing stopped, or npos for a type error.
    std::size_t offset() const noexcept { return offset_; }

    /// The offset of an error that is not about a position in the text.
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

private:
    std::size_t offset_;
};

namespace detail {
class JsonParser;
}  // namespace detail

/// A parsed JSON value: null, bool, number, string, array or object (RFC 8259).
///
/// Read-only, made by Json::parse. Lookups never throw: a missing member, an index out of
/// range or a lookup on the wrong type gives a null Json, so `value["wxrefund"]["status"]` is
/// safe; the `as_*` accessors throw JsonError when the value has another type. Numbers keep
/// their text, and those that are integers also their exact std::int64_t value (amounts in
/// fen never go through a double). Object members keep their order; when a name occurs
/// twice, lookups find the last one.
class Json {
public:
    /// The six JSON types.
    enum class Type { Null, Bool, Number, String, Array, Object };

    /// One member of an object: its name and value (defined after the class).
    struct Member;

    /// The nesting depth Json::parse allows by default: 64 arrays/objects inside each other.
    static constexpr std::size_t kDefaultMaxDepth = 64;

    /// The null value.
    Json() = default;

    /// Parses `text`, which must hold exactly one JSON value (whitespace around it is fine):
    /// UTF-8, strings with every escape including \uXXXX surrogate pairs, numbers, true,
    /// false, null, nested arrays and objects at most `max_depth` deep. Throws JsonError
    /// (invalid text, invalid UTF-8, a lone surrogate, too deep, trailing characters).
    /// Recursion is bounded by `max_depth`, so no input can exhaust the stack.
    static Json parse(std::string_view text, std::size_t max_depth = kDefaultMaxDepth);

    /// This value's type.
    Type type() const noexcept { return type_; }
    /// Whether this is null (also what a missing member or index gives).
    bool is_null() const noexcept { return type_ == Type::Null; }
    /// Whether this is true or false.
    bool is_bool() const noexcept { return type_ == Type::Bool; }
    /// Whether this is a number.
    bool is_number() const noexcept { return type_ == Type::Number; }
    /// Whether this is a number without fraction or exponent that fits std::int64_t.
    bool is_integer() const noexcept { return type_ == Type::Number && integer_; }
    /// Whether this is a string.
    bool is_string() const noexcept { return type_ == Type::String; }
    /// Whether this is an array.
    bool is_array() const noexcept { return type_ == Type::Array; }
    /// Whether this is an object.
    bool is_object() const noexcept { return type_ == Type::Object; }

    /// The boolean; throws JsonError unless this is a bool.
    bool as_bool() const {
        if (type_ != Type::Bool) throw JsonError("JSON value is not a bool");
        return bool_;
    }

    /// The number as a double (may round; a magnitude beyond double's range gives
    /// +/-infinity or 0); throws JsonError unless this is a number.
    double as_double() const {
        if (type_ != Type::Number) throw JsonError("JSON value is not a number");
        return double_;
    }

    /// The exact integer; throws JsonError unless is_integer().
    std::int64_t as_int64() const {
        if (!is_integer()) throw JsonError("JSON value is not an integer that fits int64");
        return int_;
    }

    /// The string's UTF-8 text, escapes decoded; throws JsonError unless this is a string.
    const std::string& as_string() const {
        if (type_ != Type::String) throw JsonError("JSON value is not a string");
        return text_;
    }

    /// The number exactly as written in the JSON text (e.g. "1.50"); throws JsonError unless
    /// this is a number.
    const std::string& number_text() const {
        if (type_ != Type::Number) throw JsonError("JSON value is not a number");
        return text_;
    }

    /// The number of elements of an array or members of an object; 0 for anything else.
    std::size_t size() const noexcept;

    /// The element at `index` of an array; null when out of range or not an array.
    const Json& operator[](std::size_t index) const noexcept {
        return type_ == Type::Array && index < elements_.size() ? elements_[index] : null_value();
    }

    /// The member `name` of an object; null when absent or not an object.
    const Json& operator[](std::string_view name) const noexcept {
        const Json* found = find(name);
        return found ? *found : null_value();
    }

    /// The member `name` of an object (the last one when repeated), or nullptr when absent or
    /// not an object.
    const Json* find(std::string_view name) const noexcept;

    /// Whether this is an object with a member `name`.
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }

    /// The elements of an array; empty for anything else.
    const std::vector<Json>& elements() const noexcept { return elements_; }

    /// The members of an object in their order; empty for anything else.
    const std::vector<Member>& members() const noexcept { return members_; }

    /// The string member `name`, or `fallback` when it is absent, null or not a string.
    std::string string_or(std::string_view name, std::string fallback = std::string()) const {
        const Json& value = (*this)[name];
        return value.is_string() ? value.text_ : fallback;
    }

    /// The bool member `name`, or `fallback` when it is absent, null or not a bool.
    bool bool_or(std::string_view name, bool fallback = false) const noexcept {
        const Json& value = (*this)[name];
        return value.is_bool() ? value.bool_ : fallback;
    }

    /// The integer member `name`, or `fallback` when it is absent or not an int64 integer.
    std::int64_t int_or(std::string_view name, std::int64_t fallback = 0) const noexcept {
        const Json& value = (*this)[name];
        return value.is_integer() ? value.int_ : fallback;
    }

    /// The shared null value that failed lookups return.
    static const Json& null_value() noexcept {
        static const Json null;
        return null;
    }

private:
    friend class detail::JsonParser;

    Type type_ = Type::Null;
    bool bool_ = false;
    bool integer_ = false;
    std::int64_t int_ = 0;
    double double_ = 0.0;
    std::string text_;  // a string's value, or a number's text
    std::vector<Json> elements_;
    std::vector<Member> members_;
};

struct Json::Member {
    /// The member's name (escapes decoded).
    std::string name;
    /// The member's value.
    Json value;
};

inline std::size_t Json::size() const noexcept {
    if (type_ == Type::Array) return elements_.size();
    if (type_ == Type::Object) return members_.size();
    return 0;
}

inline const Json* Json::find(std::string_view name) const noexcept {
    if (type_ != Type::Object) return nullptr;
    for (auto member = members_.rbegin(); member != members_.rend(); ++member) {
        if (member->name == name) return &member->value;
    }
    return nullptr;
}

namespace detail {

/// The parser behind Json::parse (one use per text). Not part of the API.
class JsonParser {
public:
    /// A parser over `text` allowing `max_depth` nested arrays/objects.
    JsonParser(std::string_view text, std::size_t max_depth) noexcept : text_(text), max_depth_(max_depth) {}

    /// Parses the whole text as one value; throws JsonError.
    Json parse_document() {
        Json value = parse_value(0);
        skip_whitespace();
        if (pos_ != text_.size()) fail("unexpected character after the JSON value");
        return value;
    }

private:
    [[noreturn]] void fail(const char* what) const { throw JsonError(what, pos_); }

    bool at_end() const noexcept { return pos_ >= text_.size(); }
    unsigned char peek() const noexcept { return at_end() ? 0 : static_cast<unsigned char>(text_[pos_]); }

    void skip_whitespace() noexcept {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) pos_++;
    }

    void expect_word(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
        pos_ += word.size();
    }

    Json parse_value(std::size_t depth) {
        skip_whitespace();
        if (at_end()) fail("unexpected end of JSON text");
        Json value;
        switch (peek()) {
        case '{': return parse_object(depth + 1);
        case '[': return parse_array(depth + 1);
        case '"':
            value.type_ = Json::Type::String;
            value.text_ = parse_string();
            return value;
        case 't':
            expect_word("true");
            value.type_ = Json::Type::Bool;
            value.bool_ = true;
            return value;
        case 'f':
            expect_word("false");
            value.type_ = Json::Type::Bool;
            return value;
        case 'n': expect_word("null"); return value;
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
            fail("unexpected character");
        }
    }

    void enter(std::size_t depth) const {
        if (depth > max_depth_) throw JsonError("JSON nests deeper than " + std::to_string(max_depth_), pos_);
    }

    Json parse_array(std::size_t depth) {
        enter(depth);
        pos_++;  // [
        Json array;
        array.type_ = Json::Type::Array;
        skip_whitespace();
        if (peek() == ']') {
            pos_++;
            return array;
        }
        for (;;) {
            array.elements_.push_back(parse_value(depth));
            skip_whitespace();
            if (peek() == ',') {
                pos_++;
            } else if (peek() == ']') {
                pos_++;
                return array;
            } else {
                fail("expected ',' or ']' in an array");
            }
        }
    }

    Json parse_object(std::size_t depth) {
        enter(depth);
        pos_++;  // {
        Json object;
        object.type_ = Json::Type::Object;
        skip_whitespace();
        if (peek() == '}') {
            pos_++;
            return object;
        }
        for (;;) {
            skip_whitespace();
            if (peek() != '"') fail("expected a member name (a string) in an object");
            std::string name = parse_string();
            skip_whitespace();
            if (peek() != ':') fail("expected ':' after a member name");
            pos_++;
            Json value = parse_value(depth);
            object.members_.push_back(Json::Member{std::move(name), std::move(value)});
            skip_whitespace();
            if (peek() == ',') {
                pos_++;
            } else if (peek() == '}') {
                pos_++;
                return object;
            } else {
                fail("expected ',' or '}' in an object");
            }
        }
    }

    /// Four hex digits of a \u escape.
    unsigned hex4() {
        if (text_.size() - pos_ < 4) fail("truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; i++) {
            unsigned char c = peek();
            unsigned digit;
            if (c >= '0' && c <= '9') {
                digit = c - '0';
            } else if (c >= 'a' && c <= 'f') {
                digit = c - 'a' + 10;
            } else if (c >= 'A' && c <= 'F') {
                digit = c - 'A' + 10;
            } else {
                fail("invalid hex digit in a \\u escape");
            }
            code = code * 16 + digit;
            pos_++;
        }
        return code;
    }

    static void append_utf8(std::string& out, unsigned long code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    /// Copies one UTF-8 sequence starting at a byte >= 0x80, checking it (no overlong form,
    /// no surrogate, nothing above U+10FFFF).
    void copy_utf8(std::string& out) {
        const unsigned char lead = peek();
        std::size_t length;
        unsigned long code;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            code = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            code = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            code = lead & 0x07;
        } else {
            fail("invalid UTF-8");
        }
        if (text_.size() - pos_ < length) fail("truncated UTF-8 sequence");
        for (std::size_t i = 1; i < length; i++) {
            const unsigned char next = static_cast<unsigned char>(text_[pos_ + i]);
            if ((next & 0xC0) != 0x80) fail("invalid UTF-8");
            code = (code << 6) | (next & 0x3F);
        }
        const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
        if (overlong || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) fail("invalid UTF-8");
        out.append(text_.data() + pos_, length);
        pos_ += length;
    }

    std::string parse_string() {
        pos_++;  // "
        std::string out;
        for (;;) {
            if (at_end()) fail("unterminated string");
            const unsigned char c = peek();
            if (c == '"') {
                pos_++;
                return out;
            }
            if (c < 0x20) fail("control character in a string");
            if (c >= 0x80) {
                copy_utf8(out);
                continue;
            }
            pos_++;
            if (c != '\\') {
                out += static_cast<char>(c);
                continue;
            }
            if (at_end()) fail("unterminated string");
            const unsigned char escape = peek();
            pos_++;
            switch (escape) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned long code = hex4();
                if (code >= 0xDC00 && code <= 0xDFFF) fail("lone low surrogate in a \\u escape");
                if (code >= 0xD800 && code <= 0xDBFF) {
                    if (text_.substr(pos_, 2) != "\\u") fail("high surrogate not followed by a \\u escape");
                    pos_ += 2;
                    const unsigned long low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate not followed by a low surrogate");
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                append_utf8(out, code);
                break;
            }
            default: pos_--; fail("invalid escape in a string");
            }
        }
    }

    bool digits() {
        const std::size_t start = pos_;
        while (!at_end() && peek() >= '0' && peek() <= '9') pos_++;
        return pos_ > start;
    }

    Json parse_number() {
        const std::size_t start = pos_;
        const bool negative = peek() == '-';
        if (negative) pos_++;
        if (peek() == '0') {
            pos_++;
        } else if (!digits()) {
            fail("invalid number");
        }
        bool integer = true;
        bool negative_exponent = false;
        if (peek() == '.') {
            pos_++;
            integer = false;
            if (!digits()) fail("expected digits after '.' in a number");
        }
        if (peek() == 'e' || peek() == 'E') {
            pos_++;
            integer = false;
            if (peek() == '+' || peek() == '-') negative_exponent = text_[pos_++] == '-';
            if (!digits()) fail("expected digits in a number's exponent");
        }
        Json number;
        number.type_ = Json::Type::Number;
        number.text_ = std::string(text_.substr(start, pos_ - start));
        if (integer) {
            // Exact: accumulate negatively, as INT64_MIN has no positive counterpart.
            std::int64_t value = 0;
            bool fits = true;
            const std::int64_t min = std::numeric_limits<std::int64_t>::min();
            for (std::size_t i = negative ? 1 : 0; i < number.text_.size() && fits; i++) {
                const int digit = number.text_[i] - '0';
                if (value < (min + digit) / 10) {
                    fits = false;
                } else {
                    value = value * 10 - digit;
                }
            }
            if (fits && !negative && value == min) fits = false;
            if (fits) {
                number.integer_ = true;
                number.int_ = negative ? value : -value;
            }
        }
        std::istringstream in(number.text_);
        in.imbue(std::locale::classic());  // '.' whatever the program's locale says
        in >> number.double_;
        if (in.fail()) {
            const double huge = std::numeric_limits<double>::infinity();
            number.double_ = negative_exponent ? 0.0 : huge;
            if (negative) number.double_ = -number.double_;
        }
        return number;
    }

    std::string_view text_;
    std::size_t max_depth_;
    std::size_t pos_ = 0;
};

}  // namespace detail

inline Json Json::parse(std::string_view text, std::size_t max_depth) {
    return detail::JsonParser(text, max_depth).parse_document();
}

/// The HTTP answer to give the platform for a notification (Error::reply() for a failed one).
struct Reply {
    /// 200 acknowledges; 4xx/5xx make the platform deliver again later.
    int http_status = 0;
    /// The body to answer with (JSON; empty on success).
    std::string body;
};

class Refund;

/// A failed call: thrown for every status other than `WXREFUND_STATUS_OK`.
///
/// `what()` is `"<STATUS_NAME>: <error JSON>"`. Copying never throws (the JSON is shared).
/// The accessors read the error JSON (README: "Errors"); a field that is absent reads as
/// false, 0, an empty string or an empty optional.
class Error : public std::runtime_error {
public:
    /// An error with `status` and its error JSON object (`status`, `kind`, `message`, and
    /// when they apply `field`, `http_status`, `code`, `request_id`, `retryable`,
    /// `outcome_unknown`, `retry_after_secs`, `reply`; see the README's error table).
    /// Text that is not a JSON object leaves the accessors at their defaults.
    Error(Status status, std::string json)
        : std::runtime_error(std::string(wxrefund_status_name(static_cast<int>(status))) + ": " + json),
          status_(status),
          state_(make_state(std::move(json))) {}

    /// The status number, e.g. `WXREFUND_STATUS_NOT_FOUND`.
    Status status() const noexcept { return status_; }

    /// The stable name of the status, e.g. `"NOT_FOUND"` (a static string; never free it).
    const char* status_name() const noexcept { return wxrefund_status_name(static_cast<int>(status_)); }

    /// The error JSON object as text.
    const std::string& json() const noexcept { return state_->json; }

    /// The error JSON object, parsed (null when the text was not a JSON object).
    const Json& details() const noexcept { return state_->parsed; }

    /// Sending the same request again may succeed (`retryable`).
    bool retryable() const noexcept { return details().bool_or("retryable"); }

    /// The platform may have acted on the request (`outcome_unknown`): query before
    /// deciding, and retry only with the same `out_refund_no`.
    bool outcome_unknown() const noexcept { return details().bool_or("outcome_unknown"); }

    /// The finer, snake_case reason (`kind`), e.g. `"missing_field"`, `"probe_signature"`.
    std::string kind() const { return details().string_or("kind"); }

    /// The human-readable message (never holds a secret).
    std::string message() const { return details().string_or("message"); }

    /// The request or configuration field a validation error is about (`field`), or "".
    std::string field() const { return details().string_or("field"); }

    /// The platform's error code (`code`; WeCom's `errcode` as text), or "".
    std::string code() const { return details().string_or("code"); }

    /// The HTTP status of the platform's answer (`http_status`), or 0 when there was none.
    int http_status() const noexcept { return static_cast<int>(details().int_or("http_status")); }

    /// The platform's request id (`request_id`) to quote to support, or "".
    std::string request_id() const { return details().string_or("request_id"); }

    /// Seconds to wait before sending again (`retry_after_secs`, the local WeCom order guard).
    std::optional<std::int64_t> retry_after_secs() const noexcept {
        const Json& seconds = details()["retry_after_secs"];
        if (!seconds.is_integer()) return std::nullopt;
        return seconds.as_int64();
    }

    /// For a wait that ran out of time (`WXREFUND_STATUS_TIMEOUT`): the last refund seen
    /// (`refund` in the error JSON, e.g. still `PROCESSING`); empty when no query succeeded.
    std::optional<Refund> last_refund() const;

    /// For a notification that failed: what to answer the platform (`reply`).
    std::optional<Reply> reply() const {
        const Json& reply = details()["reply"];
        if (!reply.is_object()) return std::nullopt;
        return Reply{static_cast<int>(reply.int_or("http_status")), reply.string_or("body")};
    }

private:
    struct State {
        std::string json;
        Json parsed;
    };

    /// The text and, when it is a JSON object, its parsed form.
    static std::shared_ptr<const State> make_state(std::string json) {
        Json parsed;
        try {
            parsed = Json::parse(json);
            if (!parsed.is_object()) parsed = Json();
        } catch (const JsonError&) {
            // Keep the text; the accessors answer their defaults.
        }
        return std::make_shared<const State>(State{std::move(json), std::move(parsed)});
    }

    Status status_;
    std::shared_ptr<const State> state_;
};

/// A refund as the library answers it: create_refund and query_refund return its JSON text,
/// and a notification holds one under `"refund"`. Reads the normalized `"wxrefund"` part
/// (`status`, `final`, `action_required`, `refund_id`) and the platform's own fields.
class Refund {
public:
    /// Parses a refund object's JSON text. Throws JsonError when it is not a JSON object.
    explicit Refund(std::string_view json) : Refund(Json::parse(json)) {}

    /// A refund from a parsed object (e.g. a notification's `"refund"` member). Throws
    /// JsonError when it is not an object.
    explicit Refund(Json value) : value_(std::move(value)) {
        if (!value_.is_object()) throw JsonError("a refund is a JSON object");
    }

    /// The normalized status: `"ACCEPTED"`, `"PROCESSING"`, `"SUCCESS"`, `"CLOSED"`,
    /// `"ABNORMAL"`, or the platform's own for one the library does not know; "" when absent.
    std::string status() const { return normalized().string_or("status"); }

    /// Whether the status is final (`SUCCESS` or `CLOSED`): stop querying.
    bool is_final() const noexcept { return normalized().bool_or("final"); }

    /// Whether the refund needs action in the merchant platform (`ABNORMAL`).
    bool action_required() const noexcept { return normalized().bool_or("action_required"); }

    /// WeChat's refund id (Global: `id`), or "" while the platform has not assigned one.
    std::string refund_id() const { return normalized().string_or("refund_id"); }

    /// The merchant's refund number, `out_refund_no`, or "" when the answer has none.
    std::string out_refund_no() const { return value_.string_or("out_refund_no"); }

    /// A top-level field of the platform's answer, e.g. `field("amount")["refund"]`; null when
    /// absent.
    const Json& field(std::string_view name) const noexcept { return value_[name]; }

    /// The whole refund object.
    const Json& value() const noexcept { return value_; }

private:
    const Json& normalized() const noexcept { return value_["wxrefund"]; }

    Json value_;
};

inline std::optional<Refund> Error::last_refund() const {
    const Json& refund = details()["refund"];
    if (!refund.is_object()) return std::nullopt;
    return Refund(refund);
}

namespace detail {

/// Owns one `char*` returned by the library and frees it with `wxrefund_string_free`.
class LibraryString {
public:
    LibraryString() noexcept = default;
    LibraryString(const LibraryString&) = delete;
    LibraryString& operator=(const LibraryString&) = delete;
    ~LibraryString() { wxrefund_string_free(ptr_); }

    /// Where the library writes the string (an `*_out` parameter).
    char** out() noexcept { return &ptr_; }

    /// Whether the library wrote a string.
    bool has_value() const noexcept { return ptr_ != nullptr; }

    /// A copy as std::string; the original is still freed by the destructor.
    std::string str() const { return ptr_ ? std::string(ptr_) : std::string(); }

private:
    char* ptr_ = nullptr;
};

/// `text` as a JSON string literal (quotes included).
inline std::string json_quote(std::string_view text) {
    std::string quoted = "\"";
    for (char c : text) {
        switch (c) {
        case '"': quoted += "\\\""; break;
        case '\\': quoted += "\\\\"; break;
        case '\n': quoted += "\\n"; break;
        case '\r': quoted += "\\r"; break;
        case '\t': quoted += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char escape[8];
                std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                quoted += escape;
            } else {
                quoted += c;
            }
        }
    }
    return quoted + "\"";
}

/// An Error raised by the wrapper itself, with error JSON shaped like the library's.
inline Error local_error(Status status, const char* kind, const std::string& message) {
    return Error(status, "{\"status\":" + json_quote(wxrefund_status_name(static_cast<int>(status))) +
                             ",\"kind\":" + json_quote(kind) + ",\"message\":" + json_quote(message) + "}");
}

/// Throws for a non-OK status; the error string is freed by its holder either way.
inline void check(Status status, const LibraryString& error) {
    if (status == WXREFUND_STATUS_OK) return;
    if (error.has_value()) throw Error(status, error.str());
    throw local_error(status, "no_error_json", "the library returned no error JSON");
}

/// The C ABI takes NUL-terminated strings: refuse one that would be silently cut short.
inline void require_no_nul(const std::string& text, const char* name) {
    if (text.find('\0') != std::string::npos) {
        throw local_error(WXREFUND_STATUS_INVALID_ARGUMENT, "embedded_nul",
                          std::string(name) + " contains a NUL byte");
    }
}

/// Overwrites a string's bytes (a token) before its memory is released.
inline void wipe(std::string& secret) noexcept {
    volatile char* bytes = secret.data();
    for (std::size_t i = 0; i < secret.size(); i++) bytes[i] = '\0';
}

}  // namespace detail

/// A wxrefund client: owns one `wxrefund_client` handle and frees it on destruction.
///
/// Move-only. The calls are `const` and thread-safe: one Client may be shared by many
/// threads at once. Do not `close()`, move from or destroy it while other threads use it.
/// A closed or moved-from Client throws an Error with `WXREFUND_STATUS_INVALID_HANDLE`.
class Client {
public:
    /// The host's WeCom access-token source. It receives NULL when a token is wanted, or
    /// the token WeCom just refused (expired or revoked), and returns a fresh token
    /// (at most 1023 bytes, no NUL). The library never calls it concurrently, but may call
    /// it from any thread that uses the Client. An exception it throws is caught in the
    /// wrapper (it never crosses into the library) and fails the call in progress with
    /// an Error of kind `token_provider_failed`.
    using TokenProvider = std::function<std::string(const char* rejected_or_null)>;

    /// The host's signer, for a merchant key the library never sees (an HSM, a secure element,
    /// a signing service). It receives the exact bytes of a request's signing string and
    /// returns their RSASSA-PKCS1-v1_5 signature over SHA-256 (`CKM_SHA256_RSA_PKCS`), raw:
    /// 256 bytes for an RSA-2048 key, not base64. It is called from any thread that uses the
    /// Client, and from several at once: make it thread-safe. An exception it throws, an empty
    /// signature or one over 1024 bytes fails the call in progress with an Error of status
    /// `WXREFUND_STATUS_SIGNER_FAILED`, and its request is not sent.
    using Signer = std::function<std::vector<std::uint8_t>(const std::uint8_t* message, std::size_t message_len)>;

    /// Builds a client from a configuration JSON object (README: "Configuration").
    /// Loads and checks the keys; no network. Throws Error (e.g. `INVALID_CONFIG`).
    static Client from_config(const std::string& config_json) {
        detail::require_no_nul(config_json, "config_json");
        wxrefund_client* handle = nullptr;
        detail::LibraryString error;
        detail::check(wxrefund_client_new(config_json.c_str(), &handle, error.out()), error);
        return Client(handle, nullptr, nullptr);
    }

    /// Builds a mainland or Global client whose requests `signer` signs. `config_json` has
    /// `merchant_serial_no` and no `private_key_pem`/`private_key_file`/`signer` (a PKCS#11
    /// token needs no code: `"signer":{"pkcs11":{...}}` in the configuration and from_config).
    /// The signer is kept on the heap, owned by the Client, and destroyed after the handle is
    /// freed. Throws Error (`INVALID_ARGUMENT` for an empty signer, `INVALID_CONFIG`, ...).
    static Client from_config_with_signer(const std::string& config_json, Signer signer) {
        detail::require_no_nul(config_json, "config_json");
        if (!signer) {
            throw detail::local_error(WXREFUND_STATUS_INVALID_ARGUMENT, "null_argument", "signer is empty");
        }
        auto box = std::make_unique<SignerBox>(SignerBox{std::move(signer)});
        wxrefund_client* handle = nullptr;
        detail::LibraryString error;
        detail::check(wxrefund_client_new_with_signer(config_json.c_str(), &Client::sign_message, box.get(), &handle,
                                                      error.out()),
                      error);
        return Client(handle, nullptr, std::move(box));
    }

    /// Builds a WeCom client whose access tokens come from `provider`. `config_json` is a
    /// `"wecom"` configuration without `corpid`/`corpsecret`/`access_token`. The provider
    /// is kept on the heap, owned by the Client, and destroyed after the handle is freed.
    /// Throws Error (`INVALID_ARGUMENT` for an empty provider, `INVALID_CONFIG`, ...).
    static Client with_token_provider(const std::string& config_json, TokenProvider provider) {
        detail::require_no_nul(config_json, "config_json");
        if (!provider) {
            throw detail::local_error(WXREFUND_STATUS_INVALID_ARGUMENT, "null_argument", "provider is empty");
        }
        auto box = std::make_unique<ProviderBox>(ProviderBox{std::move(provider)});
        wxrefund_client* handle = nullptr;
        detail::LibraryString error;
        detail::check(wxrefund_client_new_with_token_provider(config_json.c_str(), &Client::provide_token,
                                                              box.get(), &handle, error.out()),
                      error);
        return Client(handle, std::move(box), nullptr);
    }

    /// Not copyable: a Client owns its handle. Move it, or share it by reference.
    Client(const Client&) = delete;
    /// Not copyable: a Client owns its handle. Move it, or share it by reference.
    Client& operator=(const Client&) = delete;

    /// Takes over `other`'s handle; `other` is left closed.
    Client(Client&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)),
          provider_(std::move(other.provider_)),
          signer_(std::move(other.signer_)) {}

    /// Closes this client, then takes over `other`'s handle; `other` is left closed.
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::exchange(other.handle_, nullptr);
            provider_ = std::move(other.provider_);
            signer_ = std::move(other.signer_);
        }
        return *this;
    }

    /// Frees the handle (waiting for calls in flight), then the token provider or signer.
    ~Client() { close(); }

    /// Applies for a refund: `request_json` is the family's request object with WeChat's
    /// field names. Returns the platform's refund object plus
    /// `"wxrefund":{"status","final","action_required","refund_id"}`; query until `final`.
    /// Throws Error; when its JSON says `outcome_unknown`, query before retrying with the
    /// same `out_refund_no`.
    std::string create_refund(const std::string& request_json) const {
        detail::require_no_nul(request_json, "request_json");
        detail::LibraryString response, error;
        detail::check(wxrefund_refund_create(live_handle(), request_json.c_str(), response.out(), error.out()),
                      error);
        return response.str();
    }

    /// Sends the money of an `ABNORMAL` mainland refund another way (apply-abnormal-refund):
    /// `request_json` is `{"refund_id", "out_refund_no", "type": "USER_BANK_CARD",
    /// "bank_type", "bank_account", "real_name"}` with the bank details in plaintext (the
    /// library encrypts them with the platform's key and never echoes or logs them), or
    /// `"type": "MERCHANT_BANK_CARD"` without them; plus `"sub_mchid"` in partner mode when
    /// the configuration has no default. Returns the refund, `PROCESSING` again: wait for its
    /// final status. Throws Error: `INVALID_REQUEST` with field() for a request that breaks a
    /// rule (never quoting the bank details) or a client of another family. The caller owns
    /// `request_json`: wipe it when this returns.
    std::string apply_abnormal_refund(const std::string& request_json) const {
        detail::require_no_nul(request_json, "request_json");
        detail::LibraryString response, error;
        detail::check(
            wxrefund_refund_apply_abnormal(live_handle(), request_json.c_str(), response.out(), error.out()),
            error);
        return response.str();
    }

    /// Queries one refund: `{"out_refund_no":"..."}` or, for Global, `{"refund_id":"..."}`
    /// (plus `"sub_mchid"` in partner/institution mode). Returns the refund object with
    /// `"wxrefund"` as for create_refund. Throws Error (`NOT_FOUND` for an unknown refund).
    std::string query_refund(const std::string& query_json) const {
        detail::require_no_nul(query_json, "query_json");
        detail::LibraryString response, error;
        detail::check(wxrefund_refund_query(live_handle(), query_json.c_str(), response.out(), error.out()), error);
        return response.str();
    }

    /// Queries a refund until it is final (`SUCCESS`, `CLOSED`) or needs action (`ABNORMAL`),
    /// within `timeout`: at once, then after 1, 2, 4, 8, 16 and then every 30 seconds, never
    /// past the timeout. `query_json` is as for query_refund. Returns the refund object as
    /// query_refund does (`wxrefund.attempts` counts every request of the wait). Blocks the
    /// calling thread. Throws Error: `WXREFUND_STATUS_TIMEOUT` when time runs out (its
    /// last_refund() is the last refund seen), `INVALID_ARGUMENT` for a negative timeout, and
    /// any error other than a busy platform or a network failure at once (e.g. `NOT_FOUND`).
    std::string wait_for_final(const std::string& query_json, std::chrono::milliseconds timeout) const {
        detail::require_no_nul(query_json, "query_json");
        if (timeout.count() < 0) {
            throw detail::local_error(WXREFUND_STATUS_INVALID_ARGUMENT, "negative_timeout", "timeout is negative");
        }
        detail::LibraryString response, error;
        detail::check(wxrefund_refund_wait(live_handle(), query_json.c_str(), static_cast<std::uint64_t>(timeout.count()),
                                           response.out(), error.out()),
                      error);
        return response.str();
    }

    /// Verifies and decrypts a refund notification: `headers_json` is a JSON object of the
    /// request's headers (WeCom: the callback URL's `msg_signature`, `timestamp`, `nonce`),
    /// `body` the raw body exactly as received (any bytes). Returns `{"id", "event_type",
    /// ..., "refund": {...}, "reply": {"http_status", "body"}}`. On failure the thrown
    /// Error's JSON carries the `"reply"` to answer the platform with.
    std::string parse_notification(const std::string& headers_json, std::string_view body) const {
        detail::require_no_nul(headers_json, "headers_json");
        detail::LibraryString result, error;
        detail::check(wxrefund_notification_parse(live_handle(), headers_json.c_str(),
                                                  reinterpret_cast<const std::uint8_t*>(body.data()), body.size(),
                                                  result.out(), error.out()),
                      error);
        return result.str();
    }

    /// Frees the handle now (waiting for calls in flight) and then the token provider or
    /// signer. Idempotent; later calls throw Error with `WXREFUND_STATUS_INVALID_HANDLE`.
    void close() noexcept {
        if (handle_ != nullptr) wxrefund_client_free(std::exchange(handle_, nullptr));
        provider_.reset();
        signer_.reset();
    }

    /// Whether this Client holds a handle (false after close() or being moved from).
    bool is_open() const noexcept { return handle_ != nullptr; }

    /// The library version, e.g. `"0.1.0"`.
    static std::string version() { return wxrefund_version(); }

    /// The crypto backend the library was built with: `"ring"` or `"aws-lc"`.
    static std::string crypto_backend() { return wxrefund_crypto_backend(); }

private:
    struct ProviderBox {
        TokenProvider provide;
    };

    struct SignerBox {
        Signer sign;
    };

    Client(wxrefund_client* handle, std::unique_ptr<ProviderBox> provider, std::unique_ptr<SignerBox> signer) noexcept
        : handle_(handle), provider_(std::move(provider)), signer_(std::move(signer)) {}

    /// The handle, or an INVALID_HANDLE Error that says why there is none.
    wxrefund_client* live_handle() const {
        if (handle_ == nullptr) {
            throw detail::local_error(WXREFUND_STATUS_INVALID_HANDLE, "invalid_handle",
                                      "this wxrefund::Client was closed or moved from");
        }
        return handle_;
    }

    /// The `wxrefund_access_token_fn` trampoline: calls the std::function; no exception
    /// leaves it. Returns 0 with the token written, 1 when the provider threw, 2 when the
    /// token does not fit, 3 when it contains a NUL byte.
    static int provide_token(void* user_data, const char* rejected_token, char* token_out,
                             std::size_t token_capacity) noexcept {
        try {
            std::string token = static_cast<ProviderBox*>(user_data)->provide(rejected_token);
            int result = 0;
            if (token.size() >= token_capacity) {
                result = 2;
            } else if (token.find('\0') != std::string::npos) {
                result = 3;
            } else {
                std::memcpy(token_out, token.c_str(), token.size() + 1);
            }
            detail::wipe(token);
            return result;
        } catch (...) {
            return 1;
        }
    }

    /// The `wxrefund_sign_fn` trampoline: calls the std::function; no exception leaves it.
    /// Returns 0 with the signature written, 1 when the signer threw, 2 when it returned no
    /// signature, 3 when the signature does not fit.
    static int sign_message(void* user_data, const std::uint8_t* message, std::size_t message_len,
                            std::uint8_t* signature_out, std::size_t signature_capacity,
                            std::size_t* signature_len_out) noexcept {
        try {
            std::vector<std::uint8_t> signature = static_cast<const SignerBox*>(user_data)->sign(message, message_len);
            if (signature.empty()) return 2;
            if (signature.size() > signature_capacity) return 3;
            std::memcpy(signature_out, signature.data(), signature.size());
            *signature_len_out = signature.size();
            return 0;
        } catch (...) {
            return 1;
        }
    }

    wxrefund_client* handle_ = nullptr;
    std::unique_ptr<ProviderBox> provider_;
    std::unique_ptr<SignerBox> signer_;
};

/// The levels of log records (`wxrefund_log_level`), most severe first.
enum class LogLevel : int {
    /// Reserved for failures of the library itself.
    Error = WXREFUND_LOG_LEVEL_ERROR,
    /// A retry, an outcome unknown, a refused notification, a failed download or token fetch.
    Warn = WXREFUND_LOG_LEVEL_WARN,
    /// A certificate download, a token renewal, an accepted notification, the end of a wait.
    Info = WXREFUND_LOG_LEVEL_INFO,
    /// One record per HTTP attempt.
    Debug = WXREFUND_LOG_LEVEL_DEBUG,
    /// Everything (today the same as Debug).
    Trace = WXREFUND_LOG_LEVEL_TRACE,
};

/// Receives the library's log records: the level, a one-line message and the record's fields
/// as a JSON object (`event`, `family`, `out_refund_no`, `method`, `path`, `attempt`,
/// `http_status`, `code`, `request_id`, `elapsed_ms`, `reason`, ...; Json::parse reads it).
/// Both views are valid only during the call. No record carries a secret, a header value, a
/// body or a personal field.
using LogHandler = std::function<void(LogLevel level, std::string_view message, std::string_view fields_json)>;

namespace detail {

/// The installed LogHandler, owned here for the whole process.
struct LogHolder {
    std::mutex replacing;                   // one replacement at a time
    std::unique_ptr<LogHandler> installed;  // what the library calls, or null

    /// Turns the library's logging off before the handler is destroyed at exit.
    ~LogHolder() {
        if (installed) wxrefund_set_log_callback(WXREFUND_LOG_LEVEL_TRACE, nullptr, nullptr, nullptr);
    }
};

/// The one holder (a function-local static: one per process, however many files include this).
inline LogHolder& log_holder() {
    static LogHolder holder;
    return holder;
}

/// Set while this thread runs the handler: replacing it from there is refused before the
/// lock is taken (another thread replacing it waits for this call to end: a deadlock).
inline bool& in_log_handler() {
    thread_local bool inside = false;
    return inside;
}

/// The `wxrefund_log_fn` trampoline: calls the LogHandler; no exception leaves it.
inline void log_trampoline(void* user_data, int level, const char* message, const char* fields_json) noexcept {
    bool& inside = in_log_handler();
    inside = true;
    try {
        (*static_cast<const LogHandler*>(user_data))(static_cast<LogLevel>(level), message, fields_json);
    } catch (...) {
        // A logging failure must not fail, or unwind through, the refund call that logged.
    }
    inside = false;
}

/// Installs `handler` (null: none); the replaced one is destroyed once the library no longer
/// calls it. Throws Error.
inline void replace_log_handler(int level, std::unique_ptr<LogHandler> handler) {
    if (in_log_handler()) {
        throw local_error(WXREFUND_STATUS_INVALID_ARGUMENT, "reentrant_call",
                          "the log callback cannot be replaced from inside itself");
    }
    LogHolder& holder = log_holder();
    std::lock_guard<std::mutex> guard(holder.replacing);
    LibraryString error;
    check(wxrefund_set_log_callback(level, handler ? &log_trampoline : nullptr, handler.get(), error.out()), error);
    // The library has let go of the old handler: it is not running and never runs again.
    holder.installed = std::move(handler);
}

}  // namespace detail

/// Sends the library's log records at `level` and more severe to `handler`, process-wide,
/// replacing any handler set before (which is destroyed once it can no longer be called).
/// The handler may be called from any thread, and from several at once: make it thread-safe.
/// An exception it throws is caught and dropped. An empty `handler` turns logging off.
/// Throws Error: `INVALID_ARGUMENT` for a level outside Error..Trace, or when called from
/// inside the handler (the installed handler then stays).
inline void set_log_callback(LogLevel level, LogHandler handler) {
    std::unique_ptr<LogHandler> owned;
    if (handler) owned = std::make_unique<LogHandler>(std::move(handler));
    detail::replace_log_handler(static_cast<int>(level), std::move(owned));
}

/// Turns logging off: when this returns, the handler is not running and is never called
/// again. Throws Error (`INVALID_ARGUMENT` when called from inside the handler).
inline void set_log_callback(std::nullptr_t) { detail::replace_log_handler(WXREFUND_LOG_LEVEL_TRACE, nullptr); }

/// The same as set_log_callback(nullptr).
inline void clear_log_callback() { set_log_callback(nullptr); }

}  // namespace wxrefund

#endif  // WXREFUND_HPP
