//! What the library tells the host's logs, through the `log` facade under
//! target `wxrefund`. This is the one place that builds a record, from
//! typed facts only: no record can carry a secret, a header value, a body
//! or a personal field, because none of those is a field here.
//!
//! Also [`Call`]: one client call, whose attempts and duration its records
//! and its result share.

use log::kv::Value;
use log::Level;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The target of every record this library writes.
pub const TARGET: &str = "wxrefund";

/// One client call (a refund apply, a query, a wait): its family, the
/// refund it is about, when it began and how many requests it sent.
pub(crate) struct Call<'a> {
    family: &'static str,
    /// `("out_refund_no", ...)`, or `("refund_id", ...)` for a Global query by id.
    refund: Option<(&'static str, &'a str)>,
    started: Instant,
    attempts: AtomicU32,
}

impl<'a> Call<'a> {
    /// A call about one refund, starting now.
    pub(crate) fn refund(family: &'static str, out_refund_no: &'a str) -> Call<'a> {
        Call::new(family, Some(("out_refund_no", out_refund_no)))
    }

    /// A call starting now.
    pub(crate) fn new(family: &'static str, refund: Option<(&'static str, &'a str)>) -> Call<'a> {
        Call {
            family,
            refund,
            started: Instant::now(),
            attempts: AtomicU32::new(0),
        }
    }

    /// A request the library sends for itself (certificate download, token
    /// fetch): its attempts are logged but not counted in the caller's result.
    pub(crate) fn background(family: &'static str) -> Call<'static> {
        Call::new(family, None)
    }

    /// Counts one more request sent and returns its number (1 for the first).
    pub(crate) fn next_attempt(&self) -> u32 {
        self.attempts
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    /// Counts the requests of a call made on this one's behalf (a wait's queries).
    pub(crate) fn add_attempts(&self, attempts: u32) {
        let _ = self
            .attempts
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sent| {
                Some(sent.saturating_add(attempts))
            });
    }

    /// Requests sent so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Milliseconds since the call began.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    /// Stamps the call's attempts and duration on its refund or error.
    pub(crate) fn finish(
        &self,
        result: crate::Result<crate::Refund>,
    ) -> crate::Result<crate::Refund> {
        let (attempts, elapsed_ms) = (self.attempts(), self.elapsed_ms());
        match result {
            Ok(mut refund) => {
                refund.attempts = attempts;
                refund.elapsed_ms = elapsed_ms;
                Ok(refund)
            }
            Err(mut error) => {
                error.attempts = attempts;
                error.elapsed_ms = elapsed_ms;
                if error.outcome_unknown {
                    decision(self, &Decision::OutcomeUnknown { why: error.reason });
                }
                Err(error)
            }
        }
    }
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How one HTTP attempt ended.
pub(crate) enum Answer<'a> {
    /// The platform answered: HTTP status, its error code (`code` or
    /// `errcode`, when not a success) and `Request-ID`.
    Http {
        status: u16,
        code: Option<&'a str>,
        request_id: Option<&'a str>,
    },
    /// No answer: the network failed (`maybe_sent`: the request may have left).
    Network { maybe_sent: bool },
}

/// One request sent: a DEBUG record.
pub(crate) struct Attempt<'a> {
    pub call: &'a Call<'a>,
    pub method: &'a str,
    /// Path of the URL; any query string is cut off here.
    pub path: &'a str,
    pub attempt: u32,
    pub answer: Answer<'a>,
    pub elapsed: Duration,
}

/// Whether attempts are logged: gathering what their records say is skipped otherwise.
pub(crate) fn attempts_logged() -> bool {
    log::log_enabled!(target: TARGET, Level::Debug)
}

/// Logs one attempt; callers check [`attempts_logged`] first.
pub(crate) fn attempt(record: &Attempt<'_>) {
    let path = record.path.split(['?', '#']).next().unwrap_or_default();
    let elapsed_ms = millis(record.elapsed);
    let mut fields = common(record.call, "attempt");
    fields.push(("method", Value::from(record.method)));
    fields.push(("path", Value::from(path)));
    fields.push(("attempt", Value::from(record.attempt)));
    fields.push(("elapsed_ms", Value::from(elapsed_ms)));
    let outcome = match &record.answer {
        Answer::Http {
            status,
            code,
            request_id,
        } => {
            fields.push(("http_status", Value::from(*status)));
            if let Some(code) = code {
                fields.push(("code", Value::from(*code)));
            }
            if let Some(id) = request_id {
                fields.push(("request_id", Value::from(*id)));
            }
            match code {
                Some(code) => format!("HTTP {status} {code}"),
                None => format!("HTTP {status}"),
            }
        }
        Answer::Network { maybe_sent } => {
            fields.push(("network_error", Value::from(true)));
            fields.push(("maybe_sent", Value::from(*maybe_sent)));
            "network error".to_string()
        }
    };
    emit(
        Level::Debug,
        format_args!(
            "{} {path} attempt {}: {outcome} in {elapsed_ms} ms",
            record.method, record.attempt
        ),
        &fields,
    );
}

/// A decision the library took, or a verdict it reached.
pub(crate) enum Decision<'a> {
    /// The request is sent again after `delay`; `why` names the failure.
    Retry { why: &'static str, delay: Duration },
    /// The call failed and the platform may have acted on it: query before deciding.
    OutcomeUnknown { why: &'static str },
    /// Platform certificates were downloaded (`count`), or the download failed (`error`).
    CertificateDownload {
        count: usize,
        error: Option<&'static str>,
    },
    /// A WeCom access token was fetched; `why` is `first`, `expiring` or `rejected`.
    TokenRenewal { why: &'static str, ok: bool },
    /// A notification was verified and decrypted (`accepted`), or refused with `reason`.
    Notification {
        accepted: bool,
        reason: &'static str,
        event_type: Option<&'a str>,
        status: Option<&'a str>,
    },
    /// A wait ended: the refund's status, or the reason it stopped without one.
    WaitEnded { status: &'a str, polls: u32 },
}

/// Logs a decision of `call`.
pub(crate) fn decision(call: &Call<'_>, decision: &Decision<'_>) {
    let level = match decision {
        Decision::Retry { .. } | Decision::OutcomeUnknown { .. } => Level::Warn,
        Decision::CertificateDownload { error: Some(_), .. }
        | Decision::TokenRenewal { ok: false, .. }
        | Decision::Notification {
            accepted: false, ..
        } => Level::Warn,
        _ => Level::Info,
    };
    if !log::log_enabled!(target: TARGET, level) {
        return;
    }
    let event = match decision {
        Decision::Retry { .. } => "retry",
        Decision::OutcomeUnknown { .. } => "outcome_unknown",
        Decision::CertificateDownload { .. } => "certificate_download",
        Decision::TokenRenewal { .. } => "token_renewal",
        Decision::Notification { .. } => "notification",
        Decision::WaitEnded { .. } => "wait_ended",
    };
    let mut fields = common(call, event);
    fields.push(("attempts", Value::from(call.attempts())));
    fields.push(("elapsed_ms", Value::from(call.elapsed_ms())));
    let message = match decision {
        Decision::Retry { why, delay } => {
            fields.push(("reason", Value::from(*why)));
            fields.push(("delay_ms", Value::from(millis(*delay))));
            format!("sending again in {} ms ({why}), same body", millis(*delay))
        }
        Decision::OutcomeUnknown { why } => {
            fields.push(("reason", Value::from(*why)));
            format!("outcome unknown ({why}): query the refund before deciding anything")
        }
        Decision::CertificateDownload { count, error } => {
            fields.push(("certificates", Value::from(*count)));
            match error {
                Some(reason) => {
                    fields.push(("reason", Value::from(*reason)));
                    format!("platform certificate download failed ({reason})")
                }
                None => format!("downloaded {count} platform certificate(s)"),
            }
        }
        Decision::TokenRenewal { why, ok } => {
            fields.push(("reason", Value::from(*why)));
            fields.push(("ok", Value::from(*ok)));
            if *ok {
                format!("fetched a new WeCom access_token ({why})")
            } else {
                format!("fetching a WeCom access_token failed ({why})")
            }
        }
        Decision::Notification {
            accepted,
            reason,
            event_type,
            status,
        } => {
            fields.push(("accepted", Value::from(*accepted)));
            fields.push(("reason", Value::from(*reason)));
            if let Some(event_type) = event_type {
                fields.push(("event_type", Value::from(*event_type)));
            }
            if let Some(status) = status {
                fields.push(("status", Value::from(*status)));
            }
            match (accepted, status) {
                (true, Some(status)) => format!("notification accepted: refund {status}"),
                (true, None) => "notification accepted".to_string(),
                (false, _) => format!("notification refused ({reason})"),
            }
        }
        Decision::WaitEnded { status, polls } => {
            fields.push(("status", Value::from(*status)));
            fields.push(("polls", Value::from(*polls)));
            let queries = if *polls == 1 { "query" } else { "queries" };
            format!("wait ended after {polls} {queries}: {status}")
        }
    };
    emit(level, format_args!("{message}"), &fields);
}

/// The fields every record has: what happened, the family, the refund.
fn common<'v>(call: &Call<'v>, event: &'static str) -> Vec<(&'static str, Value<'v>)> {
    let mut fields = vec![
        ("event", Value::from(event)),
        ("family", Value::from(call.family)),
    ];
    if let Some((name, value)) = call.refund {
        fields.push((name, Value::from(value)));
    }
    fields
}

fn emit(level: Level, message: std::fmt::Arguments<'_>, fields: &[(&'static str, Value<'_>)]) {
    log::logger().log(
        &log::Record::builder()
            .target(TARGET)
            .level(level)
            .module_path_static(Some(module_path!()))
            .args(message)
            .key_values(&fields)
            .build(),
    );
}

/// A `wxrefund` record as the language adapters hand it on.
pub(crate) struct Forwarded<'a> {
    pub level: Level,
    pub message: &'a str,
    /// The record's fields, as a JSON object.
    pub fields: &'a serde_json::Map<String, serde_json::Value>,
}

/// Where a host wants the library's records: the C callback, Python's `logging`.
pub(crate) type Sink = Arc<dyn Fn(&Forwarded<'_>) + Send + Sync>;

/// The one process-wide sink. Held for reading while it runs, so that
/// replacing it waits for calls in flight: after [`set_sink`] returns, the
/// old sink is never called again.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

thread_local! {
    /// Set while this thread runs the sink: a record logged from inside it
    /// (the host calling the library from its log handler) is dropped, not
    /// forwarded into a sink that is already running.
    static IN_SINK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The `log::Log` that forwards `wxrefund` records (and only those: other
/// crates' records, such as ureq's byte dumps, never reach a host) to [`SINK`].
struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == TARGET
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_SINK.with(std::cell::Cell::get) {
            return;
        }
        let sink = SINK.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(sink) = sink.as_ref() else { return };
        let mut fields = FieldsJson(serde_json::Map::new());
        let _ = record.key_values().visit(&mut fields);
        let message = record.args().to_string();
        /// Clears [`IN_SINK`] however the sink returns.
        struct Running;
        impl Drop for Running {
            fn drop(&mut self) {
                IN_SINK.with(|flag| flag.set(false));
            }
        }
        IN_SINK.with(|flag| flag.set(true));
        let _running = Running;
        sink(&Forwarded {
            level: record.level(),
            message: &message,
            fields: &fields.0,
        });
    }

    fn flush(&self) {}
}

/// Collects a record's fields as JSON values.
struct FieldsJson(serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for FieldsJson {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let json = if let Some(flag) = value.to_bool() {
            serde_json::Value::from(flag)
        } else if let Some(number) = value.to_u64() {
            serde_json::Value::from(number)
        } else if let Some(number) = value.to_i64() {
            serde_json::Value::from(number)
        } else {
            serde_json::Value::from(value.to_string())
        };
        self.0.insert(key.as_str().to_string(), json);
        Ok(())
    }
}

/// Sends the library's records at `level` and above to `sink` (`None`: to
/// nobody). Installs the forwarding logger on first use; fails when this
/// process already has another `log` logger (a Rust host: use that one), or
/// when called from inside the sink.
pub(crate) fn set_sink(level: log::LevelFilter, sink: Option<Sink>) -> crate::Result<()> {
    if IN_SINK.with(std::cell::Cell::get) {
        return Err(crate::Error::new(
            crate::ErrorKind::InvalidArgument,
            "reentrant_call",
            "the log sink cannot be replaced from inside itself",
        ));
    }
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| log::set_logger(&Forwarder).is_ok());
    if !installed {
        return Err(crate::Error::new(
            crate::ErrorKind::InvalidArgument,
            "logger_exists",
            "this process already has a Rust `log` logger; wxrefund's records go to it \
             (target \"wxrefund\")",
        ));
    }
    let mut current = SINK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    log::set_max_level(if sink.is_some() {
        level
    } else {
        log::LevelFilter::Off
    });
    *current = sink;
    Ok(())
}
