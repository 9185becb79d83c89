//! Writes the seed corpora `fuzz/corpus/<target>/seed-*` (valid and near-valid inputs) and
//! the crafted regression inputs `fuzz/regressions/<target>/*` (known findings):
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds
//! ```
//!
//! Configurations come from the simulator (its keys, ids and secrets), with the base URL
//! fixed to `http://127.0.0.1:9` so that the files do not change from run to run. The
//! first byte of a multi-mode target's input selects its mode (see fuzz/src/targets.rs).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde_json::{json, Value};
use wxrefund_sim::{wecom_callback, SimOptions, Simulator, Verification};

const BASE_URL: &str = "http://127.0.0.1:9";
const I64_MAX: i64 = i64::MAX;

struct Writer {
    fuzz: PathBuf,
    files: usize,
    bytes: usize,
}

impl Writer {
    fn write(&mut self, dir: &str, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.fuzz.join(dir).join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(dir.join(name), bytes).expect("write a seed");
        self.files += 1;
        self.bytes += bytes.len();
    }

    /// A seed: `fuzz/corpus/<target>/seed-<name>`.
    fn seed(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        self.write("corpus", target, &format!("seed-{name}"), bytes.as_ref());
    }

    /// A regression input: `fuzz/regressions/<target>/<name>`.
    fn regression(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        self.write("regressions", target, name, bytes.as_ref());
    }
}

/// `mode` (an ASCII digit) followed by `rest`.
fn moded(mode: u8, rest: impl AsRef<[u8]>) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(rest.as_ref());
    out
}

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("JSON serializes")
}

/// A simulator configuration with the fixed base URL.
fn fixed(mut config: Value) -> Value {
    config["base_url"] = json!(BASE_URL);
    config
}

fn with(config: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut config = config.clone();
    edit(&mut config);
    config
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

/// AES-256-GCM of `plaintext` as a WeChat Pay resource object.
fn resource(key: &[u8], aad: &str, plaintext: &[u8]) -> Value {
    let nonce = *b"seedNonce012";
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let mut sealed = plaintext.to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM");
    json!({"algorithm": "AEAD_AES_256_GCM", "ciphertext": BASE64.encode(sealed),
           "nonce": "seedNonce012", "associated_data": aad, "original_type": "refund"})
}

fn envelope(resource: Value, event_type: &str) -> Value {
    json!({"id": "EV-0123456789abcdef0123456789abcdef", "create_time": "2026-11-23T10:00:00+08:00",
           "resource_type": "encrypt-resource", "event_type": event_type, "summary": "退款成功",
           "resource": resource})
}

/// A raw HTTP/1.1 response with a correct Content-Length.
fn http(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn main() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz
        .parent()
        .expect("fuzz/ is inside the repository")
        .to_path_buf();
    let mut w = Writer {
        fuzz,
        files: 0,
        bytes: 0,
    };
    let public_key_sim = Simulator::start(SimOptions {
        verification: Verification::PublicKey,
        ..SimOptions::default()
    })
    .expect("the simulator starts");
    let certificate_sim = Simulator::start(SimOptions::default()).expect("the simulator starts");

    // ---- config_json ------------------------------------------------------------------
    let domestic = fixed(public_key_sim.client_config());
    let domestic_certs = fixed(certificate_sim.client_config());
    let global = fixed(public_key_sim.global_client_config());
    let wecom = fixed(public_key_sim.wecom_client_config());
    let t = "config_json";
    w.seed(t, "domestic-public-key", pretty(&domestic));
    w.seed(t, "domestic-platform-certificates", pretty(&domestic_certs));
    w.seed(
        t,
        "domestic-both-keys",
        pretty(&with(&domestic, |c| {
            c["platform_certificates"] = json!(true);
            c["wechatpay_serial"] = json!("platform_certificate");
        })),
    );
    w.seed(
        t,
        "domestic-partner",
        pretty(&fixed(public_key_sim.partner_client_config("1900000109"))),
    );
    w.seed(t, "global-direct", pretty(&global));
    w.seed(
        t,
        "global-institution",
        pretty(&fixed(
            public_key_sim.global_institution_client_config("1900000209"),
        )),
    );
    w.seed(t, "wecom-corpsecret", pretty(&wecom));
    w.seed(
        t,
        "wecom-fixed-token",
        pretty(&fixed(
            public_key_sim.wecom_fixed_token_config("fixed-token-0123"),
        )),
    );
    w.seed(
        t,
        "domestic-every-option",
        pretty(&with(&domestic, |c| {
            c["connect_timeout_ms"] = json!(1000);
            c["read_timeout_ms"] = json!(5000);
            c["max_retries"] = json!(10);
            c["retry_delay_ms"] = json!(60000);
            c["max_clock_skew_secs"] = json!(60);
            c["proxy"] = json!("http://user:proxy-password@127.0.0.1:3128");
            c["wechatpay_serial"] = json!("public_key");
        })),
    );
    let fixtures = repo.join("tests/fixtures");
    let keys = repo.join("sim/keys");
    for (name, pem) in [
        (
            "domestic-pkcs1-key",
            read(&fixtures.join("merchant_key_pkcs1.pem")),
        ),
        (
            "domestic-encrypted-key",
            read(&fixtures.join("merchant_key_encrypted.pem")),
        ),
        (
            "domestic-certificate-as-key",
            read(&keys.join("merchant_cert.pem")),
        ),
        (
            "domestic-public-key-as-key",
            read(&keys.join("wechatpay_pubkey_pub.pem")),
        ),
        (
            "domestic-key-not-pem",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".to_string(),
        ),
    ] {
        w.seed(
            t,
            name,
            pretty(&with(&domestic, |c| c["private_key_pem"] = json!(pem))),
        );
    }
    for (name, edit) in [
        ("unknown-field", json!({"mch_id": "1900000100"})),
        ("apiv3-key-short", json!({"apiv3_key": "short-apiv3-key"})),
        (
            "base-url-http-remote",
            json!({"base_url": "http://api.example.com"}),
        ),
        (
            "base-url-userinfo",
            json!({"base_url": "https://user:pw@api.example.com"}),
        ),
        (
            "base-url-path",
            json!({"base_url": "https://api.example.com/v3"}),
        ),
        ("mode-institution", json!({"mode": "institution"})),
        ("sub-mchid-direct", json!({"sub_mchid": "1900000109"})),
        (
            "wecom-field-on-domestic",
            json!({"corpid": "ww5f1e2d3c4b5a6978"}),
        ),
        ("timeouts-zero", json!({"connect_timeout_ms": 0})),
        ("max-retries-large", json!({"max_retries": 4294967295_u64})),
        (
            "public-key-id-bad",
            json!({"wechatpay_public_key_id": "KEY_1"}),
        ),
        (
            "key-file-missing",
            json!({"private_key_file": "/nonexistent/apiclient_key.pem"}),
        ),
        ("family-unknown", json!({"family": "paypal"})),
        ("mchid-number", json!({"mchid": 1900000100})),
    ] {
        let config = with(&domestic, |c| {
            for (key, value) in edit.as_object().expect("an object") {
                c[key] = value.clone();
            }
        });
        w.seed(t, &format!("domestic-{name}"), pretty(&config));
    }
    w.seed(
        t,
        "wecom-apiv3-field",
        pretty(&with(&wecom, |c| {
            c["apiv3_key"] = json!("0123456789abcdef0123456789abcdef")
        })),
    );
    w.seed(
        t,
        "wecom-two-token-sources",
        pretty(&with(&wecom, |c| {
            c["access_token"] = json!("fixed-token-0123")
        })),
    );
    w.seed(
        t,
        "wecom-encoding-aes-key-short",
        pretty(&with(&wecom, |c| c["encoding_aes_key"] = json!("abc"))),
    );
    w.seed(t, "empty-object", b"{}");
    w.seed(t, "not-an-object", b"[\"domestic\"]");
    w.seed(t, "truncated", b"{\"family\":\"domestic\",\"mchid\":");

    let merchant_pem = Simulator::merchant_private_key_pem();
    let missing_dash = merchant_pem.replacen("-----BEGIN", "----BEGIN", 1);
    w.regression(
        t,
        "pem-begin-line-missing-a-dash",
        pretty(&with(&domestic, |c| {
            c["private_key_pem"] = json!(missing_dash)
        })),
    );
    // The variant that leaked: the header "label" ran on to `-----END`, through the key.
    let missing_trailing_dash = merchant_pem.replacen(
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY----",
        1,
    );
    w.regression(
        t,
        "pem-begin-line-missing-a-trailing-dash",
        pretty(&with(&domestic, |c| {
            c["private_key_pem"] = json!(missing_trailing_dash)
        })),
    );
    w.regression(
        t,
        "corpsecret-numeric",
        pretty(&with(&wecom, |c| {
            c["corpsecret"] = json!(987654321987654_i64)
        })),
    );
    w.regression(
        t,
        "apiv3-key-numeric",
        pretty(&with(&domestic, |c| {
            c["apiv3_key"] = json!(12345678901234567_i64)
        })),
    );

    // ---- refund_request ---------------------------------------------------------------
    let t = "refund_request";
    let domestic_request = json!({"out_trade_no": "T20261122000001", "out_refund_no": "R20261122000001",
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"}});
    let global_request = json!({"out_trade_no": "G20261122000001", "out_refund_no": "GR20261122000001",
        "amount": {"refund": 100, "total": 10000, "currency": "USD"}});
    let wecom_request = json!({"out_trade_no": "W20261122000001", "out_refund_no": "WR20261122000001",
        "amount": {"refund": 100, "total": 10000, "currency": "CNY"}});
    w.seed(t, "domestic-minimal", pretty(&domestic_request));
    w.seed(
        t,
        "domestic-every-field",
        pretty(&json!({"transaction_id": "4200000001202611220000000001",
            "out_refund_no": "R|2*3@4_5-6", "reason": "商品已售完", "notify_url": "https://pos.example/notify",
            "funds_account": "AVAILABLE", "sub_mchid": "1900000109",
            "amount": {"refund": 888, "total": 10000, "currency": "CNY",
                       "from": [{"account": "AVAILABLE", "amount": 444}, {"account": "UNAVAILABLE", "amount": 444}]},
            "goods_detail": [{"merchant_goods_id": "G-1", "wechatpay_goods_id": "1001", "goods_name": "咖啡",
                              "unit_price": 444, "refund_amount": 888, "refund_quantity": 2}]})),
    );
    w.seed(
        t,
        "domestic-loopback-notify-url",
        pretty(&with(&domestic_request, |r| {
            r["notify_url"] = json!("http://127.0.0.1:8080/notify")
        })),
    );
    w.seed(t, "global-minimal", pretty(&global_request));
    w.seed(
        t,
        "global-every-field",
        pretty(&json!({"transaction_id": "4200000002202611220000000001", "out_refund_no": "GR-2",
            "reason": "退款", "source": "REFUND_SOURCE_UNSETTLED_FUNDS", "notify_url": "https://pos.example/n",
            "sub_mchid": "1900000209", "sub_appid": "wxd678efh567hg6787",
            "amount": {"refund": 100, "total": 10000, "currency": "USD",
                       "from": [{"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": 100}]}})),
    );
    w.seed(t, "wecom-minimal", pretty(&wecom_request));
    w.seed(
        t,
        "wecom-every-field",
        pretty(&with(&wecom_request, |r| {
            r["reason"] = json!("退款");
            r["funds_account"] = json!("AVAILABLE");
        })),
    );
    for (name, base, edit) in [
        (
            "refund-over-total",
            &domestic_request,
            json!({"amount": {"refund": 10001, "total": 10000, "currency": "CNY"}}),
        ),
        (
            "refund-zero",
            &domestic_request,
            json!({"amount": {"refund": 0, "total": 10000, "currency": "CNY"}}),
        ),
        (
            "currency-usd",
            &domestic_request,
            json!({"amount": {"refund": 1, "total": 2, "currency": "USD"}}),
        ),
        (
            "reason-emoji",
            &domestic_request,
            json!({"reason": "thanks 😀"}),
        ),
        (
            "out-refund-no-space",
            &domestic_request,
            json!({"out_refund_no": "R 1"}),
        ),
        (
            "notify-url-http-remote",
            &domestic_request,
            json!({"notify_url": "http://pos.example/notify"}),
        ),
        (
            "notify-url-query",
            &domestic_request,
            json!({"notify_url": "https://pos.example/n?x=1"}),
        ),
        (
            "both-order-references",
            &domestic_request,
            json!({"transaction_id": "4200000001202611220000000001"}),
        ),
        (
            "from-not-adding-up",
            &domestic_request,
            json!({"amount": {"refund": 100, "total": 10000, "currency": "CNY",
            "from": [{"account": "AVAILABLE", "amount": 60}]}}),
        ),
        (
            "global-currency-lowercase",
            &global_request,
            json!({"amount": {"refund": 1, "total": 2, "currency": "usd"}}),
        ),
        (
            "wecom-short-order",
            &wecom_request,
            json!({"out_trade_no": "W1"}),
        ),
        (
            "amount-huge",
            &domestic_request,
            json!({"amount": {"refund": I64_MAX, "total": I64_MAX, "currency": "CNY"}}),
        ),
    ] {
        let request = with(base, |r| {
            for (key, value) in edit.as_object().expect("an object") {
                r[key] = value.clone();
            }
        });
        w.seed(t, name, pretty(&request));
    }
    w.seed(
        t,
        "unknown-field",
        br#"{"out_refund_no":"R1","refund_fee":1}"#,
    );
    w.seed(t, "empty-object", b"{}");
    let overflow_domestic = json!({"out_trade_no": "T20261122000001", "out_refund_no": "R-OVERFLOW-1",
        "amount": {"refund": I64_MAX, "total": I64_MAX, "currency": "CNY",
                   "from": [{"account": "AVAILABLE", "amount": I64_MAX}, {"account": "UNAVAILABLE", "amount": I64_MAX}]}});
    w.regression(
        t,
        "amount-from-i64-overflow-domestic",
        pretty(&overflow_domestic),
    );
    let overflow_global = json!({"out_trade_no": "G20261122000001", "out_refund_no": "GR-OVERFLOW-1",
        "amount": {"refund": I64_MAX, "total": I64_MAX, "currency": "USD",
                   "from": [{"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": I64_MAX},
                            {"fund_source": "ORDER_REFUNDABLE_BALANCE", "amount": I64_MAX}]}});
    w.regression(
        t,
        "amount-from-i64-overflow-global",
        pretty(&overflow_global),
    );
    for (name, base, url) in [
        (
            "notify-url-userinfo-domestic",
            &domestic_request,
            "http://localhost:1@evil.example/notify",
        ),
        (
            "notify-url-userinfo-global",
            &global_request,
            "http://localhost:1@evil.example/notify",
        ),
        (
            "notify-url-userinfo-ipv4",
            &domestic_request,
            "http://127.0.0.1:8080@evil.example/notify",
        ),
        (
            "notify-url-userinfo-ipv6",
            &domestic_request,
            "http://[::1]@evil.example/notify",
        ),
    ] {
        w.regression(
            t,
            name,
            pretty(&with(base, |r| r["notify_url"] = json!(url))),
        );
    }

    // ---- query_json -------------------------------------------------------------------
    let t = "query_json";
    for (name, query) in [
        ("out-refund-no", json!({"out_refund_no": "R20261122000001"})),
        (
            "refund-id",
            json!({"refund_id": "50300000000000000000000000000001"}),
        ),
        (
            "sub-mchid",
            json!({"out_refund_no": "R1", "sub_mchid": "1900000109"}),
        ),
        ("both", json!({"out_refund_no": "R1", "refund_id": "5030"})),
        (
            "special-characters",
            json!({"out_refund_no": "R|2*3@4_5-6"}),
        ),
        (
            "path-traversal",
            json!({"out_refund_no": "../../v3/certificates"}),
        ),
        ("too-long", json!({"out_refund_no": "R".repeat(65)})),
        ("empty", json!({"out_refund_no": ""})),
        ("unicode", json!({"out_refund_no": "退款1"})),
        ("wrong-type", json!({"out_refund_no": 1})),
        (
            "unknown-field",
            json!({"out_refund_no": "R1", "mchid": "1900000100"}),
        ),
        ("empty-object", json!({})),
    ] {
        w.seed(t, name, query.to_string());
    }

    // ---- apiv3_notification ------------------------------------------------------------
    let t = "apiv3_notification";
    let apiv3_key = domestic["apiv3_key"]
        .as_str()
        .expect("apiv3_key")
        .as_bytes()
        .to_vec();
    let mainland_resource = json!({"mchid": "1900000100", "transaction_id": "4200000001202611220000000001",
        "out_trade_no": "T20261122000001", "refund_id": "50300000000000000000000000000001",
        "out_refund_no": "R20261122000001", "refund_status": "SUCCESS",
        "success_time": "2026-11-23T10:00:05+08:00", "user_received_account": "招商银行信用卡0403",
        "amount": {"total": 10000, "refund": 100, "payer_total": 10000, "payer_refund": 100}});
    let partner_resource = with(&mainland_resource, |r| {
        r.as_object_mut().expect("an object").remove("mchid");
        r["sp_mchid"] = json!("1900000100");
        r["sub_mchid"] = json!("1900000109");
    });
    let global_resource = json!({"mchid": "1900000100", "id": "50300000000000000000000000000002",
        "out_refund_no": "GR20261122000001", "transaction_id": "4200000002202611220000000001",
        "out_trade_no": "G20261122000001", "refund_status": "REFUNDCLOSE",
        "recv_account": "招商银行信用卡0403",
        "amount": {"refund": 100, "currency": "USD", "payer_refund": 780, "payer_currency": "CNY",
                   "settlement_refund": 780, "settlement_currency": "HKD"}});
    w.seed(
        t,
        "resource-mainland",
        moded(b'3', mainland_resource.to_string()),
    );
    w.seed(
        t,
        "resource-partner",
        moded(b'3', partner_resource.to_string()),
    );
    w.seed(
        t,
        "resource-global",
        moded(b'3', global_resource.to_string()),
    );
    w.seed(
        t,
        "resource-abnormal",
        moded(
            b'3',
            with(&mainland_resource, |r| {
                r["refund_status"] = json!("ABNORMAL")
            })
            .to_string(),
        ),
    );
    w.seed(t, "resource-array", moded(b'3', "[]"));
    w.seed(
        t,
        "resource-status-number",
        moded(b'3', r#"{"refund_status":1,"refund_id":2}"#),
    );
    let genuine = envelope(
        resource(
            &apiv3_key,
            "refund",
            mainland_resource.to_string().as_bytes(),
        ),
        "REFUND.SUCCESS",
    );
    w.seed(t, "body-genuine", moded(b'2', genuine.to_string()));
    w.seed(
        t,
        "body-other-event",
        moded(
            b'2',
            envelope(
                resource(&apiv3_key, "transaction", b"{}"),
                "TRANSACTION.SUCCESS",
            )
            .to_string(),
        ),
    );
    w.seed(
        t,
        "body-bad-ciphertext",
        moded(
            b'2',
            with(&genuine, |e| e["resource"]["ciphertext"] = json!("AAAA")).to_string(),
        ),
    );
    w.seed(
        t,
        "body-other-algorithm",
        moded(
            b'2',
            with(&genuine, |e| {
                e["resource"]["algorithm"] = json!("AEAD_AES_128_GCM")
            })
            .to_string(),
        ),
    );
    w.seed(
        t,
        "body-no-resource",
        moded(
            b'2',
            with(&genuine, |e| {
                e.as_object_mut().expect("an object").remove("resource");
            })
            .to_string(),
        ),
    );
    w.seed(t, "body-empty-object", moded(b'2', "{}"));
    w.seed(
        t,
        "fuzzed-headers-bad-signature",
        moded(
            b'1',
            [
                b"c2lnbmF0dXJl\0nonce\0\0".as_slice(),
                genuine.to_string().as_bytes(),
            ]
            .concat(),
        ),
    );
    w.seed(
        t,
        "fuzzed-headers-probe",
        moded(
            b'1',
            [b"WECHATPAY/SIGNTEST/abc\0nonce\0\0".as_slice(), b"{}"].concat(),
        ),
    );
    w.seed(
        t,
        "fuzzed-headers-unknown-serial",
        moded(
            b'1',
            b"c2lnbmF0dXJl\0nonce\x005157F09EFDC096DE15EBE81A47057A7232F1B8E1\x00{}",
        ),
    );
    let raw_headers = json!({"Wechatpay-Timestamp": "1700000000", "Wechatpay-Nonce": "n",
        "Wechatpay-Signature": "c2ln", "Wechatpay-Serial": "PUB_KEY_ID_0112345678902024111100000001",
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"});
    w.seed(
        t,
        "raw-headers-stale",
        moded(
            b'0',
            [
                raw_headers.to_string().as_bytes(),
                b"\0",
                genuine.to_string().as_bytes(),
            ]
            .concat(),
        ),
    );
    w.seed(
        t,
        "raw-headers-cgi-names",
        moded(
            b'0',
            br#"{"HTTP_WECHATPAY_TIMESTAMP":"1","HTTP_WECHATPAY_NONCE":"n","HTTP_WECHATPAY_SIGNATURE":"x","HTTP_WECHATPAY_SERIAL":"s"}"#
                .iter()
                .copied()
                .chain(*b"\0{}")
                .collect::<Vec<u8>>(),
        ),
    );
    w.seed(
        t,
        "raw-headers-not-strings",
        moded(b'0', b"{\"Wechatpay-Timestamp\":1}\0{}"),
    );

    // ---- wecom_callback ---------------------------------------------------------------
    let t = "wecom_callback";
    let vector: Value = serde_json::from_str(&read(&fixtures.join("wecom_callback_vector.json")))
        .expect("the WeCom callback vector parses");
    let wecom_key = wecom_callback::aes_key(
        wecom["encoding_aes_key"]
            .as_str()
            .expect("encoding_aes_key"),
    )
    .expect("the EncodingAESKey decodes");
    let wecom_resource = json!({"mchid": "1900000300", "out_trade_no": "W20261122000001",
        "refund_id": "50300000000000000000000000000003", "out_refund_no": "WR20261122000001",
        "refund_status": "SUCCESS", "success_time": "2026-11-23T10:00:05+08:00",
        "user_received_account": "支付用户零钱",
        "amount": {"total": 10000, "refund": 100, "payer_total": 10000, "payer_refund": 100}});
    let mut wecom_message = envelope(
        resource(&wecom_key, "refund", wecom_resource.to_string().as_bytes()),
        "REFUND.SUCCESS",
    );
    wecom_message["notify_type"] = json!("REFUND");
    let json_body = vector["json"]["body"].as_str().expect("json body");
    let xml_body = vector["xml"]["body"].as_str().expect("xml body");
    w.seed(t, "raw-json-envelope", moded(b'0', json_body));
    w.seed(t, "raw-xml-envelope", moded(b'0', xml_body));
    w.seed(
        t,
        "raw-xml-prolog-comment",
        moded(
            b'0',
            "<?xml version=\"1.0\"?><!-- c --><xml><Encrypt>abc=</Encrypt></xml>",
        ),
    );
    w.seed(t, "raw-encrypt-number", moded(b'0', r#"{"encrypt":1}"#));
    let params = json!({"msg_signature": vector["json"]["msg_signature_at_fixed_timestamp"],
        "timestamp": vector["fixed_timestamp"], "nonce": vector["nonce"]});
    w.seed(
        t,
        "raw-params-and-body",
        moded(
            b'0',
            [params.to_string().as_bytes(), b"\0", json_body.as_bytes()].concat(),
        ),
    );
    w.seed(
        t,
        "message-refund-event",
        moded(b'1', wecom_message.to_string()),
    );
    w.seed(
        t,
        "message-plain-event",
        moded(
            b'1',
            json!({"MsgId": "1", "Event": "REFUND.SUCCESS", "CreateTime": "1700000000",
                   "refund_id": "50300000000000000000000000000003", "refund_status": "SUCCESS"})
            .to_string(),
        ),
    );
    w.seed(t, "message-empty-object", moded(b'1', "{}"));
    w.seed(t, "message-array", moded(b'1', "[]"));
    w.seed(
        t,
        "xml-message-event",
        moded(
            b'2',
            "<xml><MsgId>1</MsgId><Event><![CDATA[REFUND.SUCCESS]]></Event>\
             <refund_id>50300000000000000000000000000003</refund_id>\
             <refund_status>SUCCESS</refund_status><Note>a &amp; b &lt;c&gt;</Note></xml>",
        ),
    );
    w.seed(
        t,
        "xml-message-nested",
        moded(
            b'2',
            "<xml><A><B><C>1</C></B></A><D/><resource>x</resource></xml>",
        ),
    );
    w.seed(
        t,
        "resource-refund",
        moded(b'3', wecom_resource.to_string()),
    );
    w.seed(t, "resource-array", moded(b'3', "[]"));
    w.seed(
        t,
        "encrypt-genuine",
        moded(b'4', vector["json"]["encrypt"].as_str().expect("encrypt")),
    );
    w.seed(
        t,
        "encrypt-one-block",
        moded(b'4', "AAAAAAAAAAAAAAAAAAAAAA=="),
    );
    w.seed(t, "encrypt-not-base64", moded(b'4', "not base64!"));
    w.regression(t, "xml-nested-20000", moded(b'0', "<a>".repeat(20000)));

    // ---- http_answers -----------------------------------------------------------------
    let t = "http_answers";
    let domestic_answer = json!({"refund_id": "50300000000000000000000000000001",
        "out_refund_no": "FUZZ-R-1", "transaction_id": "4200000001202611220000000001",
        "out_trade_no": "T20261122000001", "channel": "ORIGINAL",
        "user_received_account": "招商银行信用卡0403", "create_time": "2026-11-23T10:00:00+08:00",
        "status": "PROCESSING", "funds_account": "AVAILABLE",
        "amount": {"total": 10000, "refund": 1, "payer_total": 10000, "payer_refund": 1,
                   "settlement_refund": 1, "settlement_total": 10000, "discount_refund": 0,
                   "currency": "CNY"}});
    let global_answer = json!({"id": "50300000000000000000000000000002", "out_refund_no": "FUZZ-R-1",
        "transaction_id": "4200000002202611220000000001", "out_trade_no": "G20261122000001",
        "create_time": "2026-11-23T10:00:00+08:00", "status": "PROCESSING",
        "amount": {"refund": 1, "currency": "USD", "payer_refund": 8, "payer_currency": "CNY"}});
    let certificate_pem = read(&keys.join("platform_cert.pem"));
    let certificates = json!({"data": [{"serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "effective_time": "2026-11-23T01:10:23+08:00", "expire_time": "2126-10-30T01:10:23+08:00",
        "encrypt_certificate": resource(&apiv3_key, "certificate", certificate_pem.as_bytes())}]});
    w.seed(
        t,
        "signed-domestic-answer",
        moded(b'1', domestic_answer.to_string()),
    );
    w.seed(
        t,
        "signed-global-answer",
        moded(b'1', global_answer.to_string()),
    );
    w.seed(
        t,
        "signed-certificates",
        moded(b'1', certificates.to_string()),
    );
    w.seed(t, "signed-array", moded(b'1', "[]"));
    for (name, status, body) in [
        (
            "not-found",
            "404",
            json!({"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}),
        ),
        (
            "rate-limited",
            "429",
            json!({"code": "FREQUENCY_LIMITED", "message": "频率限制"}),
        ),
        (
            "system-error",
            "500",
            json!({"code": "SYSTEM_ERROR", "message": "系统错误"}),
        ),
        (
            "param-error",
            "400",
            json!({"code": "PARAM_ERROR", "message": "参数错误",
                                      "detail": {"field": "amount.refund", "location": "body"}}),
        ),
        (
            "not-enough",
            "403",
            json!({"code": "NOT_ENOUGH", "message": "余额不足"}),
        ),
        ("no-content", "204", json!(null)),
    ] {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        w.seed(
            t,
            &format!("signed-{name}"),
            moded(b'2', format!("{status}{body}")),
        );
    }
    let token =
        json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN-0123", "expires_in": 7200});
    w.seed(t, "wecom-token", moded(b'3', token.to_string()));
    w.seed(
        t,
        "wecom-token-and-refund",
        moded(
            b'3',
            json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN-0123", "expires_in": 7200,
                   "refund_id": "50300000000000000000000000000003", "out_refund_no": "FUZZ-R-1",
                   "status": "SUCCESS"})
            .to_string(),
        ),
    );
    for (name, code, message) in [
        ("invalid-token", 40014, "invalid access_token"),
        ("busy", -1, "system busy"),
        ("frequency", 45009, "api freq out of limit"),
        ("not-exists", 720501, "out_refund_no[FUZZ-R-1] not exists"),
    ] {
        w.seed(
            t,
            &format!("wecom-{name}"),
            moded(
                b'3',
                json!({"errcode": code, "errmsg": message}).to_string(),
            ),
        );
    }
    w.seed(t, "raw-empty-json", moded(b'0', http("200 OK", "", "{}")));
    w.seed(
        t,
        "raw-chunked",
        moded(
            b'0',
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        ),
    );
    w.seed(
        t,
        "raw-redirect",
        moded(
            b'0',
            http("302 Found", "Location: http://evil.example/\r\n", ""),
        ),
    );
    w.seed(
        t,
        "raw-short-body",
        moded(b'0', "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}"),
    );
    w.seed(
        t,
        "raw-close-delimited",
        moded(b'0', format!("HTTP/1.0 200 OK\r\n\r\n{token}")),
    );
    w.seed(
        t,
        "raw-gzip",
        moded(
            b'0',
            http("200 OK", "Content-Encoding: gzip\r\n", "not gzip"),
        ),
    );
    w.seed(t, "raw-garbage", moded(b'0', "garbage\r\n\r\n"));
    w.seed(t, "raw-nothing", b"0");
    let forever = r#"{"errcode":0,"errmsg":"ok","access_token":"TOKEN-0123","expires_in":18446744073709551615}"#;
    w.regression(
        t,
        "gettoken-expires-in-u64-max",
        moded(b'0', http("200 OK", "", forever)),
    );
    w.regression(
        t,
        "gettoken-expires-in-u64-max-framed",
        moded(b'3', forever),
    );

    drop((public_key_sim, certificate_sim));
    println!(
        "wrote {} seed and regression files, {} bytes, under {}",
        w.files,
        w.bytes,
        w.fuzz.display()
    );
}

