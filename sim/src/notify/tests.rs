//! End-to-end notification tests: refunds settle in a running simulator and loopback
//! receivers check what arrives.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::callback;
use super::*;
use crate::certs::decrypt;
use crate::global::parse_global_apply;
use crate::http::read_request;
use crate::keys::{verifies, verifies_with_public_key, PLATFORM_CERT_PEM, PLATFORM_SERIAL};
use crate::ledger::parse_apply;
use crate::wecom::Api;
use crate::{Simulator, Verification};

/// How long a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(3);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    /// Path and query.
    target: String,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }
}

/// A loopback HTTP server answering each request with the status `answer` picks.
struct Receiver {
    url: String,
    requests: mpsc::Receiver<Received>,
}

impl Receiver {
    fn start(answer: impl Fn(&Received) -> u16 + Send + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (sender, requests) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(&stream);
                let Ok(Some(request)) = read_request(&mut reader, &mut &stream) else {
                    continue;
                };
                let received = Received {
                    target: request.target,
                    headers: request.headers,
                    body: String::from_utf8_lossy(&request.body).into_owned(),
                };
                let status = answer(&received);
                let _ = (&stream).write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                );
                if sender.send(received).is_err() {
                    break;
                }
            }
        });
        Receiver { url, requests }
    }

    /// Answers 200 to everything.
    fn accepting() -> Receiver {
        Receiver::start(|_| 200)
    }

    /// Answers 200 to what [`open_apiv3`] accepts, 401 to the rest.
    fn verifying() -> Receiver {
        Receiver::start(|r| if open_apiv3(r).is_ok() { 200 } else { 401 })
    }

    fn next(&self) -> Received {
        self.requests
            .recv_timeout(PATIENCE)
            .expect("a notification")
    }

    fn nothing_more(&self) {
        let extra = self.requests.recv_timeout(Duration::from_millis(300));
        assert!(extra.is_err(), "unexpected {extra:?}");
    }
}

/// A simulator whose refunds settle after 30 ms.
fn simulator(options: SimOptions) -> Simulator {
    Simulator::start(SimOptions {
        settle_after: Duration::from_millis(30),
        wecom_order_spacing: Duration::ZERO,
        ..options
    })
    .expect("simulator starts")
}

/// The deliveries once there are at least `count`.
fn deliveries(sim: &Simulator, count: usize) -> Vec<Delivery> {
    let start = Instant::now();
    loop {
        let deliveries = sim.deliveries();
        if deliveries.len() >= count || start.elapsed() > PATIENCE {
            return deliveries;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn apply_mainland(sim: &Simulator, body: Value) {
    let request = parse_apply(body.to_string().as_bytes()).expect("valid body");
    lock(&sim.shared.ledger)
        .apply(&request, SystemTime::now())
        .expect("accepted");
}

fn apply_global(sim: &Simulator, body: Value) {
    let request = parse_global_apply(body.to_string().as_bytes()).expect("valid body");
    lock(&sim.shared.global)
        .apply(&request, SystemTime::now())
        .expect("accepted");
}

/// A mainland refund of the demo order `out_trade_no` (total `total`).
fn mainland(out_trade_no: &str, total: i64, out_refund_no: &str, notify_url: &str) -> Value {
    json!({
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "notify_url": notify_url,
        "amount": {"refund": 100, "total": total, "currency": "CNY"},
    })
}

/// Verifies an APIv3 notification like a careful receiver: signature type, signature by
/// the key its serial names, timestamp within 300 s, then decryption. Returns the
/// envelope and the resource plaintext.
fn open_apiv3(received: &Received) -> Result<(Value, Value), String> {
    let header = |name| received.header(name).ok_or(format!("no {name}"));
    if header("Wechatpay-Signature-Type")? != "WECHATPAY2-SHA256-RSA2048" {
        return Err("signature type".into());
    }
    let (ts, nonce) = (header("Wechatpay-Timestamp")?, header("Wechatpay-Nonce")?);
    let signature = header("Wechatpay-Signature")?;
    let message = format!("{ts}\n{nonce}\n{}\n", received.body);
    let valid = match header("Wechatpay-Serial")? {
        PLATFORM_SERIAL => verifies(PLATFORM_CERT_PEM, message.as_bytes(), signature),
        PUBLIC_KEY_ID => verifies_with_public_key(message.as_bytes(), signature),
        _ => false,
    };
    if !valid {
        return Err("signature".into());
    }
    let ts: i64 = ts.parse().map_err(|_| "timestamp")?;
    if (epoch_secs(SystemTime::now()) - ts).abs() > 300 {
        return Err("stale".into());
    }
    let envelope: Value = serde_json::from_str(&received.body).map_err(|e| e.to_string())?;
    let plaintext = open_resource(&envelope["resource"], APIV3_KEY.as_bytes())?;
    Ok((envelope, plaintext))
}

/// Decrypts an AEAD_AES_256_GCM resource object.
fn open_resource(resource: &Value, key: &[u8]) -> Result<Value, String> {
    let field = |name: &str| resource[name].as_str().unwrap_or_default().to_string();
    assert_eq!(field("algorithm"), "AEAD_AES_256_GCM");
    assert_eq!(field("original_type"), "refund");
    assert_eq!(field("associated_data"), "refund");
    let nonce = field("nonce");
    assert!(nonce.len() == 12 && nonce.chars().all(|c| c.is_ascii_alphanumeric()));
    let plain = decrypt(key, nonce.as_bytes(), b"refund", &field("ciphertext"))
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&plain).map_err(|e| e.to_string())
}

/// Checks the envelope fields every refund notification has.
fn check_envelope(envelope: &Value, event_type: &str, summary: &str) {
    let id = envelope["id"].as_str().expect("id");
    assert!(id.len() == 35 && id.starts_with("EV-"), "{id}");
    assert!(id[3..].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    let create_time = envelope["create_time"].as_str().expect("create_time");
    assert!(create_time.len() == 25 && create_time.ends_with("+08:00"));
    assert_eq!(envelope["resource_type"], "encrypt-resource");
    assert_eq!(envelope["event_type"], event_type);
    assert_eq!(envelope["summary"], summary);
}

#[test]
fn mainland_refunds_are_notified_signed_and_encrypted() {
    let receiver = Receiver::accepting();
    let sim = simulator(SimOptions::default());
    let url = format!("{}/notify", receiver.url);
    // Without a notify_url nothing is sent.
    let mut silent = mainland("T20261122000001", 10000, "N-SILENT", &url);
    if let Some(body) = silent.as_object_mut() {
        body.remove("notify_url");
    }
    apply_mainland(&sim, silent);
    apply_mainland(&sim, mainland("T20261122000001", 10000, "N-1", &url));

    let received = receiver.next();
    assert_eq!(received.target, "/notify");
    assert_eq!(received.header("Content-Type"), Some("application/json"));
    assert_eq!(received.header("Connection"), Some("close"));
    assert_eq!(received.header("Wechatpay-Serial"), Some(PLATFORM_SERIAL));
    let (envelope, plaintext) = open_apiv3(&received).expect("verifies and decrypts");
    check_envelope(&envelope, "REFUND.SUCCESS", "退款成功");

    let query = sim.refunds_for_order("T20261122000001");
    let refund = query
        .iter()
        .find(|r| r["out_refund_no"] == "N-1")
        .expect("queried");
    assert_eq!(refund["status"], "SUCCESS");
    assert_eq!(
        plaintext,
        json!({
            "mchid": "1900000100",
            "transaction_id": "4200000001202611220000000001",
            "out_trade_no": "T20261122000001",
            "refund_id": refund["refund_id"],
            "out_refund_no": "N-1",
            "refund_status": "SUCCESS",
            "success_time": refund["success_time"],
            "user_received_account": "支付用户零钱",
            "amount": {"total": 10000, "refund": 100, "payer_total": 10000, "payer_refund": 100},
        })
    );

    // A partner refund names sp_mchid and sub_mchid instead of mchid.
    let mut partner = mainland("T20261122000009", 10000, "N-P", &url);
    partner["sub_mchid"] = json!("1900000109");
    apply_mainland(&sim, partner);
    let (_, plaintext) = open_apiv3(&receiver.next()).expect("partner notification");
    assert_eq!(plaintext["sp_mchid"], "1900000100");
    assert_eq!(plaintext["sub_mchid"], "1900000109");
    assert!(plaintext.get("mchid").is_none());
    receiver.nothing_more();

    let log = sim.deliveries();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].id, envelope["id"]);
    assert_eq!((log[0].attempt, log[0].status), (1, Some(200)));
    assert_eq!((&log[0].url, &log[0].body), (&url, &received.body));
    assert_eq!((&log[0].error, log[0].fault), (&None, None));
}

#[test]
fn rerouted_abnormal_refunds_are_notified_again_on_success() {
    let receiver = Receiver::verifying();
    let sim = simulator(SimOptions::default());
    let url = format!("{}/notify", receiver.url);
    apply_mainland(&sim, mainland("T20261122000003", 800, "N-AB", &url));
    let (first, abnormal) = open_apiv3(&receiver.next()).expect("ABNORMAL notification");
    check_envelope(&first, "REFUND.ABNORMAL", "退款异常");
    assert_eq!(abnormal["refund_status"], "ABNORMAL");
    let refund_id = abnormal["refund_id"].as_str().expect("refund_id");

    let route = crate::abnormal::Route {
        kind: "USER_BANK_CARD",
        bank_type: Some("ABC_DEBIT".to_string()),
        bank_account_last4: Some("0042".to_string()),
    };
    let request = crate::abnormal::AbnormalRequest {
        sub_mchid: None,
        out_refund_no: "N-AB".to_string(),
        payee: crate::abnormal::Payee::MerchantBankCard,
    };
    lock(&sim.shared.ledger)
        .apply_abnormal(refund_id, &request, route, SystemTime::now())
        .expect("rerouted");
    let (second, success) = open_apiv3(&receiver.next()).expect("SUCCESS notification");
    check_envelope(&second, "REFUND.SUCCESS", "退款成功");
    assert_ne!(second["id"], first["id"], "a new notification");
    assert_eq!(success["refund_id"], refund_id);
    assert_eq!(success["refund_status"], "SUCCESS");
    assert!(success["success_time"].is_string());
    assert_eq!(success["user_received_account"], "农业银行借记卡0042");
    receiver.nothing_more();
}

#[test]
fn unacknowledged_notifications_are_redelivered_with_the_same_id() {
    let answers = std::sync::Mutex::new(vec![500, 500].into_iter());
    let receiver = Receiver::start(move |_| lock(&answers).next().unwrap_or(200));
    let sim = simulator(SimOptions::default());
    apply_mainland(
        &sim,
        mainland("T20261122000002", 500, "N-CLOSE", &receiver.url),
    );

    let attempts: Vec<Received> = (0..3).map(|_| receiver.next()).collect();
    receiver.nothing_more();
    let opened: Vec<(Value, Value)> = attempts
        .iter()
        .map(|r| open_apiv3(r).expect("every attempt is valid"))
        .collect();
    let (envelope, plaintext) = &opened[0];
    check_envelope(envelope, "REFUND.CLOSED", "退款关闭");
    assert_eq!(plaintext["refund_status"], "CLOSED");
    assert!(plaintext.get("success_time").is_none());
    assert!(opened.iter().all(|(e, _)| e["id"] == envelope["id"]));
    let nonces: Vec<_> = attempts
        .iter()
        .map(|r| r.header("Wechatpay-Nonce"))
        .collect();
    assert!(nonces[0] != nonces[1] && nonces[1] != nonces[2]);

    let log = deliveries(&sim, 3);
    let summary: Vec<_> = log.iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(summary, [(1, Some(500)), (2, Some(500)), (3, Some(200))]);
    assert!(log.iter().all(|d| d.id == envelope["id"]));
}

#[test]
fn duplicate_and_probe_faults() {
    let receiver = Receiver::verifying();
    let sim = simulator(SimOptions::default());
    sim.inject_notification(NotifyFault::Duplicate, 1);
    sim.inject_notification(NotifyFault::Probe, 1);

    apply_mainland(
        &sim,
        mainland("T20261122000001", 10000, "N-DUP", &receiver.url),
    );
    let first = receiver.next();
    let again = receiver.next();
    assert_eq!(first.body, again.body);
    assert_eq!(first.headers, again.headers);
    assert!(open_apiv3(&again).is_ok());

    apply_mainland(
        &sim,
        mainland("T20261122000001", 10000, "N-PROBE", &receiver.url),
    );
    let probe = receiver.next();
    let signature = probe.header("Wechatpay-Signature").expect("signature");
    assert!(signature.starts_with("WECHATPAY/SIGNTEST/"));
    assert!(open_apiv3(&probe).is_err());
    let real = receiver.next();
    let (envelope, plaintext) = open_apiv3(&real).expect("the real one");
    assert_eq!(plaintext["out_refund_no"], "N-PROBE");
    receiver.nothing_more();

    let log = deliveries(&sim, 4);
    let summary: Vec<_> = log.iter().map(|d| (d.attempt, d.status, d.fault)).collect();
    assert_eq!(
        summary,
        [
            (1, Some(200), None),
            (2, Some(200), Some(NotifyFault::Duplicate)),
            (1, Some(401), Some(NotifyFault::Probe)),
            (2, Some(200), None),
        ]
    );
    assert_eq!(log[0].id, log[1].id);
    assert_eq!(log[2].id, log[3].id);
    assert_eq!(log[3].id, envelope["id"]);
}

fn json_str(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// Queues each fault for one notification.
fn inject_each(sim: &Simulator, faults: &[NotifyFault]) {
    for fault in faults {
        sim.inject_notification(*fault, 1);
    }
}

/// The attempts of the notification that carried `fault`.
fn attempts_of(log: &[Delivery], fault: NotifyFault) -> Vec<&Delivery> {
    let faulty = log.iter().find(|d| d.fault == Some(fault));
    let id = faulty.map(|d| d.id.as_str()).unwrap_or_default();
    log.iter().filter(|d| d.id == id).collect()
}

#[test]
fn refused_faults_are_followed_by_a_correct_notification() {
    let receiver = Receiver::verifying();
    let sim = simulator(SimOptions {
        verification: Verification::Both,
        ..SimOptions::default()
    });
    let faults = [
        NotifyFault::BadSignature,
        NotifyFault::Tampered,
        NotifyFault::WrongKey,
        NotifyFault::Stale,
    ];
    inject_each(&sim, &faults);
    for n in 0..faults.len() {
        let body = mainland("T20261122000001", 10000, &format!("N-F{n}"), &receiver.url);
        apply_mainland(&sim, body);
    }
    let received: Vec<Received> = (0..8).map(|_| receiver.next()).collect();
    receiver.nothing_more();

    let log = deliveries(&sim, 8);
    for fault in faults {
        let attempts = attempts_of(&log, fault);
        let summary: Vec<_> = attempts
            .iter()
            .map(|d| (d.attempt, d.status, d.fault))
            .collect();
        assert_eq!(
            summary,
            [(1, Some(401), Some(fault)), (2, Some(200), None)],
            "{fault:?}"
        );
        let faulty: Value = serde_json::from_str(&attempts[0].body).expect("still JSON");
        // Some faulty attempts carry the same body as the correct one: find the valid one.
        let (envelope, _) = received
            .iter()
            .filter(|r| r.body == attempts[1].body)
            .find_map(|r| open_apiv3(r).ok())
            .expect("the correct one was received");
        assert_eq!(faulty["id"], envelope["id"]);
    }
    // `Both`: the platform certificate and the public key take turns.
    let serials: Vec<_> = received
        .iter()
        .map(|r| r.header("Wechatpay-Serial").unwrap_or_default())
        .collect();
    assert_eq!(serials[0], PLATFORM_SERIAL);
    assert!(serials.contains(&PUBLIC_KEY_ID));
}

#[test]
fn only_loopback_targets_are_contacted() {
    let sim = simulator(SimOptions {
        notify_schedule: vec![Duration::from_millis(10); 2],
        ..SimOptions::default()
    });
    sim.inject_notification(NotifyFault::Duplicate, 1);
    // 127.0.0.2 is loopback on Linux, yet not a host notifications may go to.
    let bystander = TcpListener::bind("127.0.0.2:0").ok();
    let elsewhere = match &bystander {
        Some(listener) => format!("http://{}/notify", listener.local_addr().expect("addr")),
        None => "http://192.0.2.1:8080/notify".to_string(),
    };
    apply_mainland(
        &sim,
        mainland("T20261122000001", 10000, "N-FAR", &elsewhere),
    );
    let log = deliveries(&sim, 1);
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].status, &log[0].url), (None, &elsewhere));
    assert!(log[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("not delivered")));
    assert!(log[0].body.contains("REFUND.SUCCESS"));
    if let Some(listener) = bystander {
        listener.set_nonblocking(true).expect("nonblocking");
        assert!(listener.accept().is_err(), "the bystander was contacted");
    }

    // The refused URL did not take the queued fault: the next notification gets it.
    let receiver = Receiver::accepting();
    apply_mainland(
        &sim,
        mainland("T20261122000001", 10000, "N-NEAR", &receiver.url),
    );
    assert_eq!(receiver.next().body, receiver.next().body);
    let log = deliveries(&sim, 3);
    let faults: Vec<_> = log.iter().map(|d| d.fault).collect();
    assert_eq!(faults, [None, None, Some(NotifyFault::Duplicate)]);

    // Nobody listening: a connection failure, redelivered on the schedule.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let nobody = format!("http://{}/", closed.local_addr().expect("addr"));
    drop(closed);
    apply_mainland(&sim, mainland("T20261122000001", 10000, "N-DOWN", &nobody));
    let log = deliveries(&sim, 6);
    let attempts: Vec<_> = log[3..].iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(attempts, [(1, None), (2, None), (3, None)]);
    assert!(log[3..]
        .iter()
        .all(|d| d.error.is_some() && d.url == nobody));
    receiver.nothing_more();
}

#[test]
fn global_notifications_carry_the_global_fields() {
    let receiver = Receiver::accepting();
    let sim = simulator(SimOptions::default());
    apply_global(
        &sim,
        json!({
            "mchid": "1900000100", "appid": "wxd678efh567hg6787",
            "out_trade_no": "G20261122000002", "out_refund_no": "GN-CLOSE",
            "notify_url": receiver.url,
            "amount": {"refund": 1200, "total": 5000, "currency": "HKD"},
        }),
    );
    let (envelope, plaintext) = open_apiv3(&receiver.next()).expect("valid");
    check_envelope(&envelope, "REFUND.CLOSED", "退款关闭");
    let query = sim.global_refunds_for_order("G20261122000002");
    assert_eq!(query[0]["status"], "REFUNDCLOSE");
    assert_eq!(
        plaintext,
        json!({
            "mchid": "1900000100",
            "id": query[0]["id"],
            "out_refund_no": "GN-CLOSE",
            "transaction_id": "4200000002202611220000000002",
            "out_trade_no": "G20261122000002",
            "refund_status": "REFUNDCLOSE",
            "recv_account": "支付用户零钱",
            "amount": {
                "refund": 1200, "currency": "HKD", "payer_refund": 1200, "payer_currency": "HKD",
                "settlement_refund": 1200, "settlement_currency": "HKD",
            },
        })
    );

    apply_global(
        &sim,
        json!({
            "sp_mchid": "1900000100", "sub_mchid": "1900000209", "sp_appid": "wxd678efh567hg6787",
            "out_trade_no": "G20261122000009", "out_refund_no": "GN-INST",
            "notify_url": receiver.url,
            "amount": {"refund": 700, "total": 20000, "currency": "EUR"},
        }),
    );
    let (envelope, plaintext) = open_apiv3(&receiver.next()).expect("valid");
    check_envelope(&envelope, "REFUND.SUCCESS", "退款成功");
    let query = sim.global_refunds_for_order("G20261122000009");
    assert_eq!(
        (&plaintext["sp_mchid"], &plaintext["sub_mchid"]),
        (&json!("1900000100"), &json!("1900000209"))
    );
    assert!(plaintext.get("mchid").is_none());
    assert_eq!(plaintext["success_time"], query[0]["success_time"]);
    assert_eq!(
        plaintext["amount"]["payer_refund"],
        query[0]["amount"]["payer_refund"]
    );
    assert_eq!(plaintext["amount"]["payer_currency"], "CNY");
}

/// Verifies and decrypts a WeCom callback like the app would: `msg_signature`, then the
/// CBC layer (receive id = corp id), then the inner resource with the same key. Returns the
/// message envelope and the resource plaintext.
fn open_wecom(received: &Received, encrypted: &str) -> Result<(Value, Value), String> {
    let param = |name| received.query(name).ok_or(format!("no {name}"));
    let (timestamp, nonce) = (param("timestamp")?, param("nonce")?);
    let expected = callback::msg_signature(CALLBACK_TOKEN, timestamp, nonce, encrypted);
    if param("msg_signature")? != expected {
        return Err("msg_signature".into());
    }
    let ts: i64 = timestamp.parse().map_err(|_| "timestamp")?;
    if (epoch_secs(SystemTime::now()) - ts).abs() > 300 {
        return Err("stale".into());
    }
    let key = callback::aes_key(ENCODING_AES_KEY).map_err(|e| e.to_string())?;
    let (message, receive_id) = callback::decrypt(&key, encrypted).ok_or("decryption")?;
    if receive_id != CORPID {
        return Err("receive id".into());
    }
    let envelope: Value = serde_json::from_slice(&message).map_err(|e| e.to_string())?;
    let plaintext = open_resource(&envelope["resource"], &key)?;
    Ok((envelope, plaintext))
}

/// The `Encrypt` value of a JSON or XML callback body.
fn encrypt_field(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(json) => json_str(&json["encrypt"]),
        Err(_) => body
            .split_once("<Encrypt><![CDATA[")
            .and_then(|(_, rest)| rest.split_once("]]>"))
            .map(|(encrypt, _)| encrypt.to_string())
            .unwrap_or_default(),
    }
}

fn apply_wecom(sim: &Simulator, out_refund_no: &str) {
    let body = json!({
        "mchid": "1900000300", "appid": "wx8a7b6c5d4e3f2a10",
        "out_trade_no": "W20261122000001", "out_refund_no": out_refund_no,
        "amount": {"refund": 1500, "total": 10000, "currency": "CNY"},
    });
    lock(&sim.shared.wecom)
        .serve(Api::Refund, body.to_string().as_bytes(), SystemTime::now())
        .expect("accepted");
}

#[test]
fn wecom_callbacks_are_encrypted_and_signed() {
    let receiver = Receiver::accepting();
    let sim = simulator(SimOptions {
        wecom_callback_url: Some(format!("{}/wecom?callback_format=json", receiver.url)),
        ..SimOptions::default()
    });
    apply_wecom(&sim, "WN-1");
    let received = receiver.next();
    assert!(received
        .target
        .starts_with("/wecom?callback_format=json&msg_signature="));
    let body: Value = serde_json::from_str(&received.body).expect("JSON body");
    assert_eq!(body["tousername"], CORPID);
    assert_eq!(body["agentid"], "1000002");
    let (envelope, plaintext) =
        open_wecom(&received, &json_str(&body["encrypt"])).expect("verifies and decrypts");
    check_envelope(&envelope, "REFUND.SUCCESS", "退款成功");
    assert_eq!(envelope["notify_type"], "REFUND");
    let query = sim.wecom_refunds_for_order("W20261122000001");
    assert_eq!(
        plaintext,
        json!({
            "mchid": "1900000300",
            "out_trade_no": "W20261122000001",
            "refund_id": query[0]["refund_id"],
            "out_refund_no": "WN-1",
            "refund_status": "SUCCESS",
            "success_time": query[0]["success_time"],
            "user_received_account": "支付用户零钱",
            "amount": {"total": 10000, "refund": 1500, "payer_total": 10000, "payer_refund": 1500},
        })
    );
    // APIv3 refunds without a notify_url stay silent even with a WeCom callback URL.
    let mut silent = mainland("T20261122000001", 10000, "N-QUIET", "");
    if let Some(body) = silent.as_object_mut() {
        body.remove("notify_url");
    }
    apply_mainland(&sim, silent);
    receiver.nothing_more();
    assert_eq!(sim.deliveries().len(), 1);
}

#[test]
fn wecom_xml_callbacks_and_faults() {
    let receiver = Receiver::start(|r| {
        if open_wecom(r, &encrypt_field(&r.body)).is_ok() {
            200
        } else {
            400
        }
    });
    let sim = simulator(SimOptions {
        wecom_callback_url: Some(receiver.url.clone()),
        wecom_callback_xml: true,
        ..SimOptions::default()
    });
    let faults = [
        NotifyFault::Probe,
        NotifyFault::BadSignature,
        NotifyFault::Tampered,
        NotifyFault::WrongKey,
        NotifyFault::Stale,
    ];
    inject_each(&sim, &faults);
    for n in 0..faults.len() {
        apply_wecom(&sim, &format!("WX-{n}"));
    }
    let received: Vec<Received> = (0..10).map(|_| receiver.next()).collect();
    receiver.nothing_more();
    let first = &received[0];
    assert_eq!(first.header("Content-Type"), Some("text/xml"));
    assert!(first.body.starts_with(
        "<xml><ToUserName><![CDATA[ww5f1e2d3c4b5a6978]]></ToUserName><Encrypt><![CDATA["
    ));
    assert!(first
        .body
        .ends_with("]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"));

    let log = deliveries(&sim, 10);
    for fault in faults {
        let statuses: Vec<_> = attempts_of(&log, fault)
            .iter()
            .map(|d| (d.status, d.fault))
            .collect();
        assert_eq!(
            statuses,
            [(Some(400), Some(fault)), (Some(200), None)],
            "{fault:?}"
        );
    }
    let stale = log
        .iter()
        .find(|d| d.fault == Some(NotifyFault::Stale))
        .expect("stale attempt");
    assert!(stale.url.contains("&timestamp="));
}

#[test]
fn schedules_are_capped_and_default_to_the_platform_pace() {
    let schedule = default_schedule();
    assert_eq!(schedule.len(), 15);
    assert_eq!(
        &schedule[..4],
        &[100, 100, 200, 1200].map(Duration::from_millis)
    );
    assert_eq!(schedule[14], Duration::from_secs(144));
    let outbox = Outbox::new(&SimOptions {
        notify_schedule: vec![Duration::ZERO; 40],
        ..SimOptions::default()
    })
    .expect("outbox");
    assert_eq!(outbox.schedule.len(), 15);
    outbox.inject(NotifyFault::Stale, 0);
    assert!(take_fault(&outbox.faults).is_none());
}
