//! WeChat Pay Global (cross-border) refunds, direct and institution mode
//! (PROTOCOL.md §5). Same APIv3 signing as mainland, other paths and names:
//! the refund id is `id`, a closed refund is `REFUNDCLOSE`.

use super::{
    check_charset, check_funds_split, check_notify_url, check_order_reference, check_out_refund_no,
    check_reason, check_refund_amounts, encode_path_segment, Refund, RefundQuery,
};
use crate::config::{Config, Mode, GLOBAL_BASE_URL};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::Call;
use crate::signer::Signer;
use crate::v3::ApiV3;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Apply for a Global refund: the body of `POST /v3/global/refunds` with
/// WeChat's field names. The merchant identity (`mchid`/`appid`, or
/// `sp_mchid`/`sub_mchid`/`sp_appid`/`sub_appid`) comes from the configuration;
/// `sub_mchid` and `sub_appid` may be given per request in institution mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Institution mode: the sub-merchant (defaults to the configured `sub_mchid`).
    #[serde(skip_serializing, default)]
    pub sub_mchid: Option<String>,
    /// Institution mode: the sub-merchant's app id (defaults to the configured `sub_appid`).
    #[serde(skip_serializing, default)]
    pub sub_appid: Option<String>,
    /// WeChat Pay order number; give this or `out_trade_no`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transaction_id: Option<String>,
    /// Merchant order number (1-32 characters); give this or `transaction_id`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// Merchant refund number, 1-64 of `[0-9A-Za-z_-|*@]`; reuse it for every retry.
    pub out_refund_no: String,
    /// Shown to the payer; 1-80 bytes, no emoji.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Refund funds source, e.g. `REFUND_SOURCE_UNSETTLED_FUNDS`; 1-30 characters.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    /// Refund notification URL (https).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notify_url: Option<String>,
    /// Amounts, in minor units of the order currency.
    pub amount: Amount,
}

/// `amount` of a Global refund request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Amount to refund, minor units of `currency`; at most `total`.
    pub refund: i64,
    /// Profit-sharing orders: which balances fund the refund; amounts add up to `refund`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<Vec<FundsFrom>>,
    /// The original order total.
    pub total: i64,
    /// The order (标价) currency: ISO 4217, three upper-case letters, e.g. `USD`.
    pub currency: String,
}

/// One entry of `amount.from[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundsFrom {
    /// `FUNDS_REFUNDABLE_BALANCE` or `ORDER_REFUNDABLE_BALANCE`.
    pub fund_source: String,
    /// Amount from that source.
    pub amount: i64,
}

impl RefundRequest {
    /// Checks every rule of §5.1 that can be checked before sending.
    pub fn validate(&self) -> Result<()> {
        check_order_reference(
            self.transaction_id.as_deref(),
            self.out_trade_no.as_deref(),
            1,
        )?;
        check_out_refund_no(&self.out_refund_no)?;
        if let Some(reason) = &self.reason {
            check_reason(reason)?;
        }
        if let Some(source) = &self.source {
            check_charset("source", source, 1, 30, b"_")?;
        }
        if let Some(url) = &self.notify_url {
            check_notify_url(url)?;
        }
        let amount = &self.amount;
        check_refund_amounts(amount.refund, amount.total)?;
        if amount.currency.len() != 3 || !amount.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::invalid_field(
                "amount.currency",
                "must be an ISO 4217 code of three upper-case letters, e.g. USD",
            ));
        }
        if let Some(from) = &amount.from {
            let entries = from.iter().map(|f| (f.fund_source.as_str(), f.amount));
            let allowed = ["FUNDS_REFUNDABLE_BALANCE", "ORDER_REFUNDABLE_BALANCE"];
            check_funds_split("fund_source", entries, &allowed, amount.refund)?;
        }
        Ok(())
    }
}

/// Who the request is for, as Global puts it in the body and the query string.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Identity<'a> {
    Direct {
        mchid: &'a str,
        appid: &'a str,
    },
    Institution {
        sp_mchid: &'a str,
        sub_mchid: &'a str,
        sp_appid: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        sub_appid: Option<&'a str>,
    },
}

impl Identity<'_> {
    /// The query string that names the merchant on GET requests.
    fn query_string(&self) -> String {
        match self {
            Identity::Direct { mchid, .. } => format!("mchid={mchid}"),
            Identity::Institution {
                sp_mchid,
                sub_mchid,
                ..
            } => format!("sp_mchid={sp_mchid}&sub_mchid={sub_mchid}"),
        }
    }
}

/// The apply body as sent: identity first, then the request's fields.
#[derive(Serialize)]
struct ApplyBody<'a> {
    #[serde(flatten)]
    identity: Identity<'a>,
    #[serde(flatten)]
    request: &'a RefundRequest,
}

/// The family's name in log records.
const FAMILY: &str = crate::Family::Global.name();

/// A Global refund client: one merchant or institution account.
pub(crate) struct Global {
    api: ApiV3,
    mode: Mode,
    mchid: String,
    appid: String,
    default_sub_mchid: Option<String>,
    default_sub_appid: Option<String>,
}

impl Global {
    /// The signed channel, also used to verify notifications.
    pub(crate) fn api(&self) -> &ApiV3 {
        &self.api
    }

    /// `signer`: the host's signer, instead of a key in the configuration.
    pub(crate) fn new(config: &Config, signer: Option<Arc<dyn Signer>>) -> Result<Global> {
        let api = ApiV3::new(
            config,
            GLOBAL_BASE_URL,
            "/v3/global/certificates",
            FAMILY,
            signer,
        )?;
        Ok(Global {
            api,
            mode: config.mode,
            mchid: config.mchid.clone(),
            // Checked present by `check_common` for the Global family.
            appid: config.appid.clone().unwrap_or_default(),
            default_sub_mchid: config.sub_mchid.clone(),
            default_sub_appid: config.sub_appid.clone(),
        })
    }

    /// The identity for a request that may name its own sub-merchant.
    fn identity<'a>(
        &'a self,
        sub_mchid: Option<&'a String>,
        sub_appid: Option<&'a String>,
    ) -> Result<Identity<'a>> {
        let sub_mchid = sub_mchid.or(self.default_sub_mchid.as_ref());
        let sub_appid = sub_appid.or(self.default_sub_appid.as_ref());
        match self.mode {
            Mode::Direct => {
                if sub_mchid.is_some() || sub_appid.is_some() {
                    return Err(Error::invalid_field(
                        "sub_mchid",
                        "sub_mchid and sub_appid are only allowed in institution mode",
                    ));
                }
                Ok(Identity::Direct {
                    mchid: &self.mchid,
                    appid: &self.appid,
                })
            }
            Mode::Partner => {
                let sub_mchid = sub_mchid.ok_or_else(|| {
                    Error::invalid_field(
                        "sub_mchid",
                        "required in institution mode (in the request or the configuration)",
                    )
                })?;
                check_charset("sub_mchid", sub_mchid, 1, 32, b"")?;
                if let Some(sub_appid) = sub_appid {
                    check_charset("sub_appid", sub_appid, 1, 32, b"")?;
                }
                Ok(Identity::Institution {
                    sp_mchid: &self.mchid,
                    sub_mchid,
                    sp_appid: &self.appid,
                    sub_appid: sub_appid.map(String::as_str),
                })
            }
        }
    }

    /// `POST /v3/global/refunds`. The answer has no status: [`RefundStatus::Accepted`](super::RefundStatus::Accepted).
    pub(crate) fn create(&self, request: &RefundRequest) -> Result<Refund> {
        request.validate()?;
        let body = ApplyBody {
            identity: self.identity(request.sub_mchid.as_ref(), request.sub_appid.as_ref())?,
            request,
        };
        // Serialized once: these exact bytes are signed, sent, and resent on retry.
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::new(ErrorKind::Internal, "serialize", e.to_string()))?;
        let call = Call::refund(FAMILY, &request.out_refund_no);
        call.finish(
            self.api
                .call(&call, "POST", "/v3/global/refunds", &body)
                .map(|fields| Refund::from_fields(fields, "id")),
        )
    }

    /// `GET /v3/global/refunds/id/{refund_id}` or
    /// `GET /v3/global/refunds/out-refund-no/{out_refund_no}`, with the
    /// merchant in the query string. Path segments are percent-encoded and
    /// signed exactly as sent.
    pub(crate) fn query(&self, query: &RefundQuery) -> Result<Refund> {
        let (path, reference) = match (&query.refund_id, &query.out_refund_no) {
            (Some(id), None) => {
                check_charset("refund_id", id, 1, 32, b"")?;
                (
                    format!("/v3/global/refunds/id/{}", encode_path_segment(id)),
                    ("refund_id", id.as_str()),
                )
            }
            (None, Some(no)) => {
                check_out_refund_no(no)?;
                (
                    format!(
                        "/v3/global/refunds/out-refund-no/{}",
                        encode_path_segment(no)
                    ),
                    ("out_refund_no", no.as_str()),
                )
            }
            _ => {
                return Err(Error::invalid_field(
                    "refund_id",
                    "give exactly one of refund_id and out_refund_no",
                ))
            }
        };
        let identity = self.identity(query.sub_mchid.as_ref(), None)?;
        let target = format!("{path}?{}", identity.query_string());
        let call = Call::new(FAMILY, Some(reference));
        call.finish(
            self.api
                .call(&call, "GET", &target, b"")
                .map(|fields| Refund::from_fields(fields, "id")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refund::parse_json;

    const GOOD: &str = r#"{"out_trade_no":"G20261122000001","out_refund_no":"R1",
        "amount":{"refund":100,"total":10000,"currency":"USD"}}"#;

    fn field_of(json: &str) -> String {
        parse_json::<RefundRequest>("refund request", json)
            .and_then(|r| r.validate())
            .unwrap_err()
            .field
            .clone()
            .unwrap_or_default()
    }

    #[test]
    fn rules_name_their_fields() {
        let swap = |from: &str, to: &str| GOOD.replace(from, to);
        parse_json::<RefundRequest>("r", GOOD)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(field_of(&swap("USD", "usd")), "amount.currency");
        assert_eq!(field_of(&swap("USD", "USDT")), "amount.currency");
        assert_eq!(
            field_of(&swap(r#""refund":100"#, r#""refund":-1"#)),
            "amount.refund"
        );
        assert_eq!(
            field_of(&swap(r#""refund":100"#, r#""refund":10001"#)),
            "amount.refund"
        );
        assert_eq!(
            field_of(&swap(
                r#""refund":100,"#,
                r#""refund":100,"from":[{"fund_source":"FUNDS_REFUNDABLE_BALANCE","amount":50},{"fund_source":"FUNDS_REFUNDABLE_BALANCE","amount":50}],"#
            )),
            "amount.from[1].fund_source"
        );
        assert_eq!(
            field_of(&swap(
                r#""refund":100,"#,
                r#""refund":100,"from":[{"fund_source":"ORDER_REFUNDABLE_BALANCE","amount":99}],"#
            )),
            "amount.from"
        );
        assert_eq!(
            field_of(&swap(r#""R1","#, r#""R1","source":"a b","#)),
            "source"
        );
        assert_eq!(
            field_of(&swap(
                r#""R1","#,
                r#""R1","notify_url":"http://example.com/n","#
            )),
            "notify_url"
        );
    }

    #[test]
    fn identity_fields_come_from_the_configuration() {
        let err =
            parse_json::<RefundRequest>("r", &GOOD.replace(r#""R1","#, r#""R1","mchid":"1","#))
                .unwrap_err();
        assert!(err.message.contains("unknown field `mchid`"), "{err}");
        let request: RefundRequest = parse_json("r", GOOD).unwrap();
        let direct = ApplyBody {
            identity: Identity::Direct {
                mchid: "1900000100",
                appid: "wxapp",
            },
            request: &request,
        };
        let json = serde_json::to_value(&direct).unwrap();
        assert_eq!(json["mchid"], "1900000100");
        assert_eq!(json["appid"], "wxapp");
        assert_eq!(json["amount"]["currency"], "USD");
        let institution = ApplyBody {
            identity: Identity::Institution {
                sp_mchid: "1",
                sub_mchid: "2",
                sp_appid: "a",
                sub_appid: None,
            },
            request: &RefundRequest {
                sub_mchid: Some("2".into()),
                ..request.clone()
            },
        };
        let text = serde_json::to_string(&institution).unwrap();
        assert_eq!(text.matches("sub_mchid").count(), 1, "{text}");
        assert!(
            !text.contains("sub_appid") && !text.contains("null"),
            "{text}"
        );
    }
}
