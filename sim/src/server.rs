//! Connection handling, routing, fault injection and response signing (APIv3), plus the
//! HTTP side of the WeCom endpoints (whose rules live in [`crate::wecom`]).

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::abnormal::{decrypt_payee, parse_abnormal};
use crate::auth::verify_request;
use crate::certs::certificate_list;
use crate::clock::{epoch_secs, fill_random, hex, random_alnum};
use crate::error::ApiError;
use crate::global::{parse_global_apply, parse_query_scope, GlobalLedger, RefundKey};
use crate::http::{self, percent_decode, query_param, ReadError, Request, Response};
use crate::keys::{Keys, Signer, PLATFORM_NEXT_SERIAL, PLATFORM_SERIAL, PUBLIC_KEY_ID};
use crate::ledger::{parse_apply, Ledger};
use crate::notify::Outbox;
use crate::wecom::{self, Endpoint, TokenStore, WeComError, WeComLedger};
use crate::{Fault, Verification};

/// Path of the mainland apply endpoint; the query endpoint lives below it.
const REFUNDS_PATH: &str = "/v3/refund/domestic/refunds";
/// Last segment of the apply-abnormal-refund path, `{REFUNDS_PATH}/{refund_id}/{this}`.
const APPLY_ABNORMAL_SEGMENT: &str = "apply-abnormal-refund";
/// Path of the Global apply endpoint; the query endpoints live below it.
const GLOBAL_REFUNDS_PATH: &str = "/v3/global/refunds";
/// Global query by WeChat Pay refund id: `{this}/{refund_id}`.
const GLOBAL_BY_ID_PATH: &str = "/v3/global/refunds/id";
/// Global query by merchant refund number: `{this}/{out_refund_no}`.
const GLOBAL_BY_OUT_REFUND_NO_PATH: &str = "/v3/global/refunds/out-refund-no";
/// Path of the platform certificate download.
const CERTIFICATES_PATH: &str = "/v3/certificates";
/// Path of the same download on the Global host.
const GLOBAL_CERTIFICATES_PATH: &str = "/v3/global/certificates";
/// An idle keep-alive connection is closed after this long. Longer than common client
/// pool idle times so clients never reuse a connection the server just dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Locks a mutex, ignoring poisoning: a panicking connection thread must not take the
/// whole simulator down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the accept loop, every connection thread and the [`crate::Simulator`].
pub(crate) struct Shared {
    pub(crate) keys: Keys,
    pub(crate) verification: Verification,
    pub(crate) ledger: Mutex<Ledger>,
    pub(crate) global: Mutex<GlobalLedger>,
    pub(crate) wecom: Mutex<WeComLedger>,
    pub(crate) wecom_tokens: Mutex<TokenStore>,
    /// Pending faults, each with how many more requests it applies to and the endpoint it
    /// is limited to, if any (see [`endpoint_matches`]).
    pub(crate) faults: Mutex<VecDeque<(Fault, usize, Option<String>)>>,
    pub(crate) refund_requests: AtomicUsize,
    pub(crate) rotated: AtomicBool,
    pub(crate) stopping: AtomicBool,
    /// Open connections, so stopping the simulator can shut them down.
    pub(crate) connections: Mutex<HashMap<u64, TcpStream>>,
    /// Refund notifications: settings, queued faults and the delivery log.
    pub(crate) notify: Outbox,
    /// The options the simulator started with, for [`crate::Simulator::reset`].
    pub(crate) options: crate::SimOptions,
    /// Orders seeded on top of the demo orders, for [`crate::Simulator::reset`].
    pub(crate) seed: Mutex<crate::orders_file::OrderFile>,
    /// Seconds added to every signing timestamp.
    pub(crate) clock_skew: AtomicI64,
    /// The last requests on the platform endpoints (see [`crate::Simulator::request_log`]).
    pub(crate) request_log: Mutex<VecDeque<Value>>,
    pub(crate) request_seq: AtomicU64,
}

/// Takes one use of the fault at the front of a queue of (fault, remaining uses).
pub(crate) fn take_fault<F: Clone>(queue: &Mutex<VecDeque<(F, usize)>>) -> Option<F> {
    let mut faults = lock(queue);
    let (fault, remaining) = faults.front_mut()?;
    let fault = fault.clone();
    *remaining = remaining.saturating_sub(1);
    if *remaining == 0 {
        faults.pop_front();
    }
    Some(fault)
}

/// Whether a fault limited to `endpoint` applies to a request for `path`: the same path,
/// or any path below it when `endpoint` ends with `/`.
pub(crate) fn endpoint_matches(endpoint: &str, path: &str) -> bool {
    path == endpoint || (endpoint.ends_with('/') && path.starts_with(endpoint))
}

/// Whether a fault may be limited to `endpoint`: a refund endpoint of any family (a path
/// ending with `/` stands for the paths below it, like the query paths).
pub(crate) fn is_fault_endpoint(endpoint: &str) -> bool {
    is_refund_endpoint(endpoint) || matches!(Endpoint::for_path(endpoint), Some(Endpoint::Api(_)))
}

/// Takes one use of the first queued refund fault that applies to a request for `path`:
/// one without an endpoint, or one whose endpoint matches.
pub(crate) fn take_refund_fault(
    queue: &Mutex<VecDeque<(Fault, usize, Option<String>)>>,
    path: &str,
) -> Option<Fault> {
    let mut faults = lock(queue);
    let index = faults.iter().position(|(_, _, endpoint)| {
        endpoint
            .as_deref()
            .is_none_or(|endpoint| endpoint_matches(endpoint, path))
    })?;
    let (fault, remaining, _) = &mut faults[index];
    let fault = fault.clone();
    *remaining = remaining.saturating_sub(1);
    if *remaining == 0 {
        faults.remove(index);
    }
    Some(fault)
}

/// What to do with a handled request.
enum Outcome {
    /// Send this response, after an optional delay.
    Reply(Response, Option<Duration>),
    /// Close the connection without answering.
    Drop,
}

/// Which endpoint a request is for.
enum Route<'a> {
    Certificates,
    Apply,
    /// Query, with the still percent-encoded `out_refund_no` path segment.
    Query(&'a str),
    /// Apply-abnormal-refund, with the still percent-encoded `refund_id` path segment.
    ApplyAbnormal(&'a str),
    GlobalApply,
    /// Global query, with the still percent-encoded path segment.
    GlobalQuery(RefundKey<'a>),
    /// Known path, wrong method; the error code to answer with.
    MethodNotAllowed(&'static str),
    NotFound,
}

fn route<'a>(method: &str, path: &'a str) -> Route<'a> {
    let only = |wanted: &str, route: Route<'a>, code: &'static str| {
        if method == wanted {
            route
        } else {
            Route::MethodNotAllowed(code)
        }
    };
    let get = |route: Route<'a>| only("GET", route, "METHOD_NOT_ALLOWED");
    match path {
        CERTIFICATES_PATH | GLOBAL_CERTIFICATES_PATH => get(Route::Certificates),
        REFUNDS_PATH => only("POST", Route::Apply, "METHOD_NOT_ALLOWED"),
        GLOBAL_REFUNDS_PATH => only("POST", Route::GlobalApply, "REQUIRE_POST_METHOD"),
        _ => {
            if let Some(segment) = segment_below(path, REFUNDS_PATH) {
                get(Route::Query(segment))
            } else if let Some(segment) = abnormal_segment(path) {
                only("POST", Route::ApplyAbnormal(segment), "METHOD_NOT_ALLOWED")
            } else if let Some(segment) = segment_below(path, GLOBAL_BY_ID_PATH) {
                get(Route::GlobalQuery(RefundKey::Id(segment)))
            } else if let Some(segment) = segment_below(path, GLOBAL_BY_OUT_REFUND_NO_PATH) {
                get(Route::GlobalQuery(RefundKey::OutRefundNo(segment)))
            } else {
                Route::NotFound
            }
        }
    }
}

/// The one non-empty path segment right below `prefix`, if `path` is exactly that.
fn segment_below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)?
        .strip_prefix('/')
        .filter(|segment| !segment.is_empty() && !segment.contains('/'))
}

/// The `refund_id` segment of an apply-abnormal-refund path.
fn abnormal_segment(path: &str) -> Option<&str> {
    let (rest, last) = path.rsplit_once('/')?;
    if last != APPLY_ABNORMAL_SEGMENT {
        return None;
    }
    segment_below(rest, REFUNDS_PATH)
}

/// Whether a path counts as a refund endpoint for [`crate::Simulator::inject`] and
/// [`crate::Simulator::request_count`]: either family's apply path or anything below it.
fn is_refund_endpoint(path: &str) -> bool {
    [REFUNDS_PATH, GLOBAL_REFUNDS_PATH].iter().any(|refunds| {
        path == *refunds
            || path
                .strip_prefix(refunds)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Percent-decodes a path parameter, answering PARAM_ERROR when it is malformed.
fn decode_segment(segment: &str, name: &str) -> Result<String, ApiError> {
    percent_decode(segment)
        .ok_or_else(|| ApiError::param_at(name, &json!(segment), "编码错误", "url"))
}

impl Shared {
    /// Counts a request on a refund endpoint and takes the fault that applies to it.
    fn refund_request(&self, path: &str) -> Option<Fault> {
        self.refund_requests.fetch_add(1, Ordering::SeqCst);
        take_refund_fault(&self.faults, path)
    }

    /// Handles one request end to end; `verdict` receives its request-log verdict.
    fn handle(&self, request: &Request, verdict: &mut String) -> Outcome {
        let path = request.path();
        if let Some(endpoint) = Endpoint::for_path(path) {
            return self.handle_wecom(request, endpoint, verdict);
        }
        let fault = if is_refund_endpoint(path) {
            self.refund_request(path)
        } else {
            None
        };
        let result = match fault {
            Some(Fault::SystemError) => Err(ApiError::new(500, "SYSTEM_ERROR", "系统错误")),
            Some(Fault::RateLimited) => Err(ApiError::new(
                429,
                "FREQUENCY_LIMITED",
                "频率限制，请降低申请频率后重试",
            )),
            _ => self.process(request, route(&request.method, path)),
        };
        *verdict = match (&fault, &result) {
            (Some(fault), _) => format!("fault:{}", fault_kind(fault)),
            (None, Ok(_)) => "ok".to_string(),
            (None, Err(e)) => match e.code {
                "SIGN_ERROR" => "signature_invalid".to_string(),
                "NOT_FOUND" => "not_found".to_string(),
                _ if e.status == 405 => "method_not_allowed".to_string(),
                code => format!("error:{code}"),
            },
        };
        let (status, body) = match result {
            Ok(body) => (200, body),
            Err(e) => (e.status, e.body()),
        };
        let response = self.respond(
            request.header("wechatpay-serial"),
            status,
            &body,
            fault.as_ref(),
        );
        deliver(fault, response)
    }

    /// Handles a WeCom request: method, then token, then (only with a valid token) faults
    /// and the endpoint. Answers are unsigned and HTTP 200 but for a wrong method.
    fn handle_wecom(&self, request: &Request, endpoint: Endpoint, verdict: &mut String) -> Outcome {
        let wecom_verdict = |result: &Result<Value, WeComError>| match result {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error:{}", e.errcode),
        };
        if request.method != endpoint.method() {
            *verdict = "method_not_allowed".to_string();
            let body = WeComError::wrong_method(endpoint).body();
            return Outcome::Reply(json_response(405, &body), None);
        }
        let now = SystemTime::now();
        let query = request.query();
        let api = match endpoint {
            Endpoint::GetToken => {
                let result = lock(&self.wecom_tokens).gettoken(query, now);
                *verdict = wecom_verdict(&result);
                let answer = wecom::answer(result);
                return Outcome::Reply(json_response(200, &answer), None);
            }
            Endpoint::Api(api) => api,
        };
        if let Err(e) = lock(&self.wecom_tokens).check(query, now) {
            *verdict = match e.errcode {
                42001 => "token_expired".to_string(),
                40014 => "token_invalid".to_string(),
                41001 => "token_missing".to_string(),
                code => format!("error:{code}"),
            };
            return Outcome::Reply(json_response(200, &e.body()), None);
        }
        let fault = self.refund_request(request.path());
        let result = match fault {
            Some(Fault::SystemError) => Err(WeComError::system_busy()),
            Some(Fault::RateLimited) => Err(WeComError::rate_limited()),
            // The signature faults and clock skew have nothing to act on: no signature.
            _ => lock(&self.wecom).serve(api, &request.body, now),
        };
        *verdict = match &fault {
            Some(fault) => format!("fault:{}", fault_kind(fault)),
            None => wecom_verdict(&result),
        };
        deliver(fault, json_response(200, &wecom::answer(result)))
    }

    /// Checks headers and signature, then runs the endpoint.
    fn process(&self, request: &Request, route: Route<'_>) -> Result<Value, ApiError> {
        match route {
            Route::NotFound => {
                return Err(ApiError::new(404, "NOT_FOUND", "请求的资源不存在"));
            }
            Route::MethodNotAllowed(code) => {
                return Err(ApiError::new(405, code, "不支持的请求方法"));
            }
            _ => {}
        }
        let present = |name| request.header(name).is_some_and(|v| !v.is_empty());
        if !present("accept") || !present("user-agent") {
            return Err(ApiError::invalid("Http头缺少Accept或User-Agent"));
        }
        let now = SystemTime::now();
        verify_request(
            &self.keys,
            request.header("authorization"),
            &request.method,
            &request.target,
            &request.body,
            epoch_secs(now),
        )
        .map_err(ApiError::sign)?;

        match route {
            Route::Certificates => self.certificates(),
            Route::Apply => {
                let apply = parse_apply(&request.body)?;
                lock(&self.ledger).apply(&apply, now)
            }
            Route::Query(segment) => {
                let out_refund_no = decode_segment(segment, "out_refund_no")?;
                let sub_mchid = match query_param(request.query(), "sub_mchid") {
                    None => None,
                    Some(Some(s)) => Some(s),
                    Some(None) => {
                        return Err(ApiError::param_at(
                            "sub_mchid",
                            &Value::Null,
                            "编码错误",
                            "query",
                        ));
                    }
                };
                lock(&self.ledger).query(&out_refund_no, sub_mchid.as_deref(), now)
            }
            Route::ApplyAbnormal(segment) => {
                let refund_id = decode_segment(segment, "refund_id")?;
                let abnormal = parse_abnormal(&request.body)?;
                let route = decrypt_payee(
                    &self.keys,
                    &self.decryption_serials(),
                    request.header("wechatpay-serial"),
                    &abnormal.payee,
                )?;
                lock(&self.ledger).apply_abnormal(&refund_id, &abnormal, route, now)
            }
            Route::GlobalApply => {
                let apply = parse_global_apply(&request.body)?;
                lock(&self.global).apply(&apply, now)
            }
            Route::GlobalQuery(key) => {
                let scope = parse_query_scope(request.query())?;
                match key {
                    RefundKey::Id(segment) => {
                        let refund_id = decode_segment(segment, "refund_id")?;
                        lock(&self.global).query(RefundKey::Id(&refund_id), &scope, now)
                    }
                    RefundKey::OutRefundNo(segment) => {
                        let out_refund_no = decode_segment(segment, "out_refund_no")?;
                        let key = RefundKey::OutRefundNo(&out_refund_no);
                        lock(&self.global).query(key, &scope, now)
                    }
                }
            }
            Route::MethodNotAllowed(_) | Route::NotFound => {
                Err(ApiError::new(404, "NOT_FOUND", "请求的资源不存在"))
            }
        }
    }

    /// The keys a client may encrypt sensitive fields for in this verification mode: the
    /// public key id, the platform certificate serials a download lists, or both.
    fn decryption_serials(&self) -> Vec<&'static str> {
        let mut serials = Vec::new();
        if matches!(
            self.verification,
            Verification::PublicKey | Verification::Both
        ) {
            serials.push(PUBLIC_KEY_ID);
        }
        if matches!(
            self.verification,
            Verification::PlatformCertificate | Verification::Both
        ) {
            serials.push(PLATFORM_SERIAL);
            if self.rotated.load(Ordering::SeqCst) {
                serials.push(PLATFORM_NEXT_SERIAL);
            }
        }
        serials
    }

    /// `GET /v3/certificates`.
    fn certificates(&self) -> Result<Value, ApiError> {
        if self.verification == Verification::PublicKey {
            return Err(ApiError::not_exists(
                "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。",
            ));
        }
        certificate_list(self.rotated.load(Ordering::SeqCst))
            .map_err(|e| ApiError::new(500, "SYSTEM_ERROR", e.to_string()))
    }

    /// The key responses are signed with (PROTOCOL §2.5): in `Both` mode the request's
    /// `Wechatpay-Serial` asks for the public key.
    fn signer(&self, request_serial: Option<&str>) -> &Signer {
        let platform = if self.rotated.load(Ordering::SeqCst) {
            &self.keys.platform_next
        } else {
            &self.keys.platform
        };
        match self.verification {
            Verification::PublicKey => &self.keys.public_key,
            Verification::PlatformCertificate => platform,
            Verification::Both if request_serial == Some(PUBLIC_KEY_ID) => &self.keys.public_key,
            Verification::Both => platform,
        }
    }

    /// Builds a signed JSON response, applying any signature fault.
    fn respond(
        &self,
        request_serial: Option<&str>,
        status: u16,
        body: &Value,
        fault: Option<&Fault>,
    ) -> Response {
        let mut response = json_response(status, body);
        response
            .headers
            .push(("Request-ID".to_string(), request_id(status)));
        self.add_date(&mut response, fault);
        if fault != Some(&Fault::Unsigned) {
            match self.signature_headers(request_serial, &response.body, fault) {
                Ok(signed) => response.headers.extend(signed),
                // Cannot happen with the embedded keys; an unsigned answer is what a client
                // would then see, and it must reject it.
                Err(e) => eprintln!("wxrefund-sim: signing failed: {e}"),
            }
        }
        response
    }

    /// The simulated platform's clock in epoch seconds: the real one moved by
    /// [`crate::Simulator::set_clock_skew`] and by a `ClockSkew` fault.
    fn skewed_now(&self, fault: Option<&Fault>) -> i64 {
        let skew = match fault {
            Some(Fault::ClockSkew(secs)) => *secs,
            _ => 0,
        }
        .saturating_add(self.clock_skew.load(Ordering::SeqCst));
        epoch_secs(SystemTime::now()).saturating_add(skew)
    }

    /// Adds a `Date` header (the platform's clock, as the signed timestamp
    /// uses it) unless the response has one.
    fn add_date(&self, response: &mut Response, fault: Option<&Fault>) {
        if !response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("date"))
        {
            let date = http::http_date(self.skewed_now(fault));
            response.headers.push(("Date".to_string(), date));
        }
    }

    /// The five `Wechatpay-*` headers over `TS\nNONCE\nBODY\n`, made with
    /// [`Shared::signer`]; the signature faults and `ClockSkew` apply.
    pub(crate) fn signature_headers(
        &self,
        request_serial: Option<&str>,
        body: &[u8],
        fault: Option<&Fault>,
    ) -> io::Result<Vec<(String, String)>> {
        let signer = self.signer(request_serial);
        let timestamp = self.skewed_now(fault);
        let nonce = random_alnum(32);
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        let signature = match fault {
            Some(Fault::BadSignature) => {
                // A real signature, but over other bytes: well-formed and wrong.
                message.extend_from_slice(b"tampered");
                signer.sign(&message)?
            }
            Some(Fault::ProbeSignature) => {
                let mut junk = [0u8; 48];
                fill_random(&mut junk);
                format!("WECHATPAY/SIGNTEST/{}", BASE64.encode(junk))
            }
            _ => signer.sign(&message)?,
        };
        Ok(vec![
            ("Wechatpay-Timestamp".to_string(), timestamp.to_string()),
            ("Wechatpay-Nonce".to_string(), nonce),
            ("Wechatpay-Serial".to_string(), signer.serial.to_string()),
            ("Wechatpay-Signature".to_string(), signature),
            (
                "Wechatpay-Signature-Type".to_string(),
                "WECHATPAY2-SHA256-RSA2048".to_string(),
            ),
        ])
    }
}

/// What a fault does to a processed request's response: drop it, delay it, or nothing.
fn deliver(fault: Option<Fault>, response: Response) -> Outcome {
    match fault {
        Some(Fault::DropAfterCommit) => Outcome::Drop,
        Some(Fault::Delay(delay)) => Outcome::Reply(response, Some(delay)),
        _ => Outcome::Reply(response, None),
    }
}

/// The name of a fault's kind, as the control API spells it.
pub(crate) fn fault_kind(fault: &Fault) -> &'static str {
    match fault {
        Fault::SystemError => "SYSTEM_ERROR",
        Fault::RateLimited => "RATE_LIMITED",
        Fault::Delay(_) => "DELAY",
        Fault::DropAfterCommit => "DROP_AFTER_COMMIT",
        Fault::BadSignature => "BAD_SIGNATURE",
        Fault::ProbeSignature => "PROBE_SIGNATURE",
        Fault::Unsigned => "UNSIGNED",
        Fault::ClockSkew(_) => "CLOCK_SKEW",
    }
}

/// An unsigned JSON response with the headers every answer carries.
pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    Response {
        status,
        headers: vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Keep-Alive".to_string(),
                format!("timeout={}", IDLE_TIMEOUT.as_secs()),
            ),
        ],
        body: serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

/// A platform-style request id: random hex, then `-` and a numeric code (0 on success).
fn request_id(status: u16) -> String {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    let code = if status < 300 { 0 } else { u32::from(status) };
    format!("{}-{code}", hex(&bytes).to_ascii_uppercase())
}

/// Accepts connections until the simulator stops, one thread per connection.
pub(crate) fn spawn_accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("wxrefund-sim-accept".to_string())
        .spawn(move || accept_loop(&listener, &shared))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let next_id = AtomicU64::new(0);
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept errors (e.g. too many open files): keep serving.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        lock(&shared.connections).insert(id, handle);
        let thread_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("wxrefund-sim-conn".to_string())
            .spawn(move || {
                // Errors here are peers going away; nothing to report.
                let _ = serve_connection(&thread_shared, stream);
                lock(&thread_shared.connections).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.connections).remove(&id);
        }
    }
}

/// Serves requests on one keep-alive connection until either side closes it.
fn serve_connection(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let request = match http::read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(ReadError::Io(e)) => return Err(e),
            Err(ReadError::Bad(status, message)) => {
                let body = ApiError::new(status, "INVALID_REQUEST", message).body();
                let response = shared.respond(None, status, &body, None);
                return http::write_response(&mut writer, &response, false);
            }
        };
        let path = request.path();
        if path == "/_sim" || path.starts_with("/_sim/") {
            let mut response = crate::control::handle(shared, &request);
            shared.add_date(&mut response, None);
            http::write_response(&mut writer, &response, request.keep_alive)?;
            if !request.keep_alive {
                return Ok(());
            }
            continue;
        }
        let mut verdict = String::new();
        let outcome = shared.handle(&request, &mut verdict);
        let status = match &outcome {
            Outcome::Reply(response, _) => Some(response.status),
            Outcome::Drop => None,
        };
        shared.log_request(&request, status, verdict);
        match outcome {
            Outcome::Reply(mut response, delay) => {
                shared.add_date(&mut response, None);
                if let Some(delay) = delay {
                    thread::sleep(delay);
                }
                http::write_response(&mut writer, &response, request.keep_alive)?;
                if !request.keep_alive {
                    return Ok(());
                }
            }
            Outcome::Drop => {
                // The refund was recorded; the client only sees the connection die.
                let _ = writer.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("POST", REFUNDS_PATH), Route::Apply));
        assert!(matches!(
            route("GET", REFUNDS_PATH),
            Route::MethodNotAllowed("METHOD_NOT_ALLOWED")
        ));
        assert!(matches!(
            route("GET", "/v3/refund/domestic/refunds/R%7C1"),
            Route::Query("R%7C1")
        ));
        assert!(matches!(
            route(
                "POST",
                "/v3/refund/domestic/refunds/5012/apply-abnormal-refund"
            ),
            Route::ApplyAbnormal("5012")
        ));
        assert!(matches!(
            route(
                "GET",
                "/v3/refund/domestic/refunds/5012/apply-abnormal-refund"
            ),
            Route::MethodNotAllowed("METHOD_NOT_ALLOWED")
        ));
        for path in [
            "/v3/refund/domestic/refunds//apply-abnormal-refund",
            "/v3/refund/domestic/refunds/apply-abnormal-refund/x",
            "/v3/refund/domestic/refunds/a/b/apply-abnormal-refund",
            "/v3/refund/domestic/refunds/5012/apply-abnormal",
        ] {
            assert!(matches!(route("POST", path), Route::NotFound), "{path}");
        }
        assert!(is_refund_endpoint(
            "/v3/refund/domestic/refunds/5012/apply-abnormal-refund"
        ));
        assert!(matches!(
            route("GET", "/v3/certificates"),
            Route::Certificates
        ));
        assert!(matches!(route("GET", "/v3/pay/x"), Route::NotFound));
        assert!(is_refund_endpoint("/v3/refund/domestic/refunds/R1"));
        assert!(!is_refund_endpoint("/v3/refund/domestic/refundsX"));
        assert!(!is_refund_endpoint("/v3/certificates"));
    }

    #[test]
    fn global_routes() {
        assert!(matches!(
            route("POST", GLOBAL_REFUNDS_PATH),
            Route::GlobalApply
        ));
        assert!(matches!(
            route("GET", GLOBAL_REFUNDS_PATH),
            Route::MethodNotAllowed("REQUIRE_POST_METHOD")
        ));
        assert!(matches!(
            route("GET", "/v3/global/refunds/id/5012"),
            Route::GlobalQuery(RefundKey::Id("5012"))
        ));
        assert!(matches!(
            route("GET", "/v3/global/refunds/out-refund-no/R%7C1"),
            Route::GlobalQuery(RefundKey::OutRefundNo("R%7C1"))
        ));
        assert!(matches!(
            route("POST", "/v3/global/refunds/id/5012"),
            Route::MethodNotAllowed("METHOD_NOT_ALLOWED")
        ));
        for path in [
            "/v3/global/refunds/id/",
            "/v3/global/refunds/id",
            "/v3/global/refunds/R1",
            "/v3/global/refunds/out-refund-no/R1/x",
        ] {
            assert!(matches!(route("GET", path), Route::NotFound), "{path}");
        }
        assert!(matches!(
            route("GET", GLOBAL_CERTIFICATES_PATH),
            Route::Certificates
        ));
        assert!(is_refund_endpoint(GLOBAL_REFUNDS_PATH));
        assert!(is_refund_endpoint("/v3/global/refunds/id/5012"));
        assert!(!is_refund_endpoint("/v3/global/refundsX"));
        assert!(!is_refund_endpoint(GLOBAL_CERTIFICATES_PATH));
    }
}
