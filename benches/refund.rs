//! What one refund call costs the client, on the crypto backend this build uses
//! (`cargo bench --bench refund`, and `--features aws-lc` for aws-lc).
//!
//! Measured as CPU time of the calling thread, so that the in-process simulator's own
//! work (on its threads) is not counted: raw RSA-2048 sign and verify on the backend,
//! `Client::from_json` (key loading), a create call and a query call (each a new
//! refund, as scripts/bench.sh drives every other client), and the verification and
//! decryption of a refund notification. Each figure is the median of several rounds, each
//! round running every operation in turn.
//! Prints one line per figure for people and one `FIGURE {json}` line for
//! scripts/bench.sh, which puts them beside the C, Python and peer SDK figures.

#[cfg(feature = "aws-lc")]
use aws_lc_rs as backend;
#[cfg(not(feature = "aws-lc"))]
use ring as backend;

use backend::rand::SystemRandom;
use backend::signature::{
    KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;
use wxrefund::{Client, Headers, RefundQuery, CRYPTO_BACKEND};
use wxrefund_sim::orders_file::OrderFile;
use wxrefund_sim::{SimOptions, Simulator};

/// Refunds per seeded order (the simulator allows 50).
const REFUNDS_PER_ORDER: usize = 40;
const REFUND_FEN: i64 = 100;
const ROUNDS: usize = 9;

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The per-call thread CPU time of each operation, `(calls per batch, operation)`: every
/// round runs one batch of each in turn, so that all of them see the same machine (a shared
/// 2-core machine drifts by a fifth between minutes); the median over `ROUNDS` rounds.
fn interleaved<const N: usize>(mut operations: [(usize, &mut dyn FnMut()); N]) -> [Duration; N] {
    let rounds: Vec<[Duration; N]> = (0..ROUNDS)
        .map(|_| {
            let mut per_call = [Duration::ZERO; N];
            for (slot, (batch, run)) in per_call.iter_mut().zip(operations.iter_mut()) {
                let start = thread_cpu_time();
                for _ in 0..*batch {
                    run();
                }
                *slot = (thread_cpu_time() - start) / *batch as u32;
            }
            per_call
        })
        .collect();
    std::array::from_fn(|op| {
        let mut samples: Vec<Duration> = rounds.iter().map(|round| round[op]).collect();
        samples.sort();
        samples[ROUNDS / 2]
    })
}

fn figure(human: &str, per_call: Duration, mut fields: Value) {
    let us = per_call.as_secs_f64() * 1e6;
    println!("{human:<44} {us:>9.1} us");
    fields["backend"] = json!(CRYPTO_BACKEND);
    fields["cpu_us"] = json!((us * 10.0).round() / 10.0);
    println!("FIGURE {fields}");
}

/// The simulator, seeded with enough orders for `refunds` new refunds.
fn simulator(refunds: usize) -> Simulator {
    let orders: Vec<Value> = (0..refunds.div_ceil(REFUNDS_PER_ORDER))
        .map(|i| {
            json!({"out_trade_no": format!("B{i:06}"), "transaction_id": format!("42{i:026}"),
                   "total": REFUND_FEN * REFUNDS_PER_ORDER as i64, "final_status": "SUCCESS"})
        })
        .collect();
    let file = OrderFile::parse(&json!({ "domestic": orders }).to_string(), "bench orders")
        .expect("orders");
    let sim = Simulator::start(SimOptions {
        settle_after: Duration::ZERO,
        ..SimOptions::default()
    })
    .expect("simulator");
    file.add_to(&sim);
    sim
}

fn create_body(n: usize, notify_url: Option<&str>) -> String {
    let mut body = json!({
        "out_trade_no": format!("B{:06}", n / REFUNDS_PER_ORDER),
        "out_refund_no": format!("BR{n:08}"),
        "amount": {"refund": REFUND_FEN, "total": REFUND_FEN * REFUNDS_PER_ORDER as i64,
                   "currency": "CNY"}
    });
    if let Some(url) = notify_url {
        body["notify_url"] = json!(url);
    }
    body.to_string()
}

/// Receives the one notification the simulator sends to the listener: headers and body.
fn receive_notification(listener: TcpListener) -> (Headers, Vec<u8>) {
    let (stream, _) = listener.accept().expect("notification connection");
    let mut reader = BufReader::new(stream);
    let mut pairs = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).expect("request line");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        match line.trim_end().split_once(':') {
            Some((name, value)) => pairs.push((name.to_string(), value.trim().to_string())),
            None => break,
        }
    }
    let length: usize = pairs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .expect("content-length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("notification body");
    // The answer only stops the simulator's redeliveries; the benchmark has what it needs.
    let reply = "{\"code\":\"SUCCESS\"}";
    let _ = write!(
        reader.get_mut(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    (Headers::new(pairs), body)
}

fn main() {
    // `cargo bench` passes `--bench`; a number sets the calls per round.
    let per_round: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(40);
    println!("wxrefund client CPU per operation, crypto backend {CRYPTO_BACKEND}, median of {ROUNDS} rounds:");

    let pem = Simulator::merchant_private_key_pem();
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("simulator key");
    let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("RSA key");
    let rng = SystemRandom::new();
    let message = create_body(0, None).into_bytes();
    let mut signature = vec![0; 256];
    key.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature)
        .expect("sign");
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());

    let calls = per_round * ROUNDS + 1;
    let sim = simulator(calls);
    let config = sim.client_config().to_string();
    let client = Client::from_json(&config).expect("client");
    // Warm-up: the first call downloads the platform certificates.
    client
        .create_refund_json(&create_body(calls - 1, None))
        .expect("create");

    let listener = TcpListener::bind("127.0.0.1:0").expect("receiver");
    let url = format!("http://{}/notify", listener.local_addr().expect("address"));
    let notification_sim = simulator(1);
    let notified =
        Client::from_json(&notification_sim.client_config().to_string()).expect("client");
    notified
        .create_refund_json(&create_body(0, Some(&url)))
        .expect("create");
    let (headers, body) = receive_notification(listener);

    // Refunds created so far: queries (after creates in every round) ask for one of them.
    let created = std::cell::Cell::new(0);
    let mut queried = 0;
    let [sign, verify, client_new, create, query, parse] = interleaved([
        (per_round, &mut || {
            let mut fresh = vec![0; 256];
            key.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut fresh)
                .expect("sign");
        }),
        (per_round * 10, &mut || {
            public.verify(&message, &signature).expect("verify");
        }),
        (per_round, &mut || {
            drop(black_box(Client::from_json(&config).expect("client")));
        }),
        (per_round, &mut || {
            client
                .create_refund_json(&create_body(created.get(), None))
                .expect("create");
            created.set(created.get() + 1);
        }),
        (per_round, &mut || {
            let query = RefundQuery::by_out_refund_no(&format!("BR{:08}", queried % created.get()));
            client.query_refund(&query).expect("query");
            queried += 1;
        }),
        (per_round * 10, &mut || {
            let notification = notified
                .parse_notification(&headers, &body)
                .expect("notification");
            black_box(notification);
        }),
    ]);
    figure(
        "raw RSA-2048 sign (SHA-256)",
        sign,
        json!({"what": "raw", "op": "sign"}),
    );
    figure(
        "raw RSA-2048 verify",
        verify,
        json!({"what": "raw", "op": "verify"}),
    );
    figure(
        "Client::from_json (key loading)",
        client_new,
        json!({"what": "client_new", "driver": "rust"}),
    );
    figure(
        "create call (sign, send, verify, parse)",
        create,
        json!({"what": "call", "driver": "rust", "op": "create"}),
    );
    figure(
        "query call",
        query,
        json!({"what": "call", "driver": "rust", "op": "query"}),
    );
    figure(
        "notification verify + decrypt",
        parse,
        json!({"what": "notification", "driver": "rust",
               "per_second": (1.0 / parse.as_secs_f64()).round()}),
    );
    println!(
        "create call = {:.2} x (sign + verify) on {CRYPTO_BACKEND}",
        create.as_secs_f64() / (sign + verify).as_secs_f64()
    );
}
