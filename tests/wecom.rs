//! WeCom mini-program refunds end to end against the simulator: both token
//! sources, expiry and revocation mid-run, the order guard, validation.

mod support;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use support::{assert_no_secret, sim, sim_with};
use wxrefund::wecom::{Amount, RefundRequest};
use wxrefund::{AccessTokenProvider, Client, Config, ErrorKind, RefundQuery, RefundStatus, Secret};
use wxrefund_sim::{Fault, FinalStatus, SimOptions, Simulator, WeComOrder};

const CORPSECRET: &str = "wxrefundSimulatorCorpSecret-0123456789";

fn config(config: Value, edit: impl FnOnce(&mut Value)) -> Config {
    Config::from_json(&support::fast(config, edit).to_string()).unwrap()
}

fn client(sim: &Simulator) -> Client {
    Client::new(config(sim.wecom_client_config(), |_| {})).unwrap()
}

fn request(out_trade_no: &str, out_refund_no: &str, refund: i64, total: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: out_trade_no.into(),
        out_refund_no: out_refund_no.into(),
        reason: None,
        amount: Amount {
            refund,
            total,
            currency: "CNY".into(),
        },
        funds_account: None,
    }
}

fn order(sim: &Simulator, index: usize, total: i64) {
    sim.add_wecom_order(WeComOrder {
        out_trade_no: format!("W-THREAD-{index:02}"),
        transaction_id: format!("4200000003202611229{index:09}"),
        total,
        paid_at: SystemTime::now(),
        final_status: FinalStatus::Success,
    });
}

fn poll(client: &Client, out_refund_no: &str) -> wxrefund::Refund {
    support::settled(client, &RefundQuery::by_out_refund_no(out_refund_no))
}

#[test]
fn corpsecret_round_trip_caches_the_token() {
    let sim = sim();
    let client = client(&sim);
    let accepted = client
        .create_refund(&request("W20261122000001", "WR-1", 100, 10000))
        .unwrap();
    assert_eq!(
        accepted.status,
        RefundStatus::Accepted,
        "accepted, not refunded"
    );
    assert_eq!(accepted.to_json()["wxrefund"]["status"], "ACCEPTED");
    assert_eq!(accepted.to_json()["wxrefund"]["final"], false);
    let done = poll(&client, "WR-1");
    assert_eq!(done.status, RefundStatus::Success);
    assert!(done.refund_id.is_some());
    assert_eq!(done.field("errmsg"), Some("ok"), "server fields kept");
    assert_eq!(sim.gettoken_count(), 1, "one token for every call");
}

#[test]
fn closed_and_abnormal() {
    let sim = sim();
    let client = client(&sim);
    client
        .create_refund(&request("W20261122000002", "WR-c", 500, 500))
        .unwrap();
    client
        .create_refund(&request("W20261122000003", "WR-a", 800, 800))
        .unwrap();
    assert_eq!(poll(&client, "WR-c").status, RefundStatus::Closed);
    assert_eq!(poll(&client, "WR-a").status, RefundStatus::Abnormal);
}

#[test]
fn revoked_token_is_renewed_once_mid_run() {
    let sim = sim();
    let client = client(&sim);
    client
        .create_refund(&request("W20261122000001", "WR-rv", 100, 10000))
        .unwrap();
    sim.revoke_wecom_tokens();
    poll(&client, "WR-rv");
    assert_eq!(sim.gettoken_count(), 2);
}

#[test]
fn expiring_tokens_are_renewed_before_they_expire() {
    let sim = sim_with(SimOptions {
        wecom_token_lifetime: Duration::from_secs(2),
        ..SimOptions::default()
    });
    let client = client(&sim);
    client
        .query_refund(&RefundQuery::by_out_refund_no("WR-none"))
        .unwrap_err();
    std::thread::sleep(Duration::from_millis(1200));
    client
        .query_refund(&RefundQuery::by_out_refund_no("WR-none"))
        .unwrap_err();
    assert_eq!(
        sim.gettoken_count(),
        2,
        "renewed after half its 2 s lifetime"
    );
}

/// A host-side cache that renews only when WeCom rejects its token.
struct HostCache {
    sim: Arc<Simulator>,
    token: Mutex<String>,
    calls: AtomicUsize,
    rejections: AtomicUsize,
}

impl AccessTokenProvider for HostCache {
    fn access_token(&self, rejected: Option<&str>) -> wxrefund::Result<Secret> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut token = self.token.lock().unwrap();
        if let Some(rejected) = rejected {
            assert_eq!(rejected, *token);
            self.rejections.fetch_add(1, Ordering::SeqCst);
            *token = self.sim.issue_wecom_token();
        }
        Ok(Secret::new(token.as_str()))
    }
}

#[test]
fn host_provided_tokens_expire_and_are_replaced() {
    let sim = Arc::new(sim_with(SimOptions {
        wecom_token_lifetime: Duration::from_secs(1),
        ..SimOptions::default()
    }));
    let cache = Arc::new(HostCache {
        sim: sim.clone(),
        token: Mutex::new(sim.issue_wecom_token()),
        calls: AtomicUsize::new(0),
        rejections: AtomicUsize::new(0),
    });
    let config = config(sim.wecom_client_config(), |c| {
        let object = c.as_object_mut().unwrap();
        object.remove("corpid");
        object.remove("corpsecret");
    });
    let client = Client::with_access_token_provider(config, cache.clone()).unwrap();
    client
        .create_refund(&request("W20261122000001", "WR-host", 100, 10000))
        .unwrap();
    assert_eq!(cache.rejections.load(Ordering::SeqCst), 0);
    std::thread::sleep(Duration::from_millis(1100));
    poll(&client, "WR-host");
    assert_eq!(
        cache.rejections.load(Ordering::SeqCst),
        1,
        "42001 -> renewed once"
    );
    assert_eq!(
        sim.gettoken_count(),
        0,
        "the library never fetched a token itself"
    );
}

#[test]
fn fixed_token_works_until_revoked() {
    let sim = sim();
    let token = sim.issue_wecom_token();
    let client = Client::new(config(sim.wecom_fixed_token_config(&token), |_| {})).unwrap();
    client
        .create_refund(&request("W20261122000001", "WR-fixed", 100, 10000))
        .unwrap();
    sim.revoke_wecom_tokens();
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("WR-fixed"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.reason),
        (ErrorKind::Api, "access_token_rejected")
    );
    assert_no_secret(&err, &[&token]);
}

#[test]
fn wrong_corpsecret_is_reported_without_echoing_it() {
    let sim = sim();
    let client = Client::new(config(sim.wecom_client_config(), |c| {
        c["corpsecret"] = json!("not-the-secret-abcdef");
    }))
    .unwrap();
    let err = client
        .create_refund(&request("W20261122000001", "WR-s", 1, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Api, Some("40001"))
    );
    assert_no_secret(&err, &["not-the-secret-abcdef", CORPSECRET]);
}

#[test]
fn order_guard_refuses_locally_and_spares_the_quota() {
    let sim = sim();
    let client = client(&sim);
    client
        .create_refund(&request("W20261122000001", "WR-g1", 100, 10000))
        .unwrap();
    let before = sim.request_count();
    let err = client
        .create_refund(&request("W20261122000001", "WR-g2", 100, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.reason),
        (ErrorKind::RateLimited, "order_spacing")
    );
    assert!(matches!(err.retry_after_secs, Some(58..=60)), "{err:?}");
    assert_eq!(
        err.to_json()["retry_after_secs"],
        json!(err.retry_after_secs)
    );
    assert_eq!(sim.request_count(), before, "nothing was sent");
    // Other orders are not held back.
    client
        .create_refund(&request("W20261122000003", "WR-g3", 100, 800))
        .unwrap();

    // With the guard off, the platform's own limit answers instead.
    let unguarded = Client::new(config(sim.wecom_client_config(), |c| {
        c["order_spacing_secs"] = json!(0);
    }))
    .unwrap();
    let err = unguarded
        .create_refund(&request("W20261122000001", "WR-g4", 100, 10000))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::RateLimited, Some("45009"))
    );
}

#[test]
fn faults_busy_queries_are_resent_applies_are_not() {
    let sim = sim_with(SimOptions {
        wecom_order_spacing: Duration::ZERO,
        ..SimOptions::default()
    });
    let client = Client::new(config(sim.wecom_client_config(), |c| {
        c["order_spacing_secs"] = json!(0);
    }))
    .unwrap();
    sim.inject(Fault::SystemError, 1);
    let err = client
        .create_refund(&request("W20261122000001", "WR-f1", 100, 10000))
        .unwrap_err();
    assert_eq!(
        (err.code.as_deref(), err.retryable, err.outcome_unknown),
        (Some("-1"), true, true)
    );
    assert!(sim.wecom_refunds_for_order("W20261122000001").is_empty());
    client
        .create_refund(&request("W20261122000001", "WR-f1", 100, 10000))
        .unwrap();

    sim.inject(Fault::DropAfterCommit, 1);
    let err = client
        .create_refund(&request("W20261122000001", "WR-f2", 100, 10000))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.outcome_unknown);
    // The query finds it (and is resent through a busy answer by itself).
    sim.inject(Fault::SystemError, 1);
    client
        .query_refund(&RefundQuery::by_out_refund_no("WR-f2"))
        .unwrap();
    client
        .create_refund(&request("W20261122000001", "WR-f2", 100, 10000))
        .unwrap();
    assert_eq!(
        sim.wecom_refunds_for_order("W20261122000001").len(),
        2,
        "no duplicate"
    );
}

#[test]
fn platform_rules_and_not_found() {
    let sim = sim_with(SimOptions {
        wecom_order_spacing: Duration::ZERO,
        ..SimOptions::default()
    });
    let client = Client::new(config(sim.wecom_client_config(), |c| {
        c["order_spacing_secs"] = json!(0);
    }))
    .unwrap();
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("WR-missing"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::NotFound, Some("720501"))
    );
    let err = client
        .create_refund(&request("W20269999999999", "WR-x", 1, 10))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    client
        .create_refund(&request("W20261122000001", "WR-r1", 9000, 10000))
        .unwrap();
    let err = client
        .create_refund(&request("W20261122000001", "WR-r2", 2000, 10000))
        .unwrap_err();
    assert_eq!((err.kind, err.retryable), (ErrorKind::Api, false));
    let err = client
        .create_refund(&request("W20251101000001", "WR-old", 100, 1000))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Api);
}

#[test]
fn every_validation_rule_stops_before_the_network() {
    let sim = sim();
    let client = client(&sim);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"out_trade_no": "W1", "out_refund_no": "r", "amount": {"refund": 1, "total": 1, "currency": "CNY"}}),
            "out_trade_no",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r 1", "amount": {"refund": 1, "total": 1, "currency": "CNY"}}),
            "out_refund_no",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "x".repeat(65), "amount": {"refund": 1, "total": 1, "currency": "CNY"}}),
            "out_refund_no",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "reason": "", "amount": {"refund": 1, "total": 1, "currency": "CNY"}}),
            "reason",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "reason": "退".repeat(27), "amount": {"refund": 1, "total": 1, "currency": "CNY"}}),
            "reason",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "amount": {"refund": 0, "total": 1, "currency": "CNY"}}),
            "amount.refund",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "amount": {"refund": 1, "total": 0, "currency": "CNY"}}),
            "amount.total",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "amount": {"refund": 2, "total": 1, "currency": "CNY"}}),
            "amount.refund",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "amount": {"refund": 1, "total": 1, "currency": "USD"}}),
            "amount.currency",
        ),
        (
            json!({"out_trade_no": "W20261122000001", "out_refund_no": "r", "funds_account": "BASIC", "amount": {"refund": 1, "total": 1, "currency": "CNY"}}),
            "funds_account",
        ),
    ];
    for (body, field) in cases {
        let err = client.create_refund_json(&body.to_string()).unwrap_err();
        assert_eq!(
            (err.kind, err.field.as_deref()),
            (ErrorKind::InvalidRequest, Some(field)),
            "{body}"
        );
    }
    let err = client
        .create_refund_json(r#"{"out_trade_no":"W20261122000001","out_refund_no":"r","mchid":"1","amount":{"refund":1,"total":1,"currency":"CNY"}}"#)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidJson);
    let err = client
        .query_refund(&RefundQuery::by_refund_id("5000"))
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("refund_id"));
    assert_eq!(sim.request_count(), 0);
    assert_eq!(sim.gettoken_count(), 0);
}

#[test]
fn eight_threads_share_one_token_fetch() {
    let sim = sim();
    for i in 0..8 {
        order(&sim, i, 1000);
    }
    let client = Arc::new(client(&sim));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                let no = format!("WR-t{i}");
                client
                    .create_refund(&request(&format!("W-THREAD-{i:02}"), &no, 10, 1000))
                    .unwrap();
                client
                    .query_refund(&RefundQuery::by_out_refund_no(&no))
                    .unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sim.gettoken_count(), 1, "single-flight token fetch");
}

#[test]
fn configuration_rules() {
    let sim = sim();
    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut c = sim.wecom_client_config();
        edit(&mut c);
        Client::from_json(&c.to_string()).err().unwrap()
    };
    let err = bad(&|c| c["access_token"] = json!("t"));
    assert_eq!(
        err.field.as_deref(),
        Some("access_token"),
        "two token sources"
    );
    let err = bad(&|c| {
        c.as_object_mut().unwrap().remove("corpsecret");
    });
    assert_eq!(err.field.as_deref(), Some("access_token"));
    let err = bad(&|c| c["apiv3_key"] = json!("0123456789abcdef0123456789abcdef"));
    assert_eq!(err.field.as_deref(), Some("apiv3_key"));
    let err = bad(&|c| {
        c.as_object_mut().unwrap().remove("appid");
    });
    assert_eq!(err.field.as_deref(), Some("appid"));
    assert_no_secret(&err, &[CORPSECRET]);
}
