//! The C ABI: thin and mechanical. Every function checks its pointers, runs
//! inside one panic boundary, and calls the Rust API; no protocol here.
//!
//! Conventions (also in the README): every fallible function returns a
//! [`wxrefund_status`]; outputs go through trailing `*_out` parameters written
//! only on success; a last `char **error_json_out` (may be NULL) receives an
//! error JSON object on failure. Every returned string is freed with
//! [`wxrefund_string_free`].
#![allow(non_camel_case_types)]

mod boundary;
mod handles;
mod log;
mod signer;
mod strings;
mod token;

use crate::{Client, Config, ErrorKind};
use boundary::{boundary, write_out};
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use strings::{input_str, output_string};

pub use handles::wxrefund_client;
pub use log::wxrefund_log_fn;
pub use signer::wxrefund_sign_fn;
pub use token::wxrefund_access_token_fn;

/// Result of every fallible function. The numbers are fixed forever.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wxrefund_status {
    /// Success; outputs were written.
    Ok = 0,
    /// A required pointer was NULL, or a string was not valid UTF-8.
    InvalidArgument = 1,
    /// JSON was malformed, of a wrong type, had an unknown field, or was larger than 1 MiB.
    InvalidJson = 2,
    /// The client configuration is wrong; `field` in the error JSON names it.
    InvalidConfig = 3,
    /// A refund request or query broke a rule; nothing was sent. `field` names it.
    InvalidRequest = 4,
    /// The client handle is NULL, freed, or not from this library.
    InvalidHandle = 5,
    /// The network failed. See `retryable` and `outcome_unknown`.
    Transport = 6,
    /// The platform refused the request; see `code`, `http_status`, `retryable`.
    ApiError = 7,
    /// The refund or order does not exist.
    NotFound = 8,
    /// Too many requests; the outcome of a refund apply is unknown: query first.
    RateLimited = 9,
    /// A response failed signature verification; it was not used.
    VerificationFailed = 10,
    /// Decryption failed (wrong APIv3 key or altered payload).
    DecryptionFailed = 11,
    /// The library panicked; the panic was contained. Please report it.
    Panic = 12,
    /// An unexpected internal error. Please report it.
    Internal = 13,
    /// A signed timestamp is outside the allowed window (replayed message, or a wrong clock).
    TimestampOutOfWindow = 14,
    /// A notification's envelope is malformed.
    MalformedNotification = 15,
    /// `wxrefund_refund_wait` ran out of time; the error JSON's `refund` is the last one seen.
    Timeout = 16,
    /// The merchant's signer (host callback or PKCS#11 token) failed; nothing was sent.
    SignerFailed = 17,
}

impl wxrefund_status {
    const ALL: [wxrefund_status; 18] = [
        wxrefund_status::Ok,
        wxrefund_status::InvalidArgument,
        wxrefund_status::InvalidJson,
        wxrefund_status::InvalidConfig,
        wxrefund_status::InvalidRequest,
        wxrefund_status::InvalidHandle,
        wxrefund_status::Transport,
        wxrefund_status::ApiError,
        wxrefund_status::NotFound,
        wxrefund_status::RateLimited,
        wxrefund_status::VerificationFailed,
        wxrefund_status::DecryptionFailed,
        wxrefund_status::Panic,
        wxrefund_status::Internal,
        wxrefund_status::TimestampOutOfWindow,
        wxrefund_status::MalformedNotification,
        wxrefund_status::Timeout,
        wxrefund_status::SignerFailed,
    ];

    pub(crate) fn of(kind: ErrorKind) -> wxrefund_status {
        match kind {
            ErrorKind::InvalidArgument => wxrefund_status::InvalidArgument,
            ErrorKind::InvalidJson => wxrefund_status::InvalidJson,
            ErrorKind::InvalidConfig => wxrefund_status::InvalidConfig,
            ErrorKind::InvalidRequest => wxrefund_status::InvalidRequest,
            ErrorKind::InvalidHandle => wxrefund_status::InvalidHandle,
            ErrorKind::Transport => wxrefund_status::Transport,
            ErrorKind::Api => wxrefund_status::ApiError,
            ErrorKind::NotFound => wxrefund_status::NotFound,
            ErrorKind::RateLimited => wxrefund_status::RateLimited,
            ErrorKind::VerificationFailed => wxrefund_status::VerificationFailed,
            ErrorKind::DecryptionFailed => wxrefund_status::DecryptionFailed,
            ErrorKind::Panic => wxrefund_status::Panic,
            ErrorKind::Internal => wxrefund_status::Internal,
            ErrorKind::TimestampOutOfWindow => wxrefund_status::TimestampOutOfWindow,
            ErrorKind::MalformedNotification => wxrefund_status::MalformedNotification,
            ErrorKind::Timeout => wxrefund_status::Timeout,
            ErrorKind::SignerFailed => wxrefund_status::SignerFailed,
        }
    }

    fn name(self) -> &'static std::ffi::CStr {
        match self {
            wxrefund_status::Ok => c"OK",
            wxrefund_status::InvalidArgument => c"INVALID_ARGUMENT",
            wxrefund_status::InvalidJson => c"INVALID_JSON",
            wxrefund_status::InvalidConfig => c"INVALID_CONFIG",
            wxrefund_status::InvalidRequest => c"INVALID_REQUEST",
            wxrefund_status::InvalidHandle => c"INVALID_HANDLE",
            wxrefund_status::Transport => c"TRANSPORT",
            wxrefund_status::ApiError => c"API_ERROR",
            wxrefund_status::NotFound => c"NOT_FOUND",
            wxrefund_status::RateLimited => c"RATE_LIMITED",
            wxrefund_status::VerificationFailed => c"VERIFICATION_FAILED",
            wxrefund_status::DecryptionFailed => c"DECRYPTION_FAILED",
            wxrefund_status::Panic => c"PANIC",
            wxrefund_status::Internal => c"INTERNAL",
            wxrefund_status::TimestampOutOfWindow => c"TIMESTAMP_OUT_OF_WINDOW",
            wxrefund_status::MalformedNotification => c"MALFORMED_NOTIFICATION",
            wxrefund_status::Timeout => c"TIMEOUT",
            wxrefund_status::SignerFailed => c"SIGNER_FAILED",
        }
    }
}

/// Levels of log records, for `wxrefund_set_log_callback`. The numbers are fixed forever.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wxrefund_log_level {
    /// Nothing the library writes today: reserved for failures of the library itself.
    Error = 1,
    /// A retry, an outcome unknown, a refused notification, a failed download or token fetch.
    Warn = 2,
    /// A certificate download, a token renewal, an accepted notification, the end of a wait.
    Info = 3,
    /// One record per HTTP attempt.
    Debug = 4,
    /// Everything (today the same as `DEBUG`).
    Trace = 5,
}

/// The library version, e.g. `"0.1.0"`.
///
/// Returns a static NUL-terminated string: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn wxrefund_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(version) => version,
        Err(_) => c"unknown",
    };
    VERSION.as_ptr()
}

/// The crypto backend the library was built with: `"ring"` or `"aws-lc"`
/// (README, "Performance").
///
/// Returns a static NUL-terminated string: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn wxrefund_crypto_backend() -> *const c_char {
    crate::crypto::CRYPTO_BACKEND_C.as_ptr()
}

/// The stable name of a status number, e.g. `"NOT_FOUND"` for 8, or
/// `"UNKNOWN"` for a number that is not a status.
///
/// Takes an `int` so that any value is safe to pass. Returns a static string:
/// never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn wxrefund_status_name(status: c_int) -> *const c_char {
    wxrefund_status::ALL
        .iter()
        .find(|s| **s as c_int == status)
        .map_or(c"UNKNOWN", |s| s.name())
        .as_ptr()
}

/// Creates a client from a configuration JSON object (see the README for the fields).
///
/// Loads and checks the keys; does not touch the network.
///
/// - `config_json`: NUL-terminated UTF-8 JSON; not NULL.
/// - `client_out`: receives the new handle on success; not NULL. Free the
///   handle with `wxrefund_client_free`.
/// - `error_json_out`: may be NULL; on failure receives an error JSON string
///   to free with `wxrefund_string_free`. Secrets are never echoed.
///
/// Thread-safe.
///
/// # Safety
/// Non-NULL pointers must be valid for reads (`config_json`, up to its NUL)
/// or writes (`client_out`, `error_json_out`).
#[no_mangle]
pub unsafe extern "C" fn wxrefund_client_new(
    config_json: *const c_char,
    client_out: *mut *mut wxrefund_client,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    unsafe { new_client(config_json, client_out, error_json_out, Client::from_json) }
}

/// Creates a WeCom client whose access tokens come from the host, e.g. from
/// a cache shared by a fleet of terminals. `config_json` is a `"wecom"`
/// configuration without `corpid`/`corpsecret`/`access_token`.
///
/// The library calls `provider(user_data, rejected_token, token_out,
/// token_capacity)` before every request to WeCom (it keeps no copy: the
/// host's cache is the one source of truth): write a NUL-terminated token of
/// at most `token_capacity - 1` bytes (capacity is 1024) to `token_out` and
/// return 0; any other return value fails the call in progress.
/// `rejected_token` is NULL, or the token WeCom just refused (expired or
/// revoked): then return a fresh one. The library never calls the provider
/// concurrently, but may call it from any thread that uses the client;
/// `user_data` must stay valid until `wxrefund_client_free` returns.
///
/// - `provider`: not NULL. `client_out`: not NULL. `error_json_out`: may be NULL.
///
/// # Safety
/// As for `wxrefund_client_new`; `provider` must be a function of the
/// `wxrefund_access_token_fn` type, safe to call with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_client_new_with_token_provider(
    config_json: *const c_char,
    provider: wxrefund_access_token_fn,
    user_data: *mut c_void,
    client_out: *mut *mut wxrefund_client,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    let build = |config: &str| {
        let provider = token::CallbackProvider::new(provider, user_data)?;
        Client::with_access_token_provider(Config::from_json(config)?, Arc::new(provider))
    };
    unsafe { new_client(config_json, client_out, error_json_out, build) }
}

/// Creates a mainland or Global client whose requests are signed by the
/// host, with a key the library never sees (an HSM, a secure element, a
/// signing service). `config_json` has `merchant_serial_no` and no
/// `private_key_pem`/`private_key_file`/`signer`.
///
/// For every request the library calls `signer(user_data, message,
/// message_len, signature_out, signature_capacity, signature_len_out)`:
/// sign the `message_len` bytes at `message` with RSASSA-PKCS1-v1_5 over
/// SHA-256 (`CKM_SHA256_RSA_PKCS`), write the raw signature (256 bytes for
/// RSA-2048, not base64) to `signature_out` (room for `signature_capacity`
/// = 1024 bytes), its length to `*signature_len_out`, and return 0. Any
/// other return value fails the call in progress with
/// `WXREFUND_STATUS_SIGNER_FAILED`, and its request is not sent.
///
/// The callback may be called from any thread that uses the client, and
/// from several at once; `user_data` must stay valid until
/// `wxrefund_client_free` returns.
///
/// - `signer`: not NULL. `client_out`: not NULL. `error_json_out`: may be NULL.
///
/// # Safety
/// As for `wxrefund_client_new`; `signer` must be a function of the
/// `wxrefund_sign_fn` type, safe to call with `user_data` from any thread.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_client_new_with_signer(
    config_json: *const c_char,
    signer: wxrefund_sign_fn,
    user_data: *mut c_void,
    client_out: *mut *mut wxrefund_client,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    let build = |config: &str| {
        let signer = signer::CallbackSigner::new(signer, user_data)?;
        Client::with_signer(Config::from_json(config)?, Arc::new(signer))
    };
    unsafe { new_client(config_json, client_out, error_json_out, build) }
}

/// The shape of every constructor: configuration JSON in, a registered handle out.
///
/// # Safety
/// As for `wxrefund_client_new`.
unsafe fn new_client(
    config_json: *const c_char,
    client_out: *mut *mut wxrefund_client,
    error_json_out: *mut *mut c_char,
    build: impl FnOnce(&str) -> crate::Result<Client>,
) -> wxrefund_status {
    boundary(error_json_out, || {
        let config = unsafe { input_str(config_json, "config_json") }?;
        if client_out.is_null() {
            return Err(strings::null_argument("client_out"));
        }
        let client = build(config)?;
        unsafe { write_out(client_out, handles::register(client)?) };
        Ok(())
    })
}

/// Frees a client. Waits for calls in flight on this client to finish, then
/// zeroes its secrets.
///
/// Returns `WXREFUND_STATUS_OK`, or `WXREFUND_STATUS_INVALID_HANDLE` for a
/// NULL, already freed or foreign handle (freeing twice is harmless).
/// Thread-safe; do not start new calls on a handle being freed.
///
/// # Safety
/// `client` is only compared against the registry, never dereferenced, so any value is safe.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_client_free(client: *mut wxrefund_client) -> wxrefund_status {
    boundary(std::ptr::null_mut(), || handles::unregister(client))
}

/// Applies for a refund. `request_json` is the request object of the
/// client's family with WeChat's field names (mainland: `out_refund_no`,
/// `out_trade_no` or `transaction_id`, `amount{refund,total,currency}`, ...;
/// Global: the same plus `source`, with the merchant identity taken from the
/// configuration). Validated before anything is sent; unknown fields are rejected.
///
/// On success `*response_json_out` receives the platform's refund object,
/// unchanged, plus `"wxrefund":{"status","final","action_required","refund_id"}`.
/// The answer means "accepted" (status `PROCESSING` or `ACCEPTED`): query until `final`.
///
/// On failure check `retryable` and `outcome_unknown` in the error JSON: when
/// the outcome is unknown, query before retrying, and retry only with the same
/// `out_refund_no` and amounts.
///
/// - `client`: a handle from `wxrefund_client_new`.
/// - `request_json`, `response_json_out`: not NULL. `error_json_out`: may be NULL.
/// - Strings written to `*_out` are freed with `wxrefund_string_free`.
///
/// Thread-safe: one client may be used from many threads at once. Blocks
/// until the platform answers or the retries are spent.
///
/// # Safety
/// Non-NULL pointers must be valid for reads (`request_json`, up to its NUL) or writes.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_refund_create(
    client: *const wxrefund_client,
    request_json: *const c_char,
    response_json_out: *mut *mut c_char,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    unsafe {
        json_call(
            client,
            (request_json, "request_json"),
            response_json_out,
            error_json_out,
            Client::create_refund_json,
        )
    }
}

/// Queries one refund. `query_json` is `{"out_refund_no": "..."}` or, for
/// Global, `{"refund_id": "..."}`; plus `"sub_mchid"` in partner/institution
/// mode when the configuration has no default.
///
/// On success `*response_json_out` receives the platform's refund object plus
/// `"wxrefund":{"status","final","action_required","refund_id"}`, the status
/// normalized across families (Global's `REFUNDCLOSE` is `CLOSED`). An
/// unknown refund is `WXREFUND_STATUS_NOT_FOUND`.
///
/// Pointers, ownership and thread-safety as for `wxrefund_refund_create`.
///
/// # Safety
/// Non-NULL pointers must be valid for reads (`query_json`, up to its NUL) or writes.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_refund_query(
    client: *const wxrefund_client,
    query_json: *const c_char,
    response_json_out: *mut *mut c_char,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    unsafe {
        json_call(
            client,
            (query_json, "query_json"),
            response_json_out,
            error_json_out,
            Client::query_refund_json,
        )
    }
}

/// Sends the money of an `ABNORMAL` mainland refund another way
/// (apply-abnormal-refund): `request_json` is `{"refund_id", "out_refund_no",
/// "type": "USER_BANK_CARD", "bank_type", "bank_account", "real_name"}` (the
/// bank details in plaintext: the library encrypts them with the platform's
/// key before sending, and never echoes or logs them), or `"type":
/// "MERCHANT_BANK_CARD"` without the bank details; plus `"sub_mchid"` in
/// partner mode when the configuration has no default.
///
/// On success `*response_json_out` receives the refund, `PROCESSING` again:
/// wait for its final status as usual. Other families:
/// `WXREFUND_STATUS_INVALID_REQUEST`.
///
/// Pointers, ownership and thread-safety as for `wxrefund_refund_create`.
/// Wipe the request's copy of the bank details when this returns.
///
/// # Safety
/// Non-NULL pointers must be valid for reads (`request_json`, up to its NUL) or writes.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_refund_apply_abnormal(
    client: *const wxrefund_client,
    request_json: *const c_char,
    response_json_out: *mut *mut c_char,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    unsafe {
        json_call(
            client,
            (request_json, "request_json"),
            response_json_out,
            error_json_out,
            Client::apply_abnormal_refund_json,
        )
    }
}

/// Queries a refund until it is final (`SUCCESS`, `CLOSED`) or needs action
/// (`ABNORMAL`), within `timeout_ms` milliseconds.
///
/// `query_json` is as for `wxrefund_refund_query`. Queries at once, then
/// after 1, 2, 4, 8, 16 and then every 30 seconds, never past the timeout.
/// Network failures and busy answers are polled through; any other error
/// (e.g. `WXREFUND_STATUS_NOT_FOUND`) ends the wait at once.
///
/// On success `*response_json_out` receives the refund as from
/// `wxrefund_refund_query`; its `wxrefund.attempts` counts every request
/// sent and `wxrefund.elapsed_ms` the whole wait. When time runs out the
/// status is `WXREFUND_STATUS_TIMEOUT` and the error JSON's `refund` holds
/// the last refund seen (absent if no query succeeded).
///
/// Blocks the calling thread for up to `timeout_ms`. Pointers, ownership and
/// thread-safety as for `wxrefund_refund_query`.
///
/// # Safety
/// Non-NULL pointers must be valid for reads (`query_json`, up to its NUL) or writes.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_refund_wait(
    client: *const wxrefund_client,
    query_json: *const c_char,
    timeout_ms: u64,
    response_json_out: *mut *mut c_char,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    let wait = |client: &Client, query: &str| {
        let query = crate::refund::parse_json("refund query", query)?;
        client.wait_for_final(&query, std::time::Duration::from_millis(timeout_ms))
    };
    unsafe {
        json_call(
            client,
            (query_json, "query_json"),
            response_json_out,
            error_json_out,
            wait,
        )
    }
}

/// Sends the library's log records to `callback`, process-wide: one record
/// per HTTP attempt (`DEBUG`) and one per decision (`INFO`, `WARN`: a retry
/// and why, an outcome unknown, a certificate download, a token renewal, a
/// notification verdict, the end of a wait).
///
/// - `level`: a `wxrefund_log_level`; records below it are not sent.
/// - `callback(user_data, level, message, fields_json)`: `message` is a
///   one-line summary, `fields_json` a JSON object of the record's fields
///   (`event`, `family`, `out_refund_no`, `method`, `path`, `attempt`,
///   `http_status`, `code`, `request_id`, `elapsed_ms`, `reason`, ...). Both
///   strings belong to the library and are valid only during the call. No
///   record ever carries a secret, a header value, a request or answer body,
///   or a personal field.
/// - The callback may be called from any thread, and from several at once;
///   it must not call `wxrefund_set_log_callback` (that call fails with
///   `WXREFUND_STATUS_INVALID_ARGUMENT`). Records the library writes while
///   the callback runs on the same thread are dropped.
/// - NULL `callback` turns logging off. When this function returns, the
///   previous callback is no longer running and is never called again, so
///   its `user_data` may be freed.
///
/// Returns `WXREFUND_STATUS_OK`, or `WXREFUND_STATUS_INVALID_ARGUMENT` for a
/// level outside 1-5. `error_json_out` may be NULL. Thread-safe.
///
/// # Safety
/// `callback` must be safe to call with `user_data` from any thread until it
/// is replaced; `error_json_out` must be NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_set_log_callback(
    level: c_int,
    callback: wxrefund_log_fn,
    user_data: *mut c_void,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    boundary(error_json_out, || log::set(level, callback, user_data))
}

/// Verifies and decrypts a refund notification the host received.
///
/// - `headers_json`: a JSON object of the request's headers as strings
///   (names in any case; CGI names such as `HTTP_WECHATPAY_SIGNATURE` work).
///   For WeCom callbacks: the callback URL's query parameters
///   `msg_signature`, `timestamp` and `nonce`. Not NULL.
/// - `body`, `body_len`: the raw request body, exactly as received (it is
///   what was signed). `body` may be NULL only when `body_len` is 0.
/// - On success `*result_json_out` receives `{"id", "event_type",
///   "create_time", "resource_type", "summary", "refund": {...decrypted
///   refund..., "wxrefund": {...normalized...}}, "reply": {"http_status":
///   200, "body": ""}}`. Duplicates of one notification share `id`: process
///   each `id` once. Other event types sent to the same URL are verified and
///   decrypted the same way (`refund` then holds their resource): check
///   `event_type` starts with `REFUND.`.
/// - On failure the error JSON carries `"reply": {"http_status", "body"}`:
///   answer exactly that, and the platform delivers again later. Statuses:
///   `VERIFICATION_FAILED` (bad or probe signature, unknown key),
///   `TIMESTAMP_OUT_OF_WINDOW`, `DECRYPTION_FAILED` (wrong APIv3 key or
///   EncodingAESKey), `MALFORMED_NOTIFICATION`.
///
/// Thread-safe. `error_json_out` may be NULL; strings are freed with `wxrefund_string_free`.
///
/// # Safety
/// Non-NULL pointers must be valid: `headers_json` up to its NUL, `body` for
/// `body_len` bytes, the outputs for writes.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_notification_parse(
    client: *const wxrefund_client,
    headers_json: *const c_char,
    body: *const u8,
    body_len: usize,
    result_json_out: *mut *mut c_char,
    error_json_out: *mut *mut c_char,
) -> wxrefund_status {
    boundary(error_json_out, || {
        // Headers come from the network: even unreadable ones get a reply to give.
        let headers = unsafe { input_str(headers_json, "headers_json") }
            .map_err(crate::notify::with_reply)?;
        if result_json_out.is_null() {
            return Err(strings::null_argument("result_json_out"));
        }
        let body: &[u8] = match (body.is_null(), body_len) {
            (_, 0) => &[],
            (true, _) => return Err(strings::null_argument("body")),
            // SAFETY: the caller promises `body` is readable for `body_len` bytes.
            (false, len) => unsafe { std::slice::from_raw_parts(body, len) },
        };
        let notification =
            handles::with_client(client, |c| c.parse_notification_json(headers, body))?;
        unsafe { write_out(result_json_out, output_string(&notification.to_json())) };
        Ok(())
    })
}

/// The shape of every client operation: JSON in, a refund JSON out.
///
/// # Safety
/// As for the exported functions calling it.
unsafe fn json_call(
    client: *const wxrefund_client,
    (input, input_name): (*const c_char, &str),
    response_json_out: *mut *mut c_char,
    error_json_out: *mut *mut c_char,
    operation: impl FnOnce(&Client, &str) -> crate::Result<crate::Refund>,
) -> wxrefund_status {
    boundary(error_json_out, || {
        let input = unsafe { input_str(input, input_name) }?;
        if response_json_out.is_null() {
            return Err(strings::null_argument("response_json_out"));
        }
        let refund = handles::with_client(client, |c| operation(c, input))?;
        unsafe { write_out(response_json_out, output_string(&refund.to_json())) };
        Ok(())
    })
}

/// Frees a string returned by this library. NULL is ignored, and so is a
/// pointer this library did not return or already freed (checked against a
/// registry of live strings). A second free of one pointer is caught only
/// until the allocator gives the same address to a new string: free each
/// string once. Thread-safe.
///
/// # Safety
/// `string` is compared against the registry before it is touched, so any value is safe.
#[no_mangle]
pub unsafe extern "C" fn wxrefund_string_free(string: *mut c_char) {
    // A panic here would have nowhere to be reported; there is none to catch.
    let _ = std::panic::catch_unwind(|| strings::free(string));
}
