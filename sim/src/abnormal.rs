//! Apply-abnormal-refund (PROTOCOL §4.4): the body checks and the decryption of the bank
//! details, independent of HTTP and of the ledger. The rules on the refund itself live in
//! [`crate::ledger::Ledger::apply_abnormal`].
//!
//! The decrypted card number and name are checked and dropped here: only the card's last
//! four digits travel on (for `user_received_account` and the control API's state).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::fields::{json_object, optional_str, optional_str_len, out_refund_no};
use crate::keys::{oaep_decrypt, Keys};

/// Longest base64 ciphertext of `bank_account` and `real_name` (string(1024)).
const MAX_CIPHERTEXT: usize = 1024;
/// Longest `bank_type` (string(16)).
const MAX_BANK_TYPE: usize = 16;

/// Where the money of an `ABNORMAL` refund goes instead.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payee {
    /// `USER_BANK_CARD`: the payer's card, with the base64 ciphertexts of its number and
    /// holder's name.
    UserBankCard {
        bank_type: String,
        bank_account: String,
        real_name: String,
    },
    /// `MERCHANT_BANK_CARD`: the merchant's settlement card.
    MerchantBankCard,
}

/// A checked apply-abnormal-refund body, bank details still encrypted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AbnormalRequest {
    pub(crate) sub_mchid: Option<String>,
    pub(crate) out_refund_no: String,
    pub(crate) payee: Payee,
}

/// The new route of a refund once its details decrypted: what the simulator keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// `USER_BANK_CARD` or `MERCHANT_BANK_CARD`.
    pub(crate) kind: &'static str,
    /// The payer's bank, `USER_BANK_CARD` only.
    pub(crate) bank_type: Option<String>,
    /// The last four digits of the payer's card, `USER_BANK_CARD` only.
    pub(crate) bank_account_last4: Option<String>,
}

impl Route {
    /// `channel` and `user_received_account` of the refund once sent this way.
    pub(crate) fn received_account(&self) -> String {
        match (&self.bank_type, &self.bank_account_last4) {
            (Some(bank_type), Some(last4)) => format!("{}{last4}", bank_name(bank_type)),
            _ => "商户结算银行账户".to_string(),
        }
    }

    /// The control API's view: `{type, bank_type, bank_account_last4}`.
    pub(crate) fn state(&self) -> Value {
        json!({
            "type": self.kind,
            "bank_type": self.bank_type,
            "bank_account_last4": self.bank_account_last4,
        })
    }
}

/// A bank code as the platform shows it in `user_received_account` (`工商银行借记卡`); an
/// unknown code is shown as given.
fn bank_name(bank_type: &str) -> String {
    const BANKS: [(&str, &str); 15] = [
        ("ICBC", "工商银行"),
        ("ABC", "农业银行"),
        ("BOC", "中国银行"),
        ("CCB", "建设银行"),
        ("BOCOM", "交通银行"),
        ("PSBC", "邮储银行"),
        ("CMB", "招商银行"),
        ("CMBC", "民生银行"),
        ("CIB", "兴业银行"),
        ("SPDB", "浦发银行"),
        ("CITIC", "中信银行"),
        ("CEB", "光大银行"),
        ("HXB", "华夏银行"),
        ("GDB", "广发银行"),
        ("PAB", "平安银行"),
    ];
    let (bank, card) = match bank_type.rsplit_once('_') {
        Some((bank, "DEBIT")) => (bank, "借记卡"),
        Some((bank, "CREDIT")) => (bank, "信用卡"),
        _ => (bank_type, ""),
    };
    match BANKS.iter().find(|(code, _)| *code == bank) {
        Some((_, name)) => format!("{name}{card}"),
        None => bank_type.to_string(),
    }
}

/// A PARAM_ERROR about an encrypted field: its value is never echoed.
fn hidden(field: &str, issue: &str) -> ApiError {
    ApiError::param(&format!("/{field}"), &Value::Null, issue)
}

/// Reads an encrypted field: a non-empty string of at most [`MAX_CIPHERTEXT`] bytes.
fn ciphertext(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_CIPHERTEXT => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(hidden(field, "长度应在1到1024字节之间")),
        Some(_) => Err(hidden(field, &format!("{field}应为字符串"))),
    }
}

/// Parses and checks an apply-abnormal-refund body, answering PARAM_ERROR like the
/// platform (`detail.field` names the field; encrypted values are never echoed).
pub(crate) fn parse_abnormal(body: &[u8]) -> Result<AbnormalRequest, ApiError> {
    let obj = json_object(body)?;
    let sub_mchid = optional_str_len(&obj, "sub_mchid", 1, 32)?;
    let out_refund_no = out_refund_no(&obj)?;
    let kind = optional_str(&obj, "type", "/type")?
        .ok_or_else(|| ApiError::param("/type", &Value::Null, "缺少type"))?;
    let bank_type = optional_str(&obj, "bank_type", "/bank_type")?;
    let bank_account = ciphertext(&obj, "bank_account")?;
    let real_name = ciphertext(&obj, "real_name")?;
    let payee = match kind.as_str() {
        "USER_BANK_CARD" => {
            let bank_type = bank_type.ok_or_else(|| {
                ApiError::param("/bank_type", &Value::Null, "USER_BANK_CARD须传bank_type")
            })?;
            let valid = (1..=MAX_BANK_TYPE).contains(&bank_type.len())
                && bank_type
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_');
            if !valid {
                return Err(ApiError::param(
                    "/bank_type",
                    &json!(bank_type),
                    "bank_type应为1到16位大写字母和_，如ICBC_DEBIT",
                ));
            }
            Payee::UserBankCard {
                bank_type,
                bank_account: bank_account
                    .ok_or_else(|| hidden("bank_account", "USER_BANK_CARD须传bank_account"))?,
                real_name: real_name
                    .ok_or_else(|| hidden("real_name", "USER_BANK_CARD须传real_name"))?,
            }
        }
        "MERCHANT_BANK_CARD" => {
            let given = [
                ("bank_type", bank_type.is_some()),
                ("bank_account", bank_account.is_some()),
                ("real_name", real_name.is_some()),
            ];
            if let Some((field, _)) = given.iter().find(|(_, given)| *given) {
                return Err(hidden(
                    field,
                    &format!("MERCHANT_BANK_CARD不能传{field}，退款将退至商户结算银行账户"),
                ));
            }
            Payee::MerchantBankCard
        }
        _ => {
            return Err(ApiError::param(
                "/type",
                &json!(kind),
                "type应为USER_BANK_CARD或MERCHANT_BANK_CARD",
            ));
        }
    };
    Ok(AbnormalRequest {
        sub_mchid,
        out_refund_no,
        payee,
    })
}

/// Checks the request's `Wechatpay-Serial` names a key the simulator holds in this mode
/// (`serials`), and decrypts and checks the bank details with it. The plaintexts are
/// dropped here; the answer is the new route.
pub(crate) fn decrypt_payee(
    keys: &Keys,
    serials: &[&str],
    request_serial: Option<&str>,
    payee: &Payee,
) -> Result<Route, ApiError> {
    let serial = request_serial
        .filter(|serial| !serial.is_empty())
        .ok_or_else(|| {
            ApiError::param_at(
                "Wechatpay-Serial",
                &Value::Null,
                "缺少Wechatpay-Serial",
                "header",
            )
        })?;
    let key = serials
        .iter()
        .any(|known| known.eq_ignore_ascii_case(serial))
        .then(|| keys.decrypter(serial))
        .flatten()
        .ok_or_else(|| {
            ApiError::param_at(
                "Wechatpay-Serial",
                &json!(serial),
                "Wechatpay-Serial不是可用的平台证书序列号或微信支付公钥ID",
                "header",
            )
        })?;
    let Payee::UserBankCard {
        bank_type,
        bank_account,
        real_name,
    } = payee
    else {
        return Ok(Route {
            kind: "MERCHANT_BANK_CARD",
            bank_type: None,
            bank_account_last4: None,
        });
    };
    let decrypt = |field: &str, ciphertext: &str| {
        BASE64
            .decode(ciphertext)
            .ok()
            .and_then(|raw| oaep_decrypt(key, &raw))
            .and_then(|plain| String::from_utf8(plain).ok())
            .ok_or_else(|| hidden(field, "解密失败"))
    };
    let account = decrypt("bank_account", bank_account)?;
    if !(6..=32).contains(&account.len()) || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(hidden("bank_account", "解密失败：不是银行卡号"));
    }
    let name = decrypt("real_name", real_name)?;
    let length = name.chars().count();
    if length == 0 || length > 50 || name.chars().any(char::is_control) {
        return Err(hidden("real_name", "解密失败：不是姓名"));
    }
    let last4 = account.get(account.len().saturating_sub(4)..).unwrap_or("");
    Ok(Route {
        kind: "USER_BANK_CARD",
        bank_type: Some(bank_type.clone()),
        bank_account_last4: Some(last4.to_string()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::{PLATFORM_NEXT_SERIAL, PLATFORM_SERIAL, PUBLIC_KEY_ID};
    use rsa::{Oaep, RsaPublicKey};

    /// Encrypts like a client: RSA-OAEP SHA-1 with the public half of `serial`'s key.
    pub(crate) fn encrypt_for(keys: &Keys, serial: &str, plaintext: &str) -> String {
        let key = RsaPublicKey::from(keys.decrypter(serial).expect("known serial"));
        let ciphertext = key
            .encrypt(
                &mut rsa::rand_core::OsRng,
                Oaep::new::<sha1::Sha1>(),
                plaintext.as_bytes(),
            )
            .expect("encrypt");
        BASE64.encode(ciphertext)
    }

    fn field_of(error: &ApiError) -> Value {
        error
            .detail
            .as_ref()
            .map_or(Value::Null, |d| d["field"].clone())
    }

    fn user(keys: &Keys, serial: &str, account: &str, name: &str) -> Payee {
        Payee::UserBankCard {
            bank_type: "ICBC_DEBIT".to_string(),
            bank_account: encrypt_for(keys, serial, account),
            real_name: encrypt_for(keys, serial, name),
        }
    }

    #[test]
    fn body_rules_name_their_field() {
        let err = |body: Value| {
            let e = parse_abnormal(body.to_string().as_bytes()).expect_err("refused");
            assert_eq!((e.status, e.code), (400, "PARAM_ERROR"));
            field_of(&e)
        };
        let base = json!({"out_refund_no": "R1", "type": "USER_BANK_CARD",
                          "bank_type": "ICBC_DEBIT", "bank_account": "Y2lw", "real_name": "Y2lw"});
        let without = |field: &str| {
            let mut body = base.clone();
            body.as_object_mut().expect("object").remove(field);
            body
        };
        let with = |field: &str, value: Value| {
            let mut body = base.clone();
            body[field] = value;
            body
        };
        assert_eq!(err(without("out_refund_no")), json!("/out_refund_no"));
        assert_eq!(
            err(with("out_refund_no", json!("R 1"))),
            json!("/out_refund_no")
        );
        assert_eq!(err(without("type")), json!("/type"));
        assert_eq!(err(with("type", json!("BALANCE"))), json!("/type"));
        assert_eq!(err(without("bank_type")), json!("/bank_type"));
        assert_eq!(err(with("bank_type", json!("icbc"))), json!("/bank_type"));
        assert_eq!(err(without("bank_account")), json!("/bank_account"));
        assert_eq!(err(without("real_name")), json!("/real_name"));
        assert_eq!(err(with("real_name", json!(""))), json!("/real_name"));
        assert_eq!(
            err(with("bank_account", json!("x".repeat(1025)))),
            json!("/bank_account")
        );
        assert_eq!(err(with("bank_account", json!(12))), json!("/bank_account"));
        assert_eq!(err(with("sub_mchid", json!(""))), json!("/sub_mchid"));
        let merchant = json!({"out_refund_no": "R1", "type": "MERCHANT_BANK_CARD"});
        for field in ["bank_type", "bank_account", "real_name"] {
            let mut body = merchant.clone();
            body[field] = json!("ICBC_DEBIT");
            assert_eq!(err(body), json!(format!("/{field}")));
        }
        // Encrypted values are never echoed in the error.
        let e = parse_abnormal(with("bank_account", json!("")).to_string().as_bytes())
            .expect_err("empty");
        assert_eq!(
            e.detail.as_ref().map(|d| d["value"].clone()),
            Some(Value::Null)
        );

        let ok = parse_abnormal(merchant.to_string().as_bytes()).expect("valid");
        assert_eq!(ok.payee, Payee::MerchantBankCard);
        assert_eq!(ok.sub_mchid, None);
        let ok = parse_abnormal(
            with("sub_mchid", json!("1900000109"))
                .to_string()
                .as_bytes(),
        )
        .expect("valid");
        assert_eq!(ok.sub_mchid.as_deref(), Some("1900000109"));
        assert!(matches!(ok.payee, Payee::UserBankCard { .. }));
    }

    #[test]
    fn serial_must_name_a_key_of_the_mode() {
        let keys = Keys::load().expect("keys");
        let payee = user(&keys, PUBLIC_KEY_ID, "6222020200112233445", "张三");
        let err = |serial: Option<&str>, serials: &[&str]| {
            let e = decrypt_payee(&keys, serials, serial, &payee).expect_err("refused");
            assert_eq!((e.status, e.code), (400, "PARAM_ERROR"));
            e.detail.expect("detail")
        };
        let detail = err(None, &[PUBLIC_KEY_ID]);
        assert_eq!(
            (&detail["field"], &detail["location"]),
            (&json!("Wechatpay-Serial"), &json!("header"))
        );
        err(Some(""), &[PUBLIC_KEY_ID]);
        assert_eq!(err(Some("0123ABCD"), &[PUBLIC_KEY_ID])["value"], "0123ABCD");
        // A key the simulator holds, but not in this verification mode.
        err(Some(PUBLIC_KEY_ID), &[PLATFORM_SERIAL]);
        err(Some(PLATFORM_NEXT_SERIAL), &[PLATFORM_SERIAL]);

        let route =
            decrypt_payee(&keys, &[PUBLIC_KEY_ID], Some(PUBLIC_KEY_ID), &payee).expect("decrypts");
        assert_eq!(
            route,
            Route {
                kind: "USER_BANK_CARD",
                bank_type: Some("ICBC_DEBIT".to_string()),
                bank_account_last4: Some("3445".to_string()),
            }
        );
        assert_eq!(route.received_account(), "工商银行借记卡3445");
        assert_eq!(
            route.state(),
            json!({"type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT", "bank_account_last4": "3445"})
        );
        // Certificate serials match in any case; MERCHANT_BANK_CARD needs the header too.
        let payee = user(&keys, PLATFORM_SERIAL, "6222020200112233445", "张三");
        let lower = PLATFORM_SERIAL.to_ascii_lowercase();
        decrypt_payee(&keys, &[PLATFORM_SERIAL], Some(&lower), &payee).expect("any case");
        let merchant = decrypt_payee(
            &keys,
            &[PLATFORM_SERIAL],
            Some(PLATFORM_SERIAL),
            &Payee::MerchantBankCard,
        )
        .expect("merchant card");
        assert_eq!(merchant.received_account(), "商户结算银行账户");
        assert!(decrypt_payee(&keys, &[PLATFORM_SERIAL], None, &Payee::MerchantBankCard).is_err());
    }

    #[test]
    fn details_must_decrypt_to_a_card_number_and_a_name() {
        let keys = Keys::load().expect("keys");
        let serials = [PLATFORM_SERIAL, PUBLIC_KEY_ID];
        let refused = |payee: &Payee, serial: &str| {
            let e = decrypt_payee(&keys, &serials, Some(serial), payee).expect_err("refused");
            assert_eq!((e.status, e.code), (400, "PARAM_ERROR"));
            assert!(e.message.contains("解密失败"), "{}", e.message);
            let detail = e.detail.expect("detail");
            assert_eq!(detail["value"], Value::Null);
            detail["field"].clone()
        };
        // Encrypted for another key than the header names.
        let other = user(&keys, PLATFORM_SERIAL, "6222020200112233445", "张三");
        assert_eq!(refused(&other, PUBLIC_KEY_ID), json!("/bank_account"));
        // Not base64, not a ciphertext at all.
        for junk in ["%%%", "Y2lwaGVy"] {
            let payee = Payee::UserBankCard {
                bank_type: "ICBC_DEBIT".to_string(),
                bank_account: junk.to_string(),
                real_name: encrypt_for(&keys, PUBLIC_KEY_ID, "张三"),
            };
            assert_eq!(refused(&payee, PUBLIC_KEY_ID), json!("/bank_account"));
        }
        for account in [
            "6222 0202 0011",
            "12345",
            "622202020011223344556677889900112",
            "卡号",
        ] {
            let payee = user(&keys, PUBLIC_KEY_ID, account, "张三");
            assert_eq!(
                refused(&payee, PUBLIC_KEY_ID),
                json!("/bank_account"),
                "{account}"
            );
        }
        let long = "张".repeat(51);
        for name in ["", "张\n三", "\u{7f}", long.as_str()] {
            let payee = user(&keys, PUBLIC_KEY_ID, "6222020200112233445", name);
            assert_eq!(
                refused(&payee, PUBLIC_KEY_ID),
                json!("/real_name"),
                "{name:?}"
            );
        }
        let payee = user(&keys, PLATFORM_SERIAL, "622202", "Zhang San");
        let route = decrypt_payee(&keys, &serials, Some(PLATFORM_SERIAL), &payee).expect("ok");
        assert_eq!(route.bank_account_last4.as_deref(), Some("2202"));
    }

    #[test]
    fn bank_names() {
        assert_eq!(bank_name("CMB_DEBIT"), "招商银行借记卡");
        assert_eq!(bank_name("PAB_CREDIT"), "平安银行信用卡");
        assert_eq!(bank_name("XYZ_DEBIT"), "XYZ_DEBIT");
        assert_eq!(bank_name("ICBC"), "工商银行");
    }
}
