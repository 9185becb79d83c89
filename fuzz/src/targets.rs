//! The logic of every fuzz target, one `pub fn TARGET(data: &[u8])` each.
//!
//! Shared by the libFuzzer binaries (`fuzz/fuzz_targets/*.rs`, one line each) and by the
//! stable replay test (`tests/fuzz_replay.rs`, which includes this file with `#[path]`), so
//! it must not use `libfuzzer-sys`.
//!
//! Every call goes through the C ABI exactly as a C host makes it: NUL-terminated input
//! strings (cut at the first NUL, where a C string ends), out-pointers initialised to
//! NULL, every returned string freed with `wxrefund_string_free`. A function panics, which
//! libFuzzer reports as a crash, when the library answers `PANIC` or `INTERNAL`, breaks the
//! ABI contract (outputs on failure, no error JSON, an error JSON whose `status` is not the
//! status returned), echoes secret material in an error, or accepts what it must refuse.
//!
//! Multi-mode targets read their first byte as a mode selector: `data[0] % 8`, then modulo
//! the number of modes, so that the ASCII digits `'0'`, `'1'`, ... name modes 0, 1, ...
//! in hand-written inputs.
//!
//! Nothing leaves the machine: clients point at a closed loopback port, or at the hostile
//! loopback server of [`http_answers`]. The simulator is only started once, to read the
//! ready-made configurations it hands out, and stopped again.

use std::ffi::{c_char, c_int, CStr, CString};
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Map, Value};
use wxrefund::ffi::{self, wxrefund_client, wxrefund_status as Status};
use wxrefund_sim::{wecom_callback, SimOptions, Simulator, Verification};

/// The private half of the simulator's "WeChat Pay public key": what signs notifications
/// and answers that the clients below verify with the public key.
const PUBKEY_PRIVATE_PEM: &str = include_str!("../../sim/keys/wechatpay_pubkey_key.pem");

/// Associated data of a refund notification's resource (as the simulator uses).
const RESOURCE_AAD: &str = "refund";
/// The (deterministic) AES-GCM nonce of the resources built here.
const GCM_NONCE: &[u8; 12] = b"fuzzNonce012";

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

/// Arbitrary bytes as configuration JSON to `wxrefund_client_new`; a client made is freed.
/// An error JSON must not contain secret material from the configuration (16-character
/// windows of secret strings, the text of secrets given as numbers).
pub fn config_json(data: &[u8]) {
    let config = c_text(data);
    let mut client: *mut wxrefund_client = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: valid C string and out-pointers.
    let status = unsafe { ffi::wxrefund_client_new(config.as_ptr(), &mut client, &mut error) };
    let error = unsafe { take_string(error) };
    match status {
        Status::Ok => {
            assert!(!client.is_null(), "config_json: OK without a client");
            assert!(error.is_none(), "config_json: OK with an error JSON");
            // SAFETY: a handle from wxrefund_client_new.
            let freed = unsafe { ffi::wxrefund_client_free(client) };
            assert_eq!(
                freed,
                Status::Ok,
                "config_json: freeing a new client failed"
            );
        }
        _ => {
            assert!(client.is_null(), "config_json: {status:?} wrote a client");
            let answer = Answer {
                status,
                output: None,
                error,
            };
            let error = answer.check("wxrefund_client_new");
            if let Ok(Pairs(config)) = serde_json::from_slice::<Pairs>(config.as_bytes()) {
                let baseline = redacted_error(&config);
                assert_no_secret_echo(&config, &error, &baseline);
            }
        }
    }
}

/// Arbitrary request JSON to `wxrefund_refund_create`, for every family and mode. What is
/// fuzzed is validation: a valid request fails at once on the closed port. A request the
/// library lets through must keep the rules checked here independently: an `http://`
/// `notify_url` names a loopback host (no userinfo), and `amount.from` adds up to
/// `amount.refund` without overflow.
pub fn refund_request(data: &[u8]) {
    let request = c_text(data);
    for (name, client) in offline_clients().all() {
        let answer = call(client, &request, Operation::Create);
        answer.check(&format!("wxrefund_refund_create ({name})"));
        let rejected = matches!(
            answer.status,
            Status::InvalidJson | Status::InvalidRequest | Status::InvalidArgument
        );
        if !rejected {
            check_accepted_request(name, request.to_str().unwrap_or(""));
        }
    }
}

/// Arbitrary query JSON to `wxrefund_refund_query`, for every family and mode.
pub fn query_json(data: &[u8]) {
    let query = c_text(data);
    for (name, client) in offline_clients().all() {
        call(client, &query, Operation::Query).check(&format!("wxrefund_refund_query ({name})"));
    }
}

/// APIv3 notifications (mainland and Global clients, which verify with the WeChat Pay
/// public key). Modes:
/// - 0: `headers JSON` NUL `body`, both raw;
/// - 1: `signature` NUL `nonce` NUL `serial` NUL `body`, with a current timestamp (an
///   empty serial is the public key's id);
/// - 2: the rest is the body, genuinely signed: the envelope parser runs;
/// - 3: the rest is the resource plaintext of a genuinely signed and encrypted
///   `REFUND.SUCCESS` notification: the resource parser runs.
pub fn apiv3_notification(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let (headers, body): (Vec<u8>, Vec<u8>) = match mode(control, 4) {
        0 => {
            let (headers, body) = split_nul(rest);
            (headers.to_vec(), body.to_vec())
        }
        1 => {
            let mut parts = rest.splitn(4, |&b| b == 0);
            let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default());
            let (signature, nonce, serial) = (next(), next(), next());
            let serial = if serial.is_empty() {
                fixture().public_key_id.clone().into()
            } else {
                serial
            };
            let body = parts.next().unwrap_or_default().to_vec();
            let headers = json!({
                "Wechatpay-Timestamp": unix_now().to_string(),
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial,
            });
            (headers.to_string().into_bytes(), body)
        }
        2 => (signed_headers(rest), rest.to_vec()),
        _ => {
            let body = apiv3_envelope(&fixture().apiv3_key, rest).to_string();
            (signed_headers(body.as_bytes()), body.into_bytes())
        }
    };
    let headers = c_text(&headers);
    let clients = offline_clients();
    for (name, client) in [("domestic", clients.domestic), ("global", clients.global)] {
        parse_notification(client, &headers, &body)
            .check(&format!("wxrefund_notification_parse ({name})"));
    }
}

/// WeCom callbacks (`msg_signature`, AES-256-CBC `Encrypt`, JSON or XML envelopes). Modes:
/// - 0: a raw body with a wrong `msg_signature`; or `params JSON` NUL `body`, both raw;
/// - 1: a genuine JSON envelope whose encrypted inner message is the rest;
/// - 2: a genuine XML envelope whose encrypted inner message is the rest;
/// - 3: a genuine callback whose inner message is a refund event with an AES-GCM
///   `resource`, whose plaintext is the rest;
/// - 4: a genuinely signed JSON envelope whose `Encrypt` value is the rest (as text).
pub fn wecom_callback(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let (params, body): (Vec<u8>, Vec<u8>) = match mode(control, 5) {
        0 => match rest.iter().position(|&b| b == 0) {
            Some(_) => {
                let (params, body) = split_nul(rest);
                (params.to_vec(), body.to_vec())
            }
            None => {
                let params = json!({
                    "msg_signature": "0".repeat(40),
                    "timestamp": unix_now().to_string(),
                    "nonce": "fuzznonce",
                });
                (params.to_string().into_bytes(), rest.to_vec())
            }
        },
        1 => wecom_signed(&wecom_encrypt(rest), false),
        2 => wecom_signed(&wecom_encrypt(rest), true),
        3 => {
            let mut message = apiv3_envelope(&fixture.wecom_aes_key, rest);
            message["notify_type"] = json!("REFUND");
            wecom_signed(&wecom_encrypt(message.to_string().as_bytes()), false)
        }
        _ => wecom_signed(&String::from_utf8_lossy(rest), false),
    };
    let params = c_text(&params);
    parse_notification(offline_clients().wecom, &params, &body)
        .check("wxrefund_notification_parse (wecom)");
}

/// A hostile loopback HTTP server answers every request with the input; a client of each
/// family applies for and queries a refund. Any status but `PANIC`/`INTERNAL` is fine.
/// Modes:
/// - 0: the rest is the raw HTTP response, sent as is (then the connection is closed);
/// - 1: the rest is the body of a `200` answer signed with the WeChat Pay public key;
/// - 2: `DDD` + body: a signed answer with HTTP status `DDD` (three ASCII digits,
///   100-599; otherwise 500 and the rest is the body);
/// - 3: the rest is the body of an unsigned `200` answer (WeCom answers are unsigned).
///
/// The mainland and Global clients live as long as the process; a WeCom client (fetching
/// its token from `gettoken`, i.e. from the input) and a mainland client that downloads
/// platform certificates (from the input) are made afresh for each input, so that no
/// cached token or certificate carries over from one input to the next.
pub fn http_answers(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let reply = match mode(control, 4) {
        0 => Reply::Raw(rest.to_vec()),
        1 => Reply::Framed {
            status: 200,
            body: rest.to_vec(),
            signed: true,
        },
        2 => {
            let status = rest
                .get(..3)
                .and_then(|digits| std::str::from_utf8(digits).ok())
                .and_then(|digits| digits.parse::<u16>().ok())
                .filter(|status| (100..=599).contains(status));
            match status {
                Some(status) => Reply::Framed {
                    status,
                    body: rest[3..].to_vec(),
                    signed: true,
                },
                None => Reply::Framed {
                    status: 500,
                    body: rest.to_vec(),
                    signed: true,
                },
            }
        }
        _ => Reply::Framed {
            status: 200,
            body: rest.to_vec(),
            signed: false,
        },
    };
    let server = hostile_server();
    let _session = lock(&server.session);
    *lock(&server.reply) = reply;
    let fixture = fixture();
    let base_url = format!("http://127.0.0.1:{}", server.port);
    let fresh = [
        ("wecom", fast(&fixture.wecom, &base_url)),
        ("domestic (platform certificates)", {
            let mut config = fast(&fixture.domestic, &base_url);
            if let Some(config) = config.as_object_mut() {
                config.remove("wechatpay_public_key_id");
                config.remove("wechatpay_public_key_pem");
                config.insert("platform_certificates".into(), json!(true));
            }
            config
        }),
    ];
    let lasting = answered_clients(&base_url);
    let mut clients: Vec<(&str, usize)> =
        vec![("domestic", lasting.domestic), ("global", lasting.global)];
    let made: Vec<(&str, usize)> = fresh
        .iter()
        .map(|(name, config)| (*name, new_client(config)))
        .collect();
    clients.extend(made.iter().copied());
    for (name, client) in clients {
        let family = name.split(' ').next().unwrap_or(name);
        let request = c_text(valid_request(family).to_string().as_bytes());
        call(client, &request, Operation::Create).check(&format!(
            "wxrefund_refund_create ({name}) answered by the input"
        ));
        let query = c_text(br#"{"out_refund_no":"FUZZ-R-1"}"#);
        call(client, &query, Operation::Query).check(&format!(
            "wxrefund_refund_query ({name}) answered by the input"
        ));
    }
    for (name, client) in made {
        // SAFETY: handles from wxrefund_client_new, freed once.
        let freed = unsafe { ffi::wxrefund_client_free(client as *mut wxrefund_client) };
        assert_eq!(freed, Status::Ok, "freeing the {name} client failed");
    }
}

// ---------------------------------------------------------------------------------------
// Calling the C ABI
// ---------------------------------------------------------------------------------------

/// What one C ABI call gave back.
struct Answer {
    status: Status,
    output: Option<String>,
    error: Option<String>,
}

impl Answer {
    /// The answer of one call, taking (and freeing) the strings it returned.
    ///
    /// # Safety
    /// `output` and `error` are NULL or strings the library returned and nobody freed.
    unsafe fn take(status: Status, output: *mut c_char, error: *mut c_char) -> Answer {
        Answer {
            status,
            // SAFETY: as promised by the caller.
            output: unsafe { take_string(output) },
            error: unsafe { take_string(error) },
        }
    }

    /// Panics on `PANIC`/`INTERNAL` or a broken ABI contract; returns the error JSON text
    /// (empty on success).
    fn check(&self, what: &str) -> String {
        let status = self.status;
        if matches!(status, Status::Panic | Status::Internal) {
            panic!(
                "{what} answered {}: {}",
                status_name(status),
                self.error.as_deref().unwrap_or("(no error JSON)")
            );
        }
        if status == Status::Ok {
            assert!(self.error.is_none(), "{what}: OK with an error JSON");
            if let Some(output) = &self.output {
                assert!(
                    serde_json::from_str::<Value>(output).is_ok_and(|v| v.is_object()),
                    "{what}: OK with an output that is not a JSON object: {output}"
                );
            }
            return String::new();
        }
        assert!(
            self.output.is_none(),
            "{what}: {} with an output",
            status_name(status)
        );
        let Some(error) = &self.error else {
            panic!("{what}: {} without an error JSON", status_name(status));
        };
        let parsed: Value = match serde_json::from_str(error) {
            Ok(parsed) => parsed,
            Err(e) => panic!("{what}: the error JSON does not parse ({e}): {error}"),
        };
        assert_eq!(
            parsed["status"].as_str(),
            Some(status_name(status).as_str()),
            "{what}: the error JSON's status is not the status returned: {error}"
        );
        error.clone()
    }
}

#[derive(Clone, Copy)]
enum Operation {
    Create,
    Query,
}

/// `wxrefund_refund_create` or `wxrefund_refund_query` on `client`.
fn call(client: usize, input: &CStr, operation: Operation) -> Answer {
    let function = match operation {
        Operation::Create => ffi::wxrefund_refund_create,
        Operation::Query => ffi::wxrefund_refund_query,
    };
    let mut output: *mut c_char = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: a live handle, a valid C string and out-pointers.
    let status = unsafe {
        function(
            client as *const wxrefund_client,
            input.as_ptr(),
            &mut output,
            &mut error,
        )
    };
    // SAFETY: NULL or strings the library returned.
    unsafe { Answer::take(status, output, error) }
}

/// `wxrefund_notification_parse` on `client`.
fn parse_notification(client: usize, headers: &CStr, body: &[u8]) -> Answer {
    let mut output: *mut c_char = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: a live handle, a valid C string, `body` readable for its length, out-pointers.
    let status = unsafe {
        ffi::wxrefund_notification_parse(
            client as *const wxrefund_client,
            headers.as_ptr(),
            body.as_ptr(),
            body.len(),
            &mut output,
            &mut error,
        )
    };
    // SAFETY: NULL or strings the library returned.
    unsafe { Answer::take(status, output, error) }
}

/// A client from a configuration that must be valid (setup, not fuzzed).
fn new_client(config: &Value) -> usize {
    let text = c_text(config.to_string().as_bytes());
    let mut client: *mut wxrefund_client = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: valid C string and out-pointers.
    let status = unsafe { ffi::wxrefund_client_new(text.as_ptr(), &mut client, &mut error) };
    // SAFETY: NULL or a string the library returned.
    let error = unsafe { take_string(error) };
    assert_eq!(
        status,
        Status::Ok,
        "fuzz setup: a client configuration was refused: {error:?}"
    );
    client as usize
}

/// The bytes as a C host would pass them: the string ends at the first NUL.
fn c_text(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

/// Copies and frees a string the library returned.
///
/// # Safety
/// `ptr` is NULL or a string returned by the library and not yet freed.
unsafe fn take_string(ptr: *mut c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned();
    unsafe { ffi::wxrefund_string_free(ptr) };
    Some(text)
}

fn status_name(status: Status) -> String {
    // SAFETY: wxrefund_status_name returns a static C string.
    unsafe { CStr::from_ptr(ffi::wxrefund_status_name(status as c_int)) }
        .to_string_lossy()
        .into_owned()
}

fn mode(control: u8, modes: u8) -> u8 {
    control % 8 % modes
}

/// Splits at the first NUL: (before, after); no NUL: (all, empty).
fn split_nul(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[]),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ---------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------

/// Configuration fields whose values are secrets.
const SECRET_FIELDS: [&str; 7] = [
    "private_key_pem",
    "apiv3_key",
    "corpsecret",
    "access_token",
    "callback_token",
    "encoding_aes_key",
    "proxy",
];

/// Length of the windows of a secret string that must not appear in an error.
const SECRET_WINDOW: usize = 16;

/// The members of a JSON object in order, duplicates included (serde reports on the first
/// of two duplicates, `serde_json::Value` keeps the last).
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pairs, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The error JSON (empty when none) of `config` with every secret value replaced: strings
/// by as many `x`, numbers by 0. What it shares with the real error is not secret.
fn redacted_error(config: &[(String, Value)]) -> String {
    let members: Vec<String> = config
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(text) if SECRET_FIELDS.contains(&key.as_str()) => {
                    json!("x".repeat(text.chars().count()))
                }
                Value::Number(_) if SECRET_FIELDS.contains(&key.as_str()) => json!(0),
                other => other.clone(),
            };
            format!("{}:{value}", Value::String(key.clone()))
        })
        .collect();
    let text = c_text(format!("{{{}}}", members.join(",")).as_bytes());
    let mut client: *mut wxrefund_client = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: valid C string and out-pointers.
    let status = unsafe { ffi::wxrefund_client_new(text.as_ptr(), &mut client, &mut error) };
    if status == Status::Ok {
        // SAFETY: a handle from wxrefund_client_new.
        unsafe { ffi::wxrefund_client_free(client) };
    }
    // SAFETY: NULL or a string the library returned.
    unsafe { take_string(error) }.unwrap_or_default()
}

/// Panics when `error` (an error JSON) contains material of a secret field of `config`:
/// any 16-character window of a secret string (of a PEM: of its base64 lines), or the
/// text of a secret given as a number of 8 or more characters. Material that also appears
/// in a non-secret part of the configuration, or in `baseline` (the error of the same
/// configuration with its secrets replaced: the library's own words), is not counted.
fn assert_no_secret_echo(config: &[(String, Value)], error: &str, baseline: &str) {
    let mut public = String::new();
    let mut needles = Vec::new();
    for (key, value) in config {
        public.push_str(key);
        public.push('\n');
        if !SECRET_FIELDS.contains(&key.as_str()) {
            collect_text(value, &mut public);
            continue;
        }
        match value {
            Value::String(text) => {
                let lines: Vec<&str> = if text.contains("BEGIN") || text.contains("-----") {
                    text.lines()
                        .map(str::trim)
                        .filter(|line| !line.contains("----"))
                        .collect()
                } else {
                    vec![text.as_str()]
                };
                for line in lines {
                    let chars: Vec<char> = line.chars().collect();
                    for window in chars.windows(SECRET_WINDOW) {
                        needles.push(window.iter().collect::<String>());
                    }
                }
            }
            Value::Number(number) => {
                let text = number.to_string();
                if text.len() >= 8 {
                    needles.push(text);
                }
            }
            _ => {}
        }
    }
    for needle in needles {
        let escaped = Value::String(needle.clone()).to_string();
        let escaped = &escaped[1..escaped.len() - 1];
        if public.contains(&needle) || baseline.contains(&needle) || baseline.contains(escaped) {
            continue;
        }
        assert!(
            !error.contains(&needle) && !error.contains(escaped),
            "secret material {needle:?} echoed in an error: {}",
            error.chars().take(400).collect::<String>()
        );
    }
}

/// Every string, key and number of `value`, one a line.
fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => out.push_str(text),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, out)),
        Value::Object(object) => {
            for (key, item) in object {
                out.push_str(key);
                out.push('\n');
                collect_text(item, out);
            }
        }
        _ => {}
    }
    out.push('\n');
}

/// Rules a request that passed validation must keep, checked independently.
fn check_accepted_request(client: &str, request: &str) {
    let Ok(request) = serde_json::from_str::<Value>(request) else {
        panic!("{client}: a request that is not JSON passed validation: {request:?}");
    };
    if let Some(url) = request.get("notify_url").and_then(Value::as_str) {
        if let Some(rest) = url.strip_prefix("http://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            assert!(
                !authority.contains('@') && is_loopback_host(authority),
                "{client}: notify_url {url:?} passed validation, but plain http:// is for \
                 loopback hosts only and its host is not one"
            );
        }
    }
    let amount = &request["amount"];
    if let Some(from) = amount.get("from").and_then(Value::as_array) {
        let sum: i128 = from
            .iter()
            .map(|entry| entry["amount"].as_i64().map_or(0, i128::from))
            .sum();
        let refund = amount["refund"].as_i64().map(i128::from);
        assert_eq!(
            Some(sum),
            refund,
            "{client}: amount.from adds up to {sum}, not amount.refund, yet passed validation"
        );
    }
}

/// `localhost`, `127.x.x.x` or `[::1]`, with an optional port.
fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, _)) => host,
            None => return false,
        },
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

// ---------------------------------------------------------------------------------------
// Configurations and clients, made once per process
// ---------------------------------------------------------------------------------------

/// Ready configurations from the simulator (public-key verification), and its secrets.
struct Fixture {
    domestic: Value,
    partner: Value,
    global: Value,
    institution: Value,
    wecom: Value,
    apiv3_key: Vec<u8>,
    public_key_id: String,
    callback_token: String,
    wecom_aes_key: [u8; 32],
    corpid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sim = Simulator::start(SimOptions {
            verification: Verification::PublicKey,
            ..SimOptions::default()
        })
        .expect("fuzz setup: the simulator starts");
        let text = |config: &Value, field: &str| {
            config[field]
                .as_str()
                .unwrap_or_else(|| panic!("fuzz setup: the configuration has no {field}"))
                .to_string()
        };
        let domestic = sim.client_config();
        let wecom = sim.wecom_client_config();
        let wecom_aes_key = wecom_callback::aes_key(&text(&wecom, "encoding_aes_key"))
            .expect("fuzz setup: the EncodingAESKey decodes to 32 bytes");
        let fixture = Fixture {
            apiv3_key: text(&domestic, "apiv3_key").into_bytes(),
            public_key_id: text(&domestic, "wechatpay_public_key_id"),
            callback_token: text(&wecom, "callback_token"),
            corpid: text(&wecom, "corpid"),
            wecom_aes_key,
            partner: sim.partner_client_config("1900000109"),
            global: sim.global_client_config(),
            institution: sim.global_institution_client_config("1900000209"),
            domestic,
            wecom,
        };
        // Only its configurations were wanted: stop it, nothing may talk to it.
        drop(sim);
        fixture
    })
}

/// `config` pointed at `base_url`, with no retries and short timeouts.
fn fast(config: &Value, base_url: &str) -> Value {
    let mut config = config.clone();
    config["base_url"] = json!(base_url);
    config["max_retries"] = json!(0);
    config["retry_delay_ms"] = json!(0);
    config["connect_timeout_ms"] = json!(300);
    config["read_timeout_ms"] = json!(2000);
    if config["family"] == "wecom" {
        config["order_spacing_secs"] = json!(0);
    }
    config
}

/// Client handles (as addresses: handles are opaque registry keys).
struct Clients {
    domestic: usize,
    partner: usize,
    global: usize,
    institution: usize,
    wecom: usize,
}

impl Clients {
    fn all(&self) -> [(&'static str, usize); 5] {
        [
            ("domestic", self.domestic),
            ("domestic partner", self.partner),
            ("global", self.global),
            ("global institution", self.institution),
            ("wecom", self.wecom),
        ]
    }
}

fn make_clients(base_url: &str) -> Clients {
    let fixture = fixture();
    Clients {
        domestic: new_client(&fast(&fixture.domestic, base_url)),
        partner: new_client(&fast(&fixture.partner, base_url)),
        global: new_client(&fast(&fixture.global, base_url)),
        institution: new_client(&fast(&fixture.institution, base_url)),
        wecom: new_client(&fast(&fixture.wecom, base_url)),
    }
}

/// Clients of every family and mode whose base URL is a closed loopback port: a request
/// that passes validation fails at once with TRANSPORT.
fn offline_clients() -> &'static Clients {
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("fuzz setup: a free loopback port")
            .port();
        // The listener is dropped: the port is closed, connections are refused.
        make_clients(&format!("http://127.0.0.1:{port}"))
    })
}

/// Long-lived mainland and Global clients of the hostile server.
fn answered_clients(base_url: &str) -> &'static Clients {
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    CLIENTS.get_or_init(|| make_clients(base_url))
}

/// A request that passes validation, for `family`.
fn valid_request(family: &str) -> Value {
    let (order, currency) = match family {
        "global" => ("G20261122000001", "USD"),
        "wecom" => ("W20261122000001", "CNY"),
        _ => ("T20261122000001", "CNY"),
    };
    json!({"out_trade_no": order, "out_refund_no": "FUZZ-R-1",
           "amount": {"refund": 1, "total": 10000, "currency": currency}})
}

// ---------------------------------------------------------------------------------------
// Signing and encrypting as the platforms do
// ---------------------------------------------------------------------------------------

fn signing_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let base64: String = PUBKEY_PRIVATE_PEM
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = BASE64
            .decode(base64.trim())
            .expect("fuzz setup: the key PEM is base64");
        RsaKeyPair::from_pkcs8(&der).expect("fuzz setup: the key is PKCS#8 RSA")
    })
}

/// RSASSA-PKCS1-v1_5/SHA-256 of `timestamp\nnonce\nbody\n`, base64.
fn apiv3_signature(timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(body.len() + 64);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    let key = signing_key();
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &message,
        &mut signature,
    )
    .expect("RSA signing");
    BASE64.encode(signature)
}

/// The `Wechatpay-*` headers of `body`, signed now with the public key's private half.
fn signed_header_pairs(body: &[u8]) -> [(&'static str, String); 5] {
    let timestamp = unix_now().to_string();
    let nonce = "fuzzNonce0123456789".to_string();
    let signature = apiv3_signature(&timestamp, &nonce, body);
    [
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Serial", fixture().public_key_id.clone()),
        (
            "Wechatpay-Signature-Type",
            "WECHATPAY2-SHA256-RSA2048".to_string(),
        ),
    ]
}

/// [`signed_header_pairs`] as the headers JSON a host passes.
fn signed_headers(body: &[u8]) -> Vec<u8> {
    let headers: Map<String, Value> = signed_header_pairs(body)
        .into_iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    Value::Object(headers).to_string().into_bytes()
}

/// A `REFUND.SUCCESS` envelope whose resource is `plaintext`, AES-256-GCM under `key`.
fn apiv3_envelope(key: &[u8], plaintext: &[u8]) -> Value {
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key"));
    let mut sealed = plaintext.to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(*GCM_NONCE),
            Aad::from(RESOURCE_AAD.as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM sealing");
    json!({
        "id": "EV-fuzz0000000000000000000000000001",
        "create_time": "2026-11-23T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "REFUND.SUCCESS",
        "summary": "退款成功",
        "resource": {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": BASE64.encode(sealed),
            "nonce": String::from_utf8_lossy(GCM_NONCE),
            "associated_data": RESOURCE_AAD,
            "original_type": "refund",
        },
    })
}

/// WeCom's `Encrypt` of `message` for the simulator's corp, as the simulator makes it.
fn wecom_encrypt(message: &[u8]) -> String {
    let fixture = fixture();
    wecom_callback::encrypt(&fixture.wecom_aes_key, message, &fixture.corpid)
}

/// Callback URL parameters signed now over `encrypted`, and the envelope carrying it.
fn wecom_signed(encrypted: &str, xml: bool) -> (Vec<u8>, Vec<u8>) {
    let fixture = fixture();
    let timestamp = unix_now().to_string();
    let nonce = "fuzznonce";
    let signature =
        wecom_callback::msg_signature(&fixture.callback_token, &timestamp, nonce, encrypted);
    let params = json!({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce});
    let body = if xml {
        format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>\
             </Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>",
            fixture.corpid
        )
    } else {
        json!({"tousername": fixture.corpid, "encrypt": encrypted, "agentid": "1000002"})
            .to_string()
    };
    (params.to_string().into_bytes(), body.into_bytes())
}

// ---------------------------------------------------------------------------------------
// The hostile server of `http_answers`
// ---------------------------------------------------------------------------------------

/// What the hostile server answers.
enum Reply {
    /// These bytes, as the whole response.
    Raw(Vec<u8>),
    /// A well-framed response with this status and body, signed or not.
    Framed {
        status: u16,
        body: Vec<u8>,
        signed: bool,
    },
}

struct HostileServer {
    port: u16,
    reply: Mutex<Reply>,
    /// Held for a whole input, so that concurrent callers do not mix answers.
    session: Mutex<()>,
}

fn hostile_server() -> &'static HostileServer {
    static SERVER: OnceLock<HostileServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("fuzz setup: bind the hostile server");
        let port = listener
            .local_addr()
            .expect("fuzz setup: the hostile server's address")
            .port();
        std::thread::Builder::new()
            .name("hostile-http".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    answer(stream);
                }
            })
            .expect("fuzz setup: start the hostile server");
        HostileServer {
            port,
            reply: Mutex::new(Reply::Raw(Vec::new())),
            session: Mutex::new(()),
        }
    })
}

/// Reads one request (headers and `Content-Length` body), writes the reply, and closes.
fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut wanted: Option<usize> = None;
    while wanted.is_none_or(|total| request.len() < total) && request.len() < 1 << 20 {
        let Ok(n @ 1..) = stream.read(&mut buffer) else {
            break;
        };
        request.extend_from_slice(&buffer[..n]);
        if wanted.is_none() {
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                wanted = Some(end + 4 + length);
            }
        }
    }
    let response = match &*lock(&hostile_server().reply) {
        Reply::Raw(bytes) => bytes.clone(),
        Reply::Framed {
            status,
            body,
            signed,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Fuzz\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nRequest-ID: fuzz-request\r\nConnection: close\r\n",
                body.len()
            );
            if *signed {
                for (name, value) in signed_header_pairs(body) {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
            }
            head.push_str("\r\n");
            let mut response = head.into_bytes();
            response.extend_from_slice(body);
            response
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}
