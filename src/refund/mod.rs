//! Refund families (one file each) and what they share: the response type
//! with its normalized status, and the validation rules.

pub mod domestic;
pub mod global;
pub mod wecom;

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// A refund request of any family; built from a reference to the family's
/// request type, so `client.create_refund(&request)` works for each.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CreateRefund<'a> {
    /// A mainland refund.
    Domestic(&'a domestic::RefundRequest),
    /// A WeChat Pay Global refund.
    Global(&'a global::RefundRequest),
    /// A WeCom mini-program refund.
    WeCom(&'a wecom::RefundRequest),
}

impl<'a> From<&'a wecom::RefundRequest> for CreateRefund<'a> {
    fn from(request: &'a wecom::RefundRequest) -> CreateRefund<'a> {
        CreateRefund::WeCom(request)
    }
}

impl<'a> From<&'a domestic::RefundRequest> for CreateRefund<'a> {
    fn from(request: &'a domestic::RefundRequest) -> CreateRefund<'a> {
        CreateRefund::Domestic(request)
    }
}

impl<'a> From<&'a global::RefundRequest> for CreateRefund<'a> {
    fn from(request: &'a global::RefundRequest) -> CreateRefund<'a> {
        CreateRefund::Global(request)
    }
}

/// A refund as the platform returned it, plus what is the same across families.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    /// Every field the platform sent, unchanged.
    pub fields: Map<String, Value>,
    /// The status, the same across families.
    pub status: RefundStatus,
    /// WeChat's refund id, whatever the family calls it (`refund_id`, Global's `id`).
    pub refund_id: Option<String>,
    /// Requests this call sent (retries included); 0 for a notification.
    pub attempts: u32,
    /// How long the call took, in milliseconds; 0 for a notification.
    pub elapsed_ms: u64,
}

/// Refund status normalized across families (`CLOSED` and Global's
/// `REFUNDCLOSE` are both [`RefundStatus::Closed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStatus {
    /// The platform accepted the request; the answer carried no status yet
    /// (Global and WeCom apply answers). Query for the outcome.
    Accepted,
    /// The platform is processing the refund; query again later.
    Processing,
    /// Final: the money went back.
    Success,
    /// Final: the refund was closed and will not be paid; a new attempt needs a new `out_refund_no`.
    Closed,
    /// The refund route failed (card closed or frozen); it needs action in the
    /// merchant platform or apply-abnormal-refund. Not final.
    Abnormal,
    /// A status this library does not know yet, as sent.
    Other(String),
}

impl RefundStatus {
    /// Normalizes a platform status string.
    pub fn from_platform(status: &str) -> RefundStatus {
        match status {
            "PROCESSING" => RefundStatus::Processing,
            "SUCCESS" => RefundStatus::Success,
            "CLOSED" | "REFUNDCLOSE" | "CLOSE" => RefundStatus::Closed,
            "ABNORMAL" => RefundStatus::Abnormal,
            other => RefundStatus::Other(other.to_string()),
        }
    }

    /// The normalized name: `ACCEPTED`, `PROCESSING`, `SUCCESS`, `CLOSED`,
    /// `ABNORMAL`, or the platform's own.
    pub fn name(&self) -> &str {
        match self {
            RefundStatus::Accepted => "ACCEPTED",
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Closed => "CLOSED",
            RefundStatus::Abnormal => "ABNORMAL",
            RefundStatus::Other(other) => other,
        }
    }

    /// True when the status can no longer change: `SUCCESS` or `CLOSED`.
    pub fn is_final(&self) -> bool {
        matches!(self, RefundStatus::Success | RefundStatus::Closed)
    }

    /// True while the outcome is still coming: `ACCEPTED` or `PROCESSING`. Keep querying.
    pub fn is_pending(&self) -> bool {
        matches!(self, RefundStatus::Accepted | RefundStatus::Processing)
    }
}

impl Refund {
    /// Wraps a platform object: its status is in `status`, its WeChat refund
    /// id in `id_field`. No status means the request was only accepted.
    pub(crate) fn from_fields(fields: Map<String, Value>, id_field: &str) -> Refund {
        Refund::from_fields_named(fields, id_field, "status")
    }

    /// As [`Refund::from_fields`], with the status in `status_field`
    /// (notifications call it `refund_status`).
    pub(crate) fn from_fields_named(
        fields: Map<String, Value>,
        id_field: &str,
        status_field: &str,
    ) -> Refund {
        let text = |name: &str| fields.get(name).and_then(Value::as_str);
        let status = text(status_field).map_or(RefundStatus::Accepted, RefundStatus::from_platform);
        let refund_id = text(id_field).map(str::to_string);
        Refund {
            status,
            refund_id,
            fields,
            attempts: 0,
            elapsed_ms: 0,
        }
    }

    /// A string field of the platform's answer.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// The platform's fields plus `"wxrefund": {"status", "final",
    /// "action_required", "refund_id", "attempts", "elapsed_ms"}`.
    pub fn to_json(&self) -> Value {
        let mut object = self.fields.clone();
        object.insert(
            "wxrefund".into(),
            json!({
                "status": self.status.name(),
                "refund_id": self.refund_id,
                "final": self.status.is_final(),
                "action_required": self.status == RefundStatus::Abnormal,
                "attempts": self.attempts,
                "elapsed_ms": self.elapsed_ms,
            }),
        );
        Value::Object(object)
    }
}

/// Which refund to query: by `out_refund_no` (every family) or by WeChat's
/// `refund_id` (Global only). Give exactly one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundQuery {
    /// The merchant's refund number.
    #[serde(default)]
    pub out_refund_no: Option<String>,
    /// WeChat's refund id (Global: the `id` of the apply answer).
    #[serde(default)]
    pub refund_id: Option<String>,
    /// Partner/institution mode: the sub-merchant (defaults to the configured `sub_mchid`).
    #[serde(default)]
    pub sub_mchid: Option<String>,
}

impl RefundQuery {
    /// A query by merchant refund number.
    pub fn by_out_refund_no(out_refund_no: &str) -> RefundQuery {
        RefundQuery {
            out_refund_no: Some(out_refund_no.into()),
            ..RefundQuery::default()
        }
    }

    /// A query by WeChat refund id (Global).
    pub fn by_refund_id(refund_id: &str) -> RefundQuery {
        RefundQuery {
            refund_id: Some(refund_id.into()),
            ..RefundQuery::default()
        }
    }
}

/// Parses request JSON into `T`, rejecting unknown fields and oversize input.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    if json.len() > crate::config::MAX_JSON_BYTES {
        return Err(Error::new(
            crate::ErrorKind::InvalidJson,
            "too_large",
            format!(
                "{what} JSON is larger than {} bytes",
                crate::config::MAX_JSON_BYTES
            ),
        ));
    }
    let mut json = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut json).map_err(|e| Error::json(what, &e))
}

/// `out_refund_no`: 1-64 characters of `[0-9A-Za-z_-|*@]` (§4.2).
pub(crate) fn check_out_refund_no(value: &str) -> Result<()> {
    check_charset("out_refund_no", value, 1, 64, b"_-|*@")
}

/// `[min, max]` characters, each ASCII alphanumeric or one of `extra`.
pub(crate) fn check_charset(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
    extra: &[u8],
) -> Result<()> {
    if value.len() < min || value.len() > max {
        return Err(Error::invalid_field(
            field,
            format!("length must be {min}-{max} (got {})", value.len()),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || (c.is_ascii() && extra.contains(&(*c as u8)))))
    {
        let allowed: String = extra.iter().map(|&b| b as char).collect();
        return Err(Error::invalid_field(
            field,
            format!("character {bad:?} not allowed; use 0-9 A-Z a-z and {allowed}"),
        ));
    }
    Ok(())
}

/// `reason`: 1-80 bytes of UTF-8, no 4-byte characters such as emoji (§1.6, §4.2).
pub(crate) fn check_reason(value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 80 {
        return Err(Error::invalid_field(
            "reason",
            format!("must be 1-80 bytes of UTF-8 (got {})", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.len_utf8() == 4) {
        return Err(Error::invalid_field(
            "reason",
            format!(
                "4-byte UTF-8 characters such as emoji are not allowed (found U+{:X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// `notify_url`: an absolute `https://` URL of 8-256 bytes without query
/// (§3.4); plain `http://` only on loopback, for the simulator.
pub(crate) fn check_notify_url(value: &str) -> Result<()> {
    if value.len() < 8 || value.len() > 256 {
        return Err(Error::invalid_field("notify_url", "length must be 8-256"));
    }
    crate::config::parse_url(value).map_err(|rule| Error::invalid_field("notify_url", rule))?;
    if value.contains(['?', '#', ' ']) {
        return Err(Error::invalid_field(
            "notify_url",
            "must not carry a query string, fragment or spaces",
        ));
    }
    Ok(())
}

/// `transaction_id` (1-32 letters or digits) or `out_trade_no` (`min`-32
/// characters), exactly one of them.
pub(crate) fn check_order_reference(
    transaction_id: Option<&str>,
    out_trade_no: Option<&str>,
    out_trade_no_min: usize,
) -> Result<()> {
    match (transaction_id, out_trade_no) {
        (None, None) => Err(Error::invalid_field(
            "transaction_id",
            "give transaction_id or out_trade_no",
        )),
        (Some(_), Some(_)) => Err(Error::invalid_field(
            "transaction_id",
            "give only one of transaction_id and out_trade_no",
        )),
        (Some(id), None) => check_charset("transaction_id", id, 1, 32, b""),
        (None, Some(no)) => check_charset("out_trade_no", no, out_trade_no_min, 32, b"_-|*"),
    }
}

/// `amount.refund` and `amount.total` positive, and refund <= total.
pub(crate) fn check_refund_amounts(refund: i64, total: i64) -> Result<()> {
    check_positive("amount.refund", refund)?;
    check_positive("amount.total", total)?;
    if refund > total {
        return Err(Error::invalid_field(
            "amount.refund",
            format!("must not exceed amount.total ({refund} > {total})"),
        ));
    }
    Ok(())
}

/// `amount.from[]`: each source named by `key` is one of `allowed` and appears
/// once, each amount is positive, and together they add up to `refund`.
pub(crate) fn check_funds_split<'a>(
    key: &str,
    entries: impl Iterator<Item = (&'a str, i64)>,
    allowed: &[&str],
    refund: i64,
) -> Result<()> {
    let mut seen = HashSet::new();
    let mut sum: i64 = 0;
    for (i, (source, amount)) in entries.enumerate() {
        let field = format!("amount.from[{i}]");
        if !allowed.contains(&source) {
            return Err(Error::invalid_field(
                format!("{field}.{key}"),
                format!("must be one of {}", allowed.join(", ")),
            ));
        }
        if !seen.insert(source) {
            return Err(Error::invalid_field(
                format!("{field}.{key}"),
                "each source may appear only once",
            ));
        }
        check_positive(&format!("{field}.amount"), amount)?;
        sum = sum.checked_add(amount).ok_or_else(|| {
            Error::invalid_field(
                "amount.from",
                "the amounts add up to more than any refund can be",
            )
        })?;
    }
    if sum != refund {
        return Err(Error::invalid_field(
            "amount.from",
            format!("amounts must add up to amount.refund ({sum} != {refund})"),
        ));
    }
    Ok(())
}

/// A positive amount in minor units.
pub(crate) fn check_positive(field: &str, value: i64) -> Result<()> {
    if value <= 0 {
        return Err(Error::invalid_field(
            field,
            format!("must be a positive integer in minor units (got {value})"),
        ));
    }
    Ok(())
}

/// Percent-encodes one path segment: everything but `A-Za-z0-9-._~`.
pub(crate) fn encode_path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_refund_no_rules() {
        assert!(check_out_refund_no("R|2*3@4_5-6").is_ok());
        assert!(check_out_refund_no(&"a".repeat(64)).is_ok());
        let err = check_out_refund_no(&"a".repeat(65)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("out_refund_no"));
        assert!(err.message.contains("1-64"));
        assert!(check_out_refund_no("").is_err());
        assert!(check_out_refund_no("R 1")
            .unwrap_err()
            .message
            .contains("' '"));
        assert!(check_out_refund_no("退款1").is_err());
    }

    #[test]
    fn reason_rules() {
        assert!(check_reason("商品已售完").is_ok());
        assert!(check_reason(&"退".repeat(26)).is_ok()); // 78 bytes
        assert!(check_reason(&"退".repeat(27)).is_err()); // 81 bytes
        assert!(check_reason("").is_err());
        let err = check_reason("thanks 😀").unwrap_err();
        assert!(err.message.contains("U+1F600"), "{err}");
    }

    #[test]
    fn notify_url_rules() {
        assert!(check_notify_url("https://pos.example/refund").is_ok());
        assert!(check_notify_url("http://127.0.0.1:8080/refund").is_ok());
        assert!(check_notify_url("http://pos.example/refund").is_err());
        assert!(check_notify_url("https://pos.example/refund?x=1").is_err());
        assert!(check_notify_url("ftp://pos.example/refund").is_err());
        assert!(check_notify_url("https:/").is_err());
        // Finding 6: userinfo hid a plain-http request to another host.
        for bad in [
            "http://localhost:1@evil.example/notify",
            "https://user:pass@pos.example/notify",
            "http://127.0.0.1.evil.example/notify",
        ] {
            let err = check_notify_url(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("notify_url"), "{bad}");
            assert!(!err.message.contains("evil"), "{bad}: {err}");
        }
        assert!(check_notify_url("http://[::1]:8080/refund").is_ok());
        assert!(check_notify_url("http://localhost/refund").is_ok());
    }

    #[test]
    fn funds_split_sums_are_checked_not_saturated() {
        // Finding 7: saturation made [MAX, MAX] "add up" to a refund of MAX.
        let entries = [("AVAILABLE", i64::MAX), ("UNAVAILABLE", i64::MAX)];
        let err = check_funds_split(
            "account",
            entries.into_iter(),
            &["AVAILABLE", "UNAVAILABLE"],
            i64::MAX,
        )
        .unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidRequest);
        assert_eq!(err.field.as_deref(), Some("amount.from"));
        let fine = [("AVAILABLE", 60), ("UNAVAILABLE", 40)];
        check_funds_split(
            "account",
            fine.into_iter(),
            &["AVAILABLE", "UNAVAILABLE"],
            100,
        )
        .unwrap();
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path_segment("R|1*2@3"), "R%7C1%2A2%403");
        assert_eq!(encode_path_segment("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn statuses_normalize() {
        assert_eq!(
            RefundStatus::from_platform("REFUNDCLOSE"),
            RefundStatus::Closed
        );
        assert_eq!(RefundStatus::from_platform("CLOSED"), RefundStatus::Closed);
        assert!(RefundStatus::from_platform("SUCCESS").is_final());
        assert!(!RefundStatus::from_platform("ABNORMAL").is_final());
        assert_eq!(RefundStatus::from_platform("NEW").name(), "NEW");
    }
}
