//! Mainland refunds end to end against the simulator over real HTTP on loopback.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::{client_for, settled, sim, sim_with};
use wxrefund::domestic::{Amount, RefundRequest};
use wxrefund::{Client, ErrorKind, RefundQuery, RefundStatus};
use wxrefund_sim::{Fault, FinalStatus, Order, SimOptions, Simulator, Verification};

const APIV3_KEY: &str = "wxrefundSimulatorApiV3Key0123456";

fn client(sim: &Simulator) -> Client {
    client_for(sim.client_config(), |_| {})
}

fn request(out_trade_no: &str, out_refund_no: &str, refund: i64, total: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: Some(out_trade_no.into()),
        out_refund_no: out_refund_no.into(),
        amount: Amount {
            refund,
            total,
            currency: "CNY".into(),
            from: None,
        },
        ..Default::default()
    }
}

fn assert_no_secret(error: &wxrefund::Error) {
    support::assert_no_secret(error, &[APIV3_KEY, "PRIVATE KEY"]);
}

fn poll_until_final(client: &Client, out_refund_no: &str) -> wxrefund::Refund {
    settled(client, &RefundQuery::by_out_refund_no(out_refund_no))
}

#[test]
fn apply_then_query_until_success() {
    let sim = sim();
    let client = client(&sim);
    let created = client
        .create_refund(&request("T20261122000001", "R-roundtrip", 100, 10000))
        .unwrap();
    assert_eq!(created.status, RefundStatus::Processing);
    let refund_id = created.field("refund_id").unwrap().to_string();
    assert!(refund_id.starts_with("50"));
    let json = created.to_json();
    assert_eq!(json["wxrefund"]["status"], "PROCESSING");
    assert_eq!(json["wxrefund"]["final"], false);
    assert_eq!(
        json["amount"]["refund"], 100,
        "server fields are kept: {json}"
    );

    let done = poll_until_final(&client, "R-roundtrip");
    assert_eq!(done.status, RefundStatus::Success);
    assert_eq!(done.field("refund_id"), Some(refund_id.as_str()));
    assert!(done.field("success_time").is_some());
    assert_eq!(done.to_json()["wxrefund"]["final"], true);
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 1);
}

#[test]
fn closed_and_abnormal_orders_normalize() {
    let sim = sim();
    let client = client(&sim);
    client
        .create_refund(&request("T20261122000002", "R-closed", 500, 500))
        .unwrap();
    client
        .create_refund(&request("T20261122000003", "R-abnormal", 800, 800))
        .unwrap();
    let closed = poll_until_final(&client, "R-closed");
    assert_eq!(closed.status, RefundStatus::Closed);
    let abnormal = poll_until_final(&client, "R-abnormal");
    assert_eq!(abnormal.status, RefundStatus::Abnormal);
    assert_eq!(abnormal.to_json()["wxrefund"]["action_required"], true);
}

#[test]
fn full_request_with_every_field_and_special_characters() {
    let sim = sim();
    let client = client(&sim);
    let body = json!({
        "transaction_id": "4200000001202611220000000001",
        "out_refund_no": "R|1*2@3",
        "reason": "商品已售完",
        "notify_url": "https://pos.example/wxrefund/notify",
        "funds_account": "AVAILABLE",
        "amount": {"refund": 300, "total": 10000, "currency": "CNY",
                   "from": [{"account": "AVAILABLE", "amount": 200}, {"account": "UNAVAILABLE", "amount": 100}]},
        "goods_detail": [{"merchant_goods_id": "G-1", "wechatpay_goods_id": "1001", "goods_name": "咖啡",
                          "unit_price": 300, "refund_amount": 300, "refund_quantity": 1}]
    });
    let created = client.create_refund_json(&body.to_string()).unwrap();
    assert_eq!(created.field("out_refund_no"), Some("R|1*2@3"));
    let queried = client
        .query_refund_json(r#"{"out_refund_no":"R|1*2@3"}"#)
        .unwrap();
    assert_eq!(queried.field("refund_id"), created.field("refund_id"));
}

#[test]
fn partner_mode_sends_sub_mchid() {
    let sim = sim();
    let partner = client_for(sim.partner_client_config("1900000109"), |_| {});
    partner
        .create_refund(&request("T20261122000009", "R-partner", 100, 10000))
        .unwrap();
    let refund = poll_until_final(&partner, "R-partner");
    assert_eq!(refund.status, RefundStatus::Success);
    // Without a configured default, the request must name the sub-merchant.
    let bare = client_for(sim.partner_client_config("1900000109"), |c| {
        c.as_object_mut().unwrap().remove("sub_mchid");
    });
    let err = bare
        .query_refund(&RefundQuery::by_out_refund_no("R-partner"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.field.as_deref()),
        (ErrorKind::InvalidRequest, Some("sub_mchid"))
    );
    let query = RefundQuery {
        sub_mchid: Some("1900000109".into()),
        ..RefundQuery::by_out_refund_no("R-partner")
    };
    assert_eq!(
        bare.query_refund(&query).unwrap().status,
        RefundStatus::Success
    );
    // A direct-mode client must not send sub_mchid.
    let direct = client(&sim);
    let err = direct.query_refund(&query).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("sub_mchid"));
}

#[test]
fn every_verification_mode_works() {
    for verification in [
        Verification::PlatformCertificate,
        Verification::PublicKey,
        Verification::Both,
    ] {
        let sim = sim_with(SimOptions {
            verification,
            ..SimOptions::default()
        });
        let client = client(&sim);
        let refund = client.create_refund(&request("T20261122000001", "R-mode", 1, 10000));
        assert!(refund.is_ok(), "{verification:?}: {refund:?}");
    }
}

#[test]
fn rotated_platform_certificate_is_downloaded_on_unknown_serial() {
    let sim = sim_with(SimOptions {
        verification: Verification::PlatformCertificate,
        ..SimOptions::default()
    });
    let client = client(&sim);
    client
        .create_refund(&request("T20261122000001", "R-rot-1", 1, 10000))
        .unwrap();
    sim.rotate_platform_certificate();
    // The first download was less than a minute ago, so the new serial cannot be
    // fetched yet: the response is refused, never accepted unverified.
    let err = client
        .create_refund(&request("T20261122000001", "R-rot-2", 1, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.reason),
        (ErrorKind::VerificationFailed, "unknown_serial")
    );
    assert!(err.outcome_unknown);
    // A fresh client downloads both certificates and verifies the rotated one.
    let fresh = client_for(sim.client_config(), |_| {});
    let refund = fresh
        .query_refund(&RefundQuery::by_out_refund_no("R-rot-2"))
        .unwrap();
    assert_eq!(refund.field("out_refund_no"), Some("R-rot-2"));
}

#[test]
fn public_key_only_merchant_without_public_key_config_is_explained() {
    let sim = sim_with(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    });
    let client = client_for(sim.client_config(), |c| {
        let object = c.as_object_mut().unwrap();
        object.remove("wechatpay_public_key_id");
        object.remove("wechatpay_public_key_pem");
        object.insert("platform_certificates".into(), json!(true));
    });
    let err = client
        .create_refund(&request("T20261122000001", "R-nocert", 1, 10000))
        .unwrap_err();
    // Finding 9: the error is the download's, with the platform's hint.
    assert_eq!(
        (err.kind, err.reason),
        (ErrorKind::VerificationFailed, "no_platform_certificates")
    );
    assert_eq!(
        (err.http_status, err.code.as_deref()),
        (Some(404), Some("RESOURCE_NOT_EXISTS"))
    );
    assert!(err.request_id.is_some(), "{err:?}");
    for words in ["GET /v3/certificates", "wechatpay_public_key_pem"] {
        assert!(err.message.contains(words), "{err}");
    }
    assert!(
        err.outcome_unknown,
        "the refund answer came back unverified"
    );
    // Within the minute the download is not repeated, and neither is its hint lost.
    let again = client
        .create_refund(&request("T20261122000001", "R-nocert", 1, 10000))
        .unwrap_err();
    assert_eq!(again.reason, "no_platform_certificates");
}

/// Finding 9: a certificate download that fails verification is named as
/// such and carries its own status and request id, not the refund answer's.
#[test]
fn a_failed_certificate_download_carries_its_own_status_and_request_id() {
    use support::receiver::{Answer, Receiver};
    let fake = Receiver::answering("", |request| {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = |name: &str, value: &str| (name.to_string(), value.to_string());
        if request.target.starts_with("/v3/certificates") {
            // Unsigned: the download cannot be trusted.
            Answer {
                status: 200,
                headers: vec![header("Request-ID", "DOWNLOAD-REQUEST-1")],
                body: r#"{"data":[]}"#.into(),
            }
        } else {
            // Signed (badly) with a serial the client has never seen.
            Answer {
                status: 200,
                headers: vec![
                    header("Request-ID", "REFUND-REQUEST-1"),
                    header(
                        "Wechatpay-Serial",
                        "5157F09EFDC096DE15EBE81A47057A7232F1B8E9",
                    ),
                    header("Wechatpay-Timestamp", &now.to_string()),
                    header("Wechatpay-Nonce", "n0nce"),
                    header("Wechatpay-Signature", "AAAA"),
                ],
                body: r#"{"refund_id":"1","status":"PROCESSING"}"#.into(),
            }
        }
    });
    let sim = sim();
    let client = client_for(sim.client_config(), |c| {
        c["base_url"] = json!(fake.url);
        let object = c.as_object_mut().unwrap();
        object.remove("wechatpay_public_key_id");
        object.remove("wechatpay_public_key_pem");
    });
    let err = client
        .create_refund(&request("T20261122000001", "R-dl", 1, 10000))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::VerificationFailed, "{err}");
    assert_eq!(err.reason, "missing_header", "{err}");
    assert!(
        err.message
            .starts_with("downloading platform certificates (GET /v3/certificates) failed"),
        "{err}"
    );
    assert_eq!(err.http_status, Some(200));
    assert_eq!(err.request_id.as_deref(), Some("DOWNLOAD-REQUEST-1"));
    assert!(err.outcome_unknown);
}

#[test]
fn system_errors_are_retried_with_the_same_refund() {
    let sim = sim();
    let client = client(&sim);
    sim.inject(Fault::SystemError, 2);
    let before = sim.request_count();
    client
        .create_refund(&request("T20261122000001", "R-sys", 100, 10000))
        .unwrap();
    assert_eq!(
        sim.request_count() - before,
        3,
        "two retries after two SYSTEM_ERRORs"
    );
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 1);

    // More failures than the retry budget: a retryable error, outcome unknown.
    sim.inject(Fault::SystemError, 3);
    let err = client
        .create_refund(&request("T20261122000001", "R-sys-2", 100, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.http_status, err.code.as_deref()),
        (ErrorKind::Api, Some(500), Some("SYSTEM_ERROR"))
    );
    assert!(err.retryable && err.outcome_unknown);
    assert_no_secret(&err);
    // The caller retries with the same out_refund_no: exactly one refund.
    client
        .create_refund(&request("T20261122000001", "R-sys-2", 100, 10000))
        .unwrap();
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 2);
}

#[test]
fn dropped_connection_after_commit_is_retried_without_duplicate() {
    let sim = sim();
    let client = client(&sim);
    sim.inject(Fault::DropAfterCommit, 1);
    let refund = client
        .create_refund(&request("T20261122000001", "R-drop", 100, 10000))
        .unwrap();
    let refunds = sim.refunds_for_order("T20261122000001");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["refund_id"].as_str(), refund.field("refund_id"));
}

#[test]
fn timeout_reports_unknown_outcome_and_query_resolves_it() {
    let sim = sim();
    let client = client_for(sim.client_config(), |c| {
        c["read_timeout_ms"] = json!(150);
        c["max_retries"] = json!(0);
    });
    sim.inject(Fault::Delay(Duration::from_millis(600)), 1);
    let err = client
        .create_refund(&request("T20261122000001", "R-slow", 100, 10000))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.retryable && err.outcome_unknown, "{err:?}");
    std::thread::sleep(Duration::from_millis(600));
    let refund = client
        .query_refund(&RefundQuery::by_out_refund_no("R-slow"))
        .unwrap();
    let again = client
        .create_refund(&request("T20261122000001", "R-slow", 100, 10000))
        .unwrap();
    assert_eq!(again.field("refund_id"), refund.field("refund_id"));
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 1);
}

#[test]
fn rate_limit_is_not_retried_blindly() {
    let sim = sim();
    let client = client(&sim);
    sim.inject(Fault::RateLimited, 1);
    let before = sim.request_count();
    let err = client
        .create_refund(&request("T20261122000001", "R-429", 100, 10000))
        .unwrap_err();
    assert_eq!(sim.request_count() - before, 1);
    assert_eq!(
        (err.kind, err.http_status),
        (ErrorKind::RateLimited, Some(429))
    );
    assert!(err.retryable && err.outcome_unknown);
    assert!(sim.refunds_for_order("T20261122000001").is_empty());
}

#[test]
fn unauthenticated_answers_are_errors_never_results() {
    let sim = sim();
    let client = client(&sim);
    let forged = ErrorKind::VerificationFailed;
    let stale = ErrorKind::TimestampOutOfWindow;
    let cases = [
        (Fault::BadSignature, forged, "bad_signature"),
        (Fault::ProbeSignature, forged, "probe_signature"),
        (Fault::Unsigned, forged, "missing_header"),
        (Fault::ClockSkew(400), stale, "timestamp_out_of_window"),
        (Fault::ClockSkew(-400), stale, "timestamp_out_of_window"),
    ];
    for (i, (fault, kind, reason)) in cases.into_iter().enumerate() {
        sim.inject(fault, 1);
        let out_refund_no = format!("R-forged-{i}");
        let err = client
            .create_refund(&request("T20261122000001", &out_refund_no, 10, 10000))
            .unwrap_err();
        assert_eq!((err.kind, err.reason), (kind, reason));
        assert!(err.outcome_unknown, "the platform may have accepted it");
        assert_eq!(err.http_status, Some(200));
        // The refund really was recorded: a query (verified) finds it.
        client
            .query_refund(&RefundQuery::by_out_refund_no(&out_refund_no))
            .unwrap();
    }
    sim.inject(Fault::ClockSkew(200), 1);
    client
        .create_refund(&request("T20261122000001", "R-skew-ok", 10, 10000))
        .unwrap();
    // Verification failures are not resent blindly: one refund per number, no duplicates.
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 6);
}

#[test]
fn platform_business_rules_surface_as_errors() {
    let sim = sim();
    let client = client(&sim);
    client
        .create_refund(&request("T20261122000001", "R-rule-1", 9000, 10000))
        .unwrap();
    let err = client
        .create_refund(&request("T20261122000001", "R-rule-2", 2000, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Api, Some("INVALID_REQUEST"))
    );
    assert!(!err.retryable);
    let err = client
        .create_refund(&request("T20261122000001", "R-rule-1", 500, 10000))
        .unwrap_err();
    assert_eq!(
        err.code.as_deref(),
        Some("INVALID_REQUEST"),
        "same number, different amount"
    );
    let err = client
        .create_refund(&request("T20251101000001", "R-old", 100, 1000))
        .unwrap_err();
    assert_eq!(
        err.code.as_deref(),
        Some("INVALID_REQUEST"),
        "more than a year old"
    );
    let err = client
        .create_refund(&request("T20261199999999", "R-none", 100, 1000))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("R-missing"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::NotFound, Some("RESOURCE_NOT_EXISTS"))
    );
    assert!(err.request_id.is_some());
}

#[test]
fn at_most_fifty_refunds_per_order() {
    let sim = sim();
    sim.add_order(Order {
        out_trade_no: "T-FIFTY-0000001".into(),
        transaction_id: "4200000001202611220000000050".into(),
        total: 1000,
        sub_mchid: None,
        paid_at: SystemTime::now(),
        final_status: FinalStatus::Success,
    });
    let client = client(&sim);
    for i in 0..50 {
        client
            .create_refund(&request("T-FIFTY-0000001", &format!("R-50-{i}"), 1, 1000))
            .unwrap();
    }
    let err = client
        .create_refund(&request("T-FIFTY-0000001", "R-50-50", 1, 1000))
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("INVALID_REQUEST"));
    assert_eq!(sim.refunds_for_order("T-FIFTY-0000001").len(), 50);
}

#[test]
fn order_spacing_is_a_rate_limit() {
    let sim = sim_with(SimOptions {
        enforce_order_spacing: true,
        ..SimOptions::default()
    });
    let client = client(&sim);
    client
        .create_refund(&request("T20261122000001", "R-space-1", 1, 10000))
        .unwrap();
    let err = client
        .create_refund(&request("T20261122000001", "R-space-2", 1, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::RateLimited, Some("FREQUENCY_LIMITED"))
    );
}

#[test]
fn invalid_requests_never_reach_the_network() {
    let sim = sim();
    let client = client(&sim);
    let before = sim.request_count();
    let err = client
        .create_refund(&request("T20261122000001", "R 1", 1, 10000))
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("out_refund_no"));
    let err = client
        .create_refund_json(r#"{"out_trade_no":"T20261122000001"}"#)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidJson);
    assert!(err.message.contains("out_refund_no"), "{err}");
    assert_eq!(sim.request_count(), before);
}

#[test]
fn unreachable_platform_is_a_transport_error_that_was_not_sent() {
    let sim = sim();
    let config = sim.client_config();
    drop(sim);
    let client = client_for(config, |c| c["max_retries"] = json!(1));
    let err = client
        .create_refund(&request("T20261122000001", "R-down", 1, 10000))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.retryable);
    assert!(
        !err.outcome_unknown,
        "a refused connection never reached the platform: {err:?}"
    );
}

#[test]
fn one_client_shared_by_eight_threads() {
    let sim = sim();
    let client = Arc::new(client(&sim));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                for j in 0..3 {
                    let no = format!("R-thread-{i}-{j}");
                    client
                        .create_refund(&request("T20261122000001", &no, 10, 10000))
                        .unwrap();
                    client
                        .query_refund(&RefundQuery::by_out_refund_no(&no))
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 24);
}

#[test]
fn signing_problems_are_refused_by_the_platform_with_sign_error() {
    let sim = sim();
    let wrong_serial = client_for(sim.client_config(), |c| {
        c["merchant_serial_no"] = json!("0000000000000000000000000000000000000001");
    });
    let wrong_key = client_for(sim.client_config(), |c| {
        c["private_key_pem"] = json!(include_str!("../sim/keys/platform_key.pem"));
    });
    for client in [wrong_serial, wrong_key] {
        let err = client
            .create_refund(&request("T20261122000001", "R-sign", 1, 10000))
            .unwrap_err();
        assert_eq!(
            (err.kind, err.http_status, err.code.as_deref()),
            (ErrorKind::Api, Some(401), Some("SIGN_ERROR"))
        );
        assert!(!err.retryable);
        assert_no_secret(&err);
    }
    assert!(sim.refunds_for_order("T20261122000001").is_empty());
}

#[test]
fn migration_mode_chooses_the_serial_it_sends() {
    let sim = sim_with(SimOptions {
        verification: Verification::Both,
        ..SimOptions::default()
    });
    // Both verifiers: answers signed either way are accepted.
    let both = client_for(sim.client_config(), |c| {
        c["wechatpay_serial"] = json!("platform_certificate");
    });
    both.create_refund(&request("T20261122000001", "R-mig-1", 1, 10000))
        .unwrap();
    // Only the public key, but asking for certificate-signed answers: the
    // platform obliges, and the answer cannot be verified.
    let public_key_only = client_for(sim.client_config(), |c| {
        c["wechatpay_serial"] = json!("platform_certificate");
        c.as_object_mut().unwrap().remove("platform_certificates");
    });
    let err = public_key_only
        .query_refund(&RefundQuery::by_out_refund_no("R-mig-1"))
        .unwrap_err();
    assert_eq!(err.reason, "unknown_serial");
    // The default sends the public key id: public-key-signed answers.
    let default = client_for(sim.client_config(), |c| {
        c.as_object_mut().unwrap().remove("platform_certificates");
    });
    default
        .query_refund(&RefundQuery::by_out_refund_no("R-mig-1"))
        .unwrap();
}
