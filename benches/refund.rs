//! Benchmarks: `ring`'s raw RSA-2048 sign and verify, and one whole mainland
//! create call (sign, serialize, send, verify, parse) against the in-process
//! simulator, measured as CPU time of the calling thread so that the
//! simulator's own work (on its threads) is not counted.
//!
//! Budget (issue 2): client CPU per create call <= 1.5 x (sign + verify).
//! Run: `cargo bench --bench refund`; the last lines print the ratio.

use criterion::{criterion_group, Criterion};
use ring::rand::SystemRandom;
use ring::signature::{
    RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use std::hint::black_box;
use std::time::Duration;
use wxrefund::domestic::{Amount, RefundRequest};
use wxrefund::Client;
use wxrefund_sim::{SimOptions, Simulator};

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

struct Fixture {
    key: RsaKeyPair,
    rng: SystemRandom,
    message: Vec<u8>,
    signature: Vec<u8>,
    _sim: Simulator,
    client: Client,
    request: RefundRequest,
}

fn fixture() -> Fixture {
    let pem = Simulator::merchant_private_key_pem();
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("simulator key");
    let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("RSA key");
    let rng = SystemRandom::new();
    let message = b"POST\n/v3/refund/domestic/refunds\n1700000000\n0123456789abcdef0123456789abcdef\n{\"out_trade_no\":\"T20261122000001\",\"out_refund_no\":\"BENCH-1\",\"amount\":{\"refund\":1,\"total\":10000,\"currency\":\"CNY\"}}\n".to_vec();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature)
        .expect("sign");
    let sim = Simulator::start(SimOptions::default()).expect("simulator");
    let client = Client::from_json(&sim.client_config().to_string()).expect("client");
    let request = RefundRequest {
        out_trade_no: Some("T20261122000001".into()),
        out_refund_no: "BENCH-1".into(),
        amount: Amount {
            refund: 1,
            total: 10000,
            currency: "CNY".into(),
            from: None,
        },
        ..Default::default()
    };
    // Warm up: the first call records the refund; later ones hit the same refund (idempotent).
    client.create_refund(&request).expect("create");
    Fixture {
        key,
        rng,
        message,
        signature,
        _sim: sim,
        client,
        request,
    }
}

impl Fixture {
    fn sign(&self) -> Vec<u8> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, &self.message, &mut signature)
            .expect("sign");
        signature
    }

    fn verify(&self) {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.key.public().as_ref())
            .verify(&self.message, &self.signature)
            .expect("verify");
    }

    fn create(&self) {
        self.client.create_refund(&self.request).expect("create");
    }
}

/// Thread CPU time of `iters` runs of `f`.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iters {
        f();
    }
    thread_cpu_time() - start
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    let mut group = c.benchmark_group("thread_cpu");
    group.bench_function("ring_sign", |b| {
        b.iter_custom(|n| cpu_time(n, || drop(black_box(fx.sign()))))
    });
    group.bench_function("ring_verify", |b| {
        b.iter_custom(|n| cpu_time(n, || fx.verify()))
    });
    group.bench_function("create_refund_call", |b| {
        b.iter_custom(|n| cpu_time(n, || fx.create()))
    });
    group.finish();
    budget(&fx);
}

/// Median per-call thread CPU time over `rounds` rounds of `per_round` calls.
fn median_per_call(rounds: usize, per_round: u64, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| cpu_time(per_round, &mut f) / per_round as u32)
        .collect();
    samples.sort();
    samples[rounds / 2]
}

fn budget(fx: &Fixture) {
    let sign = median_per_call(15, 50, || drop(black_box(fx.sign())));
    let verify = median_per_call(15, 200, || fx.verify());
    let create = median_per_call(15, 30, || fx.create());
    let ratio = create.as_secs_f64() / (sign + verify).as_secs_f64();
    println!(
        "budget: ring sign {sign:?} + verify {verify:?} = {:?}",
        sign + verify
    );
    println!("budget: create call client CPU {create:?} = {ratio:.2} x (sign + verify); budget 1.50 x: {}",
        if ratio <= 1.5 { "within" } else { "OVER" });
}

criterion_group! {
    name = refund;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}

fn main() {
    refund();
    Criterion::default().configure_from_args().final_summary();
}
