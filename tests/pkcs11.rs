//! The merchant key in a SoftHSM2 token (`"signer": {"pkcs11": ...}`): refunds
//! signed by the token against the simulator, which verifies every signature
//! with the merchant certificate, and each configuration problem refused at
//! client creation, naming the problem and never the PIN.
//! Needs SoftHSM2 (scripts/install-deps.sh installs Debian's softhsm2).
#![cfg(feature = "pkcs11")]

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use support::{fast, settled, sim};
use wxrefund::domestic::{Amount, RefundRequest};
use wxrefund::{Client, ErrorKind, RefundQuery, RefundStatus};
use wxrefund_sim::Simulator;

const PIN_VARIABLE: &str = "WXREFUND_TEST_PKCS11_PIN";
const PIN: &str = "pkcs11-test-pin-48213";
const WRONG_PIN_VARIABLE: &str = "WXREFUND_TEST_PKCS11_WRONG_PIN";
const WRONG_PIN: &str = "not-the-pin-90517";
/// The token the refunds use, and one nobody logs in to (login is per process
/// and token: on a token already unlocked the library compares the PIN with
/// the one that unlocked it; on a fresh one the token itself refuses it).
const TOKEN: &str = "wxrefund-test";
const PIN_TOKEN: &str = "wxrefund-pin";
const KEY_LABEL: &str = "merchant";
const KEY_ID: &str = "a1b2c3";

/// Where the tokens are: made once per test process, since SoftHSM2 reads
/// SOFTHSM2_CONF once, when the module starts.
struct Tokens {
    module: String,
    _dir: PathBuf,
}

fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let found = Command::new("softhsm2-util").arg("--version").output();
        assert!(
            found.is_ok_and(|output| output.status.success()),
            "softhsm2-util not found: the PKCS#11 tests need SoftHSM2 \
             (run scripts/install-deps.sh, or apt-get install softhsm2)"
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // Under target/ (the token files must outlive every test of the process).
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("softhsm-tokens-{}", std::process::id()));
        let mut module = String::new();
        let mut conf = String::new();
        for token in [TOKEN, PIN_TOKEN] {
            let output = Command::new(root.join("scripts/softhsm.sh"))
                .arg(&dir)
                .arg(token)
                .arg(KEY_LABEL)
                .arg(KEY_ID)
                .env("WXREFUND_PKCS11_PIN", PIN)
                .output()
                .expect("scripts/softhsm.sh runs");
            assert!(
                output.status.success(),
                "scripts/softhsm.sh failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(!stdout.contains(PIN), "softhsm.sh printed the PIN");
            for line in stdout.lines() {
                if let Some(path) = line.strip_prefix("WXREFUND_PKCS11_MODULE=") {
                    module = path.to_string();
                }
                if let Some(path) = line.strip_prefix("SOFTHSM2_CONF=") {
                    conf = path.to_string();
                }
            }
        }
        assert!(!module.is_empty() && !conf.is_empty(), "softhsm.sh output");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(PIN_VARIABLE, PIN);
        std::env::set_var(WRONG_PIN_VARIABLE, WRONG_PIN);
        Tokens { module, _dir: dir }
    })
}

/// The simulator's configuration with the key in the token instead of PEM.
fn token_config(sim: &Simulator, edit: impl FnOnce(&mut Value)) -> String {
    let tokens = tokens();
    let mut config = sim.client_config();
    let fields = config.as_object_mut().expect("an object");
    fields.remove("private_key_pem");
    fields.insert(
        "signer".into(),
        json!({"pkcs11": {
            "module": tokens.module,
            "token_label": TOKEN,
            "key_label": KEY_LABEL,
            "pin_env": PIN_VARIABLE,
        }}),
    );
    fast(config, edit).to_string()
}

fn request(out_refund_no: &str, refund: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: Some("T20261122000001".into()),
        out_refund_no: out_refund_no.into(),
        amount: Amount {
            refund,
            total: 10000,
            currency: "CNY".into(),
            from: None,
        },
        ..Default::default()
    }
}

/// The configuration error for `edit`, checked to name `field` and not to
/// contain either PIN in any of its forms.
fn config_error(sim: &Simulator, field: &str, edit: impl FnOnce(&mut Value)) -> wxrefund::Error {
    let Err(error) = Client::from_json(&token_config(sim, edit)) else {
        panic!("the client was created despite the problem with {field}");
    };
    assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error:?}");
    assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
    for text in [
        error.to_json().to_string(),
        error.to_string(),
        format!("{error:?}"),
    ] {
        assert!(
            !text.contains(PIN) && !text.contains(WRONG_PIN),
            "a PIN leaked: {text}"
        );
    }
    error
}

fn pkcs11_field(config: &mut Value, name: &str, value: Value) {
    config["signer"]["pkcs11"][name] = value;
}

#[test]
fn refund_signed_by_the_token_is_accepted_and_settles() {
    let sim = sim();
    let client = Client::from_json(&token_config(&sim, |_| {})).expect("the token opens");
    let created = client
        .create_refund(&request("R-pkcs11", 100))
        .expect("the simulator accepts the token's signature");
    assert_eq!(created.status, RefundStatus::Processing);
    let done = settled(&client, &RefundQuery::by_out_refund_no("R-pkcs11"));
    assert_eq!(done.status, RefundStatus::Success);
    let log = sim.request_log();
    assert!(log.len() >= 2, "{log:?}");
    assert!(
        log.iter().all(|entry| entry["verdict"] == "ok"),
        "every request verified: {log:?}"
    );
}

#[test]
fn key_found_by_id_signs_too() {
    let sim = sim();
    let config = token_config(&sim, |c| {
        let pkcs11 = &mut c["signer"]["pkcs11"];
        pkcs11.as_object_mut().expect("object").remove("key_label");
        pkcs11["key_id"] = json!(KEY_ID.to_uppercase());
    });
    let client = Client::from_json(&config).expect("the key is found by id");
    client
        .create_refund(&request("R-pkcs11-id", 100))
        .expect("signed with the key found by id");
}

#[test]
fn eight_threads_share_one_token_session() {
    let sim = sim();
    let client = Arc::new(Client::from_json(&token_config(&sim, |_| {})).expect("opens"));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            std::thread::spawn(move || {
                for j in 0..3 {
                    let no = format!("R-pkcs11-{i}-{j}");
                    client.create_refund(&request(&no, 10)).expect("refund");
                    client
                        .query_refund(&RefundQuery::by_out_refund_no(&no))
                        .expect("query");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panicked");
    }
    assert_eq!(sim.refunds_for_order("T20261122000001").len(), 24);
}

#[test]
fn wrong_pin_is_refused_naming_the_variable() {
    let sim = sim();
    let error = config_error(&sim, "signer.pkcs11.pin_env", |c| {
        pkcs11_field(c, "token_label", json!(PIN_TOKEN));
        pkcs11_field(c, "pin_env", json!(WRONG_PIN_VARIABLE));
    });
    assert!(error.message.contains("incorrect PIN"), "{error}");
    assert!(error.message.contains(WRONG_PIN_VARIABLE), "{error}");
}

#[test]
fn a_wrong_pin_on_a_token_this_process_already_unlocked_is_refused_too() {
    let sim = sim();
    // The token is logged in for the whole process after this client.
    let good = Client::from_json(&token_config(&sim, |_| {})).unwrap();
    let error = config_error(&sim, "signer.pkcs11.pin_env", |c| {
        pkcs11_field(c, "pin_env", json!(WRONG_PIN_VARIABLE));
    });
    assert!(error.message.contains("incorrect PIN"), "{error}");
    // The right PIN is still accepted, and the first client still signs.
    Client::from_json(&token_config(&sim, |_| {})).unwrap();
    good.create_refund(&request("PK-RELOGIN-1", 1)).unwrap();
}

#[test]
fn unset_pin_variable_is_named() {
    let sim = sim();
    let error = config_error(&sim, "signer.pkcs11.pin_env", |c| {
        pkcs11_field(c, "pin_env", json!("WXREFUND_TEST_PKCS11_NO_SUCH_PIN"));
    });
    assert!(
        error.message.contains("WXREFUND_TEST_PKCS11_NO_SUCH_PIN")
            && error.message.contains("not set"),
        "{error}"
    );
}

#[test]
fn missing_key_label_is_named() {
    let sim = sim();
    let error = config_error(&sim, "signer.pkcs11.key_label", |c| {
        pkcs11_field(c, "key_label", json!("no-such-key"));
    });
    assert!(error.message.contains("no-such-key"), "{error}");
}

#[test]
fn missing_key_id_is_named() {
    let sim = sim();
    let error = config_error(&sim, "signer.pkcs11.key_id", |c| {
        let pkcs11 = &mut c["signer"]["pkcs11"];
        pkcs11.as_object_mut().expect("object").remove("key_label");
        pkcs11["key_id"] = json!("ffee");
    });
    assert!(error.message.contains("ffee"), "{error}");
}

#[test]
fn missing_module_is_named() {
    let sim = sim();
    let error = config_error(&sim, "signer.pkcs11.module", |c| {
        pkcs11_field(c, "module", json!("/nonexistent/libpkcs11.so"));
    });
    assert!(
        error.message.contains("/nonexistent/libpkcs11.so"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_no_pkcs11_module_is_named() {
    let sim = sim();
    let not_a_module =
        std::env::temp_dir().join(format!("wxrefund-not-a-module-{}.so", std::process::id()));
    std::fs::write(&not_a_module, b"not a shared library").expect("written");
    let error = config_error(&sim, "signer.pkcs11.module", |c| {
        pkcs11_field(c, "module", json!(not_a_module));
    });
    assert!(error.message.contains("not a PKCS#11 module"), "{error}");
    let _ = std::fs::remove_file(&not_a_module);
}

#[test]
fn wrong_token_label_lists_the_labels_found() {
    let sim = sim();
    let error = config_error(&sim, "signer.pkcs11.token_label", |c| {
        pkcs11_field(c, "token_label", json!("no-such-token"));
    });
    assert!(
        error.message.contains("no-such-token")
            && error.message.contains(TOKEN)
            && error.message.contains(PIN_TOKEN),
        "{error}"
    );
}

#[test]
fn a_private_key_and_a_signer_together_are_refused() {
    let sim = sim();
    let pem = sim.client_config()["private_key_pem"].clone();
    let error = config_error(&sim, "signer", |c| {
        c["private_key_pem"] = pem;
    });
    assert!(error.message.contains("exactly one"), "{error}");
}

/// All of a doctor run's text, to look for a PIN in it.
fn doctor_text(checks: &[wxrefund::doctor::Check]) -> String {
    checks
        .iter()
        .map(|check| check.to_json().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn check<'a>(checks: &'a [wxrefund::doctor::Check], name: &str) -> &'a wxrefund::doctor::Check {
    checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no {name} check in {}", doctor_text(checks)))
}

#[test]
fn doctor_checks_the_token_and_the_certificate_against_it() {
    use wxrefund::doctor::Outcome;
    let sim = sim();
    let merchant_cert = include_bytes!("../sim/keys/merchant_cert.pem");
    let checks = wxrefund::doctor::run(&token_config(&sim, |_| {}), Some(merchant_cert));
    let text = doctor_text(&checks);
    assert!(!text.contains(PIN), "{text}");
    assert!(
        checks.iter().all(|check| check.name != "private_key"),
        "{text}"
    );
    let signer = check(&checks, "signer");
    assert_eq!(signer.outcome, Outcome::Ok, "{text}");
    assert!(
        signer.detail.contains(TOKEN) && signer.detail.contains(PIN_VARIABLE),
        "{text}"
    );
    let certificate = check(&checks, "merchant_certificate");
    assert_eq!(certificate.outcome, Outcome::Ok, "{text}");
    assert!(
        certificate.detail.contains("matches the signer's key"),
        "{text}"
    );
    assert_eq!(
        check(&checks, "signed_request").outcome,
        Outcome::Ok,
        "{text}"
    );

    // Another key's certificate: the token's test signature does not verify with it.
    let platform_cert = include_bytes!("../sim/keys/platform_cert.pem");
    let checks = wxrefund::doctor::run(&token_config(&sim, |_| {}), Some(platform_cert));
    let certificate = check(&checks, "merchant_certificate");
    assert_eq!(certificate.outcome, Outcome::Problem);
    assert!(
        certificate
            .detail
            .contains("does not match the signer's key"),
        "{}",
        doctor_text(&checks)
    );
}

#[test]
fn doctor_names_the_signer_problem_never_the_pin() {
    use wxrefund::doctor::Outcome;
    let sim = sim();
    let config = token_config(&sim, |c| {
        pkcs11_field(c, "token_label", json!(PIN_TOKEN));
        pkcs11_field(c, "pin_env", json!(WRONG_PIN_VARIABLE));
    });
    let checks = wxrefund::doctor::run(&config, None);
    let text = doctor_text(&checks);
    assert!(!text.contains(PIN) && !text.contains(WRONG_PIN), "{text}");
    let signer = check(&checks, "signer");
    assert_eq!(signer.outcome, Outcome::Problem, "{text}");
    assert!(signer.detail.contains("incorrect PIN"), "{text}");
    assert!(
        signer
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains(WRONG_PIN_VARIABLE)),
        "{text}"
    );
}
