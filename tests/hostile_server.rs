//! Hostile servers: a loopback server misbehaves in one way per test, and a
//! client of every family (domestic, global, WeCom) creates and queries a
//! refund against it. Every call must end within a bound derived from the
//! configured timeouts, with a clear error, the client must let go of its
//! connections, and the process's peak memory must not grow with what the
//! server sends.

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use wxrefund::{Client, ErrorKind, RefundQuery};
use wxrefund_sim::{SimOptions, Simulator, Verification};

const CONNECT_TIMEOUT_MS: u64 = 500;
const READ_TIMEOUT_MS: u64 = 800;
const MAX_RETRIES: u64 = 1;
const RETRY_DELAY_MS: u64 = 10;
/// The longest one call may take: every attempt may use its connect and read
/// timeouts; three times that plus two seconds, for a noisy machine.
const CALL_BOUND: Duration = Duration::from_millis(
    3 * (1 + MAX_RETRIES) * (CONNECT_TIMEOUT_MS + READ_TIMEOUT_MS) + RETRY_DELAY_MS + 2000,
);
/// Allowed growth of the process's peak resident memory (VmHWM) during one case.
const MAX_GROWTH_KB: u64 = 64 * 1024;
/// Pace of the slowloris servers.
const DRIP: Duration = Duration::from_millis(200);
const MIB: u64 = 1 << 20;

/// What the server saw, across the connections of one case.
#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    /// Connections the server is done with (the client went away).
    finished: AtomicU64,
    /// Most bytes written on one connection.
    max_written: AtomicU64,
}

/// One accepted connection whose request has been read.
struct Conn {
    stream: TcpStream,
    written: u64,
    stats: Arc<Stats>,
}

impl Conn {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Sends `bytes` one at a time, [`DRIP`] apart, until the client goes away.
    fn drip(&mut self, bytes: impl IntoIterator<Item = u8>) -> io::Result<()> {
        for byte in bytes {
            self.send(&[byte])?;
            thread::sleep(DRIP);
        }
        Ok(())
    }

    /// Holds the connection open until the client closes it.
    fn wait_for_close(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        while self.stream.read(&mut buf)? > 0 {}
        Ok(())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.stats
            .max_written
            .fetch_max(self.written, Ordering::SeqCst);
        self.stats.finished.fetch_add(1, Ordering::SeqCst);
    }
}

type Behaviour = fn(&mut Conn) -> io::Result<()>;

/// Starts a loopback server that reads each request, then runs `behaviour`
/// on the connection until the client goes away. Returns its base URL.
fn serve(behaviour: Behaviour) -> (String, Arc<Stats>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stats = Arc::new(Stats::default());
    let shared = Arc::clone(&stats);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            let mut conn = Conn {
                stream,
                written: 0,
                stats: Arc::clone(&shared),
            };
            thread::spawn(move || {
                if read_request(&mut conn.stream).is_ok() {
                    let _ = behaviour(&mut conn);
                }
            });
        }
    });
    (url, stats)
}

/// Reads one request: the head up to the blank line, then Content-Length bytes.
fn read_request(stream: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(Some(0), |value| value.trim().parse().ok())
        .ok_or(io::ErrorKind::InvalidData)?;
    io::copy(&mut Read::by_ref(stream).take(length), &mut io::sink())?;
    Ok(())
}

/// The misbehaviours, one per test.
mod behave {
    use super::*;

    const OK_JSON: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";

    pub fn slowloris_headers(conn: &mut Conn) -> io::Result<()> {
        let headers = (0u64..).flat_map(|i| format!("X-Slow-{i}: a\r\n").into_bytes());
        conn.drip(b"HTTP/1.1 200 OK\r\n".iter().copied().chain(headers))
    }

    pub fn slowloris_body(conn: &mut Conn) -> io::Result<()> {
        conn.send(format!("{OK_JSON}Content-Length: 1000000\r\n\r\n").as_bytes())?;
        conn.drip(std::iter::repeat(b' '))
    }

    pub fn silent(conn: &mut Conn) -> io::Result<()> {
        conn.wait_for_close()
    }

    pub const HUGE_BODY: u64 = 200_000_000;

    pub fn huge_body(conn: &mut Conn) -> io::Result<()> {
        conn.send(format!("{OK_JSON}Content-Length: {HUGE_BODY}\r\n\r\n").as_bytes())?;
        let block = [b' '; 64 * 1024];
        let mut left = HUGE_BODY;
        while left > 0 {
            let n = left.min(block.len() as u64);
            conn.send(&block[..n as usize])?;
            left -= n;
        }
        conn.wait_for_close()
    }

    pub fn endless_chunked(conn: &mut Conn) -> io::Result<()> {
        conn.send(format!("{OK_JSON}Transfer-Encoding: chunked\r\n\r\n").as_bytes())?;
        let mut chunk = b"8000\r\n".to_vec();
        chunk.extend([b' '; 0x8000]);
        chunk.extend(b"\r\n");
        loop {
            conn.send(&chunk)?;
        }
    }

    pub fn gzip_bomb(conn: &mut Conn) -> io::Result<()> {
        let body = &bomb().bytes;
        conn.send(
            format!(
                "{OK_JSON}Content-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )?;
        conn.send(body)?;
        conn.wait_for_close()
    }

    pub fn huge_header_line(conn: &mut Conn) -> io::Result<()> {
        conn.send(b"HTTP/1.1 200 OK\r\nX-Big: ")?;
        let block = [b'a'; 64 * 1024];
        for _ in 0..16 {
            conn.send(&block)?;
        }
        conn.send(b"\r\n\r\n")?;
        conn.wait_for_close()
    }

    pub fn many_headers(conn: &mut Conn) -> io::Result<()> {
        conn.send(b"HTTP/1.1 200 OK\r\n")?;
        let mut batch = String::new();
        for i in 0..100_000 {
            batch.push_str(&format!("X-H{i}: v\r\n"));
            if batch.len() > 32 * 1024 {
                conn.send(batch.as_bytes())?;
                batch.clear();
            }
        }
        batch.push_str("\r\n");
        conn.send(batch.as_bytes())?;
        conn.wait_for_close()
    }

    pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

    pub fn continue_flood(conn: &mut Conn) -> io::Result<()> {
        let batch = CONTINUE.repeat(1000);
        loop {
            conn.send(&batch)?;
        }
    }
}

/// A gzip body that inflates to hundreds of MiB yet stays under the
/// library's 1 MiB body limit: one gzip member of 8 MiB of zeros, repeated
/// (a gzip stream may be a series of members).
struct Bomb {
    bytes: Vec<u8>,
    member_len: usize,
    inflated: u64,
}

fn bomb() -> &'static Bomb {
    static BOMB: OnceLock<Bomb> = OnceLock::new();
    BOMB.get_or_init(|| {
        const MEMBER: u64 = 8 * MIB;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = [0u8; 64 * 1024];
        for _ in 0..MEMBER / zeros.len() as u64 {
            encoder.write_all(&zeros).unwrap();
        }
        let member = encoder.finish().unwrap();
        let count = 900 * 1024 / member.len();
        Bomb {
            bytes: member.repeat(count),
            member_len: member.len(),
            inflated: MEMBER * count as u64,
        }
    })
}

/// Configurations of the three families, shaped by the simulator's helpers.
fn configs() -> &'static [(&'static str, Value); 3] {
    static CONFIGS: OnceLock<[(&'static str, Value); 3]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let sim = Simulator::start(SimOptions {
            verification: Verification::PublicKey,
            ..SimOptions::default()
        })
        .expect("the simulator starts");
        [
            ("domestic", sim.client_config()),
            ("global", sim.global_client_config()),
            (
                "wecom",
                sim.wecom_fixed_token_config("hostile-server-token"),
            ),
        ]
    })
}

fn client(config: &Value, url: &str) -> Client {
    let mut config = config.clone();
    config["base_url"] = json!(url);
    config["connect_timeout_ms"] = json!(CONNECT_TIMEOUT_MS);
    config["read_timeout_ms"] = json!(READ_TIMEOUT_MS);
    config["max_retries"] = json!(MAX_RETRIES);
    config["retry_delay_ms"] = json!(RETRY_DELAY_MS);
    config["order_spacing_secs"] = json!(0);
    Client::from_json(&config.to_string()).expect("a valid configuration")
}

/// A kB field of /proc/self/status (`VmHWM`: peak resident memory); `None`
/// where there is no /proc (the memory checks are Linux-only).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    let kb = value.trim().trim_end_matches("kB").trim().parse();
    Some(kb.unwrap_or_else(|_| panic!("{field} in /proc/self/status is not a number")))
}

fn shown(kb: Option<u64>) -> String {
    kb.map_or_else(|| "?".into(), |kb| kb.to_string())
}

/// One call's outcome: operation, status name, message, duration.
type Outcome = (&'static str, &'static str, String, Duration);

/// Runs create + query for every family (in parallel) against a server with
/// `behaviour`. Every call must fail with one of `kinds` and a message
/// containing one of `says`, within [`CALL_BOUND`]; the server must see every
/// connection closed; peak memory must grow less than [`MAX_GROWTH_KB`].
fn case(name: &str, behaviour: Behaviour, kinds: &[ErrorKind], says: &[&str]) -> Arc<Stats> {
    // One case at a time, so that a peak in memory is the case's own.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let configs = configs();
    let (url, stats) = serve(behaviour);
    // Reset the peak to the current resident size (Linux: "5" > clear_refs),
    // so that the growth measured is this case's own.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let peak_before = status_kb("VmHWM");
    let (sender, receiver) = mpsc::channel();
    for (family, config) in configs {
        let (sender, url, config) = (sender.clone(), url.clone(), config.clone());
        thread::spawn(move || {
            let client = client(&config, &url);
            let request = json!({
                "out_trade_no": "T20261122999001",
                "out_refund_no": "RHOSTILE1",
                "amount": {"refund": 1, "total": 100, "currency": "CNY"},
            })
            .to_string();
            let outcome =
                |op, result: wxrefund::Result<wxrefund::Refund>, started: Instant| -> Outcome {
                    let elapsed = started.elapsed();
                    match result {
                        Ok(refund) => (op, "OK", format!("{:?}", refund.to_json()), elapsed),
                        Err(error) => (op, error.kind.name(), error.message.clone(), elapsed),
                    }
                };
            let started = Instant::now();
            let created = outcome("create", client.create_refund_json(&request), started);
            let started = Instant::now();
            let query = RefundQuery::by_out_refund_no("RHOSTILE1");
            let queried = outcome("query", client.query_refund(&query), started);
            let _ = sender.send((*family, [created, queried]));
        });
    }
    drop(sender);
    let deadline = Instant::now() + 2 * CALL_BOUND + Duration::from_secs(5);
    let mut results = Vec::new();
    for _ in configs {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(result) => results.push(result),
            Err(_) => panic!(
                "{name}: {} of 3 families did not end within {left:?}",
                3 - results.len()
            ),
        }
    }
    let growth = status_kb("VmHWM")
        .zip(peak_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut failures = Vec::new();
    for (family, outcomes) in &results {
        for (op, status, message, elapsed) in outcomes {
            println!("{name} | {family} {op}: {status} in {elapsed:.2?}: {message}");
            let kind_ok = kinds.iter().any(|kind| kind.name() == *status);
            let lower = message.to_lowercase();
            let clear = says.iter().any(|s| lower.contains(&s.to_lowercase()))
                && !["{ ", "kind(", "custom", "os {"]
                    .iter()
                    .any(|debug| lower.contains(debug));
            if !kind_ok || !clear || *elapsed >= CALL_BOUND {
                failures.push(format!(
                    "{family} {op}: {status} in {elapsed:?} (bound {CALL_BOUND:?}, expected one of {:?} saying one of {says:?}): {message}",
                    kinds.iter().map(|k| k.name()).collect::<Vec<_>>()
                ));
            }
        }
    }
    // The client must let go: every connection ends on the server side
    // (a write or read fails) shortly after the calls return.
    let let_go = Instant::now() + Duration::from_secs(5);
    while stats.finished.load(Ordering::SeqCst) < stats.accepted.load(Ordering::SeqCst)
        && Instant::now() < let_go
    {
        thread::sleep(Duration::from_millis(20));
    }
    let (accepted, finished) = (
        stats.accepted.load(Ordering::SeqCst),
        stats.finished.load(Ordering::SeqCst),
    );
    println!(
        "{name} | connections {accepted} (finished {finished}), most bytes written on one: {}, \
         peak RSS growth {} kB (VmHWM before {} kB, VmRSS now {} kB)",
        stats.max_written.load(Ordering::SeqCst),
        shown(growth),
        shown(peak_before),
        shown(status_kb("VmRSS")),
    );
    if finished < accepted {
        failures.push(format!(
            "{} of {accepted} connections still open 5 s after the calls returned",
            accepted - finished
        ));
    }
    if let Some(growth) = growth.filter(|kb| *kb >= MAX_GROWTH_KB) {
        failures.push(format!(
            "peak RSS grew by {growth} kB (limit {MAX_GROWTH_KB} kB)"
        ));
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
    stats
}

const TIMEOUT: &[&str] = &["timeout"];

#[test]
fn slowloris_headers() {
    case(
        "slowloris headers",
        behave::slowloris_headers,
        &[ErrorKind::Transport],
        TIMEOUT,
    );
}

#[test]
fn slowloris_body() {
    case(
        "slowloris body",
        behave::slowloris_body,
        &[ErrorKind::Transport],
        TIMEOUT,
    );
}

#[test]
fn never_answers() {
    case(
        "never answers",
        behave::silent,
        &[ErrorKind::Transport],
        TIMEOUT,
    );
}

#[test]
fn huge_body_is_cut_at_the_limit() {
    let stats = case(
        "200 MB body",
        behave::huge_body,
        &[ErrorKind::Transport],
        &["larger than"],
    );
    // The client stopped reading: the server never got to write it all.
    let written = stats.max_written.load(Ordering::SeqCst);
    assert!(written < behave::HUGE_BODY / 2, "{written} bytes written");
}

#[test]
fn endless_chunked_body_is_cut_at_the_limit() {
    case(
        "endless chunked body",
        behave::endless_chunked,
        &[ErrorKind::Transport],
        &["larger than"],
    );
}

#[test]
fn gzip_bomb_is_not_inflated() {
    let bomb = bomb();
    // It is a real bomb: the first member alone inflates to 8 MiB.
    let mut decoder = flate2::read::GzDecoder::new(&bomb.bytes[..bomb.member_len]);
    assert_eq!(io::copy(&mut decoder, &mut io::sink()).unwrap(), 8 * MIB);
    assert!(bomb.bytes.len() < 1 << 20 && bomb.inflated > 512 * MIB);
    println!(
        "gzip bomb | {} bytes inflating to {} MiB",
        bomb.bytes.len(),
        bomb.inflated / MIB
    );
    // APIv3 families refuse the unsigned answer; WeCom finds no JSON in it.
    let stats = case(
        "gzip bomb",
        behave::gzip_bomb,
        &[ErrorKind::VerificationFailed, ErrorKind::Api],
        &["header Wechatpay-Timestamp is missing", "not a JSON object"],
    );
    assert!(stats.max_written.load(Ordering::SeqCst) > bomb.bytes.len() as u64);
}

#[test]
fn one_megabyte_header_line() {
    case(
        "1 MB header line",
        behave::huge_header_line,
        &[ErrorKind::Transport],
        &["header"],
    );
}

#[test]
fn hundred_thousand_header_lines() {
    case(
        "100,000 header lines",
        behave::many_headers,
        &[ErrorKind::Transport],
        &["header"],
    );
}

#[test]
fn endless_100_continue() {
    // ureq counts interim responses against the 64 KiB response head limit;
    // were it to stop doing so, the read timeout would end the wait instead.
    let stats = case(
        "100 Continue flood",
        behave::continue_flood,
        &[ErrorKind::Transport],
        &["response header is too big", "timeout"],
    );
    // Thousands of interim answers were sent before the client gave up.
    let interim = stats.max_written.load(Ordering::SeqCst) / behave::CONTINUE.len() as u64;
    assert!(interim > 2000, "{interim} interim responses written");
}
