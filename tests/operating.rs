//! What an operator sees: the `wxrefund` log records of every path (captured
//! here through the `log` facade, in this test's own process, since the
//! logger is global), `attempts`/`elapsed_ms` in results and errors, and
//! waiting for a final status.

mod support;

use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::client_for;
use support::receiver::Receiver;
use wxrefund::{ErrorKind, Headers, RefundQuery, RefundStatus};
use wxrefund_sim::{Fault, FinalStatus, SimOptions, Simulator};

/// One `wxrefund` record: level, message and fields.
#[derive(Debug, Clone)]
struct Record {
    level: log::Level,
    message: String,
    fields: Map<String, Value>,
}

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());
/// Every record of the test, never drained: checked for secrets at the end.
static ALL: Mutex<Vec<Record>> = Mutex::new(Vec::new());
/// Records of other crates: counted, to prove the capture sees everything.
static OTHERS: Mutex<usize> = Mutex::new(0);

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        if record.target() != wxrefund::LOG_TARGET {
            *OTHERS.lock().unwrap() += 1;
            return;
        }
        struct Fields(Map<String, Value>);
        impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                let value = match (value.to_u64(), value.to_bool()) {
                    (Some(number), _) => json!(number),
                    (_, Some(flag)) => json!(flag),
                    _ => json!(value.to_string()),
                };
                self.0.insert(key.to_string(), value);
                Ok(())
            }
        }
        let mut fields = Fields(Map::new());
        record.key_values().visit(&mut fields).unwrap();
        let record = Record {
            level: record.level(),
            message: record.args().to_string(),
            fields: fields.0,
        };
        ALL.lock().unwrap().push(record.clone());
        RECORDS.lock().unwrap().push(record);
    }

    fn flush(&self) {}
}

/// Captured records about `out_refund_no` (all records when `None`), drained.
fn take(out_refund_no: Option<&str>) -> Vec<Record> {
    let mut records = RECORDS.lock().unwrap();
    let (mine, others): (Vec<Record>, Vec<Record>) =
        std::mem::take(&mut *records).into_iter().partition(|r| {
            out_refund_no.is_none_or(|no| r.fields.get("out_refund_no") == Some(&json!(no)))
        });
    *records = others;
    mine
}

fn events(records: &[Record]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r.fields["event"].as_str().unwrap())
        .collect()
}

/// A simulator whose refunds stay PROCESSING until settled by hand.
fn manual_sim() -> Simulator {
    Simulator::start(SimOptions {
        settle_after: Duration::from_secs(3600),
        notify_schedule: vec![Duration::from_millis(50); 15],
        ..SimOptions::default()
    })
    .expect("the simulator starts")
}

fn mainland(out_refund_no: &str) -> String {
    json!({"out_trade_no": "T20261122000001", "out_refund_no": out_refund_no,
           "amount": {"refund": 1, "total": 10000, "currency": "CNY"}})
    .to_string()
}

#[test]
fn records_results_and_waits_say_what_happened_and_never_a_secret() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let sim = manual_sim();
    let mut secrets: Vec<String> = Vec::new();
    let config = sim.client_config();
    secrets.push(config["apiv3_key"].as_str().unwrap().to_string());
    let key_lines = config["private_key_pem"].as_str().unwrap().lines();
    secrets.extend(
        key_lines
            .filter(|l| !l.starts_with("-----"))
            .map(String::from),
    );
    // Certificate mode: the first answer triggers a certificate download.
    let client = Arc::new(client_for(config, |c| {
        let object = c.as_object_mut().unwrap();
        object.remove("wechatpay_public_key_id");
        object.remove("wechatpay_public_key_pem");
    }));

    // A create: one attempt, a certificate download, the result's counts.
    let refund = client.create_refund_json(&mainland("OP-1")).unwrap();
    assert_eq!(refund.attempts, 1);
    assert_eq!(refund.to_json()["wxrefund"]["attempts"], 1);
    assert!(refund.to_json()["wxrefund"]["elapsed_ms"].is_u64());
    let records = take(Some("OP-1"));
    assert_eq!(events(&records), ["attempt"]);
    let attempt = &records[0];
    assert_eq!(attempt.level, log::Level::Debug);
    for (field, value) in [
        ("family", json!("domestic")),
        ("method", json!("POST")),
        ("path", json!("/v3/refund/domestic/refunds")),
        ("attempt", json!(1)),
        ("http_status", json!(200)),
    ] {
        assert_eq!(attempt.fields.get(field), Some(&value), "{attempt:?}");
    }
    assert!(attempt.fields["request_id"].is_string());
    assert!(attempt.fields["elapsed_ms"].is_u64());
    assert!(attempt
        .message
        .starts_with("POST /v3/refund/domestic/refunds attempt 1: HTTP 200"));
    let background = take(None);
    let download = background
        .iter()
        .find(|r| r.fields["event"] == "certificate_download")
        .expect("a certificate download record");
    assert_eq!(download.level, log::Level::Info);
    assert!(download.fields["certificates"].as_u64().unwrap() >= 1);
    assert!(background
        .iter()
        .any(|r| r.fields["event"] == "attempt" && r.fields["path"] == "/v3/certificates"));

    // SYSTEM_ERROR once: a retry with its reason, two attempts counted.
    sim.inject(Fault::SystemError, 1);
    let refund = client.create_refund_json(&mainland("OP-2")).unwrap();
    assert_eq!(refund.attempts, 2);
    let records = take(Some("OP-2"));
    assert_eq!(events(&records), ["attempt", "retry", "attempt"]);
    assert_eq!(records[0].fields["http_status"], 500);
    assert_eq!(records[0].fields["code"], "SYSTEM_ERROR");
    assert_eq!(records[1].level, log::Level::Warn);
    assert_eq!(records[1].fields["reason"], "SYSTEM_ERROR");
    assert_eq!(records[1].fields["attempts"], 1);
    assert_eq!(records[2].fields["attempt"], 2);

    // Dropped after commit: the error counts every attempt and is logged as unknown.
    let impatient = client_for(sim.client_config(), |c| c["max_retries"] = json!(1));
    sim.inject(Fault::DropAfterCommit, 2);
    let error = impatient.create_refund_json(&mainland("OP-3")).unwrap_err();
    assert!(error.outcome_unknown);
    assert_eq!(error.attempts, 2);
    assert_eq!(error.to_json()["attempts"], 2);
    assert!(error.to_json()["elapsed_ms"].is_u64());
    let records = take(Some("OP-3"));
    assert_eq!(
        events(&records),
        ["attempt", "retry", "attempt", "outcome_unknown"]
    );
    assert_eq!(records[0].fields["network_error"], true);
    assert_eq!(records[3].fields["reason"], "transport");

    // Waiting: PROCESSING until settled by hand, then SUCCESS.
    let query = RefundQuery::by_out_refund_no("OP-1");
    let waiting = {
        let client = client.clone();
        let query = query.clone();
        std::thread::spawn(move || client.wait_for_final(&query, Duration::from_secs(20)))
    };
    std::thread::sleep(Duration::from_millis(1500));
    sim.settle_now("OP-1", FinalStatus::Success).unwrap();
    let done = waiting.join().unwrap().unwrap();
    assert_eq!(done.status, RefundStatus::Success);
    assert!(
        done.attempts >= 2,
        "polled more than once: {}",
        done.attempts
    );
    assert!(done.elapsed_ms >= 1000, "{}", done.elapsed_ms);
    let records = take(Some("OP-1"));
    let ended = records.last().unwrap();
    assert_eq!(ended.fields["event"], "wait_ended");
    assert_eq!(ended.fields["status"], "SUCCESS");
    assert_eq!(ended.fields["attempts"], json!(done.attempts));
    let personal = done.field("user_received_account").unwrap().to_string();
    secrets.push(personal);

    // ABNORMAL needs action: the wait returns it at once.
    sim.settle_now("OP-2", FinalStatus::Abnormal).unwrap();
    let started = Instant::now();
    let abnormal = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("OP-2"),
            Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(abnormal.status, RefundStatus::Abnormal);
    assert!(abnormal.to_json()["wxrefund"]["action_required"] == true);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Out of time: TIMEOUT, carrying the last refund seen.
    let error = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("OP-3"),
            Duration::from_millis(1200),
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.retryable && !error.outcome_unknown);
    assert_eq!(
        error.refund.as_ref().unwrap().status,
        RefundStatus::Processing
    );
    assert_eq!(
        error.attempts, 3,
        "queried at once, after 1 s and at the deadline"
    );
    let json = error.to_json();
    assert_eq!(json["status"], "TIMEOUT");
    assert_eq!(json["refund"]["wxrefund"]["status"], "PROCESSING");
    assert!(json["message"]
        .as_str()
        .unwrap()
        .contains("still PROCESSING"));

    // A refund that does not exist ends the wait at once.
    let error = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("OP-NONE"),
            Duration::from_secs(20),
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(error.attempts, 1);
    take(None);

    // Notifications: an accepted one and a refused one, each with a verdict.
    let parser = client.clone();
    let receiver = Receiver::start("/notify", move |request| {
        let headers = Headers::new(request.headers.clone());
        match parser.parse_notification(&headers, &request.body) {
            Ok(_) => 200,
            Err(error) => error.reply.as_ref().map_or(599, |r| r.http_status),
        }
    });
    let request = json!({"out_trade_no": "T20261122000001", "out_refund_no": "OP-4",
        "notify_url": receiver.url, "amount": {"refund": 1, "total": 10000, "currency": "CNY"}});
    client.create_refund_json(&request.to_string()).unwrap();
    sim.settle_now("OP-4", FinalStatus::Success).unwrap();
    let delivered = receiver.wait_for("a notification", |r| !r.is_empty());
    let tampered = {
        let mut body = delivered[0].body.clone();
        body.push(b' ');
        client
            .parse_notification(&Headers::new(delivered[0].headers.clone()), &body)
            .unwrap_err()
    };
    assert_eq!(tampered.kind, ErrorKind::VerificationFailed);
    let verdicts: Vec<Record> = take(None)
        .into_iter()
        .filter(|r| r.fields["event"] == "notification")
        .collect();
    assert_eq!(verdicts[0].fields["accepted"], true);
    assert_eq!(verdicts[0].fields["event_type"], "REFUND.SUCCESS");
    assert_eq!(verdicts[0].fields["status"], "SUCCESS");
    let refused = verdicts.last().unwrap();
    assert_eq!(refused.level, log::Level::Warn);
    assert_eq!(refused.fields["accepted"], false);
    assert_eq!(refused.fields["reason"], "bad_signature");

    // WeCom: the first token fetch, and a renewal after the token is revoked.
    let wecom_config = sim.wecom_client_config();
    secrets.push(wecom_config["corpsecret"].as_str().unwrap().to_string());
    let wecom = client_for(wecom_config, |c| c["order_spacing_secs"] = json!(0));
    let apply = json!({"out_trade_no": "W20261122000001", "out_refund_no": "OPW-1",
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"}});
    wecom.create_refund_json(&apply.to_string()).unwrap();
    sim.revoke_wecom_tokens();
    wecom
        .query_refund(&RefundQuery::by_out_refund_no("OPW-1"))
        .unwrap();
    secrets.push(sim.issue_wecom_token());
    let records = take(None);
    let renewals: Vec<(&Value, &Value)> = records
        .iter()
        .filter(|r| r.fields["event"] == "token_renewal")
        .map(|r| (&r.fields["reason"], &r.fields["ok"]))
        .collect();
    assert_eq!(
        renewals,
        [
            (&json!("first"), &json!(true)),
            (&json!("rejected"), &json!(true))
        ]
    );
    let wecom_attempts: Vec<&Record> = records
        .iter()
        .filter(|r| r.fields["event"] == "attempt" && r.fields["family"] == "wecom")
        .collect();
    assert!(wecom_attempts
        .iter()
        .any(|r| r.fields["path"] == "/cgi-bin/gettoken"));
    let rejected = wecom_attempts
        .iter()
        .find(|r| {
            r.fields.get("code") == Some(&json!("40014"))
                || r.fields.get("code") == Some(&json!("42001"))
        })
        .expect("the rejected token's attempt");
    assert_eq!(rejected.fields["out_refund_no"], "OPW-1");

    // Nothing secret or personal, anywhere, in any record of the whole test.
    assert!(
        *OTHERS.lock().unwrap() > 0,
        "other crates' records were seen"
    );
    let everything = ALL.lock().unwrap();
    assert!(!everything.is_empty());
    for record in everything.iter() {
        let text = format!(
            "{} {}",
            record.message,
            Value::Object(record.fields.clone())
        );
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret:?} in {text}");
        }
    }
}
