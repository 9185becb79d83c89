//! The one error type of the library, and its stable JSON form.

use serde_json::{json, Map, Value};
use std::fmt;

/// What went wrong, as a stable category. The C ABI maps each kind to a
/// `wxrefund_status` with a fixed number; the names below are the `status`
/// field of the error JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A NULL pointer, invalid UTF-8 or another unusable argument.
    InvalidArgument,
    /// The JSON could not be parsed, had a wrong type, an unknown field, or was too large.
    InvalidJson,
    /// The client configuration is incomplete or wrong (keys, URLs, modes).
    InvalidConfig,
    /// A refund request or query broke a rule; nothing was sent.
    InvalidRequest,
    /// The client handle is NULL, freed, or was never issued by this library.
    InvalidHandle,
    /// The network failed: connect error, timeout, dropped connection.
    Transport,
    /// The platform answered with an error (`code`/`message`).
    Api,
    /// The refund or order does not exist on the platform.
    NotFound,
    /// The platform (or the local frequency guard) asks to slow down.
    RateLimited,
    /// A response could not be authenticated: missing, stale, probe or wrong signature.
    VerificationFailed,
    /// Authenticated encryption failed (wrong APIv3 key or corrupted payload).
    DecryptionFailed,
    /// A signed timestamp is outside the allowed window (replay or a wrong clock).
    TimestampOutOfWindow,
    /// A notification's envelope is not what WeChat Pay or WeCom sends.
    MalformedNotification,
    /// A bug: the library panicked; the panic was contained.
    Panic,
    /// A bug or an unexpected state inside the library.
    Internal,
    /// A wait for a final refund status ran out of time; the error carries
    /// the last refund seen. Waiting again may succeed.
    Timeout,
    /// The merchant's signer (a host callback, a PKCS#11 token) failed; the
    /// request it was signing was not sent.
    SignerFailed,
}

impl ErrorKind {
    /// The stable upper-case name used as `status` in error JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::InvalidJson => "INVALID_JSON",
            ErrorKind::InvalidConfig => "INVALID_CONFIG",
            ErrorKind::InvalidRequest => "INVALID_REQUEST",
            ErrorKind::InvalidHandle => "INVALID_HANDLE",
            ErrorKind::Transport => "TRANSPORT",
            ErrorKind::Api => "API_ERROR",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited => "RATE_LIMITED",
            ErrorKind::VerificationFailed => "VERIFICATION_FAILED",
            ErrorKind::DecryptionFailed => "DECRYPTION_FAILED",
            ErrorKind::TimestampOutOfWindow => "TIMESTAMP_OUT_OF_WINDOW",
            ErrorKind::MalformedNotification => "MALFORMED_NOTIFICATION",
            ErrorKind::Panic => "PANIC",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::SignerFailed => "SIGNER_FAILED",
        }
    }
}

/// An error with everything a caller needs to decide what to do next. Its
/// fields are those of [`ErrorDetails`], reachable directly (`error.kind`).
///
/// `retryable` means sending the *same* request again (same `out_refund_no`,
/// same amounts) may succeed. `outcome_unknown` means the platform may have
/// accepted the request: query the refund before deciding anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<ErrorDetails>);

/// The fields of an [`Error`] (boxed, so that `Result`s stay small).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetails {
    /// Stable category.
    pub kind: ErrorKind,
    /// Finer, snake_case sub-category (e.g. `probe_signature`, `missing_field`).
    pub reason: &'static str,
    /// Human readable message. Never contains a secret.
    pub message: String,
    /// The request field a validation error is about.
    pub field: Option<String>,
    /// HTTP status of the platform's answer, when there was one.
    pub http_status: Option<u16>,
    /// The platform's error code (`code` for APIv3, `errcode` for WeCom).
    pub code: Option<String>,
    /// The platform's `detail` object, as sent.
    pub detail: Option<Value>,
    /// The platform's `Request-ID`, to quote to WeChat Pay support.
    pub request_id: Option<String>,
    /// Sending the same request again may succeed.
    pub retryable: bool,
    /// The platform may have accepted the request; query before deciding.
    pub outcome_unknown: bool,
    /// Seconds to wait before sending again (the local WeCom order guard).
    pub retry_after_secs: Option<u64>,
    /// For a notification that failed: what to answer the platform.
    pub reply: Option<Reply>,
    /// Requests the failed call sent (retries included); 0 when nothing was sent.
    pub attempts: u32,
    /// How long the failed call took, in milliseconds.
    pub elapsed_ms: u64,
    /// For a wait that timed out: the last refund a query returned.
    pub refund: Option<crate::Refund>,
}

/// The HTTP answer a host gives the platform for a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status: 200 to acknowledge; 4xx/5xx make the platform deliver again later.
    pub http_status: u16,
    /// Response body (JSON; empty on success).
    pub body: String,
}

impl Reply {
    /// The acknowledgement of a notification that was verified and decrypted.
    pub fn success() -> Reply {
        Reply {
            http_status: 200,
            body: String::new(),
        }
    }

    /// A refusal; WeChat Pay redelivers on its schedule.
    pub fn failure(http_status: u16) -> Reply {
        Reply {
            http_status,
            body: r#"{"code":"FAIL","message":"失败"}"#.into(),
        }
    }

    /// `{"http_status", "body"}`.
    pub fn to_json(&self) -> Value {
        json!({"http_status": self.http_status, "body": self.body})
    }
}

impl Error {
    /// A new error of `kind` with a sub-category and message; all else empty.
    pub fn new(kind: ErrorKind, reason: &'static str, message: impl Into<String>) -> Error {
        Error(Box::new(ErrorDetails {
            kind,
            reason,
            message: message.into(),
            field: None,
            http_status: None,
            code: None,
            detail: None,
            request_id: None,
            retryable: false,
            outcome_unknown: false,
            retry_after_secs: None,
            reply: None,
            attempts: 0,
            elapsed_ms: 0,
            refund: None,
        }))
    }

    /// A validation error about `field`, naming the rule it broke.
    pub fn invalid_field(field: impl Into<String>, rule: impl fmt::Display) -> Error {
        let field = field.into();
        let mut error = Error::new(
            ErrorKind::InvalidRequest,
            "invalid_field",
            format!("{field}: {rule}"),
        );
        error.field = Some(field);
        error
    }

    /// A configuration error about `field`.
    pub fn config(field: &str, rule: impl fmt::Display) -> Error {
        let mut error = Error::new(
            ErrorKind::InvalidConfig,
            "invalid_config",
            format!("{field}: {rule}"),
        );
        error.field = Some(field.to_string());
        error
    }

    /// A JSON parse error, naming the field (`amount.refund: invalid type ...`).
    pub(crate) fn json(what: &str, error: &serde_path_to_error::Error<serde_json::Error>) -> Error {
        let mut json_error = Error::new(
            ErrorKind::InvalidJson,
            "malformed_json",
            format!("{what}: {error}"),
        );
        json_error.field = json_field(error.path());
        json_error
    }

    /// A response-verification failure.
    pub fn verification(reason: &'static str, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::VerificationFailed, reason, message)
    }

    /// The error for a panic caught at a language boundary, with its message.
    pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::new(
            ErrorKind::Panic,
            "panic",
            format!("wxrefund panicked (please report): {message}"),
        )
    }

    pub(crate) fn with_retry(mut self, retryable: bool, outcome_unknown: bool) -> Error {
        self.retryable = retryable;
        self.outcome_unknown = outcome_unknown;
        self
    }

    /// The error as the JSON object the C ABI and bindings return.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("status".into(), json!(self.kind.name()));
        object.insert("kind".into(), json!(self.reason));
        object.insert("message".into(), json!(self.message));
        if let Some(field) = &self.field {
            object.insert("field".into(), json!(field));
        }
        if let Some(status) = self.http_status {
            object.insert("http_status".into(), json!(status));
        }
        if let Some(code) = &self.code {
            object.insert("code".into(), json!(code));
        }
        if let Some(detail) = &self.detail {
            object.insert("detail".into(), detail.clone());
        }
        if let Some(request_id) = &self.request_id {
            object.insert("request_id".into(), json!(request_id));
        }
        if let Some(seconds) = self.retry_after_secs {
            object.insert("retry_after_secs".into(), json!(seconds));
        }
        if let Some(reply) = &self.reply {
            object.insert("reply".into(), reply.to_json());
        }
        if let Some(refund) = &self.refund {
            object.insert("refund".into(), refund.to_json());
        }
        object.insert("attempts".into(), json!(self.attempts));
        object.insert("elapsed_ms".into(), json!(self.elapsed_ms));
        object.insert("retryable".into(), json!(self.retryable));
        object.insert("outcome_unknown".into(), json!(self.outcome_unknown));
        Value::Object(object)
    }
}

impl std::ops::Deref for Error {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The field a JSON error is about (`amount.refund`), or none at the top level.
pub(crate) fn json_field(path: &serde_path_to_error::Path) -> Option<String> {
    let path = path.to_string();
    (path != ".").then_some(path)
}

/// Shorthand for results of this library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
