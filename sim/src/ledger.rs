//! Mainland (domestic) refunds: request checks, rules and the `Refund` object (PROTOCOL §4),
//! independent of HTTP. Storage and the limits shared with Global live in [`crate::book`].

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::abnormal::{AbnormalRequest, Route};
use crate::book::{notice, original_route_refund, pick, Book, RefundRecord, RefundViews, Stage};
use crate::error::ApiError;
use crate::fields::{
    amount_from, amount_object, cny_currency, json_object, optional_str, optional_str_len,
    order_reference, out_refund_no, positive_amount, reason_and_notify_url,
};
use crate::keys::MCHID;
use crate::Order;

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
    /// Where to notify the refund's final state.
    pub(crate) notify_url: Option<String>,
}

/// Parses and validates an apply-refund body, answering PARAM_ERROR like the platform.
pub(crate) fn parse_apply(body: &[u8]) -> Result<ApplyRequest, ApiError> {
    let obj = json_object(body)?;
    let sub_mchid = optional_str_len(&obj, "sub_mchid", 1, 32)?;
    let (transaction_id, out_trade_no) = order_reference(&obj, 6)?;
    let out_refund_no = out_refund_no(&obj)?;
    let notify_url = reason_and_notify_url(&obj)?;
    if let Some(account) = optional_str(&obj, "funds_account", "/funds_account")? {
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

    let amount = amount_object(&obj)?;
    let refund = positive_amount(amount, "refund", "/amount/refund")?;
    let total = positive_amount(amount, "total", "/amount/total")?;
    cny_currency(amount, 16)?;
    let from = amount_from(amount, "account", &["AVAILABLE", "UNAVAILABLE"], refund)?;

    Ok(ApplyRequest {
        sub_mchid,
        transaction_id,
        out_trade_no,
        out_refund_no,
        refund,
        total,
        from,
        notify_url,
    })
}

/// All mainland orders and refunds of the simulated merchant.
#[derive(Debug)]
pub(crate) struct Ledger {
    book: Book<Order>,
}

impl Ledger {
    /// An empty ledger with the given settlement delay and spacing rule.
    pub(crate) fn new(settle_after: Duration, enforce_order_spacing: bool) -> Ledger {
        Ledger {
            book: Book::new(settle_after, enforce_order_spacing),
        }
    }

    /// Adds (or replaces) an order, keyed by `out_trade_no`.
    pub(crate) fn add_order(&mut self, order: Order) {
        self.book.add_order(order);
    }

    /// Applies for a refund, enforcing the platform's rules; returns the Refund object.
    pub(crate) fn apply(&mut self, req: &ApplyRequest, now: SystemTime) -> Result<Value, ApiError> {
        let order = self
            .book
            .find_order(
                req.transaction_id.as_deref(),
                req.out_trade_no.as_deref(),
                ApiError::not_exists("订单不存在"),
            )?
            .clone();

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
        if let Some(existing) =
            self.book
                .retry_of(&req.out_refund_no, &order.out_trade_no, req.refund)?
        {
            return Ok(self.render(existing, now));
        }
        if req.total != order.total {
            return Err(ApiError::invalid("订单金额与原订单不一致"));
        }
        let record = self.book.open(
            order,
            &req.out_refund_no,
            req.refund,
            &req.from,
            req.notify_url.as_deref(),
            now,
        )?;
        Ok(self.render(&record, now))
    }

    /// Apply-abnormal-refund (PROTOCOL §4.4) for the refund `refund_id`, whose bank
    /// details decrypted to `route`: the refund must be this merchant's (or the
    /// sub-merchant's), numbered `out_refund_no` and `ABNORMAL`. It is then processing
    /// again and succeeds after the settle time. A repeat of an accepted request (same
    /// route) while it is processing answers the refund again.
    pub(crate) fn apply_abnormal(
        &mut self,
        refund_id: &str,
        req: &AbnormalRequest,
        route: Route,
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let record = self
            .book
            .refund_by_id(refund_id)
            .ok_or_else(|| ApiError::not_exists("退款单不存在"))?;
        if record.out_refund_no != req.out_refund_no {
            return Err(ApiError::param(
                "/out_refund_no",
                &json!(req.out_refund_no),
                "out_refund_no与退款单不匹配",
            ));
        }
        match (record.order.sub_mchid.as_deref(), req.sub_mchid.as_deref()) {
            (None, Some(given)) => {
                return Err(ApiError::param(
                    "/sub_mchid",
                    &json!(given),
                    "直连商户退款单不能传sub_mchid",
                ));
            }
            (Some(_), None) => {
                return Err(ApiError::param("/sub_mchid", &Value::Null, "缺少sub_mchid"));
            }
            (Some(expected), Some(given)) if expected != given => {
                return Err(ApiError::new(403, "NO_AUTH", "子商户号和退款单信息不匹配"));
            }
            _ => {}
        }
        match self.book.stage(record, now) {
            Stage::Abnormal => {}
            Stage::Processing
                if record
                    .reroute
                    .as_ref()
                    .is_some_and(|reroute| reroute.route == route) =>
            {
                return Ok(self.render(record, now));
            }
            stage => {
                return Err(ApiError::invalid(format!(
                    "退款单状态不是ABNORMAL（当前为{}），不能发起异常退款",
                    stage.status("CLOSED").0
                )));
            }
        }
        let out_refund_no = record.out_refund_no.clone();
        self.book
            .reroute(&out_refund_no, route, now)
            .ok_or_else(|| ApiError::not_exists("退款单不存在"))?;
        let record = self
            .book
            .refund(&out_refund_no)
            .ok_or_else(|| ApiError::not_exists("退款单不存在"))?;
        Ok(self.render(record, now))
    }

    /// Queries a refund by merchant refund number. Partner refunds need their `sub_mchid`.
    pub(crate) fn query(
        &self,
        out_refund_no: &str,
        sub_mchid: Option<&str>,
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let record = self
            .book
            .refund(out_refund_no)
            .ok_or_else(|| ApiError::not_exists("退款单不存在"))?;
        match (record.order.sub_mchid.as_deref(), sub_mchid) {
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
}

impl RefundViews<Order> for Ledger {
    fn book(&self) -> &Book<Order> {
        &self.book
    }

    fn book_mut(&mut self) -> &mut Book<Order> {
        &mut self.book
    }

    /// The `Refund` object (PROTOCOL §4.3).
    fn render(&self, record: &RefundRecord<Order>, now: SystemTime) -> Value {
        let order = &record.order;
        let mut refund = original_route_refund(record);
        if let Some(reroute) = &record.reroute {
            refund["channel"] = json!("OTHER_BANKCARD");
            refund["user_received_account"] = json!(reroute.route.received_account());
        }
        refund["funds_account"] = json!("AVAILABLE");
        refund["amount"] = json!({
            "total": order.total,
            "refund": record.refund,
            "from": record.from,
            "payer_total": order.total,
            "payer_refund": record.refund,
            "settlement_refund": record.refund,
            "settlement_total": order.total,
            "discount_refund": 0,
            "currency": "CNY",
        });
        refund["promotion_detail"] = json!([]);
        self.book.set_status(&mut refund, record, now, "CLOSED");
        refund
    }

    /// PROTOCOL §3.3; partner refunds name `sp_mchid` and `sub_mchid`.
    fn notification(&self, record: &RefundRecord<Order>, now: SystemTime) -> Value {
        let refund = self.render(record, now);
        let amount = pick(
            &refund["amount"],
            &["total", "refund", "payer_total", "payer_refund"],
        );
        notice(
            &refund,
            &[
                "transaction_id",
                "out_trade_no",
                "refund_id",
                "out_refund_no",
                "success_time",
                "user_received_account",
            ],
            Value::Object(amount),
            MCHID,
            record.order.sub_mchid.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{MAX_REFUNDS_PER_ORDER, ORDER_SPACING};
    use crate::FinalStatus;

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

    fn user_card(last4: &str) -> Route {
        Route {
            kind: "USER_BANK_CARD",
            bank_type: Some("CMB_DEBIT".to_string()),
            bank_account_last4: Some(last4.to_string()),
        }
    }

    fn abnormal(out_refund_no: &str, sub_mchid: Option<&str>) -> AbnormalRequest {
        AbnormalRequest {
            sub_mchid: sub_mchid.map(str::to_string),
            out_refund_no: out_refund_no.to_string(),
            payee: crate::abnormal::Payee::MerchantBankCard,
        }
    }

    #[test]
    fn abnormal_refund_rules() {
        let mut l = ledger();
        l.add_order(order("T000003", 800, FinalStatus::Abnormal));
        let mut partner = order("T000009", 1000, FinalStatus::Abnormal);
        partner.sub_mchid = Some("1900000109".to_string());
        l.add_order(partner);
        let t0 = SystemTime::now();
        let id = |refund: &Value| refund["refund_id"].as_str().expect("id").to_string();
        let ok = id(&l
            .apply(&body("OK1", "T000001", 100, 1000), t0)
            .expect("accepted"));
        let ab = id(&l
            .apply(&body("AB1", "T000003", 100, 800), t0)
            .expect("accepted"));
        let mut partner_req = body("PA1", "T000009", 100, 1000);
        partner_req.sub_mchid = Some("1900000109".to_string());
        let pa = id(&l.apply(&partner_req, t0).expect("accepted"));
        let route = user_card("1234");
        let code = |l: &mut Ledger, refund_id: &str, req: AbnormalRequest, at| {
            let e = l
                .apply_abnormal(refund_id, &req, user_card("1234"), at)
                .expect_err("refused");
            (e.status, e.code, e.detail.map(|d| d["field"].clone()))
        };

        // Unknown refund id; a refund number that is not this refund's.
        assert_eq!(
            code(&mut l, "50999", abnormal("AB1", None), t0),
            (404, "RESOURCE_NOT_EXISTS", None)
        );
        assert_eq!(
            code(&mut l, &ab, abnormal("OK1", None), t0),
            (400, "PARAM_ERROR", Some(json!("/out_refund_no")))
        );
        // Still PROCESSING, then SUCCESS: not ABNORMAL.
        assert_eq!(
            code(&mut l, &ab, abnormal("AB1", None), t0),
            (400, "INVALID_REQUEST", None)
        );
        let later = t0 + SETTLE;
        let e = l
            .apply_abnormal(&ok, &abnormal("OK1", None), route.clone(), later)
            .expect_err("success is final");
        assert_eq!(e.code, "INVALID_REQUEST");
        assert!(e.message.contains("ABNORMAL") && e.message.contains("SUCCESS"));
        // Direct refunds refuse a sub_mchid; partner refunds need the right one.
        assert_eq!(
            code(&mut l, &ab, abnormal("AB1", Some("1900000109")), later),
            (400, "PARAM_ERROR", Some(json!("/sub_mchid")))
        );
        assert_eq!(
            code(&mut l, &pa, abnormal("PA1", None), later),
            (400, "PARAM_ERROR", Some(json!("/sub_mchid")))
        );
        assert_eq!(
            code(&mut l, &pa, abnormal("PA1", Some("1900000999")), later),
            (403, "NO_AUTH", None)
        );
        l.apply_abnormal(
            &pa,
            &abnormal("PA1", Some("1900000109")),
            route.clone(),
            later,
        )
        .expect("partner refund rerouted");

        // Accepted: PROCESSING on the new route, settled once more, then SUCCESS.
        // OK1 succeeded and AB1 is ABNORMAL; PA1 is processing again.
        assert_eq!(l.settle(later).len(), 2);
        let t1 = later + Duration::from_millis(5);
        let answer = l
            .apply_abnormal(&ab, &abnormal("AB1", None), route.clone(), t1)
            .expect("rerouted");
        assert_eq!(answer["status"], "PROCESSING");
        assert_eq!(answer["refund_id"], ab.as_str());
        assert_eq!(answer["channel"], "OTHER_BANKCARD");
        assert_eq!(answer["user_received_account"], "招商银行借记卡1234");
        assert!(answer.get("success_time").is_none());
        // A retry of the same request answers the refund again; another route is refused.
        let again = l
            .apply_abnormal(&ab, &abnormal("AB1", None), route.clone(), t1)
            .expect("retry");
        assert_eq!(again, answer);
        let e = l
            .apply_abnormal(&ab, &abnormal("AB1", None), user_card("9999"), t1)
            .expect_err("another route while processing");
        assert_eq!(e.code, "INVALID_REQUEST");
        assert!(l.settle(t1).is_empty(), "processing again");
        let t2 = t1 + SETTLE;
        let settled = l.settle(t2);
        assert_eq!(settled.len(), 2, "both rerouted refunds succeed");
        let mine = settled
            .iter()
            .find(|s| s.resource["refund_id"] == ab.as_str())
            .expect("notified");
        assert!(matches!(mine.stage, Stage::Success(_)));
        assert_eq!(mine.resource["refund_status"], "SUCCESS");
        assert_eq!(mine.resource["user_received_account"], "招商银行借记卡1234");
        let done = l.query("AB1", None, t2).expect("found");
        assert_eq!(done["status"], "SUCCESS");
        assert!(done["success_time"].is_string());
        let record = l.book().refund("AB1").expect("record");
        let history: Vec<Value> = l
            .book()
            .status_history(record, t2, &done["status"])
            .as_array()
            .expect("array")
            .iter()
            .map(|h| h["status"].clone())
            .collect();
        assert_eq!(
            history,
            [
                json!("PROCESSING"),
                json!("ABNORMAL"),
                json!("PROCESSING"),
                json!("SUCCESS")
            ]
        );
        assert_eq!(
            code(&mut l, &ab, abnormal("AB1", None), t2).1,
            "INVALID_REQUEST"
        );
    }

    #[test]
    fn forced_abnormal_refunds_can_be_rerouted_and_forced_again() {
        let mut l = ledger();
        let t0 = SystemTime::now();
        let refund = l
            .apply(&body("F1", "T000001", 100, 1000), t0)
            .expect("accepted");
        let id = refund["refund_id"].as_str().expect("id").to_string();
        l.book_mut()
            .settle_now("F1", FinalStatus::Abnormal, t0)
            .expect("found")
            .expect("processing");
        assert_eq!(
            l.query("F1", None, t0).expect("found")["status"],
            "ABNORMAL"
        );
        l.apply_abnormal(&id, &abnormal("F1", None), user_card("0001"), t0)
            .expect("rerouted");
        assert_eq!(
            l.query("F1", None, t0).expect("found")["status"],
            "PROCESSING"
        );
        // Forced ABNORMAL again while processing, then rerouted to the merchant's card.
        l.book_mut()
            .settle_now("F1", FinalStatus::Abnormal, t0)
            .expect("found")
            .expect("processing");
        let merchant = Route {
            kind: "MERCHANT_BANK_CARD",
            bank_type: None,
            bank_account_last4: None,
        };
        let answer = l
            .apply_abnormal(&id, &abnormal("F1", None), merchant, t0)
            .expect("rerouted again");
        assert_eq!(answer["user_received_account"], "商户结算银行账户");
        let settled = l.query("F1", None, t0 + SETTLE).expect("found");
        assert_eq!(settled["status"], "SUCCESS");
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
