//! WeChat Pay Global (cross-border) refunds: request checks, rules, currency conversion and
//! the Global refund objects (PROTOCOL §5), independent of HTTP. Storage and the limits
//! shared with mainland refunds live in [`crate::book`].
//!
//! Two merchant modes: direct (`mchid`/`appid`) and institution (`sp_mchid`/`sub_mchid`/
//! `sp_appid`). The `Authorization` mchid is the merchant (or institution) [`MCHID`] in both.

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::book::{notice, pick, Book, RefundRecord, RefundViews};
use crate::clock::rfc3339_cst;
use crate::error::ApiError;
use crate::fields::{
    amount_from, amount_object, currency, json_object, optional_str_len, order_reference,
    out_refund_no, positive_amount, reason_and_notify_url, required_str_len,
};
use crate::http::query_param;
use crate::keys::MCHID;
use crate::GlobalOrder;

/// Exchange rates are integers: the ratio × 10^8.
const RATE_SCALE: i128 = 100_000_000;
/// Body fields of a direct-mode apply.
const DIRECT_FIELDS: [&str; 2] = ["mchid", "appid"];
/// Body fields of an institution-mode apply.
const INSTITUTION_FIELDS: [&str; 4] = ["sp_mchid", "sub_mchid", "sp_appid", "sub_appid"];

/// A validated Global apply-refund request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GlobalApplyRequest {
    /// `None` in direct mode; the sub-merchant in institution mode.
    pub(crate) sub_mchid: Option<String>,
    pub(crate) transaction_id: Option<String>,
    pub(crate) out_trade_no: Option<String>,
    pub(crate) out_refund_no: String,
    pub(crate) refund: i64,
    pub(crate) total: i64,
    pub(crate) currency: String,
    /// `amount.from` as given (an array), or an empty array.
    pub(crate) from: Value,
    /// Where to notify the refund's final state.
    pub(crate) notify_url: Option<String>,
}

/// Refuses a body merchant number other than the one that signed the request.
fn check_merchant(mchid: &str, path: &str) -> Result<(), ApiError> {
    if mchid == MCHID {
        Ok(())
    } else {
        Err(ApiError::param(
            path,
            &json!(mchid),
            "与请求头Authorization中的商户号不一致",
        ))
    }
}

/// The merchant fields of an apply body; returns the sub-merchant in institution mode.
fn parse_mode(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let direct = DIRECT_FIELDS.iter().any(|f| obj.contains_key(*f));
    let institution = INSTITUTION_FIELDS.iter().find(|f| obj.contains_key(**f));
    match institution {
        Some(field) if direct => Err(ApiError::param(
            &format!("/{field}"),
            obj.get(*field).unwrap_or(&Value::Null),
            "直连模式与机构模式的商户字段不能同时传",
        )),
        Some(_) => {
            let sp_mchid = required_str_len(obj, "sp_mchid", 1, 32)?;
            check_merchant(&sp_mchid, "/sp_mchid")?;
            let sub_mchid = required_str_len(obj, "sub_mchid", 1, 32)?;
            required_str_len(obj, "sp_appid", 1, 32)?;
            optional_str_len(obj, "sub_appid", 1, 32)?;
            Ok(Some(sub_mchid))
        }
        None => {
            let mchid = required_str_len(obj, "mchid", 1, 32)?;
            check_merchant(&mchid, "/mchid")?;
            required_str_len(obj, "appid", 1, 32)?;
            Ok(None)
        }
    }
}

/// Parses and validates a Global apply-refund body, answering PARAM_ERROR like the platform.
pub(crate) fn parse_global_apply(body: &[u8]) -> Result<GlobalApplyRequest, ApiError> {
    let obj = json_object(body)?;
    let sub_mchid = parse_mode(&obj)?;
    let (transaction_id, out_trade_no) = order_reference(&obj, 1)?;
    let out_refund_no = out_refund_no(&obj)?;
    let notify_url = reason_and_notify_url(&obj)?;
    optional_str_len(&obj, "source", 1, 30)?;

    let amount = amount_object(&obj)?;
    let refund = positive_amount(amount, "refund", "/amount/refund")?;
    let total = positive_amount(amount, "total", "/amount/total")?;
    let currency = currency(amount, 16)?;
    let from = amount_from(
        amount,
        "fund_source",
        &["FUNDS_REFUNDABLE_BALANCE", "ORDER_REFUNDABLE_BALANCE"],
        refund,
    )?;

    Ok(GlobalApplyRequest {
        sub_mchid,
        transaction_id,
        out_trade_no,
        out_refund_no,
        refund,
        total,
        currency,
        from,
        notify_url,
    })
}

/// Which refund a query names (the path segment, already percent-decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefundKey<'a> {
    /// `/v3/global/refunds/id/{refund_id}`.
    Id(&'a str),
    /// `/v3/global/refunds/out-refund-no/{out_refund_no}`.
    OutRefundNo(&'a str),
}

/// The merchant a query is made for, from its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryScope {
    /// `mchid` (direct) or `sp_mchid` (institution).
    pub(crate) mchid: String,
    /// `None` in direct mode.
    pub(crate) sub_mchid: Option<String>,
}

/// Reads the query string of a Global query: `mchid=..` (direct) or
/// `sp_mchid=..&sub_mchid=..` (institution).
pub(crate) fn parse_query_scope(query: Option<&str>) -> Result<QueryScope, ApiError> {
    let param = |name: &str| match query_param(query, name) {
        None => Ok(None),
        Some(Some(value)) => Ok(Some(value)),
        Some(None) => Err(ApiError::param_at(name, &Value::Null, "编码错误", "query")),
    };
    let missing =
        |name: &str| ApiError::param_at(name, &Value::Null, format!("缺少{name}"), "query");
    match (param("mchid")?, param("sp_mchid")?, param("sub_mchid")?) {
        (Some(mchid), None, None) => Ok(QueryScope {
            mchid,
            sub_mchid: None,
        }),
        (Some(_), _, _) => Err(ApiError::param_at(
            "mchid",
            &Value::Null,
            "直连模式与机构模式的参数不能同时传",
            "query",
        )),
        (None, Some(sp_mchid), Some(sub_mchid)) => Ok(QueryScope {
            mchid: sp_mchid,
            sub_mchid: Some(sub_mchid),
        }),
        (None, Some(_), None) => Err(missing("sub_mchid")),
        (None, None, Some(_)) => Err(missing("sp_mchid")),
        (None, None, None) => Err(missing("mchid")),
    }
}

/// `amount` (minor units) × `rate` / 10^8, rounded half up.
fn convert(amount: i64, rate: i64) -> i64 {
    let scaled = i128::from(amount) * i128::from(rate);
    let rounded = (scaled + RATE_SCALE / 2).div_euclid(RATE_SCALE);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// `amount` in `to`: converted with the order's rate unless `to` is the order currency.
fn in_currency(order: &GlobalOrder, amount: i64, to: &str) -> i64 {
    if to == order.currency {
        amount
    } else {
        convert(amount, order.rate)
    }
}

/// All Global orders and refunds of the simulated merchant and its sub-merchants.
#[derive(Debug)]
pub(crate) struct GlobalLedger {
    book: Book<GlobalOrder>,
}

impl GlobalLedger {
    /// An empty ledger with the given settlement delay and spacing rule.
    pub(crate) fn new(settle_after: Duration, enforce_order_spacing: bool) -> GlobalLedger {
        GlobalLedger {
            book: Book::new(settle_after, enforce_order_spacing),
        }
    }

    /// Adds (or replaces) an order, keyed by `out_trade_no`.
    pub(crate) fn add_order(&mut self, order: GlobalOrder) {
        self.book.add_order(order);
    }

    /// Applies for a refund, enforcing the platform's rules; returns the apply answer.
    pub(crate) fn apply(
        &mut self,
        req: &GlobalApplyRequest,
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let order = self
            .book
            .find_order(
                req.transaction_id.as_deref(),
                req.out_trade_no.as_deref(),
                ApiError::new(404, "ORDER_NOT_EXIST", "订单不存在"),
            )?
            .clone();

        if order.sub_mchid != req.sub_mchid {
            let message = match (&order.sub_mchid, &req.sub_mchid) {
                (None, _) => "直连商户订单不能以机构模式退款",
                (Some(_), None) => "机构订单不能以直连模式退款",
                (Some(_), Some(_)) => "子商户号和订单信息不匹配",
            };
            return Err(ApiError::new(403, "NO_AUTH", message));
        }

        // Idempotency: a retry with the same refund number returns the original refund.
        if let Some(existing) =
            self.book
                .retry_of(&req.out_refund_no, &order.out_trade_no, req.refund)?
        {
            return Ok(apply_answer(existing));
        }
        if req.currency != order.currency {
            return Err(ApiError::param(
                "/amount/currency",
                &json!(req.currency),
                format!("退款币种须与订单币种{}一致", order.currency),
            ));
        }
        if req.total != order.total {
            return Err(ApiError::param(
                "/amount/total",
                &json!(req.total),
                "订单金额与原订单不一致",
            ));
        }
        let record = self.book.open(
            order,
            &req.out_refund_no,
            req.refund,
            &req.from,
            req.notify_url.as_deref(),
            now,
        )?;
        Ok(apply_answer(&record))
    }

    /// Queries a refund. It must belong to the merchant (and sub-merchant) in `scope`;
    /// anything else looks like an unknown refund.
    pub(crate) fn query(
        &self,
        key: RefundKey<'_>,
        scope: &QueryScope,
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let record = match key {
            RefundKey::Id(id) => self.book.refund_by_id(id),
            RefundKey::OutRefundNo(no) => self.book.refund(no),
        };
        record
            .filter(|r| scope.mchid == MCHID && r.order.sub_mchid == scope.sub_mchid)
            .map(|r| self.render(r, now))
            .ok_or_else(|| ApiError::new(404, "REFUND_NOT_EXIST", "退款单不存在"))
    }
}

impl RefundViews<GlobalOrder> for GlobalLedger {
    fn book(&self) -> &Book<GlobalOrder> {
        &self.book
    }

    fn book_mut(&mut self) -> &mut Book<GlobalOrder> {
        &mut self.book
    }

    /// The Global query answer (PROTOCOL §5.2).
    fn render(&self, record: &RefundRecord<GlobalOrder>, now: SystemTime) -> Value {
        let order = &record.order;
        let mut amount = payer_amount(record);
        amount["settlement_refund"] = json!(in_currency(
            order,
            record.refund,
            &order.settlement_currency
        ));
        amount["settlement_currency"] = json!(order.settlement_currency);
        amount["from"] = record.from.clone();
        let mut refund = json!({
            "id": record.refund_id,
            "out_refund_no": record.out_refund_no,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL",
            "recv_account": "支付用户零钱",
            "fund_source": "REFUND_SOURCE_UNSETTLED_FUNDS",
            "create_time": rfc3339_cst(record.created),
            "amount": amount,
            "detail": [],
        });
        self.book
            .set_status(&mut refund, record, now, "REFUNDCLOSE");
        refund
    }

    /// The Global refund notification: the query's fields, institution refunds naming
    /// `sp_mchid` and `sub_mchid`.
    fn notification(&self, record: &RefundRecord<GlobalOrder>, now: SystemTime) -> Value {
        let refund = self.render(record, now);
        let amount = pick(
            &refund["amount"],
            &[
                "refund",
                "currency",
                "payer_refund",
                "payer_currency",
                "settlement_refund",
                "settlement_currency",
            ],
        );
        notice(
            &refund,
            &[
                "id",
                "out_refund_no",
                "transaction_id",
                "out_trade_no",
                "success_time",
                "recv_account",
            ],
            Value::Object(amount),
            MCHID,
            record.order.sub_mchid.as_deref(),
        )
    }
}

/// The apply answer (PROTOCOL §5.1): no status, no settlement amounts.
fn apply_answer(record: &RefundRecord<GlobalOrder>) -> Value {
    json!({
        "id": record.refund_id,
        "out_refund_no": record.out_refund_no,
        "create_time": rfc3339_cst(record.created),
        "amount": payer_amount(record),
        "detail": [],
    })
}

/// The `amount` fields apply and query share: refund, payer side and exchange rate.
fn payer_amount(record: &RefundRecord<GlobalOrder>) -> Value {
    let order = &record.order;
    let rate_type = if order.payer_currency == order.currency {
        "SETTLEMENT_RATE"
    } else {
        "USERPAYMENT_RATE"
    };
    json!({
        "refund": record.refund,
        "currency": order.currency,
        "payer_refund": in_currency(order, record.refund, &order.payer_currency),
        "payer_currency": order.payer_currency,
        "exchange_rate": {"type": rate_type, "rate": order.rate},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FinalStatus;

    const SETTLE: Duration = Duration::from_millis(300);
    const INSTITUTION: &str = "1900000209";

    fn order(no: &str, total: i64, currencies: [&str; 3], rate: i64) -> GlobalOrder {
        crate::direct_global_order(no, &format!("42{no}"), total, currencies, rate)
    }

    fn ledger() -> GlobalLedger {
        let mut l = GlobalLedger::new(SETTLE, false);
        l.add_order(order("G1", 10000, ["USD", "CNY", "HKD"], 780_000_000));
        l.add_order(GlobalOrder {
            final_status: FinalStatus::Closed,
            ..order("G2", 5000, ["HKD", "HKD", "HKD"], 100_000_000)
        });
        l.add_order(GlobalOrder {
            sub_mchid: Some(INSTITUTION.to_string()),
            ..order("G9", 20000, ["EUR", "CNY", "EUR"], 100_000_000)
        });
        l
    }

    /// A direct-mode body; `extra` fields are merged in (JSON `null` removes one).
    fn raw(out_refund_no: &str, out_trade_no: &str, refund: i64, extra: Value) -> Value {
        let mut body = json!({
            "mchid": MCHID,
            "appid": "wxd678efh567hg6787",
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "amount": {"refund": refund, "total": 10000, "currency": "USD"},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    body.remove(k);
                } else {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        body
    }

    fn parse(body: &Value) -> Result<GlobalApplyRequest, ApiError> {
        parse_global_apply(body.to_string().as_bytes())
    }

    /// A direct-mode request with the given amount fields.
    fn priced(
        out_refund_no: &str,
        out_trade_no: &str,
        refund: i64,
        total: i64,
        currency: &str,
    ) -> GlobalApplyRequest {
        let amount = json!({"amount": {"refund": refund, "total": total, "currency": currency}});
        parse(&raw(out_refund_no, out_trade_no, refund, amount)).expect("valid body")
    }

    fn req(out_refund_no: &str, out_trade_no: &str, refund: i64) -> GlobalApplyRequest {
        parse(&raw(out_refund_no, out_trade_no, refund, json!({}))).expect("valid body")
    }

    fn institution_req(out_refund_no: &str, sub_mchid: &str) -> GlobalApplyRequest {
        let body = raw(
            out_refund_no,
            "G9",
            100,
            json!({
                "mchid": null, "appid": null,
                "sp_mchid": MCHID, "sub_mchid": sub_mchid, "sp_appid": "wxd678efh567hg6787",
                "amount": {"refund": 100, "total": 20000, "currency": "EUR"},
            }),
        );
        parse(&body).expect("valid institution body")
    }

    fn direct() -> QueryScope {
        QueryScope {
            mchid: MCHID.to_string(),
            sub_mchid: None,
        }
    }

    #[test]
    fn apply_answer_converts_with_the_payment_rate() {
        let mut l = ledger();
        let now = SystemTime::now();
        let answer = l.apply(&req("R1", "G1", 1234), now).expect("accepted");
        assert!(answer.get("status").is_none());
        assert_eq!(answer["out_refund_no"], "R1");
        assert!(answer["id"]
            .as_str()
            .is_some_and(|id| id.len() == 30 && id.starts_with("50")));
        // 1234 × 7.8 = 9625.2 → 9625.
        assert_eq!(
            answer["amount"],
            json!({"refund": 1234, "currency": "USD", "payer_refund": 9625,
                   "payer_currency": "CNY",
                   "exchange_rate": {"type": "USERPAYMENT_RATE", "rate": 780_000_000}})
        );
        assert_eq!(answer["detail"], json!([]));

        let refund = l
            .query(RefundKey::OutRefundNo("R1"), &direct(), now)
            .expect("found");
        assert_eq!(refund["status"], "PROCESSING");
        assert_eq!(refund["amount"]["settlement_refund"], 9625);
        assert_eq!(refund["amount"]["settlement_currency"], "HKD");
        assert_eq!(refund["recv_account"], "支付用户零钱");
        assert_eq!(refund["fund_source"], "REFUND_SOURCE_UNSETTLED_FUNDS");
        let id = answer["id"].as_str().unwrap_or_default();
        assert_eq!(l.query(RefundKey::Id(id), &direct(), now), Ok(refund));
    }

    #[test]
    fn conversion_rounds_half_up_and_same_currency_is_not_converted() {
        assert_eq!(convert(1, 50_000_000), 1); // 0.5 → 1
        assert_eq!(convert(1, 49_999_999), 0);
        assert_eq!(convert(3, 650_000_000), 20); // 19.5 → 20
        assert_eq!(convert(i64::MAX, 200_000_000), i64::MAX);

        let mut l = ledger();
        l.add_order(order("G5", 1000, ["CNY", "CNY", "HKD"], 86_500_000));
        let now = SystemTime::now();
        let body = priced("S1", "G5", 500, 1000, "CNY");
        let answer = l.apply(&body, now).expect("ok");
        assert_eq!(answer["amount"]["payer_refund"], 500);
        assert_eq!(answer["amount"]["exchange_rate"]["type"], "SETTLEMENT_RATE");
        let refund = l
            .query(RefundKey::OutRefundNo("S1"), &direct(), now)
            .expect("found");
        // 500 × 0.865 = 432.5 → 433.
        assert_eq!(refund["amount"]["settlement_refund"], 433);
    }

    #[test]
    fn same_refund_number_is_idempotent() {
        let mut l = ledger();
        let now = SystemTime::now();
        let first = l.apply(&req("R1", "G1", 300), now).expect("accepted");
        let again = l.apply(&req("R1", "G1", 300), now).expect("idempotent");
        assert_eq!(first, again);
        assert_eq!(l.refunds_for_order("G1", now).len(), 1);

        let err = l
            .apply(&req("R1", "G1", 301), now)
            .expect_err("other amount");
        assert_eq!((err.status, err.code), (400, "INVALID_REQUEST"));
        let body = priced("R1", "G2", 300, 5000, "HKD");
        let err = l.apply(&body, now).expect_err("other order");
        assert_eq!(err.code, "INVALID_REQUEST");
        assert_eq!(l.refunds_for_order("G1", now).len(), 1);
        assert!(l.refunds_for_order("G2", now).is_empty());
    }

    #[test]
    fn currency_total_and_refundable_amount() {
        let mut l = ledger();
        let now = SystemTime::now();
        let body = priced("R1", "G1", 100, 10000, "CNY");
        let err = l.apply(&body, now).expect_err("currency");
        assert_eq!((err.status, err.code), (400, "PARAM_ERROR"));
        assert_eq!(
            err.detail.map(|d| d["field"].clone()),
            Some(json!("/amount/currency"))
        );

        let body = priced("R1", "G1", 100, 9999, "USD");
        let err = l.apply(&body, now).expect_err("total");
        assert_eq!(err.code, "PARAM_ERROR");
        assert_eq!(
            err.detail.map(|d| d["field"].clone()),
            Some(json!("/amount/total"))
        );

        l.apply(&req("R1", "G1", 7000), now).expect("first");
        let err = l.apply(&req("R2", "G1", 3001), now).expect_err("too much");
        assert!(err.message.contains("可退金额"));
        l.apply(&req("R2", "G1", 3000), now)
            .expect("exactly the rest");

        let err = l.apply(&req("R3", "G404", 1), now).expect_err("unknown");
        assert_eq!((err.status, err.code), (404, "ORDER_NOT_EXIST"));
        let body = raw(
            "R3",
            "G1",
            1,
            json!({"out_trade_no": null, "transaction_id": "42G404"}),
        );
        let err = l
            .apply(&parse(&body).expect("valid"), now)
            .expect_err("unknown tx");
        assert_eq!(err.code, "ORDER_NOT_EXIST");
    }

    #[test]
    fn closed_refunds_settle_as_refundclose_and_release_their_amount() {
        let mut l = ledger();
        let t0 = SystemTime::now();
        let full = |no: &str| priced(no, "G2", 5000, 5000, "HKD");
        l.apply(&full("C1"), t0).expect("accepted");
        assert_eq!(
            l.apply(&full("C2"), t0).expect_err("held").code,
            "INVALID_REQUEST"
        );
        let later = t0 + SETTLE;
        let closed = l
            .query(RefundKey::OutRefundNo("C1"), &direct(), later)
            .expect("found");
        assert_eq!(closed["status"], "REFUNDCLOSE");
        assert!(closed.get("success_time").is_none());
        l.apply(&full("C2"), later).expect("amount released");

        l.apply(&req("S1", "G1", 1), t0).expect("accepted");
        let settled = l
            .query(RefundKey::OutRefundNo("S1"), &direct(), later)
            .expect("found");
        assert_eq!(settled["status"], "SUCCESS");
        assert!(settled["success_time"].is_string());
    }

    #[test]
    fn window_count_and_spacing_limits() {
        let mut l = GlobalLedger::new(SETTLE, true);
        l.add_order(GlobalOrder {
            paid_at: SystemTime::now() - Duration::from_secs(400 * 86_400),
            ..order("G3", 10000, ["USD", "CNY", "HKD"], 780_000_000)
        });
        l.add_order(order("G4", 10000, ["USD", "CNY", "HKD"], 780_000_000));
        let now = SystemTime::now();
        let err = l.apply(&req("O1", "G3", 1), now).expect_err("too old");
        assert!(err.message.contains("期限"));
        l.apply(&req("P1", "G4", 1), now).expect("first");
        let err = l.apply(&req("P2", "G4", 1), now).expect_err("spacing");
        assert_eq!((err.status, err.code), (429, "FREQUENCY_LIMITED"));
        l.apply(&req("P1", "G4", 1), now).expect("idempotent retry");

        let mut l = ledger();
        for i in 0..50 {
            l.apply(&req(&format!("N{i}"), "G1", 1), now)
                .expect("within limit");
        }
        let err = l.apply(&req("N50", "G1", 1), now).expect_err("51st");
        assert_eq!(err.code, "INVALID_REQUEST");
    }

    #[test]
    fn institution_and_direct_orders_stay_apart() {
        let mut l = ledger();
        let now = SystemTime::now();
        let err = l
            .apply(&institution_req("I1", "1900000999"), now)
            .expect_err("wrong sub-merchant");
        assert_eq!((err.status, err.code), (403, "NO_AUTH"));
        let answer = l
            .apply(&institution_req("I1", INSTITUTION), now)
            .expect("matching sub-merchant");
        assert_eq!(answer["amount"]["payer_refund"], 100);

        // The institution order refused in direct mode, a direct order in institution mode.
        let body = priced("I2", "G9", 100, 20000, "EUR");
        let err = l.apply(&body, now).expect_err("direct");
        assert_eq!(err.code, "NO_AUTH");
        let mut to_direct = institution_req("I3", INSTITUTION);
        to_direct.out_trade_no = Some("G1".to_string());
        assert_eq!(l.apply(&to_direct, now).expect_err("x").code, "NO_AUTH");

        // Queries need the matching scope; anything else is an unknown refund.
        let scope = |mchid: &str, sub: Option<&str>| QueryScope {
            mchid: mchid.to_string(),
            sub_mchid: sub.map(str::to_string),
        };
        let key = RefundKey::OutRefundNo("I1");
        l.query(key, &scope(MCHID, Some(INSTITUTION)), now)
            .expect("found");
        for wrong in [
            scope(MCHID, None),
            scope(MCHID, Some("1900000999")),
            scope("1900000999", Some(INSTITUTION)),
        ] {
            let err = l.query(key, &wrong, now).expect_err("hidden");
            assert_eq!((err.status, err.code), (404, "REFUND_NOT_EXIST"));
        }
        l.apply(&req("D1", "G1", 1), now).expect("direct");
        let err = l
            .query(
                RefundKey::OutRefundNo("D1"),
                &scope(MCHID, Some(INSTITUTION)),
                now,
            )
            .expect_err("direct refund, institution scope");
        assert_eq!(err.code, "REFUND_NOT_EXIST");
        assert_eq!(
            l.query(RefundKey::Id("50000"), &direct(), now)
                .expect_err("unknown id")
                .code,
            "REFUND_NOT_EXIST"
        );
    }

    #[test]
    fn body_validation() {
        let field = |body: Value| {
            let err = parse(&body).expect_err("invalid");
            assert_eq!((err.status, err.code), (400, "PARAM_ERROR"), "{body}");
            err.detail.map(|d| d["field"].clone())
        };
        let at = |path: &str| Some(json!(path));
        assert_eq!(
            field(raw("R1", "G1", 1, json!({"mchid": "1900000999"}))),
            at("/mchid")
        );
        assert_eq!(
            field(raw("R1", "G1", 1, json!({"mchid": null}))),
            at("/mchid")
        );
        assert_eq!(
            field(raw("R1", "G1", 1, json!({"appid": null}))),
            at("/appid")
        );
        assert_eq!(
            field(raw("R1", "G1", 1, json!({"sub_mchid": INSTITUTION}))),
            at("/sub_mchid")
        );
        let institution = json!({
            "mchid": null, "appid": null,
            "sp_mchid": MCHID, "sub_mchid": INSTITUTION, "sp_appid": "wx1",
        });
        let without = |name: &str| {
            let mut extra = institution.clone();
            extra[name] = Value::Null;
            raw("R1", "G9", 1, extra)
        };
        assert_eq!(field(without("sp_mchid")), at("/sp_mchid"));
        assert_eq!(field(without("sub_mchid")), at("/sub_mchid"));
        assert_eq!(field(without("sp_appid")), at("/sp_appid"));
        let mut wrong_sp = institution.clone();
        wrong_sp["sp_mchid"] = json!("1900000999");
        assert_eq!(field(raw("R1", "G9", 1, wrong_sp)), at("/sp_mchid"));
        let mut sub_appid = institution.clone();
        sub_appid["sub_appid"] = json!("wx2");
        parse(&raw("R1", "G9", 1, sub_appid)).expect("optional sub_appid");

        assert_eq!(
            field(raw("R1", "G1", 1, json!({"out_trade_no": null}))),
            at("/transaction_id")
        );
        assert_eq!(field(raw("R 1", "G1", 1, json!({}))), at("/out_refund_no"));
        assert_eq!(field(raw("R1", "G1", 0, json!({}))), at("/amount/refund"));
        assert_eq!(
            field(raw("R1", "G1", 1, json!({"source": ""}))),
            at("/source")
        );
        assert_eq!(
            field(raw("R1", "G1", 1, json!({"reason": "退".repeat(27)}))),
            at("/reason")
        );
        assert_eq!(
            field(raw(
                "R1",
                "G1",
                1,
                json!({"amount": {"refund": 1, "total": 1}})
            )),
            at("/amount/currency")
        );
        let with_from = |from: Value| {
            raw(
                "R1",
                "G1",
                3,
                json!({"amount": {"refund": 3, "total": 10000, "currency": "USD", "from": from}}),
            )
        };
        assert_eq!(
            field(with_from(
                json!([{"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": 2}])
            )),
            at("/amount/from")
        );
        assert_eq!(
            field(with_from(json!([{"account": "AVAILABLE", "amount": 3}]))),
            at("/amount/from/0")
        );
        assert_eq!(
            field(with_from(json!([
                {"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": 1},
                {"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": 2},
            ]))),
            at("/amount/from/1")
        );
        let from = json!([
            {"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": 1},
            {"fund_source": "ORDER_REFUNDABLE_BALANCE", "amount": 2},
        ]);
        let ok = parse(&with_from(from.clone())).expect("valid from");
        assert_eq!(ok.from, from);
        assert!(parse_global_apply(b"[1]").is_err());
        assert!(parse_global_apply(b"{").is_err());
    }

    #[test]
    fn query_scope_from_the_query_string() {
        let scope = |q: &str| parse_query_scope(Some(q));
        assert_eq!(scope("mchid=1900000100"), Ok(direct()));
        assert_eq!(
            scope("sub_mchid=1900000209&sp_mchid=1900000100").map(|s| s.sub_mchid),
            Ok(Some(INSTITUTION.to_string()))
        );
        let field = |q: Option<&str>| {
            let err = parse_query_scope(q).expect_err("invalid");
            assert_eq!(err.code, "PARAM_ERROR");
            err.detail
                .map(|d| (d["field"].clone(), d["location"].clone()))
        };
        assert_eq!(field(None), Some((json!("mchid"), json!("query"))));
        assert_eq!(
            field(Some("sp_mchid=1")),
            Some((json!("sub_mchid"), json!("query")))
        );
        assert_eq!(
            field(Some("sub_mchid=1")),
            Some((json!("sp_mchid"), json!("query")))
        );
        assert!(field(Some("mchid=1&sub_mchid=2")).is_some());
        assert!(field(Some("mchid=%zz")).is_some());
    }
}
