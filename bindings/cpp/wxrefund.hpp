// wxrefund for C++17: a header-only RAII wrapper around the C ABI in wxrefund.h.
//
//   #include "wxrefund.hpp"
//   wxrefund::Client client = wxrefund::Client::from_config(config_json);
//   try {
//       std::string refund = client.create_refund(R"({"out_trade_no":"T1","out_refund_no":"R1",
//           "amount":{"refund":100,"total":10000,"currency":"CNY"}})");
//   } catch (const wxrefund::Error& e) {
//       // e.status(), e.status_name(), e.json(): see the README's error table.
//   }
//
// JSON goes in and out as std::string, exactly as in the C ABI (README: "API conventions").
// Every non-OK status becomes a wxrefund::Error; every string the library returns is freed.
// Depends only on the standard library and wxrefund.h; link with -lwxrefund.
#ifndef WXREFUND_HPP
#define WXREFUND_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "wxrefund.h"

namespace wxrefund {

/// The status numbers of the C ABI (`WXREFUND_STATUS_*`), fixed forever.
using Status = wxrefund_status;

/// A failed call: thrown for every status other than `WXREFUND_STATUS_OK`.
///
/// `what()` is `"<STATUS_NAME>: <error JSON>"`. Copying never throws (the JSON is shared).
class Error : public std::runtime_error {
public:
    /// An error with `status` and its error JSON object (`status`, `kind`, `message`, and
    /// when they apply `field`, `http_status`, `code`, `request_id`, `retryable`,
    /// `outcome_unknown`, `retry_after_secs`, `reply`; see the README's error table).
    Error(Status status, std::string json)
        : std::runtime_error(std::string(wxrefund_status_name(static_cast<int>(status))) + ": " + json),
          status_(status),
          json_(std::make_shared<const std::string>(std::move(json))) {}

    /// The status number, e.g. `WXREFUND_STATUS_NOT_FOUND`.
    Status status() const noexcept { return status_; }

    /// The stable name of the status, e.g. `"NOT_FOUND"` (a static string; never free it).
    const char* status_name() const noexcept { return wxrefund_status_name(static_cast<int>(status_)); }

    /// The error JSON object as text; parse it with any JSON library.
    const std::string& json() const noexcept { return *json_; }

private:
    Status status_;
    std::shared_ptr<const std::string> json_;
};

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

    /// Builds a client from a configuration JSON object (README: "Configuration").
    /// Loads and checks the keys; no network. Throws Error (e.g. `INVALID_CONFIG`).
    static Client from_config(const std::string& config_json) {
        detail::require_no_nul(config_json, "config_json");
        wxrefund_client* handle = nullptr;
        detail::LibraryString error;
        detail::check(wxrefund_client_new(config_json.c_str(), &handle, error.out()), error);
        return Client(handle, nullptr);
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
        return Client(handle, std::move(box));
    }

    /// Not copyable: a Client owns its handle. Move it, or share it by reference.
    Client(const Client&) = delete;
    /// Not copyable: a Client owns its handle. Move it, or share it by reference.
    Client& operator=(const Client&) = delete;

    /// Takes over `other`'s handle; `other` is left closed.
    Client(Client&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), provider_(std::move(other.provider_)) {}

    /// Closes this client, then takes over `other`'s handle; `other` is left closed.
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::exchange(other.handle_, nullptr);
            provider_ = std::move(other.provider_);
        }
        return *this;
    }

    /// Frees the handle (waiting for calls in flight), then the token provider.
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

    /// Queries one refund: `{"out_refund_no":"..."}` or, for Global, `{"refund_id":"..."}`
    /// (plus `"sub_mchid"` in partner/institution mode). Returns the refund object with
    /// `"wxrefund"` as for create_refund. Throws Error (`NOT_FOUND` for an unknown refund).
    std::string query_refund(const std::string& query_json) const {
        detail::require_no_nul(query_json, "query_json");
        detail::LibraryString response, error;
        detail::check(wxrefund_refund_query(live_handle(), query_json.c_str(), response.out(), error.out()), error);
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

    /// Frees the handle now (waiting for calls in flight) and then the token provider.
    /// Idempotent; later calls throw Error with `WXREFUND_STATUS_INVALID_HANDLE`.
    void close() noexcept {
        if (handle_ != nullptr) wxrefund_client_free(std::exchange(handle_, nullptr));
        provider_.reset();
    }

    /// Whether this Client holds a handle (false after close() or being moved from).
    bool is_open() const noexcept { return handle_ != nullptr; }

    /// The library version, e.g. `"0.1.0"`.
    static std::string version() { return wxrefund_version(); }

private:
    struct ProviderBox {
        TokenProvider provide;
    };

    Client(wxrefund_client* handle, std::unique_ptr<ProviderBox> provider) noexcept
        : handle_(handle), provider_(std::move(provider)) {}

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

    wxrefund_client* handle_ = nullptr;
    std::unique_ptr<ProviderBox> provider_;
};

}  // namespace wxrefund

#endif  // WXREFUND_HPP
