//! Apply-abnormal-refund end to end (PROTOCOL.md §4.4): a refund settled to
//! `ABNORMAL` in the simulator is sent to another card through
//! `Client::apply_abnormal_refund`; the simulator decrypts the bank details
//! with the key the client named, answers `PROCESSING`, settles `SUCCESS`
//! and notifies it. Validation sends nothing, and the card number and name
//! appear in no error and no log record (captured through the `log` facade,
//! in this test binary's own process).

mod support;

use serde_json::{json, Value};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use support::receiver::{Received, Receiver};
use wxrefund::domestic::AbnormalRefundRequest;
use wxrefund::{Client, ErrorKind, Headers, Notification, RefundQuery, RefundStatus, Secret};
use wxrefund_sim::{FinalStatus, SimOptions, Simulator, Verification};

/// The payer's card and name: they must never be shown anywhere.
const ACCOUNT: &str = "6222020200112233445";
const NAME: &str = "张小花";

/// Every `wxrefund` record of this binary's tests, as text.
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        if record.target() != wxrefund::LOG_TARGET {
            return;
        }
        struct Fields(String);
        impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push_str(&format!(" {key}={value}"));
                Ok(())
            }
        }
        let mut fields = Fields(record.args().to_string());
        record.key_values().visit(&mut fields).unwrap();
        RECORDS.lock().unwrap().push(fields.0);
    }

    fn flush(&self) {}
}

/// Installs the capture once for the whole binary (the logger is global).
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Fails when any text shows the card number (or its first 8 digits) or the name.
fn assert_hidden(what: &str, text: &str) {
    assert!(
        !text.contains(&ACCOUNT[..8]) && !text.contains(NAME),
        "{what} shows bank details: {text}"
    );
}

/// The captured records about `out_refund_no`, none showing bank details.
fn records_about(out_refund_no: &str) -> Vec<String> {
    let records = RECORDS.lock().unwrap().clone();
    for record in &records {
        assert_hidden("a log record", record);
    }
    records
        .into_iter()
        .filter(|r| r.contains(out_refund_no))
        .collect()
}

/// Fails when an error shows bank details in any form the host may print.
fn assert_error_hidden(error: &wxrefund::Error) {
    assert_hidden("error JSON", &error.to_json().to_string());
    assert_hidden("error Display", &error.to_string());
    assert_hidden("error Debug", &format!("{error:?}"));
}

/// A simulator in `verification` mode; refunds settle 1 s after they are
/// created or sent another way (time for the debug build's RSA), and
/// notifications are redelivered every 50 ms.
fn sim(verification: Verification) -> Simulator {
    sim_settling(verification, Duration::from_millis(1000))
}

/// [`sim`] with refunds settling `settle_after` after they are created.
fn sim_settling(verification: Verification, settle_after: Duration) -> Simulator {
    capture_logs();
    Simulator::start(SimOptions {
        verification,
        settle_after,
        notify_schedule: vec![Duration::from_millis(50); 15],
        ..SimOptions::default()
    })
    .expect("the simulator starts")
}

fn client(config: Value) -> Arc<Client> {
    Arc::new(support::client_for(config, |_| {}))
}

/// What the receiver made of each notification.
type Outcomes = Arc<Mutex<Vec<Result<Notification, wxrefund::Error>>>>;

/// A notification receiver that parses every delivery with `client`.
fn receiver(client: Arc<Client>) -> (Receiver, Outcomes) {
    let outcomes: Outcomes = Arc::new(Mutex::new(Vec::new()));
    let recorded = outcomes.clone();
    let receiver = Receiver::start("/notify", move |request: &Received| {
        let result =
            client.parse_notification(&Headers::new(request.headers.clone()), &request.body);
        let status = match &result {
            Ok(notification) => notification.reply().http_status,
            Err(_) => 500,
        };
        recorded.lock().unwrap().push(result);
        status
    });
    (receiver, outcomes)
}

/// Waits for a verified notification of `event_type` about `refund_id`.
fn notified(outcomes: &Outcomes, event_type: &str, refund_id: &str) -> Notification {
    for _ in 0..500 {
        let found = outcomes
            .lock()
            .unwrap()
            .iter()
            .find_map(|outcome| {
                outcome.as_ref().ok().filter(|n| {
                    n.event_type == event_type && n.refund.refund_id.as_deref() == Some(refund_id)
                })
            })
            .cloned();
        if let Some(notification) = found {
            return notification;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "no {event_type} notification for {refund_id}: {:?}",
        outcomes.lock().unwrap()
    );
}

/// Applies for a refund of `out_trade_no` and has the simulator settle it
/// `ABNORMAL` at once; returns its `refund_id`.
fn abnormal_refund(
    sim: &Simulator,
    client: &Client,
    out_trade_no: &str,
    total: i64,
    out_refund_no: &str,
    notify_url: Option<&str>,
) -> String {
    let mut body = json!({"out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
                          "amount": {"refund": 100, "total": total, "currency": "CNY"}});
    if let Some(url) = notify_url {
        body["notify_url"] = json!(url);
    }
    let refund = client
        .create_refund_json(&body.to_string())
        .expect("refund accepted");
    assert_eq!(refund.status, RefundStatus::Processing);
    sim.settle_now(out_refund_no, FinalStatus::Abnormal)
        .expect("settled ABNORMAL");
    let queried = client
        .query_refund(&RefundQuery::by_out_refund_no(out_refund_no))
        .expect("query");
    assert_eq!(queried.status, RefundStatus::Abnormal);
    refund.refund_id.expect("refund_id")
}

fn to_user_card(refund_id: &str, out_refund_no: &str) -> AbnormalRefundRequest {
    AbnormalRefundRequest {
        refund_id: refund_id.to_string(),
        out_refund_no: out_refund_no.to_string(),
        kind: "USER_BANK_CARD".to_string(),
        bank_type: Some("ICBC_DEBIT".to_string()),
        bank_account: Some(Secret::new(ACCOUNT)),
        real_name: Some(Secret::new(NAME)),
        ..AbnormalRefundRequest::default()
    }
}

fn to_merchant_card(refund_id: &str, out_refund_no: &str) -> AbnormalRefundRequest {
    AbnormalRefundRequest {
        refund_id: refund_id.to_string(),
        out_refund_no: out_refund_no.to_string(),
        kind: "MERCHANT_BANK_CARD".to_string(),
        ..AbnormalRefundRequest::default()
    }
}

/// The simulator's request log entries for apply-abnormal-refund.
fn abnormal_requests(sim: &Simulator) -> Vec<Value> {
    sim.request_log()
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/apply-abnormal-refund"))
        })
        .collect()
}

/// The simulator's state of one mainland refund.
fn sim_refund(sim: &Simulator, out_refund_no: &str) -> Value {
    let state = sim.state();
    assert_hidden("the simulator state", &state.to_string());
    state["refunds"]["domestic"]
        .as_array()
        .expect("refunds")
        .iter()
        .find(|r| r["out_refund_no"] == out_refund_no)
        .cloned()
        .expect("refund in the state")
}

#[test]
fn user_bank_card_with_the_public_key_completes_and_is_notified() {
    let sim = sim(Verification::PublicKey);
    let client = client(sim.client_config());
    let (receiver, outcomes) = receiver(client.clone());
    let refund_id = abnormal_refund(
        &sim,
        &client,
        "T20261122000001",
        10000,
        "AB-PK1",
        Some(&receiver.url),
    );
    let abnormal = notified(&outcomes, "REFUND.ABNORMAL", &refund_id);
    assert_eq!(abnormal.refund.status, RefundStatus::Abnormal);

    let refund = client
        .apply_abnormal_refund(&to_user_card(&refund_id, "AB-PK1"))
        .expect("accepted");
    assert_eq!(refund.status, RefundStatus::Processing);
    assert_eq!(refund.refund_id.as_deref(), Some(refund_id.as_str()));
    assert_eq!(refund.fields["out_refund_no"], "AB-PK1");
    assert_eq!(refund.fields["channel"], "OTHER_BANKCARD");
    assert_eq!(refund.fields["user_received_account"], "工商银行借记卡3445");
    assert!(refund.attempts >= 1);
    // Accepted only for the public key id (this mode), in one request.
    let applied = abnormal_requests(&sim);
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0]["method"], "POST");
    assert_eq!(applied[0]["verdict"], "ok");
    assert_eq!(
        applied[0]["path"],
        format!("/v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund")
    );

    let done = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("AB-PK1"),
            Duration::from_secs(15),
        )
        .expect("final");
    assert_eq!(done.status, RefundStatus::Success);
    assert!(done.fields["success_time"].is_string());
    let success = notified(&outcomes, "REFUND.SUCCESS", &refund_id);
    assert_eq!(success.refund.status, RefundStatus::Success);
    assert_eq!(
        success.refund.fields["user_received_account"],
        "工商银行借记卡3445"
    );

    let stored = sim_refund(&sim, "AB-PK1");
    assert_eq!(
        stored["abnormal_refund"],
        json!({"type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT", "bank_account_last4": "3445"})
    );
    let history: Vec<&Value> = stored["status_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| &h["status"])
        .collect();
    assert_eq!(history, ["PROCESSING", "ABNORMAL", "PROCESSING", "SUCCESS"]);
    assert!(!records_about("AB-PK1").is_empty(), "the calls were logged");
}

#[test]
fn merchant_bank_card_with_a_downloaded_platform_certificate() {
    let sim = sim(Verification::PlatformCertificate);
    let setup = client(sim.client_config());
    let (receiver, outcomes) = receiver(setup.clone());
    let refund_id = abnormal_refund(
        &sim,
        &setup,
        "T20261122000001",
        10000,
        "AB-MC1",
        Some(&receiver.url),
    );

    // A fresh client holds no certificate yet: it downloads them, then
    // encrypts for (and names) the platform certificate.
    let fresh = client(sim.client_config());
    let before = sim.request_log().len();
    let refund = fresh
        .apply_abnormal_refund(&to_merchant_card(&refund_id, "AB-MC1"))
        .expect("accepted");
    assert_eq!(refund.status, RefundStatus::Processing);
    assert_eq!(refund.fields["user_received_account"], "商户结算银行账户");
    let paths: Vec<Value> = sim.request_log()[before..]
        .iter()
        .map(|r| json!([r["method"], r["path"], r["verdict"]]))
        .collect();
    assert_eq!(
        paths,
        [
            json!(["GET", "/v3/certificates", "ok"]),
            json!([
                "POST",
                format!("/v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund"),
                "ok"
            ]),
        ]
    );

    let done = fresh
        .wait_for_final(
            &RefundQuery::by_out_refund_no("AB-MC1"),
            Duration::from_secs(15),
        )
        .expect("final");
    assert_eq!(done.status, RefundStatus::Success);
    notified(&outcomes, "REFUND.SUCCESS", &refund_id);
    assert_eq!(
        sim_refund(&sim, "AB-MC1")["abnormal_refund"],
        json!({"type": "MERCHANT_BANK_CARD", "bank_type": null, "bank_account_last4": null})
    );
}

#[test]
fn after_rotation_the_newest_certificate_is_used() {
    let sim = sim(Verification::PlatformCertificate);
    let setup = client(sim.client_config());
    let refund_id = abnormal_refund(&sim, &setup, "T20261122000001", 10000, "AB-ROT", None);
    sim.rotate_platform_certificate();
    // The simulator accepts the rotated serial only once it has rotated, and
    // the bank details only when they decrypt with that certificate's key.
    let fresh = client(sim.client_config());
    let refund = fresh
        .apply_abnormal_refund(&to_user_card(&refund_id, "AB-ROT"))
        .expect("accepted with the rotated certificate");
    assert_eq!(refund.status, RefundStatus::Processing);
}

#[test]
fn partner_mode_sends_the_sub_merchant() {
    let sim = sim(Verification::PublicKey);
    let client = client(sim.partner_client_config("1900000109"));
    let (receiver, outcomes) = receiver(client.clone());
    let refund_id = abnormal_refund(
        &sim,
        &client,
        "T20261122000009",
        10000,
        "AB-SP1",
        Some(&receiver.url),
    );

    // Another sub-merchant's request is refused by the platform.
    let mut foreign = to_user_card(&refund_id, "AB-SP1");
    foreign.sub_mchid = Some("1900000999".to_string());
    let error = client
        .apply_abnormal_refund(&foreign)
        .expect_err("not ours");
    assert_eq!(error.kind, ErrorKind::Api);
    assert_eq!(
        (error.http_status, error.code.as_deref()),
        (Some(403), Some("NO_AUTH"))
    );
    assert_error_hidden(&error);

    // The configured sub_mchid by default.
    let refund = client
        .apply_abnormal_refund(&to_user_card(&refund_id, "AB-SP1"))
        .expect("accepted");
    assert_eq!(refund.status, RefundStatus::Processing);
    let done = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("AB-SP1"),
            Duration::from_secs(15),
        )
        .expect("final");
    assert_eq!(done.status, RefundStatus::Success);
    let success = notified(&outcomes, "REFUND.SUCCESS", &refund_id);
    assert_eq!(success.refund.fields["sub_mchid"], "1900000109");
}

#[test]
fn a_refund_that_is_not_abnormal_is_refused_by_the_platform() {
    // Refunds stay PROCESSING for the whole test.
    let sim = sim_settling(Verification::Both, Duration::from_secs(600));
    let client = client(sim.client_config());
    let refund = client
        .create_refund_json(
            &json!({"out_trade_no": "T20261122000001", "out_refund_no": "AB-NA1",
                    "amount": {"refund": 100, "total": 10000, "currency": "CNY"}})
            .to_string(),
        )
        .expect("accepted");
    let refund_id = refund.refund_id.expect("refund_id");
    let error = client
        .apply_abnormal_refund(&to_user_card(&refund_id, "AB-NA1"))
        .expect_err("still processing");
    assert_eq!(error.kind, ErrorKind::Api);
    assert_eq!(
        (error.http_status, error.code.as_deref()),
        (Some(400), Some("INVALID_REQUEST"))
    );
    assert!(error.message.contains("ABNORMAL"), "{error}");
    assert!(!error.outcome_unknown);
    assert_error_hidden(&error);

    // Unknown refund id, and a refund number that is not the refund's.
    let error = client
        .apply_abnormal_refund(&to_user_card("50999999999999", "AB-NA1"))
        .expect_err("unknown");
    assert_eq!(error.http_status, Some(404));
    assert_error_hidden(&error);
    let error = client
        .apply_abnormal_refund(&to_merchant_card(&refund_id, "AB-OTHER"))
        .expect_err("wrong number");
    assert_eq!(error.code.as_deref(), Some("PARAM_ERROR"));
    assert_eq!(
        error.detail.as_ref().map(|d| d["field"].clone()),
        Some(json!("/out_refund_no"))
    );
    assert_eq!(
        client
            .query_refund(&RefundQuery::by_out_refund_no("AB-NA1"))
            .expect("query")
            .status,
        RefundStatus::Processing
    );
    records_about("AB-NA1");
}

/// A change that makes a valid request invalid.
type Edit = Box<dyn Fn(&mut AbnormalRefundRequest)>;

#[test]
fn each_validation_rule_names_its_field_and_sends_nothing() {
    let sim = sim(Verification::PublicKey);
    let client = client(sim.client_config());
    let valid = to_user_card("50300000000000000000000000001", "AB-V1");
    let edits: Vec<(&str, Edit)> = vec![
        ("refund_id", Box::new(|r| r.refund_id = String::new())),
        (
            "refund_id",
            Box::new(|r| r.refund_id = "5030/../x".to_string()),
        ),
        ("refund_id", Box::new(|r| r.refund_id = "5".repeat(33))),
        (
            "out_refund_no",
            Box::new(|r| r.out_refund_no = String::new()),
        ),
        (
            "out_refund_no",
            Box::new(|r| r.out_refund_no = "AB V1".to_string()),
        ),
        ("type", Box::new(|r| r.kind = "BALANCE".to_string())),
        ("type", Box::new(|r| r.kind = String::new())),
        ("bank_type", Box::new(|r| r.bank_type = None)),
        ("bank_account", Box::new(|r| r.bank_account = None)),
        ("real_name", Box::new(|r| r.real_name = None)),
        (
            "bank_type",
            Box::new(|r| r.bank_type = Some("icbc_debit".to_string())),
        ),
        (
            "bank_type",
            Box::new(|r| r.bank_type = Some("ICBC_DEBIT_CARD_X".to_string())),
        ),
        ("bank_type", Box::new(|r| r.bank_type = Some(String::new()))),
        (
            "bank_account",
            Box::new(|r| r.bank_account = Some(Secret::new("6222 0202 0011 2233 445"))),
        ),
        (
            "bank_account",
            Box::new(|r| r.bank_account = Some(Secret::new("62220"))),
        ),
        (
            "bank_account",
            Box::new(|r| r.bank_account = Some(Secret::new(format!("{ACCOUNT}{ACCOUNT}")))),
        ),
        (
            "real_name",
            Box::new(|r| r.real_name = Some(Secret::new(""))),
        ),
        (
            "real_name",
            Box::new(|r| r.real_name = Some(Secret::new(NAME.repeat(17)))),
        ),
        (
            "real_name",
            Box::new(|r| r.real_name = Some(Secret::new(format!("{NAME}\n")))),
        ),
    ];
    for (field, edit) in &edits {
        let mut request = valid.clone();
        edit(&mut request);
        assert_hidden("the request's Debug", &format!("{request:?}"));
        let error = client.apply_abnormal_refund(&request).expect_err("invalid");
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{field}: {error}");
        assert_eq!(error.field.as_deref(), Some(*field), "{error}");
        assert_eq!(error.attempts, 0);
        assert!(!error.outcome_unknown);
        assert_error_hidden(&error);
    }
    // MERCHANT_BANK_CARD takes none of the payer's details.
    for field in ["bank_type", "bank_account", "real_name"] {
        let mut request = valid.clone();
        request.kind = "MERCHANT_BANK_CARD".to_string();
        match field {
            "bank_type" => {
                request.bank_account = None;
                request.real_name = None;
            }
            "bank_account" => {
                request.bank_type = None;
                request.real_name = None;
            }
            _ => {
                request.bank_type = None;
                request.bank_account = None;
            }
        }
        let error = client.apply_abnormal_refund(&request).expect_err("invalid");
        assert_eq!(error.field.as_deref(), Some(field), "{error}");
        assert_error_hidden(&error);
    }
    assert_eq!(sim.request_count(), 0, "nothing was sent");
    assert!(sim.request_log().is_empty());
    records_about("AB-V1");
}

#[test]
fn the_json_form_completes_and_refuses_without_echoing() {
    let sim = sim(Verification::PublicKey);
    let client = client(sim.client_config());
    let refund_id = abnormal_refund(&sim, &client, "T20261122000003", 800, "AB-JS1", None);
    let request = json!({"refund_id": refund_id, "out_refund_no": "AB-JS1",
                         "type": "USER_BANK_CARD", "bank_type": "CMB_DEBIT",
                         "bank_account": ACCOUNT, "real_name": NAME});
    let refund = client
        .apply_abnormal_refund_json(&request.to_string())
        .expect("accepted");
    assert_eq!(refund.status, RefundStatus::Processing);
    assert_eq!(refund.fields["user_received_account"], "招商银行借记卡3445");
    let done = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("AB-JS1"),
            Duration::from_secs(15),
        )
        .expect("final");
    assert_eq!(done.status, RefundStatus::Success);

    let sent = sim.request_count();
    let bad = [
        // Unknown field, a misspelled one, wrong types of the secret fields,
        // a rule broken, not JSON at all.
        json!({"refund_id": refund_id, "out_refund_no": "AB-JS1", "type": "USER_BANK_CARD",
               "bank_type": "CMB_DEBIT", "bank_acount": ACCOUNT, "real_name": NAME})
        .to_string(),
        json!({"refund_id": refund_id, "out_refund_no": "AB-JS1", "type": "USER_BANK_CARD",
               "bank_type": "CMB_DEBIT", "bank_account": 6222020200112233445u64, "real_name": NAME})
        .to_string(),
        json!({"refund_id": refund_id, "out_refund_no": "AB-JS1", "type": "USER_BANK_CARD",
               "bank_type": "CMB_DEBIT", "bank_account": [ACCOUNT], "real_name": {"n": NAME}})
        .to_string(),
        json!({"refund_id": refund_id, "out_refund_no": "AB-JS1", "type": "USER_BANK_CARD",
               "bank_type": "CMB_DEBIT", "bank_account": format!("{ACCOUNT}x"), "real_name": NAME})
        .to_string(),
        format!("{{\"bank_account\": \"{ACCOUNT}\", \"real_name\": \"{NAME}\""),
    ];
    for json in &bad {
        let error = client
            .apply_abnormal_refund_json(json)
            .expect_err("refused");
        assert!(
            matches!(
                error.kind,
                ErrorKind::InvalidJson | ErrorKind::InvalidRequest
            ),
            "{error}"
        );
        assert_eq!(error.attempts, 0);
        assert_error_hidden(&error);
    }
    assert_eq!(sim.request_count(), sent, "nothing was sent");
    records_about("AB-JS1");
}

#[test]
fn global_and_wecom_clients_cannot_apply() {
    let sim = sim(Verification::PublicKey);
    let request = to_user_card("50300000000000000000000000001", "AB-FAM");
    for config in [sim.global_client_config(), sim.wecom_client_config()] {
        let client = client(config);
        let error = client
            .apply_abnormal_refund(&request)
            .expect_err("mainland only");
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error}");
        assert!(error.message.contains("mainland"), "{error}");
        assert_error_hidden(&error);
        let json = json!({"refund_id": "5030", "out_refund_no": "AB-FAM",
                          "type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT",
                          "bank_account": ACCOUNT, "real_name": NAME});
        let error = client
            .apply_abnormal_refund_json(&json.to_string())
            .expect_err("mainland only");
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error}");
        assert_error_hidden(&error);
    }
    assert_eq!(sim.request_count(), 0);
    assert_eq!(sim.gettoken_count(), 0);
    records_about("AB-FAM");
}

#[test]
fn a_retry_after_a_lost_answer_gets_the_refund_again() {
    let sim = sim(Verification::PublicKey);
    let client = client(sim.client_config());
    let refund_id = abnormal_refund(&sim, &client, "T20261122000001", 10000, "AB-RT1", None);
    let path = format!("/v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund");
    // The first answer is lost after the platform recorded the request.
    sim.inject_at(wxrefund_sim::Fault::DropAfterCommit, 1, &path);
    let refund = client
        .apply_abnormal_refund(&to_user_card(&refund_id, "AB-RT1"))
        .expect("the retry is answered");
    assert_eq!(refund.status, RefundStatus::Processing);
    assert_eq!(refund.attempts, 2);
    // The same bytes twice (encrypted once), and the platform recognised the repeat.
    let applied = abnormal_requests(&sim);
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert_eq!(applied[0]["verdict"], "fault:DROP_AFTER_COMMIT");
    assert_eq!(applied[1]["verdict"], "ok");
    assert_eq!(applied[0]["body_sha256"], applied[1]["body_sha256"]);
    let done = client
        .wait_for_final(
            &RefundQuery::by_out_refund_no("AB-RT1"),
            Duration::from_secs(15),
        )
        .expect("final");
    assert_eq!(done.status, RefundStatus::Success);
    records_about("AB-RT1");
}
