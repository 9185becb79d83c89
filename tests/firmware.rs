//! Firmware realities, measured through the C ABI: what a payment-terminal engineer needs
//! to know before putting the library on a small device.
//!
//! 1. **No thread.** The simulator runs in another process (this binary re-executes itself
//!    with `WXREFUND_FIRMWARE_SIM` set), so this process has one thread, and every C entry
//!    point is called on it: the thread count (`/proc/self/task`) must be the same before,
//!    during (read from the log callback, while the call is in progress) and after each call.
//! 2. **Stack per entry point.** The same calls run on a thread with a small stack; before
//!    each call the unused part of that stack is painted with a pattern, and after it the
//!    deepest byte that changed says how much stack the call used. Each must stay under a
//!    stated bound (a regression is a failed assertion, not a stack overflow).
//! 3. **RSS over many calls.** `WXREFUND_FIRMWARE_CALLS` (default 500) create + query pairs;
//!    VmRSS after a warm-up and at the end, printed (with one very loose sanity bound).
//!
//! Every figure is also printed as one `FIGURE {json}` line for scripts
//! (`grep '^FIGURE '`). Run with `cargo test -p wxrefund --test firmware -- --nocapture`
//! (and `--release` for release figures). `harness = false` (Cargo.toml): libtest would run
//! the test on a thread of its own and keep others around.
//!
//! On ARM, under qemu-user (which adds a thread of its own: the count stays what it was),
//! let the host build run the simulator:
//! `WXREFUND_FIRMWARE_SIM_EXE=target/release/deps/firmware-HASH qemu-aarch64 -L
//! /usr/aarch64-linux-gnu target/aarch64-unknown-linux-gnu/release/deps/firmware-HASH`
//! (after `cargo test --release --target aarch64-unknown-linux-gnu -p wxrefund --test
//! firmware --no-run`). RSS under qemu is qemu's, not the library's.

mod support;

use serde_json::{json, Value};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::receiver::percent_decode;
use wxrefund::ffi::*;

/// Set in the child process that runs the simulator.
const CHILD_ENV: &str = "WXREFUND_FIRMWARE_SIM";
/// The URL the child's simulator POSTs WeCom callbacks to (a listener of the parent).
const CALLBACK_ENV: &str = "WXREFUND_FIRMWARE_CALLBACK";
/// The program to run as the simulator's process instead of this binary: under qemu-user
/// (no binfmt_misc), the host build of this test.
const SIM_EXE_ENV: &str = "WXREFUND_FIRMWARE_SIM_EXE";
/// How many create + query pairs the RSS part makes.
const CALLS_ENV: &str = "WXREFUND_FIRMWARE_CALLS";
const DEFAULT_CALLS: usize = 500;
/// Create + query pairs before the first RSS reading.
const WARMUP_CALLS: usize = 50;
/// Refunds per seeded RSS order (the simulator allows 50).
const REFUNDS_PER_ORDER: usize = 40;
const RSS_REFUND_FEN: i64 = 100;
/// Refunds settle this long after they are accepted.
const SETTLE: Duration = Duration::from_millis(50);

const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// The size of the thread the stack part runs on, and the bound every entry point must
/// stay under. Measured (ring and aws-lc alike): the deepest call (a first notification
/// parse, which downloads the platform certificates) uses 39 KiB in release on x86_64
/// (the shipped profile: opt-level "z", fat LTO; 27 KiB with opt-level 3), 39 KiB on
/// aarch64 and 25 KiB on ARMv7 (under qemu-user), and 96 KiB in debug on x86_64. The bounds leave more than twice the deepest, and the thread is twice the bound,
/// so a regression fails the assertion long before it overflows the thread.
const STACK_THREAD_BYTES: usize = if cfg!(debug_assertions) {
    512 * 1024
} else {
    256 * 1024
};
const STACK_BOUND_BYTES: usize = if cfg!(debug_assertions) {
    256 * 1024
} else {
    128 * 1024
};

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        run_simulator();
        return;
    }
    let started = Instant::now();
    let rss_at_start = status_kib("VmRSS:");
    println!(
        "firmware: profile {PROFILE}, crypto backend {}, wxrefund {}",
        wxrefund::CRYPTO_BACKEND,
        wxrefund::VERSION
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let calls: usize = std::env::var(CALLS_ENV)
        .ok()
        .map_or(DEFAULT_CALLS, |n| n.parse().expect(CALLS_ENV));
    let sim = SimProcess::start(&format!("http://127.0.0.1:{port}/wecom"), calls);
    let env = Env {
        configs: &sim.configs,
        listener: &listener,
        port,
    };

    threads_part(&env);
    rss_part(&env, calls, rss_at_start);
    stack_part(&env);

    drop(sim);
    println!(
        "firmware: all parts passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// The simulator, in a child process.

/// The child: starts the simulator, seeds the RSS orders, prints the client configurations
/// as one JSON line and serves until its stdin closes (when the parent exits, whatever way).
fn run_simulator() {
    use wxrefund_sim::orders_file::OrderFile;
    use wxrefund_sim::{SimOptions, Simulator};
    let calls: usize = std::env::var(CALLS_ENV)
        .ok()
        .map_or(DEFAULT_CALLS, |n| n.parse().expect(CALLS_ENV));
    let sim = Simulator::start(SimOptions {
        settle_after: SETTLE,
        wecom_order_spacing: Duration::ZERO,
        wecom_callback_url: std::env::var(CALLBACK_ENV).ok(),
        ..SimOptions::default()
    })
    .expect("the simulator starts");
    let orders: Vec<Value> = (0..rss_orders(calls))
        .map(|i| {
            json!({"out_trade_no": rss_order(i), "transaction_id": format!("42{i:026}"),
                   "total": rss_order_total(), "paid_days_ago": 0, "final_status": "SUCCESS"})
        })
        .collect();
    let file =
        OrderFile::parse(&json!({ "domestic": orders }).to_string(), "rss orders").expect("orders");
    sim.seed_orders(&file);
    let configs = json!({
        "domestic": sim.client_config(),
        "global": sim.global_client_config(),
        "wecom": sim.wecom_client_config(),
        "wecom_token": sim.issue_wecom_token(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{configs}").expect("write the configurations");
    stdout.flush().expect("flush");
    drop(stdout);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(sim);
}

fn rss_orders(calls: usize) -> usize {
    (calls + WARMUP_CALLS).div_ceil(REFUNDS_PER_ORDER)
}

fn rss_order(i: usize) -> String {
    format!("FWL{i:08}")
}

fn rss_order_total() -> i64 {
    RSS_REFUND_FEN * REFUNDS_PER_ORDER as i64
}

struct SimProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    configs: Value,
}

impl SimProcess {
    /// Re-executes this test binary as the simulator's process (spawning a process starts
    /// no thread here).
    fn start(callback_url: &str, calls: usize) -> SimProcess {
        let program = std::env::var_os(SIM_EXE_ENV)
            .map_or_else(|| std::env::current_exe().expect("current_exe"), Into::into);
        let mut child = Command::new(program)
            .env(CHILD_ENV, "1")
            .env(CALLBACK_ENV, callback_url)
            .env(CALLS_ENV, calls.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the simulator process");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the configurations");
        let configs: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the simulator process printed {line:?}: {e}"));
        SimProcess {
            child,
            stdin,
            configs,
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

struct Env<'a> {
    configs: &'a Value,
    /// Where the simulator delivers notifications (APIv3 `notify_url`, WeCom callbacks).
    listener: &'a TcpListener,
    port: u16,
}

// ---------------------------------------------------------------------------------------
// Probes: what happens around each measured C call.

/// One measured call: the C entry point, the client family and whether it is the first
/// call of its client (certificate download or token fetch included), a warm one, or (a
/// wait) one that sleeps between queries.
#[derive(Clone, Copy)]
struct Step {
    entry: &'static str,
    family: &'static str,
    call: &'static str,
}

fn step(entry: &'static str, family: &'static str, call: &'static str) -> Step {
    Step {
        entry,
        family,
        call,
    }
}

trait Probe {
    fn call<R>(&mut self, step: Step, f: impl FnOnce() -> R) -> R;
}

/// Calls without measuring (set-up calls).
struct Plain;

impl Probe for Plain {
    fn call<R>(&mut self, _: Step, f: impl FnOnce() -> R) -> R {
        f()
    }
}

// ---------------------------------------------------------------------------------------
// The C calls.

type Client = *mut wxrefund_client;
type Out = Result<String, (wxrefund_status, String)>;

fn take_string(ptr: *mut c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated string returned by the library, freed right after, once.
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: as above; the library checks the pointer against its registry anyway.
    unsafe { wxrefund_string_free(ptr) };
    text
}

/// Makes a call with `(*mut response_out, *mut error_out)` under `probe`, then reads and
/// frees what it returned (outside the measurement).
fn out_call<P: Probe>(
    probe: &mut P,
    step: Step,
    call: impl FnOnce(*mut *mut c_char, *mut *mut c_char) -> wxrefund_status,
) -> Out {
    let mut out: *mut c_char = ptr::null_mut();
    let mut error: *mut c_char = ptr::null_mut();
    let (out_ptr, error_ptr) = (&mut out as *mut _, &mut error as *mut _);
    let status = probe.call(step, || call(out_ptr, error_ptr));
    if status == wxrefund_status::Ok {
        Ok(take_string(out))
    } else {
        Err((status, take_string(error)))
    }
}

fn cstring(text: impl Into<String>) -> CString {
    CString::new(text.into()).expect("no NUL")
}

fn client_new<P: Probe>(probe: &mut P, step: Step, config: &Value) -> Client {
    let config = cstring(config.to_string());
    let mut client: Client = ptr::null_mut();
    let client_ptr = &mut client as *mut Client;
    let result = out_call(probe, step, |_, error| {
        // SAFETY: valid NUL-terminated input, valid output pointers.
        unsafe { wxrefund_client_new(config.as_ptr(), client_ptr, error) }
    });
    result.unwrap_or_else(|e| panic!("client_new: {e:?}"));
    assert!(!client.is_null());
    client
}

/// The host's token provider for the WeCom token-provider client: `user_data` is a
/// NUL-terminated token owned by the caller.
unsafe extern "C" fn provide_token(
    user_data: *mut c_void,
    _rejected: *const c_char,
    token_out: *mut c_char,
    capacity: usize,
) -> c_int {
    // SAFETY: `user_data` is the CString the test passed, alive until the client is freed.
    let token = unsafe { CStr::from_ptr(user_data as *const c_char) }.to_bytes_with_nul();
    if token.len() > capacity {
        return 1;
    }
    // SAFETY: the library gives `capacity` writable bytes at `token_out`.
    unsafe { ptr::copy_nonoverlapping(token.as_ptr(), token_out as *mut u8, token.len()) };
    0
}

fn client_new_with_token_provider<P: Probe>(
    probe: &mut P,
    step: Step,
    config: &Value,
    token: &CStr,
) -> Client {
    let config = cstring(config.to_string());
    let mut client: Client = ptr::null_mut();
    let client_ptr = &mut client as *mut Client;
    let user_data = token.as_ptr() as *mut c_void;
    let result = out_call(probe, step, |_, error| {
        // SAFETY: valid input and outputs; `user_data` outlives the client (see `wecom`).
        unsafe {
            wxrefund_client_new_with_token_provider(
                config.as_ptr(),
                Some(provide_token),
                user_data,
                client_ptr,
                error,
            )
        }
    });
    result.unwrap_or_else(|e| panic!("client_new_with_token_provider: {e:?}"));
    client
}

fn client_free<P: Probe>(probe: &mut P, step: Step, client: Client) {
    // SAFETY: the handle is only compared against the registry.
    let status = probe.call(step, || unsafe { wxrefund_client_free(client) });
    assert_eq!(status, wxrefund_status::Ok);
}

fn create<P: Probe>(probe: &mut P, step: Step, client: Client, request: &Value) -> Value {
    let request = cstring(request.to_string());
    let out = out_call(probe, step, |out, error| {
        // SAFETY: a live handle, valid input and outputs.
        unsafe { wxrefund_refund_create(client, request.as_ptr(), out, error) }
    });
    parse_out("refund_create", out)
}

fn query<P: Probe>(probe: &mut P, step: Step, client: Client, out_refund_no: &str) -> Value {
    let query = cstring(json!({ "out_refund_no": out_refund_no }).to_string());
    let out = out_call(probe, step, |out, error| {
        // SAFETY: a live handle, valid input and outputs.
        unsafe { wxrefund_refund_query(client, query.as_ptr(), out, error) }
    });
    parse_out("refund_query", out)
}

fn wait<P: Probe>(probe: &mut P, step: Step, client: Client, out_refund_no: &str) -> Value {
    let query = cstring(json!({ "out_refund_no": out_refund_no }).to_string());
    let out = out_call(probe, step, |out, error| {
        // SAFETY: a live handle, valid input and outputs.
        unsafe { wxrefund_refund_wait(client, query.as_ptr(), 10_000, out, error) }
    });
    parse_out("refund_wait", out)
}

fn apply_abnormal<P: Probe>(probe: &mut P, step: Step, client: Client, request: &Value) -> Value {
    let request = cstring(request.to_string());
    let out = out_call(probe, step, |out, error| {
        // SAFETY: a live handle, valid input and outputs.
        unsafe { wxrefund_refund_apply_abnormal(client, request.as_ptr(), out, error) }
    });
    parse_out("refund_apply_abnormal", out)
}

fn notification_parse<P: Probe>(
    probe: &mut P,
    step: Step,
    client: Client,
    received: &Received,
) -> Value {
    let headers = cstring(received.headers_json.to_string());
    let body = &received.body;
    let out = out_call(probe, step, |out, error| {
        // SAFETY: a live handle, valid input (`body` for its length) and outputs.
        unsafe {
            wxrefund_notification_parse(
                client,
                headers.as_ptr(),
                body.as_ptr(),
                body.len(),
                out,
                error,
            )
        }
    });
    parse_out("notification_parse", out)
}

fn parse_out(what: &str, out: Out) -> Value {
    match out {
        Ok(text) => serde_json::from_str(&text).expect("response JSON"),
        Err((status, error)) => panic!("{what}: {status:?} {error}"),
    }
}

/// Counts log records; for the parts that do not count threads.
static RECORDS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_records(_: *mut c_void, _: c_int, _: *const c_char, _: *const c_char) {
    RECORDS.fetch_add(1, Ordering::Relaxed);
}

fn set_log_callback<P: Probe>(probe: &mut P, step: Step, callback: wxrefund_log_fn) {
    // SAFETY: the callbacks are plain functions safe to call from any thread; no user_data.
    let status = probe.call(step, || unsafe {
        wxrefund_set_log_callback(4, callback, ptr::null_mut(), ptr::null_mut())
    });
    assert_eq!(status, wxrefund_status::Ok);
}

// ---------------------------------------------------------------------------------------
// Notifications, received on this process's listener without a thread.

/// A notification as the host received it: the headers the library is given (HTTP
/// headers, or a WeCom callback's query parameters) and the raw body.
struct Received {
    headers_json: Value,
    body: Vec<u8>,
}

/// Accepts and acknowledges (200) every delivery already waiting.
fn drain(listener: &TcpListener) {
    while let Ok((stream, _)) = listener.accept() {
        let _ = read_request(stream);
    }
}

/// Waits (up to 30 s: the simulator's one notifier waits 2 s for each delivery this
/// process did not accept in time) for a delivery to `path`, acknowledging it and any other.
fn next_delivery(listener: &TcpListener, path: &str) -> Received {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some((target, received)) = read_request(stream) {
                    if target.split('?').next() == Some(path) {
                        return received;
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    panic!("no notification delivered to {path} within 30 s");
}

/// Reads one HTTP/1.1 request and answers 200; the target and what the host would hand
/// the library (headers as a JSON object, or for a WeCom callback its query parameters).
fn read_request(stream: TcpStream) -> Option<(String, Received)> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut headers = serde_json::Map::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
            headers.insert(name.to_string(), json!(value.trim()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let headers_json = match target.split_once('?') {
        Some((_, query)) => Value::Object(
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), json!(percent_decode(v))))
                .collect(),
        ),
        None => Value::Object(headers),
    };
    Some((target, Received { headers_json, body }))
}

// ---------------------------------------------------------------------------------------
// The scenario: every C entry point, each family, first and warm calls.

/// Runs every entry point under `probe`; `tag` keeps refund numbers apart between parts.
fn scenario<P: Probe>(probe: &mut P, env: &Env, tag: &str) {
    apiv3_family(probe, env, tag, "domestic");
    abnormal(probe, env, tag);
    localhost(probe, env, tag);
    apiv3_family(probe, env, tag, "global");
    wecom(probe, env, tag);
}

fn refund_request(family: &str, out_refund_no: &str, notify_url: Option<&str>) -> Value {
    let (out_trade_no, total, currency) = match family {
        "domestic" => ("T20261122000001", 10000, "CNY"),
        "global" => ("G20261122000001", 10000, "USD"),
        _ => ("W20261122000001", 10000, "CNY"),
    };
    let mut request = json!({"out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
                             "amount": {"refund": 1, "total": total, "currency": currency}});
    if let Some(url) = notify_url {
        request["notify_url"] = json!(url);
    }
    request
}

fn assert_final(what: &str, refund: &Value, status: &str) {
    assert_eq!(refund["wxrefund"]["status"], status, "{what}: {refund}");
}

/// Mainland or Global: create (first, warm), query, wait, notification parse on a fresh
/// client (first: it downloads the platform certificates; warm), free.
fn apiv3_family<P: Probe>(probe: &mut P, env: &Env, tag: &str, family: &'static str) {
    let config = &env.configs[family];
    let client = client_new(probe, step("wxrefund_client_new", family, "first"), config);
    let first = format!("FW{tag}{family}1");
    let notify_url = format!("http://127.0.0.1:{}/n/{first}", env.port);
    create(
        probe,
        step("wxrefund_refund_create", family, "first"),
        client,
        &refund_request(family, &first, Some(&notify_url)),
    );
    create(
        probe,
        step("wxrefund_refund_create", family, "warm"),
        client,
        &refund_request(family, &format!("FW{tag}{family}2"), None),
    );
    query(
        probe,
        step("wxrefund_refund_query", family, "warm"),
        client,
        &first,
    );
    std::thread::sleep(SETTLE * 2);
    let waited = wait(
        probe,
        step("wxrefund_refund_wait", family, "warm"),
        client,
        &first,
    );
    assert_final("wait", &waited, "SUCCESS");
    if family == "domestic" {
        // A wait that sleeps: the refund was accepted a moment ago, so the first query
        // finds it processing and the next comes a second later (on this thread too).
        let second = format!("FW{tag}{family}3");
        create(
            &mut Plain,
            step("", "", ""),
            client,
            &refund_request(family, &second, None),
        );
        let waited = wait(
            probe,
            step("wxrefund_refund_wait", family, "sleep"),
            client,
            &second,
        );
        assert_final("sleeping wait", &waited, "SUCCESS");
        println!(
            "    (the sleeping wait sent {} queries)",
            waited["wxrefund"]["attempts"]
        );
    }
    let received = next_delivery(env.listener, &format!("/n/{first}"));

    let fresh = client_new(probe, step("wxrefund_client_new", family, "warm"), config);
    for call in ["first", "warm"] {
        let parsed = notification_parse(
            probe,
            step("wxrefund_notification_parse", family, call),
            fresh,
            &received,
        );
        assert_eq!(parsed["event_type"], "REFUND.SUCCESS");
        assert_eq!(parsed["refund"]["out_refund_no"], first.as_str());
    }
    client_free(probe, step("wxrefund_client_free", family, "warm"), fresh);
    client_free(probe, step("wxrefund_client_free", family, "warm"), client);
}

/// Apply-abnormal-refund on a fresh client (first: it downloads the certificate whose key
/// encrypts the bank details) and again (warm).
fn abnormal<P: Probe>(probe: &mut P, env: &Env, tag: &str) {
    let config = &env.configs["domestic"];
    let setup = client_new(&mut Plain, step("", "", ""), config);
    let client = client_new(&mut Plain, step("", "", ""), config);
    for (n, call) in ["first", "warm"].into_iter().enumerate() {
        let out_refund_no = format!("FW{tag}abnormal{n}");
        let request = json!({"out_trade_no": "T20261122000003", "out_refund_no": out_refund_no,
                             "amount": {"refund": 1, "total": 800, "currency": "CNY"}});
        create(&mut Plain, step("", "", ""), setup, &request);
        std::thread::sleep(SETTLE * 2);
        let refund = wait(&mut Plain, step("", "", ""), setup, &out_refund_no);
        assert_final("abnormal refund", &refund, "ABNORMAL");
        let applied = apply_abnormal(
            probe,
            step("wxrefund_refund_apply_abnormal", "domestic", call),
            client,
            &json!({"refund_id": refund["refund_id"], "out_refund_no": out_refund_no,
                    "type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT",
                    "bank_account": "6222021234567890123", "real_name": "张三"}),
        );
        assert_eq!(applied["wxrefund"]["status"], "PROCESSING", "{applied}");
    }
    client_free(&mut Plain, step("", "", ""), client);
    client_free(&mut Plain, step("", "", ""), setup);
}

/// A client whose `base_url` is a host name (`localhost`): the name is resolved on the
/// calling thread too (ureq resolves synchronously when no resolve timeout is set).
fn localhost<P: Probe>(probe: &mut P, env: &Env, tag: &str) {
    let mut config = env.configs["domestic"].clone();
    let base = config["base_url"].as_str().expect("base_url").to_string();
    config["base_url"] = json!(base.replace("127.0.0.1", "localhost"));
    let client = client_new(&mut Plain, step("", "", ""), &config);
    let refund = query(
        probe,
        step("wxrefund_refund_query", "domestic (localhost)", "first"),
        client,
        &format!("FW{tag}domestic1"),
    );
    assert_final("localhost query", &refund, "SUCCESS");
    client_free(&mut Plain, step("", "", ""), client);
}

/// WeCom: create (first: it fetches the access token; warm), query, wait, callback parse
/// (first, warm), and a client whose tokens come from a host callback.
fn wecom<P: Probe>(probe: &mut P, env: &Env, tag: &str) {
    let mut config = env.configs["wecom"].clone();
    config["order_spacing_secs"] = json!(0);
    let client = client_new(
        probe,
        step("wxrefund_client_new", "wecom", "first"),
        &config,
    );
    let first = format!("FW{tag}wecom1");
    create(
        probe,
        step("wxrefund_refund_create", "wecom", "first"),
        client,
        &refund_request("wecom", &first, None),
    );
    create(
        probe,
        step("wxrefund_refund_create", "wecom", "warm"),
        client,
        &refund_request("wecom", &format!("FW{tag}wecom2"), None),
    );
    query(
        probe,
        step("wxrefund_refund_query", "wecom", "warm"),
        client,
        &first,
    );
    std::thread::sleep(SETTLE * 2);
    let waited = wait(
        probe,
        step("wxrefund_refund_wait", "wecom", "warm"),
        client,
        &first,
    );
    assert_final("wecom wait", &waited, "SUCCESS");
    let received = next_delivery(env.listener, "/wecom");
    let fresh = client_new(&mut Plain, step("", "", ""), &config);
    for call in ["first", "warm"] {
        let parsed = notification_parse(
            probe,
            step("wxrefund_notification_parse", "wecom", call),
            fresh,
            &received,
        );
        // The simulator calls back for each refund once it settles, queried or not, and
        // redelivers what was not answered in time: any of this test's will do.
        let number = parsed["refund"]["out_refund_no"]
            .as_str()
            .unwrap_or_default();
        assert!(number.starts_with("FW"), "{parsed}");
        assert_eq!(parsed["event_type"], "REFUND.SUCCESS");
    }
    client_free(&mut Plain, step("", "", ""), fresh);
    client_free(probe, step("wxrefund_client_free", "wecom", "warm"), client);

    let mut provided = config.clone();
    let object = provided.as_object_mut().expect("object");
    object.remove("corpid");
    object.remove("corpsecret");
    let token = cstring(env.configs["wecom_token"].as_str().expect("token"));
    let client = client_new_with_token_provider(
        probe,
        step("wxrefund_client_new_with_token_provider", "wecom", "first"),
        &provided,
        &token,
    );
    let out_refund_no = format!("FW{tag}wecom3");
    create(
        probe,
        step("wxrefund_refund_create", "wecom (token provider)", "first"),
        client,
        &refund_request("wecom", &out_refund_no, None),
    );
    query(
        probe,
        step("wxrefund_refund_query", "wecom (token provider)", "warm"),
        client,
        &out_refund_no,
    );
    client_free(&mut Plain, step("", "", ""), client);
    drop(token);
    drain(env.listener);
}

// ---------------------------------------------------------------------------------------
// Part 1: threads.

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

static DURING_MAX: AtomicUsize = AtomicUsize::new(0);
static DURING_MIN: AtomicUsize = AtomicUsize::new(usize::MAX);
static DURING_RECORDS: AtomicUsize = AtomicUsize::new(0);

/// The log callback of the threads part: counts this process's threads while a call is
/// in progress (every call that touches the network logs at least one record).
unsafe extern "C" fn count_threads(_: *mut c_void, _: c_int, _: *const c_char, _: *const c_char) {
    let threads = thread_count();
    DURING_MAX.fetch_max(threads, Ordering::SeqCst);
    DURING_MIN.fetch_min(threads, Ordering::SeqCst);
    DURING_RECORDS.fetch_add(1, Ordering::SeqCst);
}

struct ThreadProbe {
    failures: Vec<String>,
    calls: usize,
    observed_during: usize,
}

impl Probe for ThreadProbe {
    fn call<R>(&mut self, step: Step, f: impl FnOnce() -> R) -> R {
        DURING_MAX.store(0, Ordering::SeqCst);
        DURING_MIN.store(usize::MAX, Ordering::SeqCst);
        DURING_RECORDS.store(0, Ordering::SeqCst);
        let before = thread_count();
        let result = f();
        let after = thread_count();
        let records = DURING_RECORDS.load(Ordering::SeqCst);
        let (min, max) = (
            DURING_MIN.load(Ordering::SeqCst),
            DURING_MAX.load(Ordering::SeqCst),
        );
        let during = (records > 0).then_some((min, max));
        self.calls += 1;
        if during.is_some() {
            self.observed_during += 1;
        }
        let during_text = during.map_or("-".to_string(), |(min, max)| format!("{min}..{max}"));
        println!(
            "  {:<42} {:<28} {:<5} threads before {before}, during {during_text} ({records} records), after {after}",
            step.entry, step.family, step.call
        );
        println!(
            "FIGURE {}",
            json!({"what": "threads", "entry": step.entry, "family": step.family,
                   "call": step.call, "profile": PROFILE, "backend": wxrefund::CRYPTO_BACKEND,
                   "before": before, "after": after, "records": records,
                   "during_min": during.map(|d| d.0), "during_max": during.map(|d| d.1)})
        );
        if after != before || during.is_some_and(|(min, max)| min != before || max != before) {
            self.failures.push(format!(
                "{} ({} {}): before {before}, during {during_text}, after {after}",
                step.entry, step.family, step.call
            ));
        }
        result
    }
}

fn threads_part(env: &Env) {
    println!("\n== threads: this process's threads (/proc/self/task) around and during each call");
    let mut probe = ThreadProbe {
        failures: Vec::new(),
        calls: 0,
        observed_during: 0,
    };
    let baseline = thread_count();
    println!("  baseline: {baseline} thread(s) (the simulator runs in another process)");
    set_log_callback(
        &mut probe,
        step("wxrefund_set_log_callback", "-", "first"),
        Some(count_threads),
    );
    scenario(&mut probe, env, "t");
    set_log_callback(
        &mut probe,
        step("wxrefund_set_log_callback", "-", "warm"),
        None,
    );
    // Static strings: no thread either, but no need to print them as rows.
    let version = probe.call(step("wxrefund_version", "-", "warm"), || wxrefund_version());
    assert!(!version.is_null());
    println!(
        "  {} calls, {} observed from inside (log callback); {} thread(s) at the end",
        probe.calls,
        probe.observed_during,
        thread_count()
    );
    assert!(
        probe.failures.is_empty(),
        "the library changed this process's thread count:\n{}",
        probe.failures.join("\n")
    );
    assert!(
        probe.observed_during >= 15,
        "too few calls were observed from inside: {}",
        probe.observed_during
    );
    assert_eq!(thread_count(), baseline);
}

// ---------------------------------------------------------------------------------------
// Part 2: RSS.

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

fn rss_part(env: &Env, calls: usize, rss_at_start: u64) {
    println!(
        "\n== rss: {WARMUP_CALLS} warm-up then {calls} create + query pairs, one mainland client, log callback at DEBUG"
    );
    set_log_callback(&mut Plain, step("", "", ""), Some(count_records));
    let client = client_new(&mut Plain, step("", "", ""), &env.configs["domestic"]);
    let pair = |n: usize| {
        let out_refund_no = format!("FWR{n:08}");
        let request = json!({"out_trade_no": rss_order(n / REFUNDS_PER_ORDER),
                             "out_refund_no": out_refund_no,
                             "amount": {"refund": RSS_REFUND_FEN, "total": rss_order_total(),
                                        "currency": "CNY"}});
        create(&mut Plain, step("", "", ""), client, &request);
        query(&mut Plain, step("", "", ""), client, &out_refund_no);
    };
    (0..WARMUP_CALLS).for_each(pair);
    let start_kib = status_kib("VmRSS:");
    let started = Instant::now();
    let mut samples = vec![start_kib];
    for n in 0..calls {
        pair(WARMUP_CALLS + n);
        if (n + 1) % (calls / 5).max(1) == 0 {
            samples.push(status_kib("VmRSS:"));
        }
    }
    let elapsed = started.elapsed();
    let end_kib = status_kib("VmRSS:");
    let hwm_kib = status_kib("VmHWM:");
    client_free(&mut Plain, step("", "", ""), client);
    set_log_callback(&mut Plain, step("", "", ""), None);
    let growth = end_kib as i64 - start_kib as i64;
    println!(
        "  VmRSS at process start {rss_at_start} KiB, after warm-up {start_kib} KiB, after {calls} pairs {end_kib} KiB (growth {growth} KiB), VmHWM {hwm_kib} KiB; samples {samples:?}; {:.1} pairs/s; {} log records",
        calls as f64 / elapsed.as_secs_f64(),
        RECORDS.load(Ordering::Relaxed)
    );
    println!(
        "FIGURE {}",
        json!({"what": "rss", "calls": calls, "warmup_calls": WARMUP_CALLS, "profile": PROFILE,
               "backend": wxrefund::CRYPTO_BACKEND, "process_start_kib": rss_at_start,
               "start_kib": start_kib, "end_kib": end_kib,
               "growth_kib": growth, "hwm_kib": hwm_kib, "samples_kib": samples})
    );
    // The one bound: 64 MiB of growth is 128 KiB per pair at the default 500, more than
    // the whole process holds after the warm-up, so only a real leak (of the answers, the
    // strings or the connections) crosses it; allocator fragmentation is bounded by the
    // live heap of one call (tens of KiB) and this process has one thread (one arena).
    assert!(
        growth < 64 * 1024,
        "RSS grew by {growth} KiB over {calls} create + query pairs"
    );
}

// ---------------------------------------------------------------------------------------
// Part 3: stack.

mod stack {
    const PATTERN: u64 = 0xA5C3_5A3C_A5C3_5A3C;
    /// Left unpainted below the measuring frame, for `paint`'s and `scan`'s own frames.
    const MARGIN: usize = 4096;
    const PAGE: usize = 4096;

    /// The lowest address of the calling thread's stack that may be written (above the
    /// guard, plus a page of safety), and the highest.
    fn bounds() -> (usize, usize) {
        // SAFETY: `pthread_getattr_np` fills the zeroed attribute for the calling thread
        // (a live thread: this one), which is then read and destroyed once; the out
        // parameters are valid locals.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let mut guard: libc::size_t = 0;
            assert_eq!(libc::pthread_attr_getstack(&attr, &mut addr, &mut size), 0);
            assert_eq!(libc::pthread_attr_getguardsize(&attr, &mut guard), 0);
            libc::pthread_attr_destroy(&mut attr);
            let low = addr as usize;
            // glibc reports the stack without its guard; skip a guard's worth more and a
            // page anyway, so painting can never touch a protected page.
            (low + guard + PAGE, low + size)
        }
    }

    #[inline(never)]
    fn paint(low: usize, end: usize) {
        let mut at = low;
        while at < end {
            // SAFETY: [low, end) is this thread's own stack, above its guard page and
            // `MARGIN` bytes below the live frames (the caller's and this one's), so no
            // live data is overwritten and every page is mapped and writable.
            unsafe { std::ptr::write_volatile(at as *mut u64, PATTERN) };
            at += 8;
        }
    }

    /// The lowest address in [low, end) whose word is no longer the pattern.
    #[inline(never)]
    fn deepest_write(low: usize, end: usize) -> usize {
        let mut at = low;
        while at < end {
            // SAFETY: the same range `paint` wrote, still mapped; volatile, because the
            // compiler cannot know the measured call wrote it.
            if unsafe { std::ptr::read_volatile(at as *const u64) } != PATTERN {
                return at;
            }
            at += 8;
        }
        end
    }

    /// What a call used.
    #[derive(Clone, Copy)]
    pub enum Used {
        /// This many bytes below the measuring frame.
        Bytes(usize),
        /// No more than the unpainted margin (the call never reached the paint).
        AtMost(usize),
        /// All of the painted stack: it may have gone further.
        All,
    }

    impl Used {
        /// The figure: bytes used, or the most it can be (the margin); `None` for `All`.
        pub fn bytes(self) -> Option<usize> {
            match self {
                Used::Bytes(b) | Used::AtMost(b) => Some(b),
                Used::All => None,
            }
        }
    }

    /// Runs `f` and returns what it returned and how much stack it used below this frame.
    #[inline(never)]
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Used) {
        let marker = 0u8;
        let sp = std::hint::black_box(&marker) as *const u8 as usize;
        let (low, high) = bounds();
        assert!(
            low < sp && sp <= high,
            "the stack bounds do not hold this frame"
        );
        let end = (sp - MARGIN) & !7;
        paint(low, end);
        let result = f();
        let deepest = deepest_write(low, end);
        let used = if deepest == low {
            Used::All
        } else if deepest == end {
            Used::AtMost(MARGIN)
        } else {
            Used::Bytes(sp - deepest)
        };
        (result, used)
    }

    /// Bytes between the low end of the thread's stack (above guards) and this frame.
    pub fn room() -> usize {
        let marker = 0u8;
        let sp = std::hint::black_box(&marker) as *const u8 as usize;
        sp - bounds().0
    }
}

/// Uses 48 KiB of stack (and a little more) in one frame, for the measurement's self-check.
#[inline(never)]
fn use_stack() -> u8 {
    let mut buffer = [0u8; 48 * 1024];
    std::hint::black_box(&mut buffer);
    buffer[buffer.len() - 1]
}

struct StackProbe {
    rows: Vec<(Step, stack::Used)>,
}

impl Probe for StackProbe {
    fn call<R>(&mut self, step: Step, f: impl FnOnce() -> R) -> R {
        let (result, used) = stack::measure(f);
        self.rows.push((step, used));
        result
    }
}

fn stack_part(env: &Env) {
    println!(
        "\n== stack: each call on a {} KiB thread, painted; bound {} KiB ({PROFILE}, {})",
        STACK_THREAD_BYTES / 1024,
        STACK_BOUND_BYTES / 1024,
        wxrefund::CRYPTO_BACKEND
    );
    let configs = env.configs.clone();
    let port = env.port;
    let listener = env.listener.try_clone().expect("listener");
    let (rows, room, check) = std::thread::Builder::new()
        .name("small-stack".into())
        .stack_size(STACK_THREAD_BYTES)
        .spawn(move || {
            let env = Env {
                configs: &configs,
                listener: &listener,
                port,
            };
            let room = stack::room();
            // The measurement itself: a frame of 48 KiB must read as 48 KiB and a bit.
            let (_, check) = stack::measure(use_stack);
            let mut probe = StackProbe { rows: Vec::new() };
            set_log_callback(
                &mut probe,
                step("wxrefund_set_log_callback", "-", "first"),
                Some(count_records),
            );
            scenario(&mut probe, &env, "s");
            set_log_callback(
                &mut probe,
                step("wxrefund_set_log_callback", "-", "warm"),
                None,
            );
            (probe.rows, room, check)
        })
        .expect("spawn the small-stack thread")
        .join()
        .expect("the small-stack thread");
    let stack::Used::Bytes(check) = check else {
        panic!("the self-check frame was not measured");
    };
    println!(
        "  {} KiB usable below the thread's first frame; self-check: a 48 KiB frame measured {check} bytes",
        room / 1024
    );
    assert!(
        (48 * 1024..64 * 1024).contains(&check),
        "the stack measurement is off: a 48 KiB frame measured {check} bytes"
    );
    println!(
        "  {:<42} | {:<28} | {:<5} | stack bytes used",
        "entry point", "family", "call"
    );
    let mut over = Vec::new();
    for (step, used) in &rows {
        let text = match *used {
            stack::Used::Bytes(b) => format!("{b} ({:.1} KiB)", b as f64 / 1024.0),
            stack::Used::AtMost(b) => format!("at most {b} (never reached the paint)"),
            stack::Used::All => "ALL of the painted stack".to_string(),
        };
        println!(
            "  {:<42} | {:<28} | {:<5} | {text}",
            step.entry, step.family, step.call
        );
        println!(
            "FIGURE {}",
            json!({"what": "stack", "entry": step.entry, "family": step.family,
                   "call": step.call, "profile": PROFILE, "backend": wxrefund::CRYPTO_BACKEND,
                   "bytes": used.bytes(), "at_most": matches!(used, stack::Used::AtMost(_)),
                   "bound": STACK_BOUND_BYTES,
                   "thread_stack": STACK_THREAD_BYTES})
        );
        if used.bytes().is_none_or(|b| b >= STACK_BOUND_BYTES) {
            over.push(format!(
                "{} ({} {}): {text}",
                step.entry, step.family, step.call
            ));
        }
    }
    let deepest = rows
        .iter()
        .filter_map(|(_, used)| used.bytes())
        .max()
        .unwrap_or(0);
    println!(
        "  deepest: {deepest} bytes ({:.1} KiB) of a {} KiB bound",
        deepest as f64 / 1024.0,
        STACK_BOUND_BYTES / 1024
    );
    println!(
        "FIGURE {}",
        json!({"what": "stack_max", "profile": PROFILE, "backend": wxrefund::CRYPTO_BACKEND,
               "bytes": deepest, "bound": STACK_BOUND_BYTES, "thread_stack": STACK_THREAD_BYTES})
    );
    assert!(
        over.is_empty(),
        "entry points over the {} KiB stack bound ({PROFILE}):\n{}",
        STACK_BOUND_BYTES / 1024,
        over.join("\n")
    );
}
