//! The `/_sim/` control API over real HTTP on loopback, with `wxrefund` clients on the
//! refund side.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use wxrefund_sim::{Fault, FinalStatus, SimOptions, Simulator};

/// One request with `Connection: close`; the status and JSON body of the answer.
fn call_as(
    sim: &Simulator,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let addr = sim.base_url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response[9..12].parse().expect("status");
    let (_, text) = response.split_once("\r\n\r\n").expect("head");
    (status, serde_json::from_str(text).expect("JSON body"))
}

fn call(sim: &Simulator, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let host = sim.base_url().trim_start_matches("http://").to_string();
    call_as(sim, &host, method, path, body)
}

fn slow_sim() -> Simulator {
    Simulator::start(SimOptions {
        settle_after: Duration::from_secs(600),
        wecom_order_spacing: Duration::ZERO,
        ..SimOptions::default()
    })
    .expect("start")
}

fn client(config: &Value) -> wxrefund::Client {
    wxrefund::Client::from_json(&config.to_string()).expect("client")
}

fn refunds(state: &Value, family: &str) -> Vec<Value> {
    state["refunds"][family]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn openapi_document_and_loopback_only() {
    let sim = slow_sim();
    let (status, doc) = call(&sim, "GET", "/_sim/openapi.json", None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/_sim/refunds/{out_refund_no}/settle"].is_object());
    let on_disk: Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json");
    assert_eq!(doc, on_disk);

    for host in ["localhost", "[::1]:1", "127.0.0.1"] {
        assert_eq!(
            call_as(&sim, host, "GET", "/_sim/state", None).0,
            200,
            "{host}"
        );
    }
    let (status, body) = call_as(&sim, "example.com", "POST", "/_sim/reset", None);
    assert_eq!((status, &body["field"]), (403, &json!("Host")));
    let (status, body) = call(&sim, "GET", "/_sim/nope", None);
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    assert_eq!(call(&sim, "GET", "/_sim/reset", None).0, 405);
}

#[test]
fn add_refund_settle_abnormal_and_query() {
    let sim = slow_sim();
    let order = json!({"family": "domestic", "out_trade_no": "TAPI000001",
        "transaction_id": "4200000001209900000000000001", "total": 3000});
    let (status, added) = call(&sim, "POST", "/_sim/orders", Some(&order));
    assert_eq!(
        (status, &added["out_trade_no"]),
        (201, &json!("TAPI000001"))
    );

    let domestic = client(&sim.client_config());
    let refund = domestic
        .create_refund_json(
            r#"{"out_trade_no":"TAPI000001","out_refund_no":"RAPI000001","amount":{"refund":1000,"total":3000,"currency":"CNY"}}"#,
        )
        .expect("refund");
    assert_eq!(refund.field("status"), Some("PROCESSING"));

    let settle = json!({"status": "ABNORMAL"});
    let (status, body) = call(
        &sim,
        "POST",
        "/_sim/refunds/RAPI000001/settle",
        Some(&settle),
    );
    assert_eq!((status, &body["status"]), (200, &json!("ABNORMAL")));
    let queried = domestic
        .query_refund_json(r#"{"out_refund_no":"RAPI000001"}"#)
        .expect("query");
    assert_eq!(queried.field("status"), Some("ABNORMAL"));
    // Already final: 409, naming the refund.
    let (status, body) = call(
        &sim,
        "POST",
        "/_sim/refunds/RAPI000001/settle",
        Some(&settle),
    );
    assert_eq!((status, &body["field"]), (409, &json!("out_refund_no")));
    let (status, body) = call(&sim, "POST", "/_sim/refunds/NOPE/settle", Some(&settle));
    assert_eq!((status, &body["field"]), (404, &json!("out_refund_no")));

    // WeCom: an order added over the API, refunded, closed over the API.
    let order = json!({"family": "wecom", "out_trade_no": "WAPI000001",
        "transaction_id": "4200000003209900000000000001", "total": 500, "final_status": "SUCCESS"});
    assert_eq!(call(&sim, "POST", "/_sim/orders", Some(&order)).0, 201);
    let wecom = client(&sim.wecom_client_config());
    wecom
        .create_refund_json(
            r#"{"out_trade_no":"WAPI000001","out_refund_no":"WRAPI000001","amount":{"refund":500,"total":500,"currency":"CNY"}}"#,
        )
        .expect("wecom refund");
    let closed = json!({"status": "CLOSED"});
    assert_eq!(
        call(
            &sim,
            "POST",
            "/_sim/refunds/WRAPI000001/settle",
            Some(&closed)
        )
        .0,
        200
    );
    let queried = wecom
        .query_refund_json(r#"{"out_refund_no":"WRAPI000001"}"#)
        .expect("wecom query");
    assert_eq!(queried.field("status"), Some("CLOSED"));

    // Global order over the API shows in the state; the Rust API settles too.
    let order = json!({"family": "global", "out_trade_no": "GAPI000001",
        "transaction_id": "4200000002209900000000000001", "total": 100, "currency": "USD",
        "payer_currency": "CNY", "settlement_currency": "HKD", "rate": 780000000});
    assert_eq!(call(&sim, "POST", "/_sim/orders", Some(&order)).0, 201);
    let global = client(&sim.global_client_config());
    global
        .create_refund_json(
            r#"{"out_trade_no":"GAPI000001","out_refund_no":"GRAPI000001","amount":{"refund":100,"total":100,"currency":"USD"}}"#,
        )
        .expect("global refund");
    sim.settle_now("GRAPI000001", FinalStatus::Closed)
        .expect("settled");

    let (status, state) = call(&sim, "GET", "/_sim/state", None);
    assert_eq!(status, 200);
    assert_eq!(state, sim.state());
    let statuses: Vec<(Value, Value)> = ["domestic", "global", "wecom"]
        .iter()
        .flat_map(|f| refunds(&state, f))
        .map(|r| (r["out_refund_no"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (json!("RAPI000001"), json!("ABNORMAL")),
            (json!("GRAPI000001"), json!("REFUNDCLOSE")),
            (json!("WRAPI000001"), json!("CLOSED")),
        ]
    );
    assert!(state["orders"]["global"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["out_trade_no"] == "GAPI000001" && o["rate"] == 780000000));
    // Every refund of every family keeps its status changes: PROCESSING, then the final
    // status, each with an RFC 3339 time.
    for refund in ["domestic", "global", "wecom"]
        .iter()
        .flat_map(|f| refunds(&state, f))
    {
        let history = refund["status_history"].as_array().expect("status_history");
        let statuses: Vec<&Value> = history.iter().map(|h| &h["status"]).collect();
        assert_eq!(
            statuses,
            vec![&json!("PROCESSING"), &refund["status"]],
            "{refund}"
        );
        for change in history {
            let at = change["at"].as_str().expect("at");
            assert!(at.len() >= 20 && at.as_bytes()[10] == b'T', "{at}");
        }
        assert!(history[0]["at"].as_str() <= history[1]["at"].as_str());
    }

    // Reset: back to the demo orders, no refunds, nothing counted.
    assert_eq!(call(&sim, "POST", "/_sim/reset", None).0, 200);
    let state = sim.state();
    assert!(["domestic", "global", "wecom"]
        .iter()
        .all(|f| refunds(&state, f).is_empty()));
    let domestic_orders = state["orders"]["domestic"].as_array().unwrap();
    assert_eq!(domestic_orders.len(), 5);
    assert!(domestic_orders
        .iter()
        .all(|o| o["out_trade_no"] != "TAPI000001"));
    assert_eq!(state["request_count"], 0);
    assert!(sim.request_log().is_empty());
}

#[test]
fn system_error_is_retried_with_the_same_bytes() {
    let sim = slow_sim();
    let fault = json!({"kind": "SYSTEM_ERROR", "count": 1});
    let (status, queued) = call(&sim, "POST", "/_sim/faults", Some(&fault));
    assert_eq!((status, &queued["kind"]), (201, &json!("SYSTEM_ERROR")));
    assert_eq!(sim.state()["faults"][0]["count"], 1);

    client(&sim.client_config())
        .create_refund_json(
            r#"{"out_trade_no":"T20261122000001","out_refund_no":"RRETRY0001","amount":{"refund":1,"total":10000,"currency":"CNY"}}"#,
        )
        .expect("refund after a retry");
    let (status, log) = call(&sim, "GET", "/_sim/requests", None);
    assert_eq!(status, 200);
    let posts: Vec<&Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "{log}");
    assert_eq!(
        (&posts[0]["status"], &posts[0]["verdict"]),
        (&json!(500), &json!("fault:SYSTEM_ERROR"))
    );
    assert_eq!(
        (&posts[1]["status"], &posts[1]["verdict"]),
        (&json!(200), &json!("ok"))
    );
    assert_eq!(posts[0]["body_sha256"], posts[1]["body_sha256"]);
    assert_eq!(posts[0]["path"], "/v3/refund/domestic/refunds");

    // Every fault kind is accepted, with its parameters.
    for fault in [
        json!({"kind": "RATE_LIMITED"}),
        json!({"kind": "DELAY", "delay_ms": 1, "count": 2}),
        json!({"kind": "DROP_AFTER_COMMIT"}),
        json!({"kind": "BAD_SIGNATURE"}),
        json!({"kind": "PROBE_SIGNATURE"}),
        json!({"kind": "UNSIGNED"}),
        json!({"kind": "CLOCK_SKEW", "skew_secs": -600}),
    ] {
        assert_eq!(
            call(&sim, "POST", "/_sim/faults", Some(&fault)).0,
            201,
            "{fault}"
        );
    }
    let kinds: Vec<Value> = sim.state()["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].clone())
        .collect();
    assert_eq!(kinds.len(), 7);
    assert_eq!(sim.state()["faults"][1]["delay_ms"], 1);
}

#[test]
fn a_fault_for_one_endpoint_leaves_the_others_alone() {
    let sim = slow_sim();
    let fault = json!({"kind": "SYSTEM_ERROR", "count": 1,
        "endpoint": "/v3/refund/domestic/refunds/"});
    let (status, queued) = call(&sim, "POST", "/_sim/faults", Some(&fault));
    assert_eq!(status, 201, "{queued}");
    assert_eq!(queued["endpoint"], "/v3/refund/domestic/refunds/");
    assert_eq!(sim.state()["faults"][0]["endpoint"], queued["endpoint"]);

    // The create passes the query's fault by.
    let domestic = client(&sim.client_config());
    let refund = domestic
        .create_refund_json(
            r#"{"out_trade_no":"T20261122000001","out_refund_no":"RENDPOINT01","amount":{"refund":1,"total":10000,"currency":"CNY"}}"#,
        )
        .expect("refund untouched by the query's fault");
    assert_eq!(refund.field("status"), Some("PROCESSING"));
    assert_eq!(sim.state()["faults"][0]["count"], 1);

    // The query takes it (the client may retry; the log shows what the simulator did).
    let _ = domestic.query_refund_json(r#"{"out_refund_no":"RENDPOINT01"}"#);
    assert!(sim.state()["faults"].as_array().unwrap().is_empty());
    let (_, log) = call(&sim, "GET", "/_sim/requests", None);
    let entries: Vec<(Value, Value, Value)> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] != "/v3/certificates")
        .map(|r| (r["method"].clone(), r["path"].clone(), r["verdict"].clone()))
        .collect();
    assert_eq!(
        entries[0],
        (
            json!("POST"),
            json!("/v3/refund/domestic/refunds"),
            json!("ok")
        ),
        "{log}"
    );
    assert_eq!(
        entries[1],
        (
            json!("GET"),
            json!("/v3/refund/domestic/refunds/RENDPOINT01"),
            json!("fault:SYSTEM_ERROR")
        ),
        "{log}"
    );

    // The Rust equivalent; a fault for another endpoint waits while others are taken.
    sim.inject_at(
        Fault::RateLimited,
        1,
        "/cgi-bin/miniapppay/get_refund_detail",
    );
    sim.inject(Fault::SystemError, 1);
    let queued = sim.state()["faults"].clone();
    assert_eq!(
        queued[0]["endpoint"],
        "/cgi-bin/miniapppay/get_refund_detail"
    );
    assert!(queued[1].get("endpoint").is_none());
    let _ = domestic.query_refund_json(r#"{"out_refund_no":"RENDPOINT01"}"#);
    let queued = sim.state()["faults"].clone();
    assert_eq!(queued.as_array().unwrap().len(), 1, "{queued}");
    assert_eq!(queued[0]["kind"], "RATE_LIMITED");
}

#[test]
fn clock_certificates_tokens_and_notification_faults() {
    let sim = slow_sim();
    let domestic = client(&sim.client_config());
    let (status, body) = call(
        &sim,
        "POST",
        "/_sim/clock",
        Some(&json!({"skew_secs": 900})),
    );
    assert_eq!((status, &body["skew_secs"]), (200, &json!(900)));
    assert_eq!(sim.clock_skew(), 900);
    // The client refuses answers signed 15 minutes in the future.
    assert!(domestic
        .query_refund_json(r#"{"out_refund_no":"NONE"}"#)
        .is_err());
    assert_eq!(
        sim.request_log().last().map(|r| r["verdict"].clone()),
        Some(json!("error:RESOURCE_NOT_EXISTS"))
    );
    sim.set_clock_skew(0);

    let (status, body) = call(&sim, "POST", "/_sim/certificates/rotate", None);
    assert_eq!((status, &body["rotated"]), (200, &json!(true)));
    assert_eq!(sim.state()["certificate_rotated"], true);

    let token = sim.issue_wecom_token();
    let wecom = client(&sim.wecom_fixed_token_config(&token));
    assert_eq!(
        call(&sim, "POST", "/_sim/wecom/tokens/revoke", Some(&json!({}))).0,
        200
    );
    assert!(wecom
        .query_refund_json(r#"{"out_refund_no":"NONE"}"#)
        .is_err());
    let last = sim.request_log().last().cloned().expect("logged");
    assert_eq!(last["verdict"], "token_invalid");
    assert_eq!(
        last["path"],
        "/cgi-bin/miniapppay/get_refund_detail?access_token=***"
    );

    let fault = json!({"kind": "STALE", "count": 2});
    assert_eq!(
        call(&sim, "POST", "/_sim/notifications/faults", Some(&fault)).0,
        201
    );
    assert_eq!(
        sim.state()["notification_faults"],
        json!([{"kind": "STALE", "count": 2}])
    );
    assert!(sim.state()["deliveries"].as_array().unwrap().is_empty());
}

#[test]
fn bad_input_names_the_field() {
    let sim = slow_sim();
    let cases = [
        ("/_sim/orders", json!({"out_trade_no": "X"}), "family"),
        (
            "/_sim/orders",
            json!({"family": "domestic", "out_trade_no": "X", "transaction_id": "1", "total": 0}),
            "total",
        ),
        (
            "/_sim/orders",
            json!({"family": "global", "out_trade_no": "X", "transaction_id": "1", "total": 1,
                   "currency": "usd", "payer_currency": "CNY", "settlement_currency": "HKD", "rate": 1}),
            "currency",
        ),
        (
            "/_sim/orders",
            json!({"family": "wecom", "out_trade_no": "X", "transaction_id": "1", "total": 1, "sub_mchid": "1"}),
            "sub_mchid",
        ),
        ("/_sim/faults", json!({"kind": "EXPLODE"}), "kind"),
        ("/_sim/faults", json!({"kind": "DELAY"}), "delay_ms"),
        (
            "/_sim/faults",
            json!({"kind": "SYSTEM_ERROR", "endpoint": "/_sim/state"}),
            "endpoint",
        ),
        (
            "/_sim/faults",
            json!({"kind": "SYSTEM_ERROR", "endpoint": 7}),
            "endpoint",
        ),
        (
            "/_sim/faults",
            json!({"kind": "SYSTEM_ERROR", "count": 0}),
            "count",
        ),
        (
            "/_sim/faults",
            json!({"kind": "UNSIGNED", "skew_secs": 1}),
            "skew_secs",
        ),
        ("/_sim/clock", json!({"skew_secs": "soon"}), "skew_secs"),
        (
            "/_sim/notifications/faults",
            json!({"kind": "LOUD"}),
            "kind",
        ),
        (
            "/_sim/refunds/R1/settle",
            json!({"status": "DONE"}),
            "status",
        ),
        ("/_sim/reset", json!({"hard": true}), "hard"),
    ];
    for (path, body, field) in cases {
        let (status, answer) = call(&sim, "POST", path, Some(&body));
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["field"], field, "{path} {body}: {answer}");
        assert!(answer["error"].is_string());
    }
    let (status, answer) = call(&sim, "POST", "/_sim/faults", Some(&json!([1])));
    assert_eq!((status, &answer["field"]), (400, &json!("body")));
}

/// A receiver that acknowledges every POST with 200; the port it listens on.
fn acknowledging_receiver() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    break;
                }
            }
        }
    });
    port
}

#[test]
fn notifications_are_redelivered_on_request() {
    let port = acknowledging_receiver();
    let sim = Simulator::start(SimOptions {
        settle_after: Duration::from_secs(600),
        wecom_order_spacing: Duration::ZERO,
        wecom_callback_url: Some(format!("http://127.0.0.1:{port}/callback")),
        ..SimOptions::default()
    })
    .expect("start");
    client(&sim.wecom_client_config())
        .create_refund_json(
            r#"{"out_trade_no":"W20261122000001","out_refund_no":"WNOTIFY001","amount":{"refund":100,"total":10000,"currency":"CNY"}}"#,
        )
        .expect("wecom refund");
    let settle = json!({"status": "SUCCESS"});
    assert_eq!(
        call(
            &sim,
            "POST",
            "/_sim/refunds/WNOTIFY001/settle",
            Some(&settle)
        )
        .0,
        200
    );
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sim.deliveries().len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        sim.deliveries()
    };
    let first = wait_for(1);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status, Some(200));
    let id = first[0].id.clone();

    let (status, body) = call(
        &sim,
        "POST",
        &format!("/_sim/notifications/{id}/redeliver"),
        None,
    );
    assert_eq!((status, &body["id"]), (202, &json!(id)));
    let both = wait_for(2);
    assert_eq!(both.len(), 2);
    assert_eq!(
        (&both[1].id, both[1].attempt, both[1].status),
        (&id, 2, Some(200))
    );
    assert_ne!(both[1].url, both[0].url, "fresh timestamp and nonce");
    let (_, state) = call(&sim, "GET", "/_sim/state", None);
    assert_eq!(state["deliveries"].as_array().map(Vec::len), Some(2));

    let (status, body) = call(&sim, "POST", "/_sim/notifications/EV-nope/redeliver", None);
    assert_eq!((status, &body["field"]), (404, &json!("id")));
}
