//! The `wxrefund` binary against an in-process simulator over loopback:
//! every subcommand, `--json`, exit codes, and `doctor` on a healthy and on
//! each broken configuration. Every run also checks that no secret of its
//! configuration appears in its output.

#[path = "../../tests/support/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use receiver::{Received, Receiver};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wxrefund_sim::{FinalStatus, SimOptions, Simulator, Verification};

const BIN: &str = env!("CARGO_BIN_EXE_wxrefund");

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "wxrefund-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run printed, and how it exited.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

/// The secret values of a configuration: key material and WeCom secrets.
fn secrets_of(config: &Value) -> Vec<String> {
    let mut secrets = Vec::new();
    for field in [
        "apiv3_key",
        "corpsecret",
        "access_token",
        "callback_token",
        "encoding_aes_key",
    ] {
        if let Some(value) = config[field].as_str() {
            secrets.push(value.trim().to_string());
        }
    }
    if let Some(pem) = config["private_key_pem"].as_str() {
        // Every base64 line of the key is secret.
        secrets.extend(
            pem.lines()
                .filter(|line| !line.starts_with("-----") && line.len() > 16)
                .map(str::to_string),
        );
    }
    secrets
}

/// Runs the binary with `args` (and `stdin`), checking no secret of
/// `config` appears in what it prints.
fn run_with(config: &Value, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wxrefund");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output: Output = child.wait_with_output().unwrap();
    let run = Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    for secret in secrets_of(config) {
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "a secret of the configuration was printed by {args:?}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

fn run(config: &Value, args: &[&str]) -> Run {
    run_with(config, args, None)
}

/// A simulator whose refunds stay PROCESSING until settled by the test.
/// `wxrefund refund create` by flags: 100 fen of a 10000 fen order, plus `extra` flags.
fn create(
    config: &Value,
    file: &str,
    out_trade_no: &str,
    out_refund_no: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        "refund",
        "create",
        "--config",
        file,
        "--out-trade-no",
        out_trade_no,
        "--out-refund-no",
        out_refund_no,
        "--refund",
        "100",
        "--total",
        "10000",
    ];
    args.extend_from_slice(extra);
    run(config, &args)
}

fn slow_sim() -> Simulator {
    Simulator::start(SimOptions {
        settle_after: Duration::from_secs(3600),
        ..SimOptions::default()
    })
    .unwrap()
}

fn config_file(dir: &Dir, config: &Value) -> String {
    dir.write("config.json", config.to_string())
        .display()
        .to_string()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn help_and_version_and_usage_errors() {
    let none = json!({});
    let help = run(&none, &["--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    for words in [
        "refund",
        "doctor",
        "Exit codes",
        "16   TIMEOUT",
        "20  doctor",
        "64  usage",
    ] {
        assert!(help.stdout.contains(words), "{words}: {}", help.stdout);
    }
    let version = run(&none, &["--version"]);
    assert_eq!(version.code, 0);
    assert_eq!(
        version.stdout.trim(),
        format!("wxrefund {}", env!("CARGO_PKG_VERSION"))
    );
    // Usage errors exit 64, never clap's 2 (INVALID_JSON).
    assert_eq!(run(&none, &["refund", "frobnicate"]).code, 64);
    assert_eq!(run(&none, &["refund", "query", "--config"]).code, 64);
    assert_eq!(run(&none, &[]).code, 64);
    let missing = run(
        &none,
        &[
            "refund",
            "query",
            "--config",
            "/nonexistent/wxrefund.json",
            "--out-refund-no",
            "R1",
        ],
    );
    assert_eq!(missing.code, 66, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("/nonexistent/wxrefund.json"),
        "{}",
        missing.stderr
    );
}

#[test]
fn create_by_flags_file_and_stdin_then_query_and_errors() {
    let sim = slow_sim();
    let config = sim.client_config();
    let dir = Dir::new();
    let file = config_file(&dir, &config);

    let by_flags = create(
        &config,
        &file,
        "T20261122000001",
        "CLI-FLAGS-1",
        &["--reason", "test"],
    );
    assert_eq!(by_flags.code, 0, "{}", by_flags.stderr);
    assert!(by_flags.stdout.contains("status:"), "{}", by_flags.stdout);
    assert!(
        by_flags.stdout.contains("CLI-FLAGS-1"),
        "{}",
        by_flags.stdout
    );

    let request = json!({"out_trade_no": "T20261122000001", "out_refund_no": "CLI-FILE-1",
        "amount": {"refund": 200, "total": 10000, "currency": "CNY"}});
    let request_file = dir.write("request.json", request.to_string());
    let by_file = run(
        &config,
        &[
            "refund",
            "create",
            "--config",
            &file,
            "--request",
            &path(&request_file),
            "--json",
        ],
    );
    assert_eq!(by_file.code, 0, "{}", by_file.stderr);
    let refund = by_file.json();
    assert_eq!(refund["out_refund_no"], "CLI-FILE-1");
    assert_eq!(refund["wxrefund"]["status"], "PROCESSING");
    assert_eq!(refund["wxrefund"]["attempts"], 1);

    let stdin_request = request.to_string().replace("CLI-FILE-1", "CLI-STDIN-1");
    let by_stdin = run_with(
        &config,
        &[
            "--json",
            "refund",
            "create",
            "--config",
            &file,
            "--request",
            "-",
        ],
        Some(&stdin_request),
    );
    assert_eq!(by_stdin.code, 0, "{}", by_stdin.stderr);
    assert_eq!(by_stdin.json()["out_refund_no"], "CLI-STDIN-1");
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 3);

    let queried = run(
        &config,
        &[
            "refund",
            "query",
            "--config",
            &file,
            "--out-refund-no",
            "CLI-FILE-1",
            "--json",
        ],
    );
    assert_eq!(queried.code, 0, "{}", queried.stderr);
    assert_eq!(queried.json()["amount"]["refund"], 200);

    // An operation error exits with its C status number, and says what it is.
    let unknown = run(
        &config,
        &[
            "refund",
            "query",
            "--config",
            &file,
            "--out-refund-no",
            "CLI-NONE",
        ],
    );
    assert_eq!(unknown.code, 8, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("NOT_FOUND"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("request_id"), "{}", unknown.stderr);
    let as_json = run(
        &config,
        &[
            "--json",
            "refund",
            "query",
            "--config",
            &file,
            "--out-refund-no",
            "CLI-NONE",
        ],
    );
    assert_eq!(as_json.code, 8);
    assert_eq!(as_json.json()["status"], "NOT_FOUND");

    // An empty request: INVALID_JSON (2); a missing flag: usage (64); a bad config: 3.
    let bad_json = run(
        &config,
        &["refund", "create", "--config", &file, "--request", "-"],
    );
    assert_eq!(bad_json.code, 2, "{}", bad_json.stderr);
    let missing_flag = run(
        &config,
        &[
            "refund",
            "create",
            "--config",
            &file,
            "--out-refund-no",
            "X",
        ],
    );
    assert_eq!(missing_flag.code, 64, "{}", missing_flag.stderr);
    assert!(
        missing_flag.stderr.contains("--refund"),
        "{}",
        missing_flag.stderr
    );
    let broken_config = dir.write("broken.json", r#"{"family":"domestic"}"#);
    let invalid = run(
        &config,
        &[
            "refund",
            "query",
            "--config",
            &path(&broken_config),
            "--out-refund-no",
            "X",
        ],
    );
    assert_eq!(invalid.code, 3, "{}", invalid.stderr);
}

#[test]
fn wait_reaches_success_after_settlement_and_times_out_with_16() {
    let sim = slow_sim();
    let config = sim.client_config();
    let dir = Dir::new();
    let file = config_file(&dir, &config);
    let created = create(&config, &file, "T20261122000001", "CLI-WAIT-1", &[]);
    assert_eq!(created.code, 0, "{}", created.stderr);

    let timed_out = run(
        &config,
        &[
            "--json",
            "refund",
            "wait",
            "--config",
            &file,
            "--out-refund-no",
            "CLI-WAIT-1",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(timed_out.code, 16, "{}", timed_out.stderr);
    let error = timed_out.json();
    assert_eq!(error["status"], "TIMEOUT");
    assert_eq!(error["refund"]["wxrefund"]["status"], "PROCESSING");

    let waiting = Command::new(BIN)
        .args([
            "--json",
            "--verbose",
            "refund",
            "wait",
            "--config",
            &file,
            "--out-refund-no",
            "CLI-WAIT-1",
            "--timeout",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    sim.settle_now("CLI-WAIT-1", FinalStatus::Success).unwrap();
    let output = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let refund: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(refund["wxrefund"]["status"], "SUCCESS");
    assert_eq!(refund["wxrefund"]["final"], true);
    assert!(
        refund["wxrefund"]["attempts"].as_u64().unwrap() >= 2,
        "{refund}"
    );
    // --verbose prints the library's records: attempts and the end of the wait.
    assert!(stderr.contains("attempt 1"), "{stderr}");
    assert!(stderr.contains("SUCCESS"), "{stderr}");
    // The user's account is personal data: never printed.
    if let Some(account) = refund.get("user_received_account") {
        assert_eq!(account, "(personal data, not shown)");
    }
    for secret in secrets_of(&config) {
        assert!(!stderr.contains(&secret));
    }
}

/// A receiver that acknowledges every notification.
fn receiver(path: &str) -> Receiver {
    Receiver::start(path, |_| 200)
}

#[test]
fn notification_parse_of_a_saved_apiv3_notification() {
    let hook = receiver("/notify");
    let sim = Simulator::start(SimOptions::default()).unwrap();
    let config = sim.client_config();
    let dir = Dir::new();
    let file = config_file(&dir, &config);
    let created = create(
        &config,
        &file,
        "T20261122000001",
        "CLI-NOTIFY-1",
        &["--notify-url", &hook.url],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let received = hook.wait_for("a notification", |r| !r.is_empty());
    let saved: &Received = &received[0];
    let headers: serde_json::Map<String, Value> = saved
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    let headers_file = dir.write("headers.json", Value::Object(headers).to_string());
    let body_file = dir.write("body.json", &saved.body);

    let parsed = run(
        &config,
        &[
            "notification",
            "parse",
            "--config",
            &file,
            "--headers",
            &path(&headers_file),
            "--body",
            &path(&body_file),
            "--json",
        ],
    );
    assert_eq!(parsed.code, 0, "{}", parsed.stderr);
    let notification = parsed.json();
    assert_eq!(notification["event_type"], "REFUND.SUCCESS");
    assert_eq!(notification["refund"]["out_refund_no"], "CLI-NOTIFY-1");
    assert_eq!(notification["reply"]["http_status"], 200);
    if let Some(account) = notification["refund"].get("user_received_account") {
        assert_eq!(account, "(personal data, not shown)");
    }
    let text = run(
        &config,
        &[
            "notification",
            "parse",
            "--config",
            &file,
            "--headers",
            &path(&headers_file),
            "--body",
            &path(&body_file),
        ],
    );
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("reply to the platform: HTTP 200"),
        "{}",
        text.stdout
    );

    // An altered body fails verification (10) and says what to answer.
    let altered = dir.write(
        "altered.json",
        String::from_utf8_lossy(&saved.body).replace("\"id\"", "\"id\" "),
    );
    let refused = run(
        &config,
        &[
            "notification",
            "parse",
            "--config",
            &file,
            "--headers",
            &path(&headers_file),
            "--body",
            &path(&altered),
        ],
    );
    assert_eq!(refused.code, 10, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("reply to the platform"),
        "{}",
        refused.stderr
    );
}

#[test]
fn notification_parse_of_a_wecom_callback() {
    let hook = receiver("/wecom/callback");
    let sim = Simulator::start(SimOptions {
        wecom_callback_url: Some(hook.url.clone()),
        ..SimOptions::default()
    })
    .unwrap();
    let config = sim.wecom_client_config();
    let dir = Dir::new();
    let file = config_file(&dir, &config);
    let created = create(&config, &file, "W20261122000001", "CLI-WECOM-1", &[]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let received = hook.wait_for("a callback", |r| !r.is_empty());
    let params: serde_json::Map<String, Value> = received[0]
        .query()
        .into_iter()
        .map(|(name, value)| (name, json!(value)))
        .collect();
    assert!(params.contains_key("msg_signature"));
    let headers_file = dir.write("params.json", Value::Object(params).to_string());
    let body_file = dir.write("callback.body", &received[0].body);
    let parsed = run(
        &config,
        &[
            "--json",
            "notification",
            "parse",
            "--config",
            &file,
            "--headers",
            &path(&headers_file),
            "--body",
            &path(&body_file),
        ],
    );
    assert_eq!(parsed.code, 0, "{}", parsed.stderr);
    let notification = parsed.json();
    assert_eq!(notification["refund"]["wxrefund"]["status"], "SUCCESS");
    assert_eq!(notification["reply"]["http_status"], 200);
    // The same body under another signature is refused.
    let forged = dir.write("forged.json", json!({"msg_signature": "0".repeat(40), "timestamp": received[0].query()[1].1, "nonce": "n"}).to_string());
    let refused = run(
        &config,
        &[
            "--json",
            "notification",
            "parse",
            "--config",
            &file,
            "--headers",
            &path(&forged),
            "--body",
            &path(&body_file),
        ],
    );
    assert_ne!(refused.code, 0);
    assert!(refused.json()["reply"].is_object(), "{}", refused.stdout);
}

#[test]
fn certificates_download_writes_verified_pems() {
    let sim = slow_sim();
    let config = sim.client_config();
    let dir = Dir::new();
    let file = config_file(&dir, &config);
    let out = dir.0.join("certs");
    let downloaded = run(
        &config,
        &[
            "certificates",
            "download",
            "--config",
            &file,
            "--out",
            &path(&out),
            "--json",
        ],
    );
    assert_eq!(downloaded.code, 0, "{}", downloaded.stderr);
    let listed = downloaded.json()["certificates"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed.len(), 1);
    let serial = listed[0]["serial_no"].as_str().unwrap();
    assert!(!listed[0]["expire_time"].as_str().unwrap().is_empty());
    let pem = std::fs::read_to_string(out.join(format!("{serial}.pem"))).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let text = run(
        &config,
        &[
            "certificates",
            "download",
            "--config",
            &file,
            "--out",
            &path(&out),
        ],
    );
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains(serial) && text.stdout.contains("valid"),
        "{}",
        text.stdout
    );

    // A wrong APIv3 key cannot decrypt them: DECRYPTION_FAILED (11).
    let mut wrong = config.clone();
    wrong["apiv3_key"] = json!("wrongwrongwrongwrongwrongwrong32");
    let wrong_file = dir.write("wrong.json", wrong.to_string());
    let failed = run(
        &wrong,
        &[
            "certificates",
            "download",
            "--config",
            &path(&wrong_file),
            "--out",
            &path(&out),
        ],
    );
    assert_eq!(failed.code, 11, "{}", failed.stderr);
    // WeCom has none: INVALID_REQUEST (4).
    let wecom = sim.wecom_client_config();
    let wecom_file = dir.write("wecom.json", wecom.to_string());
    assert_eq!(
        run(
            &wecom,
            &[
                "certificates",
                "download",
                "--config",
                &path(&wecom_file),
                "--out",
                &path(&out)
            ]
        )
        .code,
        4
    );
}

/// Runs `doctor --json` and returns its exit code and checks by name.
fn doctor(config: &Value, extra: &[&str]) -> (i32, Vec<Value>, Run) {
    let dir = Dir::new();
    let file = config_file(&dir, config);
    let mut args = vec!["doctor", "--config", file.as_str(), "--json"];
    args.extend_from_slice(extra);
    let result = run(config, &args);
    let checks = result.json()["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (result.code, checks, result)
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
}

fn problems(checks: &[Value]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| c["outcome"] == "problem")
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

const MERCHANT_CERT: &str = include_str!("../../sim/keys/merchant_cert.pem");

#[test]
fn doctor_on_healthy_configurations() {
    let sim = slow_sim();
    let dir = Dir::new();
    let certificate = dir.write("apiclient_cert.pem", MERCHANT_CERT);
    let (code, checks, result) = doctor(
        &sim.client_config(),
        &["--merchant-certificate", &path(&certificate)],
    );
    assert_eq!(code, 0, "{}", result.stdout);
    assert!(problems(&checks).is_empty(), "{checks:#?}");
    for name in [
        "configuration",
        "private_key",
        "merchant_certificate",
        "apiv3_key",
        "dns",
        "tcp",
        "clock",
        "signed_request",
        "platform_keys",
        "apiv3_key_decrypts",
    ] {
        assert_eq!(check(&checks, name)["outcome"], "ok", "{name}: {checks:#?}");
    }
    assert_eq!(check(&checks, "tls")["outcome"], "skipped");
    assert!(check(&checks, "tls")["detail"]
        .as_str()
        .unwrap()
        .contains("loopback"));
    assert!(check(&checks, "clock")["detail"]
        .as_str()
        .unwrap()
        .contains("Date header"));
    // The text form: one line per check, and a verdict.
    let file = config_file(&dir, &sim.client_config());
    let text = run(&sim.client_config(), &["doctor", "--config", &file]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("signed_request")),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("no problems found"));

    let (code, checks, _) = doctor(&sim.global_client_config(), &[]);
    assert_eq!(code, 0, "{checks:#?}");
    let (code, checks, _) = doctor(&sim.wecom_client_config(), &[]);
    assert_eq!(code, 0, "{checks:#?}");
    assert_eq!(check(&checks, "gettoken")["outcome"], "ok");
    assert_eq!(check(&checks, "query")["outcome"], "ok");

    let pubkey = Simulator::start(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    })
    .unwrap();
    let (code, checks, _) = doctor(&pubkey.client_config(), &[]);
    assert_eq!(code, 0, "{checks:#?}");
    assert_eq!(check(&checks, "wechatpay_public_key")["outcome"], "ok");
    assert_eq!(check(&checks, "apiv3_key_decrypts")["outcome"], "skipped");
}

#[test]
fn doctor_names_a_wrong_merchant_serial() {
    let sim = slow_sim();
    let dir = Dir::new();
    let certificate = dir.write("apiclient_cert.pem", MERCHANT_CERT);
    let mut config = sim.client_config();
    config["merchant_serial_no"] = json!("1234ABCD1234ABCD1234ABCD1234ABCD1234ABCD");
    let (code, checks, _) = doctor(&config, &["--merchant-certificate", &path(&certificate)]);
    assert_eq!(code, 20);
    let signed = check(&checks, "signed_request");
    assert_eq!(signed["outcome"], "problem");
    assert!(
        signed["detail"]
            .as_str()
            .unwrap()
            .contains("merchant_serial_no is likely wrong"),
        "{signed}"
    );
    let certificate_check = check(&checks, "merchant_certificate");
    assert_eq!(certificate_check["outcome"], "problem");
    let fix = certificate_check["fix"].as_str().unwrap();
    let serial = sim.client_config()["merchant_serial_no"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains(&serial), "{fix}");
    assert_eq!(check(&checks, "private_key")["outcome"], "ok");
}

#[test]
fn doctor_names_a_wrong_private_key() {
    let sim = slow_sim();
    let dir = Dir::new();
    let certificate = dir.write("apiclient_cert.pem", MERCHANT_CERT);
    let mut config = sim.client_config();
    config["private_key_pem"] = json!(include_str!("../../sim/keys/platform_key.pem"));
    let (code, checks, _) = doctor(&config, &["--merchant-certificate", &path(&certificate)]);
    assert_eq!(code, 20);
    let signed = check(&checks, "signed_request");
    assert!(
        signed["detail"]
            .as_str()
            .unwrap()
            .contains("private key is likely wrong"),
        "{signed}"
    );
    let certificate_check = check(&checks, "merchant_certificate");
    assert_eq!(certificate_check["outcome"], "problem");
    assert!(certificate_check["detail"]
        .as_str()
        .unwrap()
        .contains("does not match the private key"));
    assert_eq!(
        check(&checks, "private_key")["outcome"],
        "ok",
        "it loads; it is the wrong one"
    );
}

#[test]
fn doctor_names_a_wrong_or_padded_apiv3_key() {
    let sim = slow_sim();
    let mut config = sim.client_config();
    config["apiv3_key"] = json!("wrongwrongwrongwrongwrongwrong32");
    let (code, checks, _) = doctor(&config, &[]);
    assert_eq!(code, 20);
    assert_eq!(
        check(&checks, "apiv3_key")["outcome"],
        "ok",
        "it is 32 bytes"
    );
    let decrypts = check(&checks, "apiv3_key_decrypts");
    assert_eq!(decrypts["outcome"], "problem");
    assert!(decrypts["detail"]
        .as_str()
        .unwrap()
        .contains("APIv3 key is wrong"));
    assert_eq!(check(&checks, "signed_request")["outcome"], "problem");

    // The right key pasted with a trailing space: named, never shown.
    let mut padded = sim.client_config();
    let key = padded["apiv3_key"].as_str().unwrap().to_string();
    padded["apiv3_key"] = json!(format!("{key} "));
    let (code, checks, result) = doctor(&padded, &[]);
    assert_eq!(code, 20);
    let apiv3 = check(&checks, "apiv3_key");
    assert_eq!(apiv3["outcome"], "problem");
    assert!(
        apiv3["detail"]
            .as_str()
            .unwrap()
            .contains("ends with a space"),
        "{apiv3}"
    );
    assert!(!result.stdout.contains(&key));
    // The checks go on without the space, and find nothing else.
    assert_eq!(problems(&checks), ["apiv3_key"], "{checks:#?}");
}

#[test]
fn doctor_names_a_skewed_clock() {
    let sim = slow_sim();
    sim.set_clock_skew(900);
    let (code, checks, _) = doctor(&sim.client_config(), &[]);
    assert_eq!(code, 20);
    let clock = check(&checks, "clock");
    assert_eq!(clock["outcome"], "problem");
    let detail = clock["detail"].as_str().unwrap();
    assert!(
        detail.contains("900 s behind") && detail.contains("Date header"),
        "{detail}"
    );
    assert!(clock["fix"].as_str().unwrap().contains("NTP"));
    // Within the window: ok, with the skew named.
    sim.set_clock_skew(-120);
    let (code, checks, _) = doctor(&sim.client_config(), &[]);
    assert_eq!(code, 0, "{checks:#?}");
    assert!(check(&checks, "clock")["detail"]
        .as_str()
        .unwrap()
        .contains("within 12"));
}

#[test]
fn doctor_explains_a_public_key_only_merchant_in_certificate_mode() {
    let sim = Simulator::start(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    })
    .unwrap();
    let mut config = sim.client_config();
    let object = config.as_object_mut().unwrap();
    object.remove("wechatpay_public_key_id");
    object.remove("wechatpay_public_key_pem");
    object.insert("platform_certificates".into(), json!(true));
    let (code, checks, _) = doctor(&config, &[]);
    assert_eq!(code, 20);
    let keys = check(&checks, "platform_keys");
    assert_eq!(keys["outcome"], "problem");
    assert!(
        keys["detail"]
            .as_str()
            .unwrap()
            .contains("WeChat Pay public key"),
        "{keys}"
    );
    let fix = keys["fix"].as_str().unwrap();
    assert!(
        fix.contains("wechatpay_public_key_id") && fix.contains("wechatpay_public_key_pem"),
        "{fix}"
    );
}

#[test]
fn doctor_names_a_wrong_corpsecret_and_bad_configurations() {
    let sim = slow_sim();
    let mut config = sim.wecom_client_config();
    config["corpsecret"] = json!("not-the-corpsecret");
    let (code, checks, _) = doctor(&config, &[]);
    assert_eq!(code, 20);
    let token = check(&checks, "gettoken");
    assert_eq!(token["outcome"], "problem");
    assert!(token["detail"].as_str().unwrap().contains("40001"));
    assert!(token["fix"]
        .as_str()
        .unwrap()
        .contains("corpsecret is wrong"));
    assert_eq!(check(&checks, "query")["outcome"], "skipped");

    // A misspelt field is named, and nothing else runs.
    let mut misspelt = sim.client_config();
    misspelt["mch_id"] = json!("1");
    let (code, checks, _) = doctor(&misspelt, &[]);
    assert_eq!(code, 20);
    assert_eq!(checks.len(), 1);
    assert!(checks[0]["detail"].as_str().unwrap().contains("mch_id"));

    // Nothing listening: TCP names the problem.
    let mut unreachable = sim.client_config();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    unreachable["base_url"] = json!(format!("http://127.0.0.1:{port}"));
    let (code, checks, _) = doctor(&unreachable, &[]);
    assert_eq!(code, 20);
    assert_eq!(check(&checks, "tcp")["outcome"], "problem");
    assert_eq!(check(&checks, "signed_request")["outcome"], "skipped");
}
