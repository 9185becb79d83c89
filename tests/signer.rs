//! `Client::with_signer`: requests signed by a host `Signer` (here ring with
//! the simulator's merchant key, standing in for an HSM the library never
//! sees) refund and query against the simulator; a failing signer fails the
//! call with SIGNER_FAILED before anything is sent; a wrong signature is the
//! platform's SIGN_ERROR; the signer is called from many threads at once.

mod support;

use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;
use wxrefund::{Client, Config, ErrorKind, RefundQuery, RefundStatus, Signer};
use wxrefund_sim::{SimOptions, Simulator, Verification};

/// The merchant key, held by the "host" only.
struct RingSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
    calls: AtomicUsize,
}

impl RingSigner {
    fn new() -> RingSigner {
        let pem = Simulator::merchant_private_key_pem();
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("PKCS#8 PEM");
        RingSigner {
            key: RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("RSA key"),
            rng: SystemRandom::new(),
            calls: AtomicUsize::new(0),
        }
    }

    fn sign_with_ring(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .expect("ring signs");
        signature
    }
}

impl Signer for RingSigner {
    fn sign(&self, message: &[u8]) -> wxrefund::Result<Vec<u8>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.sign_with_ring(message))
    }
}

/// The error of building a client that must not build.
fn refused(client: wxrefund::Result<Client>) -> wxrefund::Error {
    match client {
        Ok(_) => panic!("the client was built"),
        Err(error) => error,
    }
}

/// A signer that answers `answer` to every message, counting its calls.
struct Scripted {
    answer: Box<dyn Fn() -> wxrefund::Result<Vec<u8>> + Send + Sync>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(answer: impl Fn() -> wxrefund::Result<Vec<u8>> + Send + Sync + 'static) -> Scripted {
        Scripted {
            answer: Box::new(answer),
            calls: AtomicUsize::new(0),
        }
    }
}

impl Signer for Scripted {
    fn sign(&self, _: &[u8]) -> wxrefund::Result<Vec<u8>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (self.answer)()
    }
}

/// `config` without the private key, with fast retries.
fn keyless(config: Value) -> Config {
    let config = support::fast(config, |c| {
        c.as_object_mut().expect("object").remove("private_key_pem");
    });
    assert!(config.get("merchant_serial_no").is_some());
    Config::from_json(&config.to_string()).expect("a keyless configuration")
}

fn mainland(out_refund_no: &str) -> String {
    json!({"out_trade_no": "T20261122000001", "out_refund_no": out_refund_no,
           "amount": {"refund": 1, "total": 10000, "currency": "CNY"}})
    .to_string()
}

#[test]
fn a_host_signer_refunds_and_queries() {
    let sim = support::sim();
    let signer = Arc::new(RingSigner::new());
    let client = Client::with_signer(keyless(sim.client_config()), signer.clone())
        .expect("a client without a key");
    let refund = client
        .create_refund_json(&mainland("SG-1"))
        .expect("refund");
    assert_eq!(refund.status, RefundStatus::Processing);
    let settled = support::settled(&client, &RefundQuery::by_out_refund_no("SG-1"));
    assert_eq!(settled.status, RefundStatus::Success);
    assert_eq!(settled.refund_id, refund.refund_id);
    // The certificate download, the refund and at least one query were signed.
    assert!(signer.calls.load(Ordering::SeqCst) >= 3);
    let verdicts: Vec<Value> = sim
        .request_log()
        .iter()
        .map(|r| r["verdict"].clone())
        .collect();
    assert!(verdicts.iter().all(|v| v == "ok"), "{verdicts:?}");

    // Global (with the public key) and partner mode take a host signer too.
    let sim = support::sim_with(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    });
    let global = Client::with_signer(keyless(sim.global_client_config()), signer.clone())
        .expect("a Global client");
    let body = json!({"out_trade_no": "G20261122000001", "out_refund_no": "SG-G1",
                      "amount": {"refund": 100, "total": 10000, "currency": "USD"}});
    global
        .create_refund_json(&body.to_string())
        .expect("Global refund");
    let partner = Client::with_signer(
        keyless(sim.partner_client_config("1900000109")),
        signer.clone(),
    )
    .expect("a partner client");
    let body = json!({"out_trade_no": "T20261122000009", "out_refund_no": "SG-P1",
                      "amount": {"refund": 100, "total": 10000, "currency": "CNY"}});
    partner
        .create_refund_json(&body.to_string())
        .expect("partner refund");
    partner
        .query_refund(&RefundQuery::by_out_refund_no("SG-P1"))
        .expect("partner query");
}

#[test]
fn a_failing_signer_fails_the_call_before_sending() {
    let sim = support::sim();
    let reason = "token slot 3 locked";
    let signer = Arc::new(Scripted::new(move || {
        Err(wxrefund::Error::new(
            ErrorKind::Internal,
            "hsm",
            reason.to_string(),
        ))
    }));
    let client = Client::with_signer(keyless(sim.client_config()), signer.clone()).expect("client");
    for call in 0..2 {
        let error = if call == 0 {
            client
                .create_refund_json(&mainland("SG-F1"))
                .expect_err("refused")
        } else {
            client
                .query_refund(&RefundQuery::by_out_refund_no("SG-F1"))
                .expect_err("refused")
        };
        assert_eq!(error.kind, ErrorKind::SignerFailed, "{error}");
        assert_eq!(error.to_json()["status"], "SIGNER_FAILED");
        assert!(error.retryable);
        assert!(!error.outcome_unknown);
        assert_eq!(error.attempts, 0);
        assert_eq!(error.http_status, None);
        // The host's reason is passed on, so an operator can act on it.
        assert!(error.message.contains(reason), "{error}");
    }
    assert_eq!(
        signer.calls.load(Ordering::SeqCst),
        2,
        "no retry of a signer error"
    );
    assert_eq!(sim.request_count(), 0, "nothing was sent");
    assert!(sim.request_log().is_empty());
}

#[test]
fn signatures_that_are_not_rsa_sized_fail_before_sending() {
    let sim = support::sim();
    for length in [0usize, 2000] {
        let signer = Arc::new(Scripted::new(move || Ok(vec![7u8; length])));
        let client =
            Client::with_signer(keyless(sim.client_config()), signer.clone()).expect("client");
        let error = client
            .create_refund_json(&mainland("SG-L1"))
            .expect_err("refused");
        assert_eq!(error.kind, ErrorKind::SignerFailed, "{length}: {error}");
        assert!(error.retryable && !error.outcome_unknown);
        assert!(error.message.contains(&length.to_string()), "{error}");
        assert_eq!(signer.calls.load(Ordering::SeqCst), 1);
    }
    assert_eq!(sim.request_count(), 0, "nothing was sent");
}

#[test]
fn a_wrong_signature_is_the_platforms_sign_error() {
    let sim = support::sim_with(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    });
    let rng = SystemRandom::new();
    let signer = Arc::new(Scripted::new(move || {
        let mut junk = vec![0u8; 256];
        ring::rand::SecureRandom::fill(&rng, &mut junk).expect("random");
        Ok(junk)
    }));
    let client = Client::with_signer(keyless(sim.client_config()), signer.clone()).expect("client");
    let error = client
        .create_refund_json(&mainland("SG-W1"))
        .expect_err("refused");
    assert_eq!(error.kind, ErrorKind::Api, "{error}");
    assert_eq!(error.http_status, Some(401));
    assert_eq!(error.code.as_deref(), Some("SIGN_ERROR"));
    let log = sim.request_log();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|r| r["verdict"] == "signature_invalid"),
        "{log:?}"
    );
    assert_eq!(sim.request_count(), log.len());
    assert!(sim.refunds_for_order("T20261122000001").is_empty());
}

#[test]
fn one_way_to_sign_and_only_for_apiv3() {
    let sim = support::sim();
    let signer: Arc<dyn Signer> = Arc::new(RingSigner::new());
    // A private key in the configuration and a host signer.
    let with_key =
        Config::from_json(&support::fast(sim.client_config(), |_| {}).to_string()).expect("config");
    let error = refused(Client::with_signer(with_key, signer.clone()));
    assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error}");
    assert_eq!(error.field.as_deref(), Some("signer"));
    let pem_line = Simulator::merchant_private_key_pem()
        .lines()
        .nth(1)
        .expect("a PEM line");
    support::assert_no_secret(&error, &[pem_line]);
    // A private key file as well.
    let mut with_file = support::fast(sim.client_config(), |_| {});
    let object = with_file.as_object_mut().expect("object");
    object.remove("private_key_pem");
    object.insert(
        "private_key_file".to_string(),
        json!("/nonexistent/key.pem"),
    );
    let config = Config::from_json(&with_file.to_string()).expect("config");
    let error = refused(Client::with_signer(config, signer.clone()));
    assert_eq!(error.field.as_deref(), Some("signer"), "{error}");

    // WeCom requests are not signed at all.
    let wecom = Config::from_json(&sim.wecom_client_config().to_string()).expect("config");
    let error = refused(Client::with_signer(wecom, signer));
    assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error}");
    assert_eq!(sim.request_count(), 0);
    assert_eq!(sim.gettoken_count(), 0);
}

/// Holds the first `expected` callers inside `sign` until all have arrived
/// (or 10 s passed), so that they provably sign at the same time.
struct Gate {
    inner: RingSigner,
    expected: usize,
    arrived: Mutex<usize>,
    all_in: Condvar,
    threads: Mutex<HashSet<ThreadId>>,
    /// Callers that gave up waiting for the others.
    timed_out: AtomicUsize,
}

impl Signer for Gate {
    fn sign(&self, message: &[u8]) -> wxrefund::Result<Vec<u8>> {
        self.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_in.notify_all();
        let (arrived, wait) = self
            .all_in
            .wait_timeout_while(arrived, Duration::from_secs(10), |n| *n < self.expected)
            .unwrap();
        drop(arrived);
        if wait.timed_out() {
            self.timed_out.fetch_add(1, Ordering::SeqCst);
        }
        Ok(self.inner.sign_with_ring(message))
    }
}

#[test]
fn the_signer_is_called_from_eight_threads_at_once() {
    const THREADS: usize = 8;
    // The public key: no certificate download in front of the first calls.
    let sim = support::sim_with(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    });
    let gate = Arc::new(Gate {
        inner: RingSigner::new(),
        expected: THREADS,
        arrived: Mutex::new(0),
        all_in: Condvar::new(),
        threads: Mutex::new(HashSet::new()),
        timed_out: AtomicUsize::new(0),
    });
    let client =
        Arc::new(Client::with_signer(keyless(sim.client_config()), gate.clone()).expect("client"));
    let callers: Vec<_> = (0..THREADS)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                let refund = client.create_refund_json(&mainland(&format!("SG-T{i}")))?;
                Ok::<_, wxrefund::Error>((std::thread::current().id(), refund))
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for caller in callers {
        let (id, refund) = caller.join().expect("thread").expect("refund");
        assert_eq!(refund.status, RefundStatus::Processing);
        ids.insert(id);
    }
    // All eight were inside `sign` together (a caller held up by another
    // would have timed out), each on its caller's own thread.
    assert_eq!(gate.timed_out.load(Ordering::SeqCst), 0);
    assert_eq!(*gate.arrived.lock().unwrap(), THREADS);
    assert_eq!(*gate.threads.lock().unwrap(), ids);
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), THREADS);
}
