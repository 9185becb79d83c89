//! WeChat Pay APIv3 mainland refunds, direct and partner mode (PROTOCOL.md §4).

use super::{
    check_charset, check_funds_split, check_notify_url, check_order_reference, check_out_refund_no,
    check_positive, check_reason, check_refund_amounts, encode_path_segment, Refund, RefundQuery,
};
use crate::config::{Config, Mode, Secret, DOMESTIC_BASE_URL};
use crate::error::{Error, Result};
use crate::logging::Call;
use crate::signer::Signer;
use crate::v3::ApiV3;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Apply for a refund: the body of `POST /v3/refund/domestic/refunds`, with
/// WeChat's field names. Unknown fields are rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Partner mode only: the sub-merchant that took the payment
    /// (defaults to the configured `sub_mchid`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_mchid: Option<String>,
    /// WeChat Pay order number; give this or `out_trade_no`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transaction_id: Option<String>,
    /// Merchant order number (6-32 characters); give this or `transaction_id`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// Merchant refund number, 1-64 of `[0-9A-Za-z_-|*@]`. The same number is
    /// always the same refund: reuse it for every retry.
    pub out_refund_no: String,
    /// Shown to the payer; 1-80 bytes, no emoji.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Overrides the refund notification URL configured in the merchant platform.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notify_url: Option<String>,
    /// `AVAILABLE` (refund from the available balance) or `UNSETTLED`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub funds_account: Option<String>,
    /// Amounts, in fen.
    pub amount: Amount,
    /// Per-item refund details.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_detail: Option<Vec<GoodsDetail>>,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Amount to refund, fen; at most `total`.
    pub refund: i64,
    /// Which accounts fund the refund; amounts must add up to `refund`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<Vec<FundsFrom>>,
    /// The original order total, fen.
    pub total: i64,
    /// `CNY`.
    pub currency: String,
}

/// One entry of `amount.from[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundsFrom {
    /// `AVAILABLE` or `UNAVAILABLE`.
    pub account: String,
    /// Fen from that account.
    pub amount: i64,
}

/// One entry of `goods_detail[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoodsDetail {
    /// Merchant goods id, 1-32 of `[A-Za-z0-9_-]`.
    pub merchant_goods_id: String,
    /// WeChat Pay goods id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub wechatpay_goods_id: Option<String>,
    /// Goods name, up to 256 bytes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_name: Option<String>,
    /// Unit price, fen.
    pub unit_price: i64,
    /// Amount refunded for this item, fen.
    pub refund_amount: i64,
    /// Quantity refunded.
    pub refund_quantity: i64,
}

impl RefundRequest {
    /// Checks every rule of §4.2 that can be checked before sending.
    pub fn validate(&self) -> Result<()> {
        check_order_reference(
            self.transaction_id.as_deref(),
            self.out_trade_no.as_deref(),
            6,
        )?;
        check_out_refund_no(&self.out_refund_no)?;
        if let Some(reason) = &self.reason {
            check_reason(reason)?;
        }
        if let Some(url) = &self.notify_url {
            check_notify_url(url)?;
        }
        if let Some(account) = &self.funds_account {
            if !matches!(account.as_str(), "AVAILABLE" | "UNSETTLED") {
                return Err(Error::invalid_field(
                    "funds_account",
                    "must be AVAILABLE or UNSETTLED",
                ));
            }
        }
        self.amount.validate()?;
        for (i, goods) in self.goods_detail.iter().flatten().enumerate() {
            goods.validate(i)?;
        }
        Ok(())
    }
}

/// Send an `ABNORMAL` refund's money another way: the body of `POST
/// /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund` (§4.4),
/// plus the `refund_id` of the path. The bank details are encrypted before
/// sending (RSA-OAEP with the platform's key) and never appear in an error or
/// a log record; their memory is zeroed when dropped.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbnormalRefundRequest {
    /// WeChat's refund id of the `ABNORMAL` refund (`refund_id` of its query).
    pub refund_id: String,
    /// The refund's merchant number.
    pub out_refund_no: String,
    /// Partner mode only: the sub-merchant (defaults to the configured `sub_mchid`).
    #[serde(default)]
    pub sub_mchid: Option<String>,
    /// `USER_BANK_CARD` (to the payer's bank card, with the three fields
    /// below) or `MERCHANT_BANK_CARD` (to the merchant's card, without them).
    #[serde(rename = "type")]
    pub kind: String,
    /// The payer's bank, e.g. `ICBC_DEBIT` (`USER_BANK_CARD` only).
    #[serde(default)]
    pub bank_type: Option<String>,
    /// The payer's card number, digits (`USER_BANK_CARD` only).
    #[serde(default)]
    pub bank_account: Option<Secret>,
    /// The card holder's name (`USER_BANK_CARD` only).
    #[serde(default)]
    pub real_name: Option<Secret>,
}

impl AbnormalRefundRequest {
    /// Checks every rule of §4.4 that can be checked before sending. Bank
    /// details are described, never quoted, in the errors.
    pub fn validate(&self) -> Result<()> {
        check_charset("refund_id", &self.refund_id, 1, 32, b"")?;
        check_out_refund_no(&self.out_refund_no)?;
        let details = [
            ("bank_type", self.bank_type.is_some()),
            ("bank_account", self.bank_account.is_some()),
            ("real_name", self.real_name.is_some()),
        ];
        match self.kind.as_str() {
            "USER_BANK_CARD" => {
                if let Some((field, _)) = details.iter().find(|(_, given)| !given) {
                    return Err(Error::invalid_field(*field, "required for USER_BANK_CARD"));
                }
            }
            "MERCHANT_BANK_CARD" => {
                if let Some((field, _)) = details.iter().find(|(_, given)| *given) {
                    return Err(Error::invalid_field(
                        *field,
                        "only for USER_BANK_CARD; MERCHANT_BANK_CARD refunds to the merchant's card",
                    ));
                }
            }
            _ => {
                return Err(Error::invalid_field(
                    "type",
                    "must be USER_BANK_CARD or MERCHANT_BANK_CARD",
                ))
            }
        }
        if let Some(bank_type) = &self.bank_type {
            if bank_type.is_empty()
                || bank_type.len() > 16
                || !bank_type
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_')
            {
                return Err(Error::invalid_field(
                    "bank_type",
                    "must be 1-16 of A-Z and _, a code such as ICBC_DEBIT",
                ));
            }
        }
        if let Some(account) = &self.bank_account {
            let account = account.expose();
            if !(6..=32).contains(&account.len()) || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid_field(
                    "bank_account",
                    "must be the card number: 6-32 digits, no spaces (value not shown)",
                ));
            }
        }
        if let Some(name) = &self.real_name {
            let name = name.expose();
            let length = name.chars().count();
            if length == 0 || length > 50 || name.chars().any(char::is_control) {
                return Err(Error::invalid_field(
                    "real_name",
                    "must be the card holder's name: 1-50 characters, no control characters \
                     (value not shown)",
                ));
            }
        }
        Ok(())
    }
}

/// The body of an apply-abnormal-refund request, bank details encrypted.
#[derive(Serialize)]
struct AbnormalBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_mchid: Option<String>,
    out_refund_no: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bank_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bank_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_name: Option<String>,
}

impl Amount {
    fn validate(&self) -> Result<()> {
        check_refund_amounts(self.refund, self.total)?;
        if self.currency != "CNY" {
            return Err(Error::invalid_field(
                "amount.currency",
                "mainland refunds are in CNY",
            ));
        }
        if let Some(from) = &self.from {
            let entries = from.iter().map(|f| (f.account.as_str(), f.amount));
            check_funds_split(
                "account",
                entries,
                &["AVAILABLE", "UNAVAILABLE"],
                self.refund,
            )?;
        }
        Ok(())
    }
}

impl GoodsDetail {
    fn validate(&self, index: usize) -> Result<()> {
        let field = |name: &str| format!("goods_detail[{index}].{name}");
        check_charset(
            &field("merchant_goods_id"),
            &self.merchant_goods_id,
            1,
            32,
            b"_-",
        )?;
        if let Some(id) = &self.wechatpay_goods_id {
            if id.is_empty() || id.len() > 32 {
                return Err(Error::invalid_field(
                    field("wechatpay_goods_id"),
                    "length must be 1-32",
                ));
            }
        }
        if let Some(name) = &self.goods_name {
            if name.is_empty() || name.len() > 256 {
                return Err(Error::invalid_field(
                    field("goods_name"),
                    "length must be 1-256 bytes",
                ));
            }
        }
        if self.unit_price < 0 {
            return Err(Error::invalid_field(
                field("unit_price"),
                "must not be negative",
            ));
        }
        check_positive(&field("refund_amount"), self.refund_amount)?;
        check_positive(&field("refund_quantity"), self.refund_quantity)
    }
}

/// The family's name in log records.
const FAMILY: &str = crate::Family::Domestic.name();

/// A mainland refund client: one merchant (or service provider) account.
pub(crate) struct Domestic {
    api: ApiV3,
    mode: Mode,
    default_sub_mchid: Option<String>,
}

impl Domestic {
    /// The signed channel, also used to verify notifications.
    pub(crate) fn api(&self) -> &ApiV3 {
        &self.api
    }

    /// `signer`: the host's signer, instead of a key in the configuration.
    pub(crate) fn new(config: &Config, signer: Option<Arc<dyn Signer>>) -> Result<Domestic> {
        Ok(Domestic {
            api: ApiV3::new(
                config,
                DOMESTIC_BASE_URL,
                "/v3/certificates",
                FAMILY,
                signer,
            )?,
            mode: config.mode,
            default_sub_mchid: config.sub_mchid.clone(),
        })
    }

    /// The sub-merchant to send: required in partner mode, refused in direct mode.
    fn sub_mchid(&self, given: Option<&String>) -> Result<Option<String>> {
        match (self.mode, given.or(self.default_sub_mchid.as_ref())) {
            (Mode::Direct, None) => Ok(None),
            (Mode::Direct, Some(_)) => Err(Error::invalid_field(
                "sub_mchid",
                "only allowed in partner mode",
            )),
            (Mode::Partner, None) => Err(Error::invalid_field(
                "sub_mchid",
                "required in partner mode (in the request or the configuration)",
            )),
            (Mode::Partner, Some(sub)) => {
                check_charset("sub_mchid", sub, 1, 32, b"")?;
                Ok(Some(sub.clone()))
            }
        }
    }

    /// `POST /v3/refund/domestic/refunds`.
    pub(crate) fn create(&self, request: &RefundRequest) -> Result<Refund> {
        request.validate()?;
        let mut request = request.clone();
        request.sub_mchid = self.sub_mchid(request.sub_mchid.as_ref())?;
        // Serialized once: these exact bytes are signed, sent, and resent on retry.
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::new(crate::ErrorKind::Internal, "serialize", e.to_string()))?;
        let call = Call::refund(FAMILY, &request.out_refund_no);
        call.finish(
            self.api
                .call(&call, "POST", "/v3/refund/domestic/refunds", &body)
                .map(|fields| Refund::from_fields(fields, "refund_id")),
        )
    }

    /// `POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund`
    /// (§4.4): the bank details encrypted with the key the answer will name in
    /// `Wechatpay-Serial`, the same header sent with the request.
    pub(crate) fn apply_abnormal(&self, request: &AbnormalRefundRequest) -> Result<Refund> {
        request.validate()?;
        let sub_mchid = self.sub_mchid(request.sub_mchid.as_ref())?;
        let (serial, key) = self.api.encryption_key()?;
        let encrypt = |field: &str, value: &Option<Secret>| {
            value
                .as_ref()
                .map(|secret| key.encrypt_oaep(secret.expose().as_bytes(), field))
                .transpose()
        };
        let body = AbnormalBody {
            sub_mchid,
            out_refund_no: &request.out_refund_no,
            kind: &request.kind,
            bank_type: request.bank_type.as_deref(),
            bank_account: encrypt("bank_account", &request.bank_account)?,
            real_name: encrypt("real_name", &request.real_name)?,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::new(crate::ErrorKind::Internal, "serialize", e.to_string()))?;
        let target = format!(
            "/v3/refund/domestic/refunds/{}/apply-abnormal-refund",
            encode_path_segment(&request.refund_id)
        );
        let call = Call::refund(FAMILY, &request.out_refund_no);
        call.finish(
            self.api
                .call_with_serial(&call, "POST", &target, &body, Some(&serial))
                .map(|fields| Refund::from_fields(fields, "refund_id")),
        )
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}[?sub_mchid=]`.
    pub(crate) fn query(&self, query: &RefundQuery) -> Result<Refund> {
        let out_refund_no = match (&query.out_refund_no, &query.refund_id) {
            (Some(no), None) => no,
            (_, Some(_)) => {
                return Err(Error::invalid_field(
                    "refund_id",
                    "mainland refunds are queried by out_refund_no only",
                ))
            }
            (None, None) => return Err(Error::invalid_field("out_refund_no", "required")),
        };
        check_out_refund_no(out_refund_no)?;
        let mut target = format!(
            "/v3/refund/domestic/refunds/{}",
            encode_path_segment(out_refund_no)
        );
        if let Some(sub) = self.sub_mchid(query.sub_mchid.as_ref())? {
            target.push_str("?sub_mchid=");
            target.push_str(&sub);
        }
        let call = Call::refund(FAMILY, out_refund_no);
        call.finish(
            self.api
                .call(&call, "GET", &target, b"")
                .map(|fields| Refund::from_fields(fields, "refund_id")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refund::parse_json;

    fn request(json: &str) -> Result<RefundRequest> {
        parse_json::<RefundRequest>("refund request", json).and_then(|r| {
            r.validate()?;
            Ok(r)
        })
    }

    const GOOD: &str = r#"{"out_trade_no":"T20261122000001","out_refund_no":"R1",
        "amount":{"refund":100,"total":10000,"currency":"CNY"}}"#;

    fn field_of(json: &str) -> String {
        request(json).unwrap_err().field.clone().unwrap_or_default()
    }

    #[test]
    fn accepts_full_request() {
        let full = r#"{"transaction_id":"4200000001202611220000000001","out_refund_no":"R|1*2@3",
            "reason":"商品已售完","notify_url":"https://pos.example/notify","funds_account":"AVAILABLE",
            "amount":{"refund":888,"from":[{"account":"AVAILABLE","amount":444},{"account":"UNAVAILABLE","amount":444}],
                      "total":888,"currency":"CNY"},
            "goods_detail":[{"merchant_goods_id":"G-1","wechatpay_goods_id":"1001","goods_name":"iPhone",
                             "unit_price":888,"refund_amount":888,"refund_quantity":1}]}"#;
        request(full).unwrap();
        request(GOOD).unwrap();
    }

    #[test]
    fn each_rule_names_its_field() {
        let swap = |from: &str, to: &str| GOOD.replace(from, to);
        assert_eq!(
            field_of(&swap(r#""out_trade_no":"T20261122000001","#, "")),
            "transaction_id"
        );
        assert_eq!(
            field_of(&swap(
                r#""out_trade_no""#,
                r#""transaction_id":"1","out_trade_no""#
            )),
            "transaction_id"
        );
        assert_eq!(field_of(&swap("T20261122000001", "T1")), "out_trade_no");
        assert_eq!(field_of(&swap(r#""R1""#, r#""R 1""#)), "out_refund_no");
        assert_eq!(
            field_of(&swap(r#""refund":100"#, r#""refund":0"#)),
            "amount.refund"
        );
        assert_eq!(
            field_of(&swap(r#""refund":100"#, r#""refund":10001"#)),
            "amount.refund"
        );
        assert_eq!(field_of(&swap("CNY", "USD")), "amount.currency");
        assert_eq!(
            field_of(&swap(r#""R1","#, r#""R1","reason":"😀","#)),
            "reason"
        );
        assert_eq!(
            field_of(&swap(r#""R1","#, r#""R1","funds_account":"BASIC","#)),
            "funds_account"
        );
        assert_eq!(
            field_of(&swap(
                r#""refund":100,"#,
                r#""refund":100,"from":[{"account":"AVAILABLE","amount":60}],"#
            )),
            "amount.from"
        );
        assert_eq!(
            field_of(&swap(
                r#""refund":100,"#,
                r#""refund":100,"from":[{"account":"AVAILABLE","amount":50},{"account":"AVAILABLE","amount":50}],"#
            )),
            "amount.from[1].account"
        );
    }

    #[test]
    fn unknown_fields_and_floats_are_rejected() {
        let err = request(&GOOD.replace(r#""R1","#, r#""R1","reasn":"x","#)).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidJson);
        assert!(err.message.contains("unknown field `reasn`"), "{err}");
        let err = request(&GOOD.replace("100,", "600.0,")).unwrap_err();
        assert!(err.message.contains("floating point"), "{err}");
    }

    #[test]
    fn absent_fields_are_omitted_not_null() {
        let r = request(GOOD).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("null"), "{json}");
    }
}
