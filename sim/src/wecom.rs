//! WeCom (企业微信) mini-program external payment refunds (PROTOCOL §6): access tokens,
//! request checks, the WeCom refund rules and answers, independent of HTTP. Storage and the
//! limits shared with the APIv3 families live in [`crate::book`].
//!
//! WeCom is not APIv3: requests carry `?access_token=..` instead of a signature, and every
//! answer is a JSON object with `errcode` (0 on success) and `errmsg`. The error codes this
//! simulator answers with are listed in the crate documentation.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::book::{notice, original_route_refund, Book, RefundRecord, RefundViews, Refusal};
use crate::clock::{days_ago, random_alnum};
use crate::error::ApiError;
use crate::fields::{
    amount_object, cny_currency, json_object, optional_str_len, out_refund_no, positive_amount,
    reason, required_str_len,
};
use crate::http::query_param;
use crate::{FinalStatus, WeComOrder};

/// The simulated enterprise's corp id.
pub(crate) const CORPID: &str = "ww5f1e2d3c4b5a6978";
/// The secret of the self-built app allowed to call the 对外收款 APIs.
pub(crate) const CORPSECRET: &str = "wxrefundSimulatorCorpSecret-0123456789";
/// The merchant number WeCom allocated to the collection account.
pub(crate) const MCHID: &str = "1900000300";
/// The mini-program bound to the collection account.
pub(crate) const APPID: &str = "wx8a7b6c5d4e3f2a10";
/// The Token of the collection app's callback settings; `msg_signature` is made with it.
pub(crate) const CALLBACK_TOKEN: &str = "wxrefundSimCallbackToken";
/// The collection app's EncodingAESKey: 43 base64 characters of a 32-byte AES key.
pub(crate) const ENCODING_AES_KEY: &str = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY";
/// The agent id of the collection app, which callbacks name.
pub(crate) const AGENT_ID: &str = "1000002";
/// Length of an issued access token (random `[0-9A-Za-z]`).
const TOKEN_LEN: usize = 64;

/// `GET /cgi-bin/gettoken`.
const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";
/// `POST /cgi-bin/miniapppay/refund`.
const REFUND_PATH: &str = "/cgi-bin/miniapppay/refund";
/// `POST /cgi-bin/miniapppay/get_refund_detail`.
const REFUND_DETAIL_PATH: &str = "/cgi-bin/miniapppay/get_refund_detail";

/// A WeCom endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `GET /cgi-bin/gettoken`: not a refund endpoint (no token, no faults, not counted).
    GetToken,
    /// One of the refund endpoints, which need an access token.
    Api(Api),
}

/// A WeCom refund endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST /cgi-bin/miniapppay/refund`.
    Refund,
    /// `POST /cgi-bin/miniapppay/get_refund_detail`.
    RefundDetail,
}

impl Endpoint {
    /// The WeCom endpoint at `path`, if it is one.
    pub(crate) fn for_path(path: &str) -> Option<Endpoint> {
        match path {
            GETTOKEN_PATH => Some(Endpoint::GetToken),
            REFUND_PATH => Some(Endpoint::Api(Api::Refund)),
            REFUND_DETAIL_PATH => Some(Endpoint::Api(Api::RefundDetail)),
            _ => None,
        }
    }

    /// The one method the endpoint answers.
    pub(crate) fn method(self) -> &'static str {
        match self {
            Endpoint::GetToken => "GET",
            Endpoint::Api(_) => "POST",
        }
    }
}

/// A WeCom error answer: `{"errcode":N,"errmsg":".."}` and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeComError {
    pub(crate) errcode: i64,
    pub(crate) errmsg: String,
}

impl WeComError {
    fn new(errcode: i64, errmsg: impl Into<String>) -> WeComError {
        WeComError {
            errcode,
            errmsg: errmsg.into(),
        }
    }

    /// `-1`: the answer to an injected [`crate::Fault::SystemError`].
    pub(crate) fn system_busy() -> WeComError {
        WeComError::new(-1, "system busy")
    }

    /// `45009`: the answer to an injected [`crate::Fault::RateLimited`].
    pub(crate) fn rate_limited() -> WeComError {
        WeComError::new(45009, "api freq out of limit")
    }

    /// `43001`/`43002`: the endpoint was called with the wrong HTTP method.
    pub(crate) fn wrong_method(endpoint: Endpoint) -> WeComError {
        match endpoint {
            Endpoint::GetToken => WeComError::new(43001, "require GET method"),
            Endpoint::Api(_) => WeComError::new(43002, "require POST method"),
        }
    }

    /// `40058`: a body field is missing or invalid; the message names the field
    /// (`amount.refund` for the pointer `/amount/refund`).
    fn param(error: ApiError) -> WeComError {
        let detail = error.detail.as_ref();
        let field = detail
            .and_then(|d| d["field"].as_str())
            .map(|pointer| pointer.trim_start_matches('/').replace('/', "."))
            .filter(|field| !field.is_empty())
            .unwrap_or_else(|| "body".to_string());
        let issue = detail
            .and_then(|d| d["issue"].as_str())
            .unwrap_or(&error.message);
        WeComError::new(40058, format!("invalid parameter {field}: {issue}"))
    }

    /// `720501`: no such order (or refund) under the merchant.
    fn not_exists(field: &str, value: &str) -> WeComError {
        WeComError::new(
            720501,
            format!("{field}[{value}] not exists under mchid[{MCHID}]"),
        )
    }

    /// The JSON answer.
    pub(crate) fn body(&self) -> Value {
        json!({"errcode": self.errcode, "errmsg": self.errmsg})
    }
}

/// The WeCom codes for the shared rules (simulator conventions, see the crate docs).
impl From<Refusal> for WeComError {
    fn from(refusal: Refusal) -> WeComError {
        match refusal {
            Refusal::ExceedsRefundable => {
                WeComError::new(720502, "refund amount exceeds the refundable amount")
            }
            Refusal::ConflictingReuse => WeComError::new(
                720503,
                "out_refund_no already used with another order or amount",
            ),
            Refusal::WindowClosed => WeComError::new(720504, "order paid more than 365 days ago"),
            Refusal::TooManyRefunds => WeComError::new(720505, "order already has 50 refunds"),
            Refusal::TooFrequent => too_frequent(),
        }
    }
}

/// `45009` for a second refund request on an order within the order spacing.
fn too_frequent() -> WeComError {
    WeComError::new(45009, "refund too frequent for this order")
}

/// The whole answer for a result: `errcode` 0 and `errmsg` "ok" merged into a success
/// object, or the error object.
pub(crate) fn answer(result: Result<Value, WeComError>) -> Value {
    match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("errcode".to_string(), json!(0));
            fields.insert("errmsg".to_string(), json!("ok"));
            Value::Object(fields)
        }
        Ok(_) => json!({"errcode": 0, "errmsg": "ok"}),
        Err(e) => e.body(),
    }
}

/// A `wxrefund` client configuration: fetching tokens with corpid + corpsecret, or using
/// the fixed `access_token` when one is given.
pub(crate) fn client_config(base_url: &str, access_token: Option<&str>) -> Value {
    let mut config = json!({
        "family": "wecom",
        "mchid": MCHID,
        "appid": APPID,
        "base_url": base_url,
        "callback_token": CALLBACK_TOKEN,
        "encoding_aes_key": ENCODING_AES_KEY,
    });
    match access_token {
        Some(token) => config["access_token"] = json!(token),
        None => {
            config["corpid"] = json!(CORPID);
            config["corpsecret"] = json!(CORPSECRET);
        }
    }
    config
}

/// The WeCom demo orders from the crate documentation.
pub(crate) fn demo_orders() -> Vec<WeComOrder> {
    [
        (
            "W20261122000001",
            "4200000003202611220000000001",
            10000,
            1,
            FinalStatus::Success,
        ),
        (
            "W20261122000002",
            "4200000003202611220000000002",
            500,
            1,
            FinalStatus::Closed,
        ),
        (
            "W20261122000003",
            "4200000003202611220000000003",
            800,
            1,
            FinalStatus::Abnormal,
        ),
        (
            "W20251101000001",
            "4200000003202511010000000001",
            1000,
            400,
            FinalStatus::Success,
        ),
    ]
    .into_iter()
    .map(|(no, tx, total, days, final_status)| WeComOrder {
        out_trade_no: no.to_string(),
        transaction_id: tx.to_string(),
        total,
        paid_at: days_ago(days),
        final_status,
    })
    .collect()
}

/// The access tokens issued so far and when each expires.
#[derive(Debug)]
pub(crate) struct TokenStore {
    lifetime: Duration,
    /// token → expiry (`None`: a lifetime too long to represent, never expires). Expired
    /// tokens stay so they can be told apart from unknown ones.
    expiry: HashMap<String, Option<SystemTime>>,
    gettoken_calls: usize,
}

impl TokenStore {
    /// An empty store whose tokens live `lifetime`.
    pub(crate) fn new(lifetime: Duration) -> TokenStore {
        TokenStore {
            lifetime,
            expiry: HashMap::new(),
            gettoken_calls: 0,
        }
    }

    /// Mints a token valid for the lifetime from `now`.
    pub(crate) fn issue(&mut self, now: SystemTime) -> String {
        let token = random_alnum(TOKEN_LEN);
        self.expiry
            .insert(token.clone(), now.checked_add(self.lifetime));
        token
    }

    /// Invalidates every token issued so far.
    pub(crate) fn revoke(&mut self) {
        self.expiry.clear();
    }

    /// `gettoken` calls answered so far, successful or not.
    pub(crate) fn gettoken_calls(&self) -> usize {
        self.gettoken_calls
    }

    /// `GET /cgi-bin/gettoken?corpid=..&corpsecret=..` given its query string.
    pub(crate) fn gettoken(
        &mut self,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<Value, WeComError> {
        self.gettoken_calls = self.gettoken_calls.saturating_add(1);
        match param(query, "corpid") {
            Param::Missing => return Err(WeComError::new(41002, "corpid missing")),
            Param::Given(id) if id == CORPID => {}
            _ => return Err(WeComError::new(40013, "invalid corpid")),
        }
        match param(query, "corpsecret") {
            Param::Missing => return Err(WeComError::new(41004, "corpsecret missing")),
            Param::Given(secret) if secret == CORPSECRET => {}
            _ => return Err(WeComError::new(40001, "invalid credential")),
        }
        let token = self.issue(now);
        Ok(json!({"access_token": token, "expires_in": self.lifetime.as_secs()}))
    }

    /// Checks the `access_token` query parameter of a refund endpoint request.
    pub(crate) fn check(&self, query: Option<&str>, now: SystemTime) -> Result<(), WeComError> {
        let token = match param(query, "access_token") {
            Param::Missing => return Err(WeComError::new(41001, "access_token missing")),
            Param::Malformed => None,
            Param::Given(token) => Some(token),
        };
        match token.and_then(|token| self.expiry.get(&token)) {
            None => Err(WeComError::new(40014, "invalid access_token")),
            Some(Some(expires)) if *expires <= now => {
                Err(WeComError::new(42001, "access_token expired"))
            }
            Some(_) => Ok(()),
        }
    }
}

/// A query parameter as WeCom sees it.
enum Param {
    /// Absent or empty.
    Missing,
    /// Present but not decodable.
    Malformed,
    /// Present, percent-decoded.
    Given(String),
}

fn param(query: Option<&str>, name: &str) -> Param {
    match query_param(query, name) {
        None => Param::Missing,
        Some(Some(value)) if value.is_empty() => Param::Missing,
        Some(Some(value)) => Param::Given(value),
        Some(None) => Param::Malformed,
    }
}

/// A validated apply-refund body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApplyRequest {
    out_trade_no: String,
    out_refund_no: String,
    refund: i64,
    total: i64,
}

/// A required body field that must have exactly the value `expected`.
fn expect_field(obj: &Map<String, Value>, field: &str, expected: &str) -> Result<(), ApiError> {
    let value = required_str_len(obj, field, 1, 32)?;
    if value == expected {
        Ok(())
    } else {
        Err(ApiError::param(
            &format!("/{field}"),
            &json!(value),
            format!("must be {expected}"),
        ))
    }
}

/// Parses and validates an apply-refund body (PROTOCOL §6.2).
fn parse_apply(body: &[u8]) -> Result<ApplyRequest, ApiError> {
    let obj = json_object(body)?;
    expect_field(&obj, "mchid", MCHID)?;
    expect_field(&obj, "appid", APPID)?;
    let out_trade_no = required_str_len(&obj, "out_trade_no", 6, 32)?;
    let out_refund_no = out_refund_no(&obj)?;
    reason(&obj)?;
    if let Some(account) = optional_str_len(&obj, "funds_account", 1, 32)? {
        if account != "AVAILABLE" {
            return Err(ApiError::param(
                "/funds_account",
                &json!(account),
                "only AVAILABLE is supported",
            ));
        }
    }
    let amount = amount_object(&obj)?;
    let refund = positive_amount(amount, "refund", "/amount/refund")?;
    let total = positive_amount(amount, "total", "/amount/total")?;
    cny_currency(amount, 18)?;
    Ok(ApplyRequest {
        out_trade_no,
        out_refund_no,
        refund,
        total,
    })
}

/// Parses a get_refund_detail body: the merchant and the refund number.
fn parse_detail(body: &[u8]) -> Result<String, ApiError> {
    let obj = json_object(body)?;
    expect_field(&obj, "mchid", MCHID)?;
    out_refund_no(&obj)
}

/// All WeCom orders and refunds of the simulated collection account.
#[derive(Debug)]
pub(crate) struct WeComLedger {
    book: Book<WeComOrder>,
    /// Minimum gap between two refund requests on one order; zero disables the rule.
    order_spacing: Duration,
    /// out_trade_no → when the last refund request on it passed the spacing check.
    last_request: HashMap<String, SystemTime>,
}

impl WeComLedger {
    /// An empty ledger with the given settlement delay and order spacing.
    pub(crate) fn new(settle_after: Duration, order_spacing: Duration) -> WeComLedger {
        WeComLedger {
            // The spacing here is per request, not per refund: the ledger enforces it.
            book: Book::new(settle_after, false),
            order_spacing,
            last_request: HashMap::new(),
        }
    }

    /// Adds (or replaces) an order, keyed by `out_trade_no`.
    pub(crate) fn add_order(&mut self, order: WeComOrder) {
        self.book.add_order(order);
    }

    /// Serves a refund endpoint request body; the answer without `errcode`/`errmsg`.
    pub(crate) fn serve(
        &mut self,
        api: Api,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Value, WeComError> {
        match api {
            Api::Refund => self.apply(body, now),
            Api::RefundDetail => self.detail(body, now),
        }
    }

    /// `POST /cgi-bin/miniapppay/refund`.
    fn apply(&mut self, body: &[u8], now: SystemTime) -> Result<Value, WeComError> {
        let req = parse_apply(body).map_err(WeComError::param)?;
        let order = self
            .book
            .order(&req.out_trade_no)
            .cloned()
            .ok_or_else(|| WeComError::not_exists("out_trade_no", &req.out_trade_no))?;
        self.pace(&order.out_trade_no, now)?;
        // Idempotency: a retry with the same refund number returns the original refund.
        if let Some(existing) =
            self.book
                .retry_of(&req.out_refund_no, &order.out_trade_no, req.refund)?
        {
            return Ok(apply_answer(existing));
        }
        if req.total != order.total {
            return Err(WeComError::param(ApiError::param(
                "/amount/total",
                &json!(req.total),
                "does not match the order total",
            )));
        }
        let record =
            self.book
                .open(order, &req.out_refund_no, req.refund, &json!([]), None, now)?;
        Ok(apply_answer(&record))
    }

    /// The per-order rate limit (1 request a minute by default): refuses a request less
    /// than the spacing after the previous one that passed this check, else records it.
    fn pace(&mut self, out_trade_no: &str, now: SystemTime) -> Result<(), WeComError> {
        if self.order_spacing.is_zero() {
            return Ok(());
        }
        let too_soon = self
            .last_request
            .get(out_trade_no)
            .and_then(|last| now.duration_since(*last).ok())
            .is_some_and(|gap| gap < self.order_spacing);
        if too_soon {
            return Err(too_frequent());
        }
        self.last_request.insert(out_trade_no.to_string(), now);
        Ok(())
    }

    /// `POST /cgi-bin/miniapppay/get_refund_detail`.
    fn detail(&self, body: &[u8], now: SystemTime) -> Result<Value, WeComError> {
        let out_refund_no = parse_detail(body).map_err(WeComError::param)?;
        self.book
            .refund(&out_refund_no)
            .map(|record| self.render(record, now))
            .ok_or_else(|| WeComError::not_exists("out_refund_no", &out_refund_no))
    }
}

impl RefundViews<WeComOrder> for WeComLedger {
    fn book(&self) -> &Book<WeComOrder> {
        &self.book
    }

    fn book_mut(&mut self) -> &mut Book<WeComOrder> {
        &mut self.book
    }

    /// The get_refund_detail answer (PROTOCOL §6.3), without `errcode`/`errmsg`.
    fn render(&self, record: &RefundRecord<WeComOrder>, now: SystemTime) -> Value {
        let mut refund = original_route_refund(record);
        refund["amount"] = amount(record);
        refund["promotion_detail"] = json!([]);
        self.book.set_status(&mut refund, record, now, "CLOSED");
        refund
    }

    /// PROTOCOL §6.4. The query answer has no order total, so it comes from the order.
    fn notification(&self, record: &RefundRecord<WeComOrder>, now: SystemTime) -> Value {
        let refund = self.render(record, now);
        let amount = json!({
            "total": record.order.total,
            "refund": refund["amount"]["refund"],
            "payer_total": record.order.total,
            "payer_refund": refund["amount"]["payer_refund"],
        });
        notice(
            &refund,
            &[
                "out_trade_no",
                "refund_id",
                "out_refund_no",
                "success_time",
                "user_received_account",
            ],
            amount,
            MCHID,
            None,
        )
    }
}

/// The apply answer (PROTOCOL §6.2): acceptance only, no `refund_id` or `status`.
fn apply_answer(record: &RefundRecord<WeComOrder>) -> Value {
    json!({
        "out_refund_no": record.out_refund_no,
        "amount": amount(record),
        "promotion_detail": [],
    })
}

/// The `amount` object apply and query share (no promotions: the payer gets it all).
fn amount(record: &RefundRecord<WeComOrder>) -> Value {
    json!({
        "refund": record.refund,
        "payer_refund": record.refund,
        "discount_refund": 0,
        "currency": "CNY",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::MAX_REFUNDS_PER_ORDER;

    const SETTLE: Duration = Duration::from_millis(300);
    const SPACING: Duration = Duration::from_secs(60);

    fn order(no: &str, total: i64, days: u64, final_status: FinalStatus) -> WeComOrder {
        WeComOrder {
            out_trade_no: no.to_string(),
            transaction_id: format!("42{no}"),
            total,
            paid_at: days_ago(days),
            final_status,
        }
    }

    fn ledger(spacing: Duration) -> WeComLedger {
        let mut l = WeComLedger::new(SETTLE, spacing);
        l.add_order(order("W000001", 1000, 1, FinalStatus::Success));
        l.add_order(order("W000002", 500, 1, FinalStatus::Closed));
        l.add_order(order("W000003", 1000, 400, FinalStatus::Success));
        l
    }

    fn apply_body(out_refund_no: &str, out_trade_no: &str, refund: i64, total: i64) -> Vec<u8> {
        json!({
            "mchid": MCHID,
            "appid": APPID,
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "reason": "售后退款",
            "amount": {"refund": refund, "total": total, "currency": "CNY"},
        })
        .to_string()
        .into_bytes()
    }

    fn apply(
        l: &mut WeComLedger,
        no: &str,
        order: &str,
        refund: i64,
        total: i64,
        now: SystemTime,
    ) -> Result<Value, WeComError> {
        l.serve(Api::Refund, &apply_body(no, order, refund, total), now)
    }

    fn detail(l: &mut WeComLedger, no: &str, now: SystemTime) -> Result<Value, WeComError> {
        let body = json!({"mchid": MCHID, "out_refund_no": no}).to_string();
        l.serve(Api::RefundDetail, body.as_bytes(), now)
    }

    fn code(result: Result<Value, WeComError>) -> i64 {
        answer(result)["errcode"].as_i64().unwrap_or(i64::MIN)
    }

    #[test]
    fn apply_answer_and_idempotency() {
        let mut l = ledger(Duration::ZERO);
        let now = SystemTime::now();
        let first = apply(&mut l, "R|1", "W000001", 300, 1000, now).expect("accepted");
        assert_eq!(
            first,
            json!({
                "out_refund_no": "R|1",
                "amount": {"refund": 300, "payer_refund": 300, "discount_refund": 0, "currency": "CNY"},
                "promotion_detail": [],
            })
        );
        let again = apply(&mut l, "R|1", "W000001", 300, 1000, now).expect("idempotent");
        assert_eq!(first, again);
        assert_eq!(l.refunds_for_order("W000001", now).len(), 1);

        // Same number with another amount or another order: 720503, nothing recorded.
        assert_eq!(
            code(apply(&mut l, "R|1", "W000001", 301, 1000, now)),
            720503
        );
        assert_eq!(code(apply(&mut l, "R|1", "W000002", 300, 500, now)), 720503);
        assert!(l.refunds_for_order("W000002", now).is_empty());

        let refund = detail(&mut l, "R|1", now).expect("found");
        assert_eq!(refund["status"], "PROCESSING");
        assert_eq!(refund["out_trade_no"], "W000001");
        assert_eq!(refund["transaction_id"], "42W000001");
        assert!(refund["refund_id"].is_string());
        assert!(refund.get("success_time").is_none());
        assert_eq!(l.refunds_for_order("W000001", now), vec![refund]);
        let missing = detail(&mut l, "R2", now).expect_err("unknown");
        assert_eq!(missing.errcode, 720501);
        assert!(missing.errmsg.contains("out_refund_no[R2]"));
    }

    #[test]
    fn amount_window_and_count_rules() {
        let mut l = ledger(Duration::ZERO);
        let now = SystemTime::now();
        let unknown = apply(&mut l, "U1", "W999999", 1, 1000, now).expect_err("unknown");
        assert_eq!(
            unknown,
            WeComError::new(
                720501,
                "out_trade_no[W999999] not exists under mchid[1900000300]"
            )
        );
        let total = apply(&mut l, "T1", "W000001", 1, 999, now).expect_err("wrong total");
        assert_eq!(total.errcode, 40058);
        assert!(total.errmsg.contains("amount.total"), "{}", total.errmsg);

        apply(&mut l, "A1", "W000001", 700, 1000, now).expect("first");
        assert_eq!(code(apply(&mut l, "A2", "W000001", 301, 1000, now)), 720502);
        apply(&mut l, "A2", "W000001", 300, 1000, now).expect("exactly the rest");
        assert_eq!(code(apply(&mut l, "O1", "W000003", 1, 1000, now)), 720504);

        let mut l = ledger(Duration::ZERO);
        for i in 0..MAX_REFUNDS_PER_ORDER {
            apply(&mut l, &format!("N{i}"), "W000001", 1, 1000, now).expect("within limit");
        }
        assert_eq!(code(apply(&mut l, "N50", "W000001", 1, 1000, now)), 720505);
    }

    #[test]
    fn order_spacing_counts_every_request_including_idempotent_repeats() {
        let mut l = ledger(SPACING);
        let t0 = SystemTime::now();
        apply(&mut l, "S1", "W000001", 1, 1000, t0).expect("first");
        let err = apply(&mut l, "S2", "W000001", 1, 1000, t0 + SPACING / 2).expect_err("soon");
        assert_eq!(err, too_frequent());
        // An idempotent repeat is a request on the order too.
        let err = apply(&mut l, "S1", "W000001", 1, 1000, t0 + SPACING / 2).expect_err("repeat");
        assert_eq!(err.errcode, 45009);
        // Other orders and queries are not affected.
        apply(&mut l, "S3", "W000002", 1, 500, t0).expect("other order");
        detail(&mut l, "S1", t0).expect("query");

        // A refused request does not restart the window; the next one after it passes.
        let t1 = t0 + SPACING;
        let repeat = apply(&mut l, "S1", "W000001", 1, 1000, t1).expect("idempotent repeat");
        assert_eq!(repeat["out_refund_no"], "S1");
        // ...and that repeat restarted the window.
        let err = apply(&mut l, "S2", "W000001", 1, 1000, t1 + SPACING / 2).expect_err("soon");
        assert_eq!(err.errcode, 45009);
        apply(&mut l, "S2", "W000001", 1, 1000, t1 + SPACING).expect("a minute later");
        assert_eq!(l.refunds_for_order("W000001", t1).len(), 2);

        // Requests refused before the rules (unknown order, bad body) do not count.
        let mut l = ledger(SPACING);
        let bad = apply_body("S1", "W000001", 0, 1000);
        assert_eq!(code(l.serve(Api::Refund, &bad, t0)), 40058);
        apply(&mut l, "S1", "W000001", 1, 1000, t0).expect("first real request");
    }

    #[test]
    fn refunds_settle_and_closed_ones_release_their_amount() {
        let mut l = ledger(Duration::ZERO);
        let t0 = SystemTime::now();
        apply(&mut l, "C1", "W000002", 500, 500, t0).expect("accepted");
        assert_eq!(code(apply(&mut l, "C2", "W000002", 500, 500, t0)), 720502);
        let later = t0 + SETTLE;
        let closed = detail(&mut l, "C1", later).expect("found");
        assert_eq!(closed["status"], "CLOSED");
        assert!(closed.get("success_time").is_none());
        apply(&mut l, "C2", "W000002", 500, 500, later).expect("amount released");

        apply(&mut l, "OK1", "W000001", 100, 1000, t0).expect("accepted");
        let settled = detail(&mut l, "OK1", later).expect("found");
        assert_eq!(settled["status"], "SUCCESS");
        assert!(settled["success_time"].is_string());

        let mut abnormal = ledger(Duration::ZERO);
        abnormal.add_order(order("W000004", 800, 1, FinalStatus::Abnormal));
        apply(&mut abnormal, "AB1", "W000004", 800, 800, t0).expect("accepted");
        let refund = detail(&mut abnormal, "AB1", later).expect("found");
        assert_eq!(refund["status"], "ABNORMAL");
    }

    #[test]
    fn body_validation_names_the_field() {
        let mut l = ledger(Duration::ZERO);
        let now = SystemTime::now();
        let valid =
            serde_json::from_slice::<Value>(&apply_body("V1", "W000001", 1, 1000)).expect("json");
        // Each case sets one field (a JSON pointer) to an invalid value.
        let cases = [
            ("/mchid", json!("1900000100")),
            ("/appid", json!("wxd678efh567hg6787")),
            ("/out_trade_no", json!("W0001")),
            ("/out_refund_no", json!("R 1")),
            ("/reason", json!("x".repeat(81))),
            ("/funds_account", json!("UNSETTLED")),
            ("/amount/refund", json!("1")),
            ("/amount/currency", json!("USD")),
            ("/amount", Value::Null),
        ];
        for (pointer, value) in cases {
            let mut body = valid.clone();
            let slot = pointer
                .split('/')
                .skip(1)
                .fold(&mut body, |v, key| &mut v[key]);
            *slot = value;
            let field = pointer[1..].replace('/', ".");
            let err = l
                .serve(Api::Refund, body.to_string().as_bytes(), now)
                .expect_err(pointer);
            assert_eq!(err.errcode, 40058, "{field}");
            let expected = format!("invalid parameter {field}:");
            assert!(err.errmsg.starts_with(&expected), "{field}: {}", err.errmsg);
        }
        for body in ["", "{", "[]", "null"] {
            let err = l.serve(Api::Refund, body.as_bytes(), now).expect_err(body);
            assert_eq!(err.errcode, 40058);
        }
        let err = l
            .serve(Api::RefundDetail, br#"{"out_refund_no":"V1"}"#, now)
            .expect_err("no mchid");
        assert!(err.errmsg.starts_with("invalid parameter mchid:"));
        let mut ok = valid.clone();
        ok["funds_account"] = json!("AVAILABLE");
        l.serve(Api::Refund, ok.to_string().as_bytes(), now)
            .expect("valid with funds_account");
        assert_eq!(l.refunds_for_order("W000001", now).len(), 1);
    }

    #[test]
    fn token_lifecycle() {
        let mut tokens = TokenStore::new(Duration::from_secs(10));
        let t0 = SystemTime::now();
        let query = format!("corpid={CORPID}&corpsecret={CORPSECRET}");
        let issued = tokens.gettoken(Some(&query), t0).expect("token");
        assert_eq!(issued["expires_in"], 10);
        let token = issued["access_token"].as_str().expect("string").to_string();
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));

        let with = |token: &str| format!("access_token={token}");
        tokens.check(Some(&with(&token)), t0).expect("valid");
        let just_before = t0 + Duration::from_millis(9_999);
        tokens
            .check(Some(&with(&token)), just_before)
            .expect("valid");
        let expired = tokens
            .check(Some(&with(&token)), t0 + Duration::from_secs(10))
            .expect_err("expired");
        assert_eq!(expired, WeComError::new(42001, "access_token expired"));

        let direct = tokens.issue(t0);
        tokens
            .check(Some(&with(&direct)), t0)
            .expect("minted token");
        tokens.revoke();
        for token in [&token, &direct] {
            let err = tokens.check(Some(&with(token)), t0).expect_err("revoked");
            assert_eq!(err, WeComError::new(40014, "invalid access_token"));
        }
        let codes = |tokens: &TokenStore, query: Option<&str>| {
            tokens.check(query, t0).map_err(|e| e.errcode)
        };
        assert_eq!(codes(&tokens, None), Err(41001));
        assert_eq!(codes(&tokens, Some("access_token=")), Err(41001));
        assert_eq!(codes(&tokens, Some("access_token=%zz")), Err(40014));
        assert_eq!(codes(&tokens, Some("access_token=nope")), Err(40014));

        let gettoken = |tokens: &mut TokenStore, query: &str| {
            tokens.gettoken(Some(query), t0).map_err(|e| e.errcode)
        };
        let mut tokens = TokenStore::new(Duration::from_millis(1500));
        assert_eq!(
            gettoken(&mut tokens, &query).map(|v| v["expires_in"].clone()),
            Ok(json!(1))
        );
        assert_eq!(gettoken(&mut tokens, "corpsecret=x"), Err(41002));
        assert_eq!(gettoken(&mut tokens, "corpid=ww0&corpsecret=x"), Err(40013));
        assert_eq!(
            gettoken(&mut tokens, &format!("corpid={CORPID}")),
            Err(41004)
        );
        let wrong_secret = format!("corpid={CORPID}&corpsecret=wrong");
        assert_eq!(gettoken(&mut tokens, &wrong_secret), Err(40001));
        assert_eq!(tokens.gettoken(None, t0).map_err(|e| e.errcode), Err(41002));
        assert_eq!(tokens.gettoken_calls(), 6);
    }

    #[test]
    fn answers_and_configs() {
        assert_eq!(
            answer(Err(WeComError::system_busy())),
            json!({"errcode": -1, "errmsg": "system busy"})
        );
        assert_eq!(
            answer(Ok(json!({"a": 1}))),
            json!({"a": 1, "errcode": 0, "errmsg": "ok"})
        );
        assert_eq!(
            answer(Ok(Value::Null)),
            json!({"errcode": 0, "errmsg": "ok"})
        );
        assert_eq!(
            WeComError::from(Refusal::TooFrequent).errmsg,
            "refund too frequent for this order"
        );
        let fixed = client_config("http://x", Some("tok"));
        assert_eq!(fixed["access_token"], "tok");
        assert!(fixed.get("corpid").is_none() && fixed.get("corpsecret").is_none());
        let fetched = client_config("http://x", None);
        assert_eq!(fetched["corpid"], CORPID);
        assert_eq!(fetched.as_object().map(Map::len), Some(8));
        for config in [&fixed, &fetched] {
            assert_eq!(config["callback_token"], CALLBACK_TOKEN);
            assert_eq!(config["encoding_aes_key"], ENCODING_AES_KEY);
        }
        assert_eq!(
            Endpoint::for_path("/cgi-bin/gettoken"),
            Some(Endpoint::GetToken)
        );
        assert_eq!(Endpoint::for_path("/cgi-bin/miniapppay/get_refund"), None);
    }

    #[test]
    fn demo_orders_match_the_documentation() {
        let orders = demo_orders();
        let summary: Vec<_> = orders
            .iter()
            .map(|o| {
                (
                    o.out_trade_no.as_str(),
                    o.transaction_id.as_str(),
                    o.total,
                    o.final_status,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "W20261122000001",
                    "4200000003202611220000000001",
                    10000,
                    FinalStatus::Success
                ),
                (
                    "W20261122000002",
                    "4200000003202611220000000002",
                    500,
                    FinalStatus::Closed
                ),
                (
                    "W20261122000003",
                    "4200000003202611220000000003",
                    800,
                    FinalStatus::Abnormal
                ),
                (
                    "W20251101000001",
                    "4200000003202511010000000001",
                    1000,
                    FinalStatus::Success
                ),
            ]
        );
        assert!(orders[3].paid_at < days_ago(399));
        assert!(orders[0].paid_at > days_ago(2));
    }
}
