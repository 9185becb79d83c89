//! The control API under `/_sim/`: JSON endpoints that drive the simulator over HTTP the
//! way [`crate::Simulator`]'s methods do from Rust, described by `sim/openapi.json`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use ring::digest::{digest, SHA256};

use crate::book::{PaidOrder, RefundViews, Stage};
use crate::clock::hex;
use crate::http::{percent_decode, Request, Response};
use crate::orders_file::OrderFile;
use crate::server::{fault_kind, is_fault_endpoint, json_response, lock, Shared};
use crate::wecom::TokenStore;
use crate::{seeded_ledgers, Delivery, Fault, FinalStatus, NotifyFault};

/// The OpenAPI 3 document of the control API.
pub(crate) const OPENAPI: &str = include_str!("../openapi.json");
/// How many requests the request log keeps.
pub(crate) const REQUEST_LOG_LIMIT: usize = 1000;
/// Largest `count` of a fault queued through the API.
const MAX_COUNT: u64 = 1_000_000;
/// Largest `delay_ms` of a DELAY fault.
const MAX_DELAY_MS: u64 = 600_000;
/// Largest clock skew, either way, in seconds (ten years).
const MAX_SKEW_SECS: i64 = 315_360_000;

/// Why [`crate::Simulator::settle_now`] could not settle a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleError {
    /// No refund of any family has this `out_refund_no`.
    NotFound,
    /// The refund is already in this final status.
    AlreadyFinal(String),
}

impl fmt::Display for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettleError::NotFound => write!(f, "no refund with this out_refund_no"),
            SettleError::AlreadyFinal(status) => write!(f, "refund is already final: {status}"),
        }
    }
}

impl std::error::Error for SettleError {}

/// A control API error: the HTTP status, a message and the field it is about.
struct Bad {
    status: u16,
    error: String,
    field: Option<String>,
}

fn bad(field: &str, error: impl Into<String>) -> Bad {
    Bad {
        status: 400,
        error: error.into(),
        field: Some(field.to_string()),
    }
}

fn status_name(stage: Stage, closed: &'static str) -> String {
    stage.status(closed).0.to_string()
}

impl Shared {
    /// See [`crate::Simulator::settle_now`].
    pub(crate) fn settle_now(
        &self,
        out_refund_no: &str,
        status: FinalStatus,
    ) -> Result<(), SettleError> {
        let now = SystemTime::now();
        let results = [
            lock(&self.ledger)
                .book_mut()
                .settle_now(out_refund_no, status, now)
                .map(|r| r.map_err(|s| status_name(s, "CLOSED"))),
            lock(&self.global)
                .book_mut()
                .settle_now(out_refund_no, status, now)
                .map(|r| r.map_err(|s| status_name(s, "REFUNDCLOSE"))),
            lock(&self.wecom)
                .book_mut()
                .settle_now(out_refund_no, status, now)
                .map(|r| r.map_err(|s| status_name(s, "CLOSED"))),
        ];
        let mut found = None;
        for result in results.into_iter().flatten() {
            match result {
                Ok(()) => found = Some(Ok(())),
                Err(status) => {
                    found.get_or_insert(Err(SettleError::AlreadyFinal(status)));
                }
            }
        }
        found.unwrap_or(Err(SettleError::NotFound))
    }

    /// See [`crate::Simulator::reset`].
    pub(crate) fn reset(&self) {
        let seed = lock(&self.seed).clone();
        let (ledger, global, wecom) = seeded_ledgers(&self.options, &seed);
        *lock(&self.ledger) = ledger;
        *lock(&self.global) = global;
        *lock(&self.wecom) = wecom;
        *lock(&self.wecom_tokens) = TokenStore::new(self.options.wecom_token_lifetime);
        lock(&self.faults).clear();
        self.notify.clear();
        self.refund_requests.store(0, Ordering::SeqCst);
        self.rotated.store(false, Ordering::SeqCst);
        self.clock_skew.store(0, Ordering::SeqCst);
        lock(&self.request_log).clear();
    }

    /// See [`crate::Simulator::state`].
    pub(crate) fn state(&self) -> Value {
        let now = SystemTime::now();
        fn refunds<O: PaidOrder, L: RefundViews<O>>(ledger: &L, now: SystemTime) -> Vec<Value> {
            ledger
                .book()
                .all_refunds()
                .into_iter()
                .map(|record| {
                    let mut refund = ledger.render(record, now);
                    refund["out_trade_no"] = json!(record.order.out_trade_no());
                    refund["status_history"] =
                        ledger.book().status_history(record, now, &refund["status"]);
                    if let Some(reroute) = &record.reroute {
                        refund["abnormal_refund"] = reroute.route.state();
                    }
                    refund
                })
                .collect()
        }
        let (domestic_orders, domestic_refunds) = {
            let ledger = lock(&self.ledger);
            let orders: Vec<Value> = ledger
                .book()
                .orders()
                .into_iter()
                .map(|o| {
                    json!({
                        "out_trade_no": o.out_trade_no, "transaction_id": o.transaction_id,
                        "total": o.total, "sub_mchid": o.sub_mchid,
                        "paid_days_ago": days_ago(o.paid_at, now),
                        "final_status": final_name(o.final_status),
                    })
                })
                .collect();
            (orders, refunds(&*ledger, now))
        };
        let (global_orders, global_refunds) = {
            let ledger = lock(&self.global);
            let orders: Vec<Value> = ledger
                .book()
                .orders()
                .into_iter()
                .map(|o| {
                    json!({
                        "out_trade_no": o.out_trade_no, "transaction_id": o.transaction_id,
                        "total": o.total, "currency": o.currency,
                        "payer_currency": o.payer_currency,
                        "settlement_currency": o.settlement_currency, "rate": o.rate,
                        "sub_mchid": o.sub_mchid,
                        "paid_days_ago": days_ago(o.paid_at, now),
                        "final_status": final_name(o.final_status),
                    })
                })
                .collect();
            (orders, refunds(&*ledger, now))
        };
        let (wecom_orders, wecom_refunds) = {
            let ledger = lock(&self.wecom);
            let orders: Vec<Value> = ledger
                .book()
                .orders()
                .into_iter()
                .map(|o| {
                    json!({
                        "out_trade_no": o.out_trade_no, "transaction_id": o.transaction_id,
                        "total": o.total,
                        "paid_days_ago": days_ago(o.paid_at, now),
                        "final_status": final_name(o.final_status),
                    })
                })
                .collect();
            (orders, refunds(&*ledger, now))
        };
        let faults: Vec<Value> = lock(&self.faults)
            .iter()
            .map(|(fault, count, endpoint)| fault_json(fault, *count, endpoint.as_deref()))
            .collect();
        let notification_faults: Vec<Value> = self
            .notify
            .pending_faults()
            .into_iter()
            .map(|(fault, count)| json!({"kind": notify_fault_name(fault), "count": count}))
            .collect();
        let deliveries: Vec<Value> = self.notify.deliveries().iter().map(delivery_json).collect();
        json!({
            "orders": {"domestic": domestic_orders, "global": global_orders, "wecom": wecom_orders},
            "refunds": {"domestic": domestic_refunds, "global": global_refunds, "wecom": wecom_refunds},
            "deliveries": deliveries,
            "faults": faults,
            "notification_faults": notification_faults,
            "clock_skew_secs": self.clock_skew.load(Ordering::SeqCst),
            "certificate_rotated": self.rotated.load(Ordering::SeqCst),
            "request_count": self.refund_requests.load(Ordering::SeqCst),
        })
    }

    /// Appends a platform request to the bounded request log.
    pub(crate) fn log_request(&self, request: &Request, status: Option<u16>, verdict: String) {
        let seq = self.request_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let entry = json!({
            "seq": seq,
            "method": request.method,
            "path": mask_secrets(&request.target),
            "status": status,
            "verdict": verdict,
            "body_sha256": hex(digest(&SHA256, &request.body).as_ref()),
        });
        let mut log = lock(&self.request_log);
        if log.len() >= REQUEST_LOG_LIMIT {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

/// Whole days between `paid_at` and `now`.
fn days_ago(paid_at: SystemTime, now: SystemTime) -> u64 {
    now.duration_since(paid_at).unwrap_or_default().as_secs() / 86_400
}

fn final_name(status: FinalStatus) -> &'static str {
    match status {
        FinalStatus::Success => "SUCCESS",
        FinalStatus::Closed => "CLOSED",
        FinalStatus::Abnormal => "ABNORMAL",
    }
}

fn fault_json(fault: &Fault, count: usize, endpoint: Option<&str>) -> Value {
    let mut value = json!({"kind": fault_kind(fault), "count": count});
    if let Some(endpoint) = endpoint {
        value["endpoint"] = json!(endpoint);
    }
    match fault {
        Fault::Delay(d) => {
            value["delay_ms"] = json!(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }
        Fault::ClockSkew(secs) => value["skew_secs"] = json!(secs),
        _ => {}
    }
    value
}

fn notify_fault_name(fault: NotifyFault) -> &'static str {
    match fault {
        NotifyFault::Duplicate => "DUPLICATE",
        NotifyFault::Probe => "PROBE",
        NotifyFault::BadSignature => "BAD_SIGNATURE",
        NotifyFault::Tampered => "TAMPERED",
        NotifyFault::WrongKey => "WRONG_KEY",
        NotifyFault::Stale => "STALE",
    }
}

const NOTIFY_FAULTS: [NotifyFault; 6] = [
    NotifyFault::Duplicate,
    NotifyFault::Probe,
    NotifyFault::BadSignature,
    NotifyFault::Tampered,
    NotifyFault::WrongKey,
    NotifyFault::Stale,
];

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "attempt": d.attempt,
        "url": d.url,
        "status": d.status,
        "error": d.error,
        "fault": d.fault.map(notify_fault_name),
        "body": d.body,
    })
}

/// The request target with the values of `access_token` and `corpsecret` replaced by `***`.
pub(crate) fn mask_secrets(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            let name = percent_decode(key).unwrap_or_default();
            if name == "access_token" || name == "corpsecret" {
                format!("{key}=***")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", masked.join("&"))
}

/// Whether a `Host` header names the loopback interface (any port).
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || port.starts_with(':') => {
                return inside == "::1" && valid_port(port);
            }
            _ => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => {
                if !valid_port(&format!(":{port}")) {
                    return false;
                }
                name
            }
            None => host,
        }
    };
    name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost")
}

fn valid_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => !digits.is_empty() && digits.parse::<u16>().is_ok(),
    }
}

/// The control API's answer to one request below `/_sim`.
pub(crate) fn handle(shared: &Shared, request: &Request) -> Response {
    let result = if !request.header("host").is_some_and(loopback_host) {
        Err(Bad {
            status: 403,
            error: "the control API only answers requests for a loopback host".into(),
            field: Some("Host".into()),
        })
    } else if request.path() == "/_sim/console" && request.method == "GET" {
        return console_response();
    } else {
        dispatch(shared, request)
    };
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => json_response(e.status, &json!({"error": e.error, "field": e.field})),
    }
}

/// The manual-testing console page (`GET /_sim/console`): self-contained HTML that uses
/// only the control API, under a Content-Security-Policy allowing 'self' and inline code.
const CONSOLE_HTML: &str = include_str!("../console/index.html");

fn console_response() -> Response {
    let csp = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
               style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; \
               frame-ancestors 'none'";
    let headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ];
    Response {
        status: 200,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: CONSOLE_HTML.as_bytes().to_vec(),
    }
}

type Answer = Result<(u16, Value), Bad>;

fn dispatch(shared: &Shared, request: &Request) -> Answer {
    let path = request.path();
    let method = request.method.as_str();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let post = |run: &dyn Fn() -> Answer| {
        if method == "POST" {
            run()
        } else {
            Err(not_allowed("POST"))
        }
    };
    let get = |run: &dyn Fn() -> Answer| {
        if method == "GET" {
            run()
        } else {
            Err(not_allowed("GET"))
        }
    };
    match segments.as_slice() {
        ["_sim", "openapi.json"] => get(&|| {
            let doc: Value = serde_json::from_str(OPENAPI).unwrap_or(Value::Null);
            Ok((200, doc))
        }),
        ["_sim", "orders"] => post(&|| add_order(shared, &body(request)?)),
        ["_sim", "faults"] => post(&|| add_fault(shared, &body(request)?)),
        ["_sim", "refunds", no, "settle"] => post(&|| settle(shared, no, &body(request)?)),
        ["_sim", "clock"] => post(&|| {
            let body = body(request)?;
            only_keys(&body, &["skew_secs"])?;
            let skew = match body.get("skew_secs") {
                None => return Err(bad("skew_secs", "missing")),
                Some(v) => v
                    .as_i64()
                    .filter(|s| s.abs() <= MAX_SKEW_SECS)
                    .ok_or_else(|| {
                        bad(
                            "skew_secs",
                            format!("expected an integer within ±{MAX_SKEW_SECS}"),
                        )
                    })?,
            };
            shared.clock_skew.store(skew, Ordering::SeqCst);
            Ok((200, json!({"skew_secs": skew})))
        }),
        ["_sim", "certificates", "rotate"] => post(&|| {
            empty_body(request)?;
            shared.rotated.store(true, Ordering::SeqCst);
            Ok((200, json!({"rotated": true})))
        }),
        ["_sim", "wecom", "tokens", "revoke"] => post(&|| {
            empty_body(request)?;
            lock(&shared.wecom_tokens).revoke();
            Ok((200, json!({"revoked": true})))
        }),
        ["_sim", "notifications", "faults"] => post(&|| add_notify_fault(shared, &body(request)?)),
        ["_sim", "notifications", id, "redeliver"] => post(&|| {
            empty_body(request)?;
            let id = percent_decode(id).unwrap_or_default();
            if shared.notify.request_redelivery(&id) {
                Ok((202, json!({"id": id})))
            } else {
                Err(Bad {
                    status: 404,
                    error: format!("no notification {id:?}"),
                    field: Some("id".into()),
                })
            }
        }),
        // GET is answered by `handle` (HTML, not JSON).
        ["_sim", "console"] => Err(not_allowed("GET")),
        ["_sim", "state"] => get(&|| Ok((200, shared.state()))),
        ["_sim", "requests"] => get(&|| {
            let log: VecDeque<Value> = lock(&shared.request_log).clone();
            Ok((200, json!({"requests": log})))
        }),
        ["_sim", "reset"] => post(&|| {
            empty_body(request)?;
            shared.reset();
            Ok((200, json!({"reset": true})))
        }),
        _ => Err(Bad {
            status: 404,
            error: format!("no control endpoint {path}"),
            field: None,
        }),
    }
}

fn not_allowed(wanted: &str) -> Bad {
    Bad {
        status: 405,
        error: format!("method not allowed: use {wanted}"),
        field: None,
    }
}

/// The request body as a JSON object.
fn body(request: &Request) -> Result<Map<String, Value>, Bad> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("body", "expected a JSON object")),
        Err(e) => Err(bad("body", format!("not JSON: {e}"))),
    }
}

/// Endpoints without parameters take no body, or an empty JSON object.
fn empty_body(request: &Request) -> Result<(), Bad> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let map = body(request)?;
    only_keys(&map, &[])
}

fn only_keys(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), Bad> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(bad(key, "unknown field")),
        None => Ok(()),
    }
}

fn count(body: &Map<String, Value>) -> Result<usize, Bad> {
    match body.get("count") {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_COUNT).contains(n))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad("count", format!("expected an integer 1-{MAX_COUNT}"))),
    }
}

fn kind(body: &Map<String, Value>) -> Result<&str, Bad> {
    match body.get("kind") {
        None => Err(bad("kind", "missing")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad("kind", "expected a string")),
    }
}

fn add_order(shared: &Shared, body: &Map<String, Value>) -> Answer {
    let family = match body.get("family") {
        None => return Err(bad("family", "missing")),
        Some(Value::String(f)) if ["domestic", "global", "wecom"].contains(&f.as_str()) => {
            f.clone()
        }
        Some(_) => {
            return Err(bad(
                "family",
                "expected \"domestic\", \"global\" or \"wecom\"",
            ))
        }
    };
    let mut order = body.clone();
    order.remove("family");
    let text = json!({ family.as_str(): [Value::Object(order)] }).to_string();
    let file = OrderFile::parse_at(&text, SystemTime::now()).map_err(|e| {
        // "domestic[0].total: expected a positive integer"
        let rest = e.split_once("].").map_or(e.as_str(), |(_, r)| r);
        let (field, what) = rest.split_once(": ").unwrap_or(("body", rest));
        bad(field, what)
    })?;
    let added = json!({"family": family, "out_trade_no": body.get("out_trade_no")});
    let (ledger, global, wecom) = (file.domestic, file.global, file.wecom);
    ledger
        .into_iter()
        .for_each(|o| lock(&shared.ledger).add_order(o));
    global
        .into_iter()
        .for_each(|o| lock(&shared.global).add_order(o));
    wecom
        .into_iter()
        .for_each(|o| lock(&shared.wecom).add_order(o));
    Ok((201, added))
}

fn add_fault(shared: &Shared, body: &Map<String, Value>) -> Answer {
    only_keys(
        body,
        &["kind", "count", "delay_ms", "skew_secs", "endpoint"],
    )?;
    let kind = kind(body)?;
    let count = count(body)?;
    let fault = match kind {
        "SYSTEM_ERROR" => Fault::SystemError,
        "RATE_LIMITED" => Fault::RateLimited,
        "DELAY" => {
            let ms = body
                .get("delay_ms")
                .ok_or_else(|| bad("delay_ms", "missing (required for DELAY)"))?
                .as_u64()
                .filter(|ms| *ms <= MAX_DELAY_MS)
                .ok_or_else(|| bad("delay_ms", format!("expected an integer 0-{MAX_DELAY_MS}")))?;
            Fault::Delay(Duration::from_millis(ms))
        }
        "DROP_AFTER_COMMIT" => Fault::DropAfterCommit,
        "BAD_SIGNATURE" => Fault::BadSignature,
        "PROBE_SIGNATURE" => Fault::ProbeSignature,
        "UNSIGNED" => Fault::Unsigned,
        "CLOCK_SKEW" => {
            let secs = body
                .get("skew_secs")
                .ok_or_else(|| bad("skew_secs", "missing (required for CLOCK_SKEW)"))?
                .as_i64()
                .filter(|s| s.abs() <= MAX_SKEW_SECS)
                .ok_or_else(|| {
                    bad(
                        "skew_secs",
                        format!("expected an integer within ±{MAX_SKEW_SECS}"),
                    )
                })?;
            Fault::ClockSkew(secs)
        }
        _ => return Err(bad("kind", format!("unknown fault kind {kind:?}"))),
    };
    if kind != "DELAY" && body.contains_key("delay_ms") {
        return Err(bad("delay_ms", "only for DELAY"));
    }
    if kind != "CLOCK_SKEW" && body.contains_key("skew_secs") {
        return Err(bad("skew_secs", "only for CLOCK_SKEW"));
    }
    let endpoint = match body.get("endpoint") {
        None => None,
        Some(Value::String(endpoint)) if is_fault_endpoint(endpoint) => Some(endpoint.clone()),
        Some(_) => {
            return Err(bad(
                "endpoint",
                "expected the path of a refund endpoint (or a path prefix ending with /)",
            ))
        }
    };
    let answer = fault_json(&fault, count, endpoint.as_deref());
    lock(&shared.faults).push_back((fault, count, endpoint));
    Ok((201, answer))
}

fn add_notify_fault(shared: &Shared, body: &Map<String, Value>) -> Answer {
    only_keys(body, &["kind", "count"])?;
    let kind = kind(body)?;
    let count = count(body)?;
    let fault = NOTIFY_FAULTS
        .into_iter()
        .find(|f| notify_fault_name(*f) == kind)
        .ok_or_else(|| bad("kind", format!("unknown notification fault kind {kind:?}")))?;
    shared.notify.inject(fault, count);
    Ok((201, json!({"kind": kind, "count": count})))
}

fn settle(shared: &Shared, segment: &str, body: &Map<String, Value>) -> Answer {
    only_keys(body, &["status"])?;
    let no = percent_decode(segment)
        .filter(|no| !no.is_empty())
        .ok_or_else(|| bad("out_refund_no", "malformed percent-encoding"))?;
    let status = match body.get("status").and_then(Value::as_str) {
        Some("SUCCESS") => FinalStatus::Success,
        Some("CLOSED") => FinalStatus::Closed,
        Some("ABNORMAL") => FinalStatus::Abnormal,
        None if !body.contains_key("status") => return Err(bad("status", "missing")),
        _ => {
            return Err(bad(
                "status",
                "expected \"SUCCESS\", \"CLOSED\" or \"ABNORMAL\"",
            ))
        }
    };
    match shared.settle_now(&no, status) {
        Ok(()) => Ok((
            200,
            json!({"out_refund_no": no, "status": final_name(status)}),
        )),
        Err(SettleError::NotFound) => Err(Bad {
            status: 404,
            error: format!("no refund {no:?}"),
            field: Some("out_refund_no".into()),
        }),
        Err(e @ SettleError::AlreadyFinal(_)) => Err(Bad {
            status: 409,
            error: e.to_string(),
            field: Some("out_refund_no".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_checks_hosts() {
        assert_eq!(
            mask_secrets("/cgi-bin/gettoken?corpid=ww1&corpsecret=s3cr3t"),
            "/cgi-bin/gettoken?corpid=ww1&corpsecret=***"
        );
        assert_eq!(mask_secrets("/x?access_token=abc"), "/x?access_token=***");
        assert_eq!(mask_secrets("/x"), "/x");
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "127.0.0.2",
            "127.0.0.1:x",
            "[::2]",
            "localhost.evil:80",
            "",
        ] {
            assert!(!loopback_host(host), "{host}");
        }
    }

    #[test]
    fn the_console_is_self_contained_html_under_a_strict_csp() {
        let page = console_response();
        assert_eq!(page.status, 200);
        let header = |name: &str| {
            page.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert!(header("Content-Type").starts_with("text/html"));
        let csp = header("Content-Security-Policy");
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(!csp.contains("http") && !csp.contains('*'), "{csp}");
        let html = String::from_utf8(page.body).expect("UTF-8");
        assert!(!html.contains("innerHTML") && !html.contains("//cdn"));
        let doc: Value = serde_json::from_str(OPENAPI).expect("JSON");
        assert!(doc["paths"]["/_sim/console"]["get"].is_object());
    }

    #[test]
    fn the_openapi_document_is_json() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    }
}
