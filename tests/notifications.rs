//! Refund notifications end to end: the simulator delivers signed, encrypted
//! notifications to a receiver in the test, which the library verifies and
//! decrypts, answering what the library says to answer.

mod support;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::receiver::{Received, Receiver};
use wxrefund::{Client, ErrorKind, Headers, Notification, RefundQuery, RefundStatus};
use wxrefund_sim::{NotifyFault, SimOptions, Simulator, Verification};

/// What the receiver made of each delivery.
type Outcomes = Arc<Mutex<Vec<Result<Notification, wxrefund::Error>>>>;

/// Notifications redelivered every 50 ms.
fn sim_with(options: SimOptions) -> Simulator {
    support::sim_with(SimOptions {
        notify_schedule: vec![Duration::from_millis(50); 15],
        ..options
    })
}

fn client_for(config: Value, edit: impl FnOnce(&mut Value)) -> Arc<Client> {
    Arc::new(support::client_for(config, edit))
}

/// A receiver that parses every delivery with `client` and answers its reply;
/// `headers_of` turns a request into what the host passes as headers.
fn parsing_receiver(
    client: Arc<Client>,
    headers_of: impl Fn(&Received) -> Headers + Send + Sync + 'static,
) -> (Receiver, Outcomes) {
    let outcomes: Outcomes = Arc::new(Mutex::new(Vec::new()));
    let recorded = outcomes.clone();
    let receiver = Receiver::start("/wxrefund/notify", move |request| {
        let result = client.parse_notification(&headers_of(request), &request.body);
        let status = match &result {
            Ok(notification) => notification.reply().http_status,
            Err(error) => error.reply.as_ref().map_or(599, |reply| reply.http_status),
        };
        recorded.lock().unwrap().push(result);
        status
    });
    (receiver, outcomes)
}

/// A receiver that parses every delivery but answers 500 to the first, as a
/// host that failed to store it would, and 200 afterwards.
fn failing_first(client: &Arc<Client>) -> (Receiver, Outcomes) {
    let first = Arc::new(Mutex::new(true));
    let outcomes: Outcomes = Arc::new(Mutex::new(Vec::new()));
    let (recorded, parser) = (outcomes.clone(), client.clone());
    let receiver = Receiver::start("/n", move |request| {
        let result = parser.parse_notification(&http_headers(request), &request.body);
        recorded.lock().unwrap().push(result);
        if std::mem::replace(&mut *first.lock().unwrap(), false) {
            500
        } else {
            200
        }
    });
    (receiver, outcomes)
}

fn http_headers(request: &Received) -> Headers {
    Headers::new(request.headers.clone())
}

fn successes(outcomes: &Outcomes) -> Vec<Notification> {
    outcomes
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect()
}

fn failures(outcomes: &Outcomes) -> Vec<wxrefund::Error> {
    outcomes
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect()
}

fn apply(client: &Client, body: Value) -> wxrefund::Refund {
    client.create_refund_json(&body.to_string()).unwrap()
}

fn mainland(out_trade_no: &str, out_refund_no: &str, refund: i64, total: i64, url: &str) -> Value {
    json!({"out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "notify_url": url,
           "amount": {"refund": refund, "total": total, "currency": "CNY"}})
}

#[test]
fn mainland_notification_is_verified_decrypted_and_agrees_with_the_query() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.client_config(), |_| {});
    let (receiver, outcomes) = parsing_receiver(client.clone(), http_headers);
    apply(
        &client,
        mainland("T20261122000001", "RN-1", 100, 10000, &receiver.url),
    );
    receiver.wait_for("one notification", |r| !r.is_empty());

    let notification = successes(&outcomes).pop().expect("verified notification");
    assert_eq!(notification.event_type, "REFUND.SUCCESS");
    assert!(notification.id.starts_with("EV-"));
    assert_eq!(notification.resource_type, "encrypt-resource");
    let queried = client
        .query_refund(&RefundQuery::by_out_refund_no("RN-1"))
        .unwrap();
    assert_eq!(notification.refund.status, RefundStatus::Success);
    assert_eq!(notification.refund.status, queried.status);
    assert_eq!(notification.refund.refund_id, queried.refund_id);
    assert_eq!(notification.refund.field("refund_status"), Some("SUCCESS"));
    assert_eq!(
        notification.refund.fields["amount"]["refund"],
        queried.fields["amount"]["refund"]
    );
    assert_eq!(notification.reply().http_status, 200);
    let json = notification.to_json();
    assert_eq!(json["refund"]["wxrefund"]["status"], "SUCCESS");
    assert_eq!(json["reply"]["http_status"], 200);
    assert_eq!(receiver.received()[0].answered, 200);
}

#[test]
fn partner_and_cgi_header_names() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.partner_client_config("1900000109"), |_| {});
    // A CGI host sees HTTP_WECHATPAY_SIGNATURE and friends.
    let (receiver, outcomes) = parsing_receiver(client.clone(), |request| {
        Headers::new(request.headers.iter().map(|(name, value)| {
            (
                format!("HTTP_{}", name.to_uppercase().replace('-', "_")),
                value.clone(),
            )
        }))
    });
    apply(
        &client,
        mainland("T20261122000009", "RN-partner", 100, 10000, &receiver.url),
    );
    receiver.wait_for("one notification", |r| !r.is_empty());
    let notification = successes(&outcomes).pop().expect("verified notification");
    assert_eq!(notification.refund.field("sub_mchid"), Some("1900000109"));
    assert_eq!(notification.refund.field("sp_mchid"), Some("1900000100"));
}

#[test]
fn global_closed_refund_is_normalized() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.global_client_config(), |_| {});
    let (receiver, outcomes) = parsing_receiver(client.clone(), http_headers);
    let created = apply(
        &client,
        json!({"out_trade_no": "G20261122000002", "out_refund_no": "GN-1", "notify_url": receiver.url,
               "amount": {"refund": 5000, "total": 5000, "currency": "HKD"}}),
    );
    receiver.wait_for("one notification", |r| !r.is_empty());
    let notification = successes(&outcomes).pop().expect("verified notification");
    assert_eq!(notification.event_type, "REFUND.CLOSED");
    assert_eq!(
        notification.refund.field("refund_status"),
        Some("REFUNDCLOSE")
    );
    assert_eq!(notification.refund.status, RefundStatus::Closed);
    assert_eq!(
        notification.refund.refund_id, created.refund_id,
        "Global's `id`"
    );
}

#[test]
fn every_failure_has_its_status_and_reply_and_is_redelivered() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.client_config(), |_| {});
    let (receiver, outcomes) = parsing_receiver(client.clone(), http_headers);
    let cases = [
        (
            NotifyFault::BadSignature,
            ErrorKind::VerificationFailed,
            "bad_signature",
            401,
        ),
        (
            NotifyFault::Probe,
            ErrorKind::VerificationFailed,
            "probe_signature",
            401,
        ),
        (
            NotifyFault::Tampered,
            ErrorKind::VerificationFailed,
            "bad_signature",
            401,
        ),
        (
            NotifyFault::Stale,
            ErrorKind::TimestampOutOfWindow,
            "timestamp_out_of_window",
            401,
        ),
        (
            NotifyFault::WrongKey,
            ErrorKind::DecryptionFailed,
            "authentication_failed",
            500,
        ),
    ];
    for (i, (fault, kind, reason, status)) in cases.into_iter().enumerate() {
        sim.inject_notification(fault, 1);
        let no = format!("RN-fault-{i}");
        apply(
            &client,
            mainland("T20261122000001", &no, 10, 10000, &receiver.url),
        );
        let received = receiver.wait_for("a refused then an accepted delivery", |r| {
            r.len() == 2 * (i + 1)
        });
        let error = failures(&outcomes).pop().expect("a refused delivery");
        assert_eq!((error.kind, error.reason), (kind, reason), "{fault:?}");
        let reply = error.reply.clone().expect("a reply");
        assert_eq!(reply.http_status, status, "{fault:?}");
        assert!(reply.body.contains("FAIL"));
        assert_eq!(received[2 * i].answered, status);
        assert_eq!(
            received[2 * i + 1].answered,
            200,
            "redelivered, then accepted"
        );
        let accepted = successes(&outcomes).pop().unwrap();
        assert_eq!(accepted.refund.field("out_refund_no"), Some(no.as_str()));
    }
    let text = failures(&outcomes)
        .iter()
        .map(|e| e.to_json().to_string())
        .collect::<String>();
    assert!(
        !text.contains("wxrefundSimulatorApiV3Key"),
        "no secret in errors"
    );
}

#[test]
fn malformed_envelope_with_a_valid_signature() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.client_config(), |_| {});
    // Signed with the platform key by the test itself (ring), so only the envelope is wrong.
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sim/keys/platform_key.pem"
    ))
    .unwrap();
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(&pem).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let body = br#"{"hello":"not an envelope"}"#;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let message = [timestamp.as_bytes(), b"\nnonce1\n", body, b"\n"].concat();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        &message,
        &mut signature,
    )
    .unwrap();
    // The client downloads the platform certificate to check the serial.
    let headers = Headers::new([
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", "nonce1".into()),
        ("Wechatpay-Signature", BASE64.encode(signature)),
        (
            "Wechatpay-Serial",
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        ),
    ]);
    let error = client.parse_notification(&headers, body).unwrap_err();
    assert_eq!(error.kind, ErrorKind::MalformedNotification);
    assert_eq!(error.reply.clone().unwrap().http_status, 400);
    // Headers given as JSON with a non-string value are refused too.
    let error = client
        .parse_notification_json(r#"{"Wechatpay-Timestamp": 1}"#, body)
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidJson);
    assert_eq!(error.reply.clone().unwrap().http_status, 400);
}

#[test]
fn duplicates_and_redeliveries_share_the_id() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.client_config(), |_| {});
    let (receiver, outcomes) = failing_first(&client);
    sim.inject_notification(NotifyFault::Duplicate, 1);
    apply(
        &client,
        mainland("T20261122000001", "RN-dup", 10, 10000, &receiver.url),
    );
    receiver.wait_for("500, redelivery, duplicate", |r| r.len() >= 3);
    let ids: Vec<String> = successes(&outcomes).iter().map(|n| n.id.clone()).collect();
    assert_eq!(ids.len(), 3, "all three verified: {ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[test]
fn migration_accepts_either_key_and_public_key_only_refuses_certificates() {
    let sim = sim_with(SimOptions {
        verification: Verification::Both,
        ..SimOptions::default()
    });
    // Both keys configured: the certificate-signed first attempt and the
    // public-key-signed second are both accepted.
    let both = client_for(sim.client_config(), |_| {});
    let (receiver, outcomes) = failing_first(&both);
    apply(
        &both,
        mainland("T20261122000001", "RN-mig", 10, 10000, &receiver.url),
    );
    let received = receiver.wait_for("two deliveries", |r| r.len() >= 2);
    let serial = |r: &Received| {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("wechatpay-serial"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_ne!(
        serial(&received[0]),
        serial(&received[1]),
        "both keys were used"
    );
    assert_eq!(successes(&outcomes).len(), 2);

    // Public key only: the certificate-signed attempt is refused (401) and
    // the redelivery, signed with the public key, accepted.
    let sim = sim_with(SimOptions {
        verification: Verification::Both,
        ..SimOptions::default()
    });
    let public_key_only = client_for(sim.client_config(), |c| {
        c.as_object_mut().unwrap().remove("platform_certificates");
    });
    let (receiver, outcomes) = parsing_receiver(public_key_only.clone(), http_headers);
    apply(
        &public_key_only,
        mainland("T20261122000001", "RN-pk", 10, 10000, &receiver.url),
    );
    let received = receiver.wait_for("refused, then accepted", |r| {
        r.iter().any(|d| d.answered == 200)
    });
    assert_eq!(received[0].answered, 401);
    assert_eq!(failures(&outcomes)[0].reason, "unknown_serial");
}

fn wecom_sim(xml: bool, url: &str) -> Simulator {
    sim_with(SimOptions {
        wecom_callback_url: Some(url.to_string()),
        wecom_callback_xml: xml,
        ..SimOptions::default()
    })
}

/// WeCom callbacks carry msg_signature/timestamp/nonce in the URL.
fn query_params(request: &Received) -> Headers {
    Headers::new(request.query())
}

#[test]
fn wecom_callbacks_in_json_and_xml() {
    for xml in [false, true] {
        // The receiver needs the client, the client needs the simulator's
        // config, and the simulator needs the receiver's URL: fill the slot late.
        let slot: Arc<Mutex<Option<Arc<Client>>>> = Arc::new(Mutex::new(None));
        let outcomes: Outcomes = Arc::new(Mutex::new(Vec::new()));
        let (recorded, parser) = (outcomes.clone(), slot.clone());
        let receiver = Receiver::start("/wecom/callback", move |request| {
            let client = parser.lock().unwrap().clone().expect("client ready");
            let result = client.parse_notification(&query_params(request), &request.body);
            let status = match &result {
                Ok(n) => n.reply().http_status,
                Err(e) => e.reply.as_ref().map_or(599, |r| r.http_status),
            };
            recorded.lock().unwrap().push(result);
            status
        });
        let sim = wecom_sim(xml, &receiver.url);
        let client = client_for(sim.wecom_client_config(), |_| {});
        *slot.lock().unwrap() = Some(client.clone());
        client
            .create_refund_json(
                r#"{"out_trade_no":"W20261122000001","out_refund_no":"WN-1","amount":{"refund":100,"total":10000,"currency":"CNY"}}"#,
            )
            .unwrap();
        receiver.wait_for("a callback", |r| !r.is_empty());
        let notification = successes(&outcomes).pop().expect("verified callback");
        assert_eq!(
            notification.refund.status,
            RefundStatus::Success,
            "xml={xml}"
        );
        let queried = client
            .query_refund(&RefundQuery::by_out_refund_no("WN-1"))
            .unwrap();
        assert_eq!(notification.refund.refund_id, queried.refund_id);
        assert_eq!(notification.event_type, "REFUND.SUCCESS");

        // Failures: wrong key and stale timestamp, each redelivered.
        sim.inject_notification(NotifyFault::WrongKey, 1);
        sim.inject_notification(NotifyFault::Stale, 1);
        for (i, no) in ["WN-2", "WN-3"].iter().enumerate() {
            let body = format!(
                r#"{{"out_trade_no":"W20261122000003","out_refund_no":"{no}","amount":{{"refund":10,"total":800,"currency":"CNY"}}}}"#
            );
            if i == 1 {
                // WeCom allows one request per order per minute; use another order.
                let other = body
                    .replace("W20261122000003", "W20261122000002")
                    .replace(r#""total":800"#, r#""total":500"#);
                client.create_refund_json(&other).unwrap();
            } else {
                client.create_refund_json(&body).unwrap();
            }
        }
        receiver.wait_for("two refused and redelivered callbacks", |r| {
            r.iter().filter(|d| d.answered == 200).count() >= 3
        });
        let kinds: Vec<ErrorKind> = failures(&outcomes).iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&ErrorKind::DecryptionFailed), "{kinds:?}");
        assert!(
            kinds.contains(&ErrorKind::TimestampOutOfWindow),
            "{kinds:?}"
        );
    }
}

#[test]
fn wecom_without_callback_keys_says_so() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.wecom_client_config(), |c| {
        let object = c.as_object_mut().unwrap();
        object.remove("callback_token");
        object.remove("encoding_aes_key");
    });
    let error = client
        .parse_notification(&Headers::default(), b"{}")
        .unwrap_err();
    assert_eq!(error.field.as_deref(), Some("callback_token"));
    assert_eq!(error.reply.clone().unwrap().http_status, 500);
}

/// Finding 1 of the outside review: a deeply nested WeCom callback body,
/// sent before any signature check, overflowed the stack and killed the host.
/// Every hostile body is refused as malformed (reply 400), on a thread with
/// a 256 KiB stack, as small as a host thread may be.
#[test]
fn hostile_wecom_bodies_are_malformed_even_on_a_small_stack() {
    let sim = sim_with(SimOptions::default());
    let client = client_for(sim.wecom_client_config(), |_| {});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let params = Headers::new([
        ("msg_signature", "0".repeat(40)),
        ("timestamp", now),
        ("nonce", "n".into()),
    ]);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("1,000 open elements", "<a>".repeat(1_000).into_bytes()),
        ("20,000 open elements", "<a>".repeat(20_000).into_bytes()),
        (
            "1,000,000 levels (over 1 MiB)",
            "<a>".repeat(1_000_000).into_bytes(),
        ),
        (
            "2,000 closed levels",
            format!("{}x{}", "<a>".repeat(2_000), "</a>".repeat(2_000)).into_bytes(),
        ),
        ("100,000 JSON arrays", "[".repeat(100_000).into_bytes()),
        (
            "100,000 JSON objects",
            r#"{"a":"#.repeat(100_000).into_bytes(),
        ),
        ("2 MiB of spaces", vec![b' '; 2 << 20]),
    ];
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            for (what, body) in bodies {
                let error = client.parse_notification(&params, &body).unwrap_err();
                assert_eq!(
                    error.kind,
                    ErrorKind::MalformedNotification,
                    "{what}: {error}"
                );
                assert_eq!(error.reply.as_ref().unwrap().http_status, 400, "{what}");
            }
        })
        .unwrap()
        .join()
        .expect("no stack overflow, no panic");
}
