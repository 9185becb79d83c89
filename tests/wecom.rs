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

/// A scripted WeCom on loopback, for answers the simulator never gives:
/// `gettoken` and the refund endpoints answer what the test says.
struct FakeWeCom {
    server: support::receiver::Receiver,
}

impl FakeWeCom {
    fn start(
        gettoken: impl Fn(usize) -> (u16, String) + Send + Sync + 'static,
        refund: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
    ) -> FakeWeCom {
        let fetches = AtomicUsize::new(0);
        let server = support::receiver::Receiver::answering("", move |request| {
            if request.target.starts_with("/cgi-bin/gettoken?") {
                gettoken(fetches.fetch_add(1, Ordering::SeqCst)).into()
            } else {
                refund(&request.target).into()
            }
        });
        FakeWeCom { server }
    }

    fn config(&self, corpsecret: &str) -> Config {
        config(json!({}), |c| {
            *c = json!({
                "family": "wecom", "mchid": "1900000109", "appid": "wx1234567890abcdef",
                "corpid": "ww5f1e2d3c4b5a6978", "corpsecret": corpsecret,
                "base_url": self.server.url, "retry_delay_ms": 10,
            });
        })
    }

    fn gettoken_count(&self) -> usize {
        self.server
            .received()
            .iter()
            .filter(|r| r.target.starts_with("/cgi-bin/gettoken?"))
            .count()
    }

    fn refund_requests(&self) -> usize {
        self.server.received().len() - self.gettoken_count()
    }
}

fn token_answer(token: &str, expires_in: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"errcode":0,"errmsg":"ok","access_token":"{token}","expires_in":{expires_in}}}"#
        ),
    )
}

fn detail_answer(_: &str) -> (u16, String) {
    (
        200,
        r#"{"errcode":0,"errmsg":"ok","refund_id":"50300000000000000000000000000001","out_refund_no":"WR-1","status":"SUCCESS"}"#.into(),
    )
}

/// Finding 2: an `expires_in` that overflowed `Instant + Duration` made every
/// WeCom call panic. A lifetime beyond WeCom's two hours is clamped; one
/// that is not a positive integer is refused, naming it.
#[test]
fn absurd_token_lifetimes_are_clamped_or_refused_never_a_panic() {
    let huge = FakeWeCom::start(
        |_| token_answer("tok", "18446744073709551615"),
        detail_answer,
    );
    let client = Client::new(huge.config("corp-secret")).unwrap();
    for _ in 0..3 {
        let refund = client
            .query_refund(&RefundQuery::by_out_refund_no("WR-1"))
            .unwrap();
        assert_eq!(refund.status, RefundStatus::Success);
    }
    assert_eq!(huge.gettoken_count(), 1, "the clamped token is cached");

    for bad in ["0", "-7200", "1e30", "\"7200\""] {
        let fake = FakeWeCom::start(move |_| token_answer("tok", bad), detail_answer);
        let client = Client::new(fake.config("corp-secret")).unwrap();
        let err = client
            .query_refund(&RefundQuery::by_out_refund_no("WR-1"))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Api, "{bad}: {err}");
        assert!(err.message.contains("expires_in"), "{bad}: {err}");
        assert_eq!(fake.refund_requests(), 0, "{bad}: nothing sent");
    }
}

/// Finding 5: a server echoing the request put secrets into errors: the
/// gettoken `errmsg` with the corpsecret, and a token with `+ / =` echoed
/// percent-encoded. Neither form may reach the error, its Display or Debug.
#[test]
fn echoed_secrets_are_redacted_in_every_encoding_the_library_sends() {
    const SECRET: &str = "s3cr3t+/=CorpSecret";
    const SECRET_ENCODED: &str = "s3cr3t%2B%2F%3DCorpSecret";
    let refused = FakeWeCom::start(
        |_| {
            (
                200,
                format!(
                    r#"{{"errcode":40001,"errmsg":"invalid credential: {SECRET} ({SECRET_ENCODED})"}}"#
                ),
            )
        },
        detail_answer,
    );
    let client = Client::new(refused.config(SECRET)).unwrap();
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("WR-1"))
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("40001"));
    for shown in [
        err.to_json().to_string(),
        err.to_string(),
        format!("{err:?}"),
    ] {
        assert!(
            !shown.contains(SECRET) && !shown.contains(SECRET_ENCODED),
            "{shown}"
        );
    }

    const TOKEN: &str = "tok+en/Value==";
    const TOKEN_ENCODED: &str = "tok%2Ben%2FValue%3D%3D";
    let echoing = FakeWeCom::start(
        |_| token_answer(TOKEN, "7200"),
        |target| {
            let sent = target.split_once("access_token=").map_or("", |(_, t)| t);
            (
                200,
                format!(
                    r#"{{"errcode":60020,"errmsg":"not allow to access from your ip, access_token={sent} {TOKEN}"}}"#
                ),
            )
        },
    );
    let client = Client::new(echoing.config("corp-secret")).unwrap();
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("WR-1"))
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("60020"));
    assert!(err.message.contains("<redacted>"), "{err}");
    for shown in [
        err.to_json().to_string(),
        err.to_string(),
        format!("{err:?}"),
    ] {
        assert!(
            !shown.contains(TOKEN) && !shown.contains(TOKEN_ENCODED),
            "{shown}"
        );
    }
}

/// Finding 8: a failed token fetch kept the order under the local guard for
/// 60 s although the refund request never left, reported outcome_unknown
/// after an HTTP 500, and advised a resend the guard then refused. Token
/// fetches are now resent like any safe request.
#[test]
fn a_failed_token_fetch_sends_nothing_and_holds_no_order() {
    for (what, answer) in [
        ("HTTP 500", (500, String::new())),
        (
            "errcode -1",
            (200, r#"{"errcode":-1,"errmsg":"system busy"}"#.to_string()),
        ),
    ] {
        let answer = Arc::new(answer);
        let fake = FakeWeCom::start(move |_| (*answer).clone(), detail_answer);
        let client = Client::new(fake.config("corp-secret")).unwrap();
        for attempt in 0..2 {
            let err = client
                .create_refund(&request("W20261122000001", "WR-t1", 100, 10000))
                .unwrap_err();
            assert_ne!(err.kind, ErrorKind::RateLimited, "{what} #{attempt}: {err}");
            assert!(!err.outcome_unknown, "{what}: {err}");
            assert!(err.retryable, "{what}: {err}");
            assert!(err.message.contains("nothing was sent"), "{what}: {err}");
            assert!(
                !err.message.contains("send the same request again"),
                "{what}: {err}"
            );
        }
        // Each create fetched once and resent twice (max_retries 2).
        assert_eq!(fake.gettoken_count(), 6, "{what}");
        assert_eq!(fake.refund_requests(), 0, "{what}");
    }

    // A fetch that fails once is resent within the same call.
    let flaky = FakeWeCom::start(
        |n| match n {
            0 => (500, String::new()),
            _ => token_answer("tok", "7200"),
        },
        detail_answer,
    );
    let client = Client::new(flaky.config("corp-secret")).unwrap();
    client
        .query_refund(&RefundQuery::by_out_refund_no("WR-1"))
        .unwrap();
    assert_eq!(flaky.gettoken_count(), 2);
}

/// Finding 8, the refund endpoint: a request that never left (connection
/// refused) releases the guard; one that reached WeCom keeps it.
#[test]
fn the_order_guard_holds_only_requests_that_left() {
    let sim = sim();
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = Client::new(config(sim.wecom_fixed_token_config("tok"), |c| {
        c["base_url"] = json!(format!("http://127.0.0.1:{closed_port}"));
    }))
    .unwrap();
    for _ in 0..2 {
        let err = unreachable
            .create_refund(&request("W20261122000001", "WR-u1", 100, 10000))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transport, "{err}");
        assert!(!err.outcome_unknown);
    }
    let client = client(&sim);
    client
        .create_refund(&request("W20261122000001", "WR-u2", 100, 10000))
        .unwrap();
    let err = client
        .create_refund(&request("W20261122000001", "WR-u3", 100, 10000))
        .unwrap_err();
    assert_eq!(err.reason, "order_spacing");
}

/// Finding 5: a numeric secret in the configuration was echoed by serde's
/// type error (`invalid type: integer 987654321987654`).
#[test]
fn a_secret_of_the_wrong_type_is_named_not_echoed() {
    for (field, value) in [
        ("corpsecret", json!(987654321987654u64)),
        ("corpsecret", json!(-987654321987654i64)),
        ("corpsecret", json!(98765.4321987654)),
        ("access_token", json!(true)),
        ("callback_token", json!(987654321987654u64)),
    ] {
        let mut config = json!({
            "family": "wecom", "mchid": "1900000109", "appid": "wx1234567890abcdef",
            "corpid": "ww5f1e2d3c4b5a6978",
        });
        config[field] = value.clone();
        let err = Config::from_json(&config.to_string()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidConfig, "{field}: {err}");
        assert!(
            err.message.contains(field) || err.message.contains("string"),
            "{err}"
        );
        let shown = format!("{} {err} {err:?}", err.to_json());
        assert!(!shown.contains("987654"), "{field}: {shown}");
    }
}
