//! Configuration and key loading: each confusing key file gets an error that names the problem.

use serde_json::{json, Value};
use wxrefund::{Client, ErrorKind};

const KEY: &str = include_str!("../sim/keys/merchant_key.pem");
const PUBLIC_KEY: &str = include_str!("../sim/keys/wechatpay_pubkey_pub.pem");
const APIV3_KEY: &str = "wxrefundSimulatorApiV3Key0123456";

fn config(private_key_pem: &str) -> Value {
    json!({
        "family": "domestic",
        "mchid": "1900000100",
        "merchant_serial_no": "3775B6A45ACD588826F4C8F3E3A0E1F2A1B2C3D4",
        "private_key_pem": private_key_pem,
        "apiv3_key": APIV3_KEY,
        "wechatpay_public_key_id": "PUB_KEY_ID_0112345678902024111100000001",
        "wechatpay_public_key_pem": PUBLIC_KEY,
    })
}

fn build(config: &Value) -> Result<Client, wxrefund::Error> {
    Client::from_json(&config.to_string())
}

fn config_error(config: &Value) -> wxrefund::Error {
    match build(config) {
        Ok(_) => panic!("configuration unexpectedly accepted"),
        Err(error) => error,
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn pkcs8_and_pkcs1_keys_load() {
    build(&config(KEY)).unwrap();
    build(&config(&fixture("merchant_key_pkcs1.pem"))).unwrap();
}

#[test]
fn key_from_file_loads_and_missing_file_is_named() {
    let mut c = config(KEY);
    c.as_object_mut().unwrap().remove("private_key_pem");
    c["private_key_file"] = json!(format!(
        "{}/sim/keys/merchant_key.pem",
        env!("CARGO_MANIFEST_DIR")
    ));
    build(&c).unwrap();
    c["private_key_file"] = json!("/nonexistent/apiclient_key.pem");
    let err = config_error(&c);
    assert_eq!(err.field.as_deref(), Some("private_key_file"));
    // A wrong path to an endless file is refused, not read until memory runs out.
    c["private_key_file"] = json!("/dev/zero");
    let err = config_error(&c);
    assert_eq!(err.field.as_deref(), Some("private_key_file"));
    assert!(err.message.contains("larger than 64 KiB"), "{err}");
}

#[test]
fn confusing_key_files_are_diagnosed_without_echoing_them() {
    let p12 = std::fs::read(format!(
        "{}/tests/fixtures/apiclient_cert.p12",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // The JSON form holds text; a .p12 pasted as Latin-1 text is what a confused user produces.
    let p12_text: String = p12.iter().map(|&b| b as char).collect();
    let cases = [
        (p12_text.as_str(), "PKCS#12"),
        (&fixture("merchant_key_encrypted.pem"), "encrypted"),
        (include_str!("../sim/keys/merchant_cert.pem"), "certificate"),
        (PUBLIC_KEY, "public key"),
        ("garbage that is not a key", "not a PEM private key"),
    ];
    for (key, expected) in cases {
        let err = config_error(&config(key));
        assert_eq!(err.kind, ErrorKind::InvalidConfig, "{expected}: {err}");
        assert_eq!(err.field.as_deref(), Some("private_key_pem"));
        assert!(err.message.contains(expected), "{expected}: {err}");
        assert!(
            !err.to_json().to_string().contains("MII"),
            "key material echoed: {err}"
        );
    }
}

#[test]
fn p12_file_is_diagnosed() {
    let mut c = config(KEY);
    c.as_object_mut().unwrap().remove("private_key_pem");
    c["private_key_file"] = json!(format!(
        "{}/tests/fixtures/apiclient_cert.p12",
        env!("CARGO_MANIFEST_DIR")
    ));
    let err = config_error(&c);
    assert!(err.message.contains("PKCS#12"), "{err}");
}

#[test]
fn field_rules() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("apiv3_key", json!("too-short"), "apiv3_key"),
        (
            "merchant_serial_no",
            json!("serial=3775B6"),
            "merchant_serial_no",
        ),
        ("mchid", json!(""), "mchid"),
        ("base_url", json!("http://192.0.2.1:8080"), "base_url"),
        (
            "wechatpay_public_key_id",
            json!("0112345678"),
            "wechatpay_public_key_id",
        ),
        ("sub_mchid", json!("1900000109"), "sub_mchid"),
        ("max_retries", json!(11), "max_retries"),
        ("proxy", json!("not a url"), "proxy"),
    ];
    for (name, value, field) in cases {
        let mut c = config(KEY);
        c[name] = value;
        let err = config_error(&c);
        assert_eq!(err.field.as_deref(), Some(field), "{name}: {err}");
        assert!(!err.message.contains(APIV3_KEY));
    }
}

#[test]
fn a_verifier_is_required() {
    let mut c = config(KEY);
    let object = c.as_object_mut().unwrap();
    object.remove("wechatpay_public_key_id");
    object.remove("wechatpay_public_key_pem");
    object.insert("platform_certificates".into(), json!(false));
    let err = config_error(&c);
    assert!(err.message.contains("no way to verify"), "{err}");
    // Without a public key, platform certificates are the default.
    c.as_object_mut().unwrap().remove("platform_certificates");
    build(&c).unwrap();
}

#[test]
fn unknown_family_and_fields_are_named() {
    let mut c = config(KEY);
    c["family"] = json!("domestik");
    let err = config_error(&c);
    assert!(
        err.message.contains("domestik") && err.message.contains("domestic"),
        "{err}"
    );
    let mut c = config(KEY);
    c["apiv3key"] = json!("x");
    assert!(config_error(&c)
        .message
        .contains("unknown field `apiv3key`"));
    let err = config_error(&json!("not an object"));
    assert_eq!(err.kind, ErrorKind::InvalidConfig);
    let err = Client::from_json("{not json").err().unwrap();
    assert_eq!(err.kind, ErrorKind::InvalidJson);
}

/// Finding 3 of the outside review: a BEGIN line short of a dash made the
/// whole base64 key part of `unsupported PEM block ...`, in the error JSON,
/// Display and Debug. The error now names the line and shows no key byte.
#[test]
fn a_malformed_pem_header_names_its_line_and_shows_no_key_material() {
    let body: Vec<&str> = KEY
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let broken_headers = [
        "----BEGIN PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY----",
        "-----BEGIN PRIVATE KEY",
        "BEGIN PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----extra",
    ];
    for header in broken_headers {
        let pem = format!("{header}\n{}\n-----END PRIVATE KEY-----\n", body.join("\n"));
        let error = config_error(&config(&pem));
        assert_eq!(error.field.as_deref(), Some("private_key_pem"), "{header}");
        assert!(
            error.message.contains("malformed PEM header on line 1"),
            "{header}: {error}"
        );
        let shown = format!("{} {error} {error:?}", error.to_json());
        let joined = body.concat();
        let leaked = (0..joined.len().saturating_sub(16))
            .map(|start| &joined[start..start + 16])
            .find(|window| shown.contains(window));
        assert_eq!(leaked, None, "{header}: key material in {shown}");
    }
}

#[test]
fn json_errors_name_their_field() {
    let mut wrong = config(KEY);
    wrong["tls_roots"] = json!("none");
    let error = config_error(&wrong);
    assert_eq!(error.field.as_deref(), Some("tls_roots"), "{error}");
    assert!(
        error.message.contains("tls_roots: unknown variant"),
        "{error}"
    );
    let mut wrong = config(KEY);
    wrong["max_retries"] = json!("3");
    assert_eq!(config_error(&wrong).field.as_deref(), Some("max_retries"));

    let client = build(&config(KEY)).unwrap();
    let request = json!({"out_trade_no": "T20261122000001", "out_refund_no": "R1",
        "amount": {"refund": "100", "total": 10000, "currency": "CNY"}});
    let error = client.create_refund_json(&request.to_string()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidJson);
    assert_eq!(error.field.as_deref(), Some("amount.refund"), "{error}");
    let error = client
        .create_refund_json("{\"out_refund_no\": 7")
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidJson);
    assert_eq!(error.field.as_deref(), Some("out_refund_no"), "{error}");
    assert!(
        error
            .message
            .starts_with("refund request: out_refund_no: invalid type"),
        "{error}"
    );
}
