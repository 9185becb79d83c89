//! Orders, refunds and the platform's refund rules (PROTOCOL §4), independent of HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::clock::{epoch_secs, rfc3339_cst};
use crate::error::ApiError;
use crate::{FinalStatus, Order};

/// Refunds are accepted within this long after payment.
const REFUND_WINDOW: Duration = Duration::from_secs(365 * 86_400);
/// Most refunds one order may have.
const MAX_REFUNDS_PER_ORDER: usize = 50;
/// Minimum gap between two refunds of one order when spacing is enforced.
const ORDER_SPACING: Duration = Duration::from_secs(60);

/// A validated apply-refund request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApplyRequest {
    pub(crate) sub_mchid: Option<String>,
    pub(crate) transaction_id: Option<String>,
    pub(crate) out_trade_no: Option<String>,
    pub(crate) out_refund_no: String,
    pub(crate) refund: i64,
    pub(crate) total: i64,
    /// `amount.from` as given (an array), or an empty array.
    pub(crate) from: Value,
}

/// Reads an optional string field; JSON `null` is refused like the platform does.
fn optional_str(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::param(path, other, format!("{field}应为字符串"))),
    }
}

/// Reads a required positive integer amount field.
fn positive_amount(obj: &Map<String, Value>, field: &str, path: &str) -> Result<i64, ApiError> {
    match obj.get(field) {
        None => Err(ApiError::param(path, &Value::Null, format!("缺少{field}"))),
        Some(v) => match v.as_i64() {
            Some(n) if n > 0 => Ok(n),
            Some(_) => Err(ApiError::param(path, v, format!("{field}必须大于0"))),
            None => Err(ApiError::param(path, v, format!("{field}应为整数"))),
        },
    }
}

/// Checks a string's length in bytes.
fn check_len(value: &str, path: &str, min: usize, max: usize) -> Result<(), ApiError> {
    if (min..=max).contains(&value.len()) {
        Ok(())
    } else {
        Err(ApiError::param(
            path,
            &json!(value),
            format!("长度应在{min}到{max}字节之间"),
        ))
    }
}

/// Parses and validates an apply-refund body, answering PARAM_ERROR like the platform.
pub(crate) fn parse_apply(body: &[u8]) -> Result<ApplyRequest, ApiError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::param("/", &Value::Null, format!("请求体不是合法的JSON：{e}")))?;
    let obj = root
        .as_object()
        .ok_or_else(|| ApiError::param("/", &root, "请求体应为JSON对象"))?;

    let sub_mchid = optional_str(obj, "sub_mchid", "/sub_mchid")?;
    if let Some(s) = &sub_mchid {
        check_len(s, "/sub_mchid", 1, 32)?;
    }
    let transaction_id = optional_str(obj, "transaction_id", "/transaction_id")?;
    if let Some(t) = &transaction_id {
        check_len(t, "/transaction_id", 1, 32)?;
    }
    let out_trade_no = optional_str(obj, "out_trade_no", "/out_trade_no")?;
    if let Some(o) = &out_trade_no {
        check_len(o, "/out_trade_no", 6, 32)?;
    }
    if transaction_id.is_none() && out_trade_no.is_none() {
        return Err(ApiError::param(
            "/transaction_id",
            &Value::Null,
            "transaction_id和out_trade_no必须二选一",
        ));
    }

    let out_refund_no = optional_str(obj, "out_refund_no", "/out_refund_no")?
        .ok_or_else(|| ApiError::param("/out_refund_no", &Value::Null, "缺少out_refund_no"))?;
    check_len(&out_refund_no, "/out_refund_no", 1, 64)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-|*@".contains(c);
    if !out_refund_no.chars().all(allowed) {
        return Err(ApiError::param(
            "/out_refund_no",
            &json!(out_refund_no),
            "只能包含数字、大小写字母和_-|*@",
        ));
    }

    if let Some(reason) = optional_str(obj, "reason", "/reason")? {
        check_len(&reason, "/reason", 1, 80)?;
        // The platform only accepts characters that take 1-3 bytes in UTF-8.
        if reason.chars().any(|c| c.len_utf8() > 3) {
            return Err(ApiError::param(
                "/reason",
                &json!(reason),
                "不支持4字节字符",
            ));
        }
    }
    if let Some(url) = optional_str(obj, "notify_url", "/notify_url")? {
        check_len(&url, "/notify_url", 8, 256)?;
        if url.contains('?') {
            return Err(ApiError::param("/notify_url", &json!(url), "不能携带参数"));
        }
    }
    if let Some(account) = optional_str(obj, "funds_account", "/funds_account")? {
        if account != "AVAILABLE" && account != "UNSETTLED" {
            return Err(ApiError::param(
                "/funds_account",
                &json!(account),
                "取值无效",
            ));
        }
    }
    if let Some(goods) = obj.get("goods_detail") {
        if !goods.is_array() {
            return Err(ApiError::param(
                "/goods_detail",
                goods,
                "goods_detail应为数组",
            ));
        }
    }

    let amount_value = obj
        .get("amount")
        .ok_or_else(|| ApiError::param("/amount", &Value::Null, "缺少amount"))?;
    let amount = amount_value
        .as_object()
        .ok_or_else(|| ApiError::param("/amount", amount_value, "amount应为对象"))?;
    let refund = positive_amount(amount, "refund", "/amount/refund")?;
    let total = positive_amount(amount, "total", "/amount/total")?;
    match amount.get("currency") {
        Some(Value::String(c)) if c == "CNY" => {}
        Some(other) => {
            return Err(ApiError::param(
                "/amount/currency",
                other,
                "currency仅支持CNY",
            ));
        }
        None => {
            return Err(ApiError::param(
                "/amount/currency",
                &Value::Null,
                "缺少currency",
            ));
        }
    }
    let from = match amount.get("from") {
        None => json!([]),
        Some(from) => {
            validate_from(from, refund)?;
            from.clone()
        }
    };

    Ok(ApplyRequest {
        sub_mchid,
        transaction_id,
        out_trade_no,
        out_refund_no,
        refund,
        total,
        from,
    })
}

/// `amount.from`: `[{account: AVAILABLE|UNAVAILABLE, amount > 0}]`, no duplicate accounts,
/// amounts summing to the refund.
fn validate_from(from: &Value, refund: i64) -> Result<(), ApiError> {
    let items = from
        .as_array()
        .ok_or_else(|| ApiError::param("/amount/from", from, "from应为数组"))?;
    let mut accounts = Vec::new();
    let mut sum: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        let path = format!("/amount/from/{i}");
        let account = item.get("account").and_then(Value::as_str);
        let amount = item.get("amount").and_then(Value::as_i64);
        match (account, amount) {
            (Some(acc @ ("AVAILABLE" | "UNAVAILABLE")), Some(n)) if n > 0 => {
                if accounts.contains(&acc) {
                    return Err(ApiError::param(&path, item, "出资账户重复"));
                }
                accounts.push(acc);
                sum = sum.saturating_add(n);
            }
            _ => return Err(ApiError::param(&path, item, "出资账户或金额无效")),
        }
    }
    if !items.is_empty() && sum != refund {
        return Err(ApiError::param(
            "/amount/from",
            from,
            "出资金额之和必须等于退款金额",
        ));
    }
    Ok(())
}

/// One recorded refund. Self-contained so rendering never needs the order again.
#[derive(Debug, Clone)]
struct RefundRecord {
    refund_id: String,
    out_refund_no: String,
    out_trade_no: String,
    transaction_id: String,
    sub_mchid: Option<String>,
    total: i64,
    refund: i64,
    from: Value,
    final_status: FinalStatus,
    created: SystemTime,
}

/// Next refund number; global so two simulators in one process never share ids.
static REFUND_SEQ: AtomicU64 = AtomicU64::new(1);

/// `50` + 28 digits: 14 from the clock, 14 from a counter.
fn next_refund_id(now: SystemTime) -> String {
    let seq = REFUND_SEQ.fetch_add(1, Ordering::Relaxed) % 100_000_000_000_000;
    let secs = epoch_secs(now).rem_euclid(100_000_000_000_000);
    format!("50{secs:014}{seq:014}")
}

/// All orders and refunds of the simulated merchant.
#[derive(Debug)]
pub(crate) struct Ledger {
    settle_after: Duration,
    enforce_order_spacing: bool,
    orders: HashMap<String, Order>,
    /// transaction_id → out_trade_no.
    by_transaction: HashMap<String, String>,
    /// out_refund_no → refund (refund numbers are unique per merchant).
    refunds: HashMap<String, RefundRecord>,
    /// out_trade_no → its refunds' out_refund_no, oldest first.
    order_refunds: HashMap<String, Vec<String>>,
}

impl Ledger {
    /// An empty ledger with the given settlement delay and spacing rule.
    pub(crate) fn new(settle_after: Duration, enforce_order_spacing: bool) -> Ledger {
        Ledger {
            settle_after,
            enforce_order_spacing,
            orders: HashMap::new(),
            by_transaction: HashMap::new(),
            refunds: HashMap::new(),
            order_refunds: HashMap::new(),
        }
    }

    /// Adds (or replaces) an order, keyed by `out_trade_no`.
    pub(crate) fn add_order(&mut self, order: Order) {
        if let Some(old) = self.orders.get(&order.out_trade_no) {
            self.by_transaction.remove(&old.transaction_id);
        }
        self.by_transaction
            .insert(order.transaction_id.clone(), order.out_trade_no.clone());
        self.orders.insert(order.out_trade_no.clone(), order);
    }

    /// Finds the order a request refers to (transaction_id wins when both are given).
    fn find_order(&self, req: &ApplyRequest) -> Result<&Order, ApiError> {
        let not_found = || ApiError::not_exists("订单不存在");
        let order = match &req.transaction_id {
            Some(tx) => {
                let out_trade_no = self.by_transaction.get(tx).ok_or_else(not_found)?;
                self.orders.get(out_trade_no).ok_or_else(not_found)?
            }
            None => {
                let out_trade_no = req.out_trade_no.as_deref().unwrap_or_default();
                self.orders.get(out_trade_no).ok_or_else(not_found)?
            }
        };
        if let Some(given) = &req.out_trade_no {
            if *given != order.out_trade_no {
                return Err(ApiError::invalid("transaction_id与out_trade_no不匹配"));
            }
        }
        Ok(order)
    }

    /// Applies for a refund, enforcing the platform's rules; returns the Refund object.
    pub(crate) fn apply(&mut self, req: &ApplyRequest, now: SystemTime) -> Result<Value, ApiError> {
        let order = self.find_order(req)?;

        match (&order.sub_mchid, &req.sub_mchid) {
            (None, Some(given)) => {
                return Err(ApiError::param(
                    "/sub_mchid",
                    &json!(given),
                    "直连商户订单不能传sub_mchid",
                ));
            }
            (Some(expected), given) if given.as_ref() != Some(expected) => {
                return Err(ApiError::new(403, "NO_AUTH", "子商户号和订单信息不匹配"));
            }
            _ => {}
        }

        // Idempotency: a retry with the same refund number returns the original refund.
        if let Some(existing) = self.refunds.get(&req.out_refund_no) {
            if existing.out_trade_no == order.out_trade_no && existing.refund == req.refund {
                return Ok(self.render(existing, now));
            }
            return Err(ApiError::invalid(
                "退款单号已存在，但订单或退款金额与原退款申请不一致",
            ));
        }

        if req.total != order.total {
            return Err(ApiError::invalid("订单金额与原订单不一致"));
        }
        let window_closed = order
            .paid_at
            .checked_add(REFUND_WINDOW)
            .is_some_and(|deadline| deadline < now);
        if window_closed {
            return Err(ApiError::invalid("订单已超过退款期限"));
        }
        let existing: Vec<&RefundRecord> = self
            .order_refunds
            .get(&order.out_trade_no)
            .map(|nos| nos.iter().filter_map(|no| self.refunds.get(no)).collect())
            .unwrap_or_default();
        if existing.len() >= MAX_REFUNDS_PER_ORDER {
            return Err(ApiError::invalid("订单退款次数已达50次上限"));
        }
        // Closed refunds give their amount back; every other state still holds it.
        let held: i64 = existing
            .iter()
            .filter(|r| self.status_at(r, now).0 != "CLOSED")
            .map(|r| r.refund)
            .sum();
        if held.saturating_add(req.refund) > order.total {
            return Err(ApiError::invalid("申请退款金额超过订单可退金额"));
        }
        if self.enforce_order_spacing {
            let last = existing.iter().map(|r| r.created).max();
            let too_soon = last
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|gap| gap < ORDER_SPACING);
            if too_soon {
                return Err(ApiError::new(
                    429,
                    "FREQUENCY_LIMITED",
                    "频率限制，同一订单两次退款需间隔1分钟",
                ));
            }
        }

        let record = RefundRecord {
            refund_id: next_refund_id(now),
            out_refund_no: req.out_refund_no.clone(),
            out_trade_no: order.out_trade_no.clone(),
            transaction_id: order.transaction_id.clone(),
            sub_mchid: order.sub_mchid.clone(),
            total: order.total,
            refund: req.refund,
            from: req.from.clone(),
            final_status: order.final_status,
            created: now,
        };
        let body = self.render(&record, now);
        self.order_refunds
            .entry(record.out_trade_no.clone())
            .or_default()
            .push(record.out_refund_no.clone());
        self.refunds.insert(record.out_refund_no.clone(), record);
        Ok(body)
    }

    /// Queries a refund by merchant refund number. Partner refunds need their `sub_mchid`.
    pub(crate) fn query(
        &self,
        out_refund_no: &str,
        sub_mchid: Option<&str>,
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let record = self
            .refunds
            .get(out_refund_no)
            .ok_or_else(|| ApiError::not_exists("退款单不存在"))?;
        match (record.sub_mchid.as_deref(), sub_mchid) {
            (Some(_), None) => Err(ApiError::param_at(
                "sub_mchid",
                &Value::Null,
                "缺少sub_mchid",
                "query",
            )),
            (expected, given) if expected != given => Err(ApiError::not_exists("退款单不存在")),
            _ => Ok(self.render(record, now)),
        }
    }

    /// Every refund of an order as the query returns it, oldest first.
    pub(crate) fn refunds_for_order(&self, out_trade_no: &str, now: SystemTime) -> Vec<Value> {
        self.order_refunds
            .get(out_trade_no)
            .map(|nos| {
                nos.iter()
                    .filter_map(|no| self.refunds.get(no))
                    .map(|r| self.render(r, now))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Status at `now`: PROCESSING until `settle_after` has passed, then the order's final
    /// state. Also returns the success time for SUCCESS.
    fn status_at(
        &self,
        record: &RefundRecord,
        now: SystemTime,
    ) -> (&'static str, Option<SystemTime>) {
        let elapsed = now.duration_since(record.created).unwrap_or_default();
        if elapsed < self.settle_after {
            return ("PROCESSING", None);
        }
        match record.final_status {
            FinalStatus::Success => {
                let success = record.created.checked_add(self.settle_after).unwrap_or(now);
                ("SUCCESS", Some(success))
            }
            FinalStatus::Closed => ("CLOSED", None),
            FinalStatus::Abnormal => ("ABNORMAL", None),
        }
    }

    /// The `Refund` object (PROTOCOL §4.3).
    fn render(&self, record: &RefundRecord, now: SystemTime) -> Value {
        let (status, success_time) = self.status_at(record, now);
        let mut refund = json!({
            "refund_id": record.refund_id,
            "out_refund_no": record.out_refund_no,
            "transaction_id": record.transaction_id,
            "out_trade_no": record.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339_cst(record.created),
            "status": status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": record.total,
                "refund": record.refund,
                "from": record.from,
                "payer_total": record.total,
                "payer_refund": record.refund,
                "settlement_refund": record.refund,
                "settlement_total": record.total,
                "discount_refund": 0,
                "currency": "CNY",
            },
            "promotion_detail": [],
        });
        if let Some(t) = success_time {
            refund["success_time"] = json!(rfc3339_cst(t));
        }
        refund
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTLE: Duration = Duration::from_millis(300);

    fn order(no: &str, total: i64, final_status: FinalStatus) -> Order {
        Order {
            out_trade_no: no.to_string(),
            transaction_id: format!("42{no}"),
            total,
            sub_mchid: None,
            paid_at: SystemTime::now() - Duration::from_secs(86_400),
            final_status,
        }
    }

    fn body(out_refund_no: &str, out_trade_no: &str, refund: i64, total: i64) -> ApplyRequest {
        let raw = json!({
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "amount": {"refund": refund, "total": total, "currency": "CNY"},
        });
        parse_apply(raw.to_string().as_bytes()).expect("valid body")
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::new(SETTLE, false);
        l.add_order(order("T000001", 1000, FinalStatus::Success));
        l.add_order(order("T000002", 500, FinalStatus::Closed));
        l
    }

    #[test]
    fn same_refund_number_is_idempotent() {
        let mut l = ledger();
        let now = SystemTime::now();
        let first = l
            .apply(&body("R1", "T000001", 300, 1000), now)
            .expect("accepted");
        assert_eq!(first["status"], "PROCESSING");
        let again = l
            .apply(&body("R1", "T000001", 300, 1000), now)
            .expect("idempotent");
        assert_eq!(first["refund_id"], again["refund_id"]);
        assert_eq!(l.refunds_for_order("T000001", now).len(), 1);

        // Same number, different amount or different order: refused, nothing recorded.
        let err = l
            .apply(&body("R1", "T000001", 301, 1000), now)
            .expect_err("mismatch");
        assert_eq!((err.status, err.code), (400, "INVALID_REQUEST"));
        let err = l
            .apply(&body("R1", "T000002", 300, 500), now)
            .expect_err("other order");
        assert_eq!(err.code, "INVALID_REQUEST");
        assert_eq!(l.refunds_for_order("T000001", now).len(), 1);
        assert!(l.refunds_for_order("T000002", now).is_empty());
    }

    #[test]
    fn amount_rules() {
        let mut l = ledger();
        let now = SystemTime::now();
        let err = l
            .apply(&body("R1", "T000001", 100, 999), now)
            .expect_err("wrong total");
        assert_eq!(err.code, "INVALID_REQUEST");
        l.apply(&body("R1", "T000001", 700, 1000), now)
            .expect("first");
        let err = l
            .apply(&body("R2", "T000001", 301, 1000), now)
            .expect_err("too much");
        assert_eq!(err.code, "INVALID_REQUEST");
        assert!(err.message.contains("可退金额"));
        l.apply(&body("R2", "T000001", 300, 1000), now)
            .expect("exactly the rest");

        let err = l
            .apply(&body("R3", "T999999", 1, 1000), now)
            .expect_err("unknown");
        assert_eq!((err.status, err.code), (404, "RESOURCE_NOT_EXISTS"));
    }

    #[test]
    fn closed_refunds_release_their_amount_and_states_settle() {
        let mut l = ledger();
        let t0 = SystemTime::now();
        l.apply(&body("C1", "T000002", 500, 500), t0)
            .expect("accepted");
        let err = l
            .apply(&body("C2", "T000002", 500, 500), t0)
            .expect_err("held");
        assert_eq!(err.code, "INVALID_REQUEST");
        let later = t0 + SETTLE;
        assert_eq!(
            l.query("C1", None, later).expect("found")["status"],
            "CLOSED"
        );
        l.apply(&body("C2", "T000002", 500, 500), later)
            .expect("amount released");

        l.apply(&body("S1", "T000001", 100, 1000), t0)
            .expect("accepted");
        let settled = l.query("S1", None, later).expect("found");
        assert_eq!(settled["status"], "SUCCESS");
        assert!(settled["success_time"].is_string());
        assert!(l
            .query("S1", None, t0)
            .expect("found")
            .get("success_time")
            .is_none());
    }

    #[test]
    fn window_count_and_spacing_limits() {
        let mut l = Ledger::new(SETTLE, true);
        let mut old = order("T000003", 1000, FinalStatus::Success);
        old.paid_at = SystemTime::now() - Duration::from_secs(400 * 86_400);
        l.add_order(old);
        l.add_order(order("T000004", 1000, FinalStatus::Success));
        let now = SystemTime::now();
        let err = l
            .apply(&body("O1", "T000003", 1, 1000), now)
            .expect_err("too old");
        assert!(err.message.contains("期限"));

        l.apply(&body("P1", "T000004", 1, 1000), now)
            .expect("first");
        let err = l
            .apply(&body("P2", "T000004", 1, 1000), now)
            .expect_err("spacing");
        assert_eq!((err.status, err.code), (429, "FREQUENCY_LIMITED"));
        // A retry of the first refund is not a new refund, so spacing does not apply.
        l.apply(&body("P1", "T000004", 1, 1000), now)
            .expect("idempotent retry");
        l.apply(&body("P2", "T000004", 1, 1000), now + ORDER_SPACING)
            .expect("after a minute");

        let mut l = ledger();
        for i in 0..MAX_REFUNDS_PER_ORDER {
            l.apply(&body(&format!("N{i}"), "T000001", 1, 1000), now)
                .expect("within limit");
        }
        let err = l
            .apply(&body("N50", "T000001", 1, 1000), now)
            .expect_err("51st");
        assert_eq!(err.code, "INVALID_REQUEST");
    }

    #[test]
    fn partner_orders_need_matching_sub_mchid() {
        let mut l = ledger();
        let mut partner = order("T000009", 1000, FinalStatus::Success);
        partner.sub_mchid = Some("1900000109".to_string());
        l.add_order(partner);
        let now = SystemTime::now();

        let mut req = body("PR1", "T000009", 100, 1000);
        let err = l.apply(&req, now).expect_err("no sub_mchid");
        assert_eq!((err.status, err.code), (403, "NO_AUTH"));
        req.sub_mchid = Some("1900000999".to_string());
        assert_eq!(l.apply(&req, now).expect_err("wrong").code, "NO_AUTH");
        req.sub_mchid = Some("1900000109".to_string());
        l.apply(&req, now).expect("matching sub_mchid");

        let err = l
            .query("PR1", None, now)
            .expect_err("query needs sub_mchid");
        assert_eq!(err.code, "PARAM_ERROR");
        assert_eq!(
            l.query("PR1", Some("1900000999"), now)
                .expect_err("x")
                .status,
            404
        );
        l.query("PR1", Some("1900000109"), now).expect("found");

        // Direct orders refuse a sub_mchid.
        let mut direct = body("D1", "T000001", 100, 1000);
        direct.sub_mchid = Some("1900000109".to_string());
        assert_eq!(
            l.apply(&direct, now).expect_err("direct").code,
            "PARAM_ERROR"
        );
    }

    #[test]
    fn body_validation() {
        let err = |raw: &str| parse_apply(raw.as_bytes()).expect_err("invalid");
        assert_eq!(err("{not json").code, "PARAM_ERROR");
        assert_eq!(err("[]").code, "PARAM_ERROR");
        let e =
            err(r#"{"out_trade_no":"T000001","amount":{"refund":1,"total":1,"currency":"CNY"}}"#);
        assert_eq!(
            e.detail.as_ref().map(|d| d["field"].clone()),
            Some(json!("/out_refund_no"))
        );
        let e = err(r#"{"out_refund_no":"R1","amount":{"refund":1,"total":1,"currency":"CNY"}}"#);
        assert_eq!(
            e.detail.as_ref().map(|d| d["location"].clone()),
            Some(json!("body"))
        );
        assert_eq!(
            err(r#"{"out_trade_no":"T000001","out_refund_no":"R1"}"#).code,
            "PARAM_ERROR"
        );
        let e = err(
            r#"{"out_trade_no":"T000001","out_refund_no":"R1","amount":{"refund":1,"total":1,"currency":"USD"}}"#,
        );
        assert_eq!(
            e.detail.as_ref().map(|d| d["field"].clone()),
            Some(json!("/amount/currency"))
        );
        let e = err(
            r#"{"out_trade_no":"T000001","out_refund_no":"R1","amount":{"refund":0,"total":1,"currency":"CNY"}}"#,
        );
        assert_eq!(
            e.detail.as_ref().map(|d| d["field"].clone()),
            Some(json!("/amount/refund"))
        );
        err(
            r#"{"out_trade_no":"T000001","out_refund_no":"R 1","amount":{"refund":1,"total":1,"currency":"CNY"}}"#,
        );
        err(
            r#"{"out_trade_no":"T000001","out_refund_no":"R1","amount":{"refund":2,"total":2,"currency":"CNY","from":[{"account":"AVAILABLE","amount":1}]}}"#,
        );

        let ok = parse_apply(
            r#"{"transaction_id":"42T1","out_refund_no":"a|b*c@d","reason":"商品已售完","amount":{"refund":2,"total":2,"currency":"CNY","from":[{"account":"AVAILABLE","amount":2}]}}"#
                .as_bytes(),
        )
        .expect("valid");
        assert_eq!(ok.out_refund_no, "a|b*c@d");
        assert_eq!(ok.from, json!([{"account":"AVAILABLE","amount":2}]));
    }
}
