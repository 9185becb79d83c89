//! Finding 4 of the outside review: with the host's `log` logger at TRACE,
//! ureq logged WeCom URLs with the corpsecret and access token in clear, and
//! in hex dumps of the bytes sent. This test captures every record of every
//! crate (its own process: the logger is global) through real requests, and
//! looks for every secret in the text and in the bytes the hex dumps show.

mod support;

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use support::receiver::Receiver;
use support::{client_for, sim};
use wxrefund::{Client, RefundQuery};

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        RECORDS.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

/// ureq's hex dumps (`TRACE ureq_proto::util 4854 5450 ...  HTTP`): the
/// bytes behind each run of consecutive rows, and every other record.
fn split_dumps(records: &[String]) -> (Vec<Vec<u8>>, Vec<&String>) {
    let (mut dumps, mut others) = (Vec::new(), Vec::new());
    let mut current: Option<Vec<u8>> = None;
    for record in records {
        let Some(row) = record.strip_prefix("TRACE ureq_proto::util ") else {
            dumps.extend(current.take());
            others.push(record);
            continue;
        };
        let bytes = current.get_or_insert_with(Vec::new);
        for group in row.split(' ').take(8) {
            for pair in group.as_bytes().chunks(2) {
                let hex = std::str::from_utf8(pair).unwrap_or("--");
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    bytes.push(byte);
                }
            }
        }
    }
    dumps.extend(current);
    (dumps, others)
}

fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn no_secret_reaches_any_log_record_at_trace() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let mut secrets: Vec<String> = Vec::new();

    // WeCom against the simulator: gettoken with the corpsecret, a revoked
    // token renewed, and a fixed token.
    let sim = sim();
    let config = sim.wecom_client_config();
    for field in ["corpsecret", "callback_token", "encoding_aes_key"] {
        secrets.push(config[field].as_str().unwrap().to_string());
    }
    let wecom = client_for(config, |c| c["order_spacing_secs"] = json!(0));
    let apply = r#"{"out_trade_no":"W20261122000001","out_refund_no":"WL-1","amount":{"refund":100,"total":10000,"currency":"CNY"}}"#;
    wecom.create_refund_json(apply).unwrap();
    sim.revoke_wecom_tokens();
    wecom
        .query_refund(&RefundQuery::by_out_refund_no("WL-1"))
        .unwrap();
    let issued = sim.issue_wecom_token();
    secrets.push(issued.clone());
    let fixed = client_for(sim.wecom_fixed_token_config(&issued), |_| {});
    fixed
        .query_refund(&RefundQuery::by_out_refund_no("WL-1"))
        .unwrap();

    // A scripted WeCom whose secrets need percent-encoding, echoing the token.
    const CORPSECRET: &str = "c0rp+Secret/with=Signs";
    const TOKEN: &str = "acc+ess/Token==";
    secrets.extend([CORPSECRET.to_string(), TOKEN.to_string()]);
    let fetches = AtomicUsize::new(0);
    let fake = Receiver::answering("", move |request| {
        if request.target.starts_with("/cgi-bin/gettoken?") {
            fetches.fetch_add(1, Ordering::SeqCst);
            let answer = json!({"errcode": 0, "access_token": TOKEN, "expires_in": 7200});
            (200, answer.to_string()).into()
        } else {
            let errmsg = format!("invalid ip, access_token {TOKEN} in {}", request.target);
            (200, json!({"errcode": 60020, "errmsg": errmsg}).to_string()).into()
        }
    });
    let echoed = Client::from_json(
        &json!({
            "family": "wecom", "mchid": "1900000109", "appid": "wx1234567890abcdef",
            "corpid": "ww5f1e2d3c4b5a6978", "corpsecret": CORPSECRET,
            "base_url": fake.url, "retry_delay_ms": 10,
        })
        .to_string(),
    )
    .unwrap();
    let error = echoed
        .query_refund(&RefundQuery::by_out_refund_no("WL-2"))
        .unwrap_err();
    assert_eq!(error.code.as_deref(), Some("60020"));
    // The platform got the real secrets, not the stand-ins ureq logged.
    let received = fake.received();
    assert!(received[0].target.contains(&percent_encoded(CORPSECRET)));
    assert!(received[1].target.contains(&percent_encoded(TOKEN)));

    // APIv3: signed requests, a certificate download, the APIv3 key.
    let config = sim.client_config();
    secrets.push(config["apiv3_key"].as_str().unwrap().to_string());
    let key_body: String = config["private_key_pem"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let domestic = client_for(config, |c| {
        let object = c.as_object_mut().unwrap();
        object.remove("wechatpay_public_key_id");
        object.remove("wechatpay_public_key_pem");
    });
    domestic
        .create_refund_json(
            r#"{"out_trade_no":"T20261122000001","out_refund_no":"RL-1","amount":{"refund":1,"total":10000,"currency":"CNY"}}"#,
        )
        .unwrap();

    let records = RECORDS.lock().unwrap().clone();
    let text = records.join("\n");
    let (dumps, others) = split_dumps(&records);
    let (sent, received): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = dumps
        .iter()
        .partition(|d| d.starts_with(b"GET ") || d.starts_with(b"POST "));
    // Not vacuous: ureq logged the requests, with stand-ins, and dumped bytes.
    assert!(text.contains("access_token="), "no WeCom URL was logged");
    assert!(text.contains("corpsecret="), "no gettoken URL was logged");
    assert!(
        !sent.is_empty() && !received.is_empty(),
        "no hex dump was logged"
    );
    let contains =
        |bytes: &[u8], form: &str| bytes.windows(form.len()).any(|w| w == form.as_bytes());
    for secret in &secrets {
        for form in [secret.clone(), percent_encoded(secret)] {
            let hit = others.iter().find(|r| r.contains(&form));
            assert!(hit.is_none(), "secret {form:?} in a log record: {hit:?}");
            assert!(
                !sent.iter().any(|d| contains(d, &form)),
                "secret {form:?} in a hex dump of a request"
            );
            // What remains (README, "Logging"): ureq_proto's TRACE dump of the
            // bytes *received* shows answer bodies, and gettoken's answer is
            // the access token itself. Nothing else may be there.
            if ![TOKEN, issued.as_str()].contains(&secret.as_str()) {
                assert!(
                    !received.iter().any(|d| contains(d, &form)),
                    "secret {form:?} in a hex dump of an answer"
                );
            }
        }
    }
    let windows: Vec<&str> = (0..key_body.len() - 16)
        .step_by(8)
        .map(|start| &key_body[start..start + 16])
        .collect();
    assert!(
        windows.iter().all(|w| !text.contains(w)),
        "private key material in a log record"
    );
}
