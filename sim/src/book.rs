//! What the refund families (mainland, Global, WeCom) share: order and refund storage, the
//! platform's refund limits (PROTOCOL §4.6, §5.1, §6.2), settlement timing and refund ids.
//!
//! A family's ledger ([`crate::ledger`], [`crate::global`], [`crate::wecom`]) owns a
//! [`Book`] and adds its own request checks and JSON shapes around it. The book refuses a
//! request with a [`Refusal`], which each family turns into its own error answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::clock::{epoch_secs, rfc3339_cst};
use crate::error::ApiError;
use crate::{FinalStatus, GlobalOrder, Order, WeComOrder};

/// Refunds are accepted within this long after payment.
const REFUND_WINDOW: Duration = Duration::from_secs(365 * 86_400);
/// Most refunds one order may have.
pub(crate) const MAX_REFUNDS_PER_ORDER: usize = 50;
/// Minimum gap between two refunds of one order when spacing is enforced.
pub(crate) const ORDER_SPACING: Duration = Duration::from_secs(60);

/// The facts about a paid order the shared refund rules need.
pub(crate) trait PaidOrder: Clone {
    /// Merchant order number, the key orders are stored under.
    fn out_trade_no(&self) -> &str;
    /// WeChat Pay order number.
    fn transaction_id(&self) -> &str;
    /// Amount paid, in minor units.
    fn total(&self) -> i64;
    /// When the payment succeeded.
    fn paid_at(&self) -> SystemTime;
    /// The state the order's refunds settle into.
    fn final_status(&self) -> FinalStatus;
}

/// Implements [`PaidOrder`] for order types that have the fields under the same names.
macro_rules! paid_order {
    ($($order:ty),+) => {$(
        impl PaidOrder for $order {
            fn out_trade_no(&self) -> &str {
                &self.out_trade_no
            }
            fn transaction_id(&self) -> &str {
                &self.transaction_id
            }
            fn total(&self) -> i64 {
                self.total
            }
            fn paid_at(&self) -> SystemTime {
                self.paid_at
            }
            fn final_status(&self) -> FinalStatus {
                self.final_status
            }
        }
    )+};
}

paid_order!(Order, GlobalOrder, WeComOrder);

/// Why the shared rules refuse a refund request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The refund number is taken by a refund of another order or amount.
    ConflictingReuse,
    /// The order was paid more than a year ago.
    WindowClosed,
    /// The order already has [`MAX_REFUNDS_PER_ORDER`] refunds.
    TooManyRefunds,
    /// The refund exceeds what is left of the order.
    ExceedsRefundable,
    /// The previous refund of the order is less than [`ORDER_SPACING`] old.
    TooFrequent,
}

/// The APIv3 answer (mainland and Global) to a refusal.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::ConflictingReuse => {
                ApiError::invalid("退款单号已存在，但订单或退款金额与原退款申请不一致")
            }
            Refusal::WindowClosed => ApiError::invalid("订单已超过退款期限"),
            Refusal::TooManyRefunds => ApiError::invalid("订单退款次数已达50次上限"),
            Refusal::ExceedsRefundable => ApiError::invalid("申请退款金额超过订单可退金额"),
            Refusal::TooFrequent => ApiError::new(
                429,
                "FREQUENCY_LIMITED",
                "频率限制，同一订单两次退款需间隔1分钟",
            ),
        }
    }
}

/// Where a refund is at a given time; each family names these states its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Not settled yet.
    Processing,
    /// Refunded, at this time.
    Success(SystemTime),
    /// Closed; its amount is refundable again.
    Closed,
    /// The original payment route failed.
    Abnormal,
}

impl Stage {
    /// The family's `status` string, given its name for the closed state, and the
    /// `success_time` to show.
    pub(crate) fn status(self, closed: &'static str) -> (&'static str, Option<SystemTime>) {
        match self {
            Stage::Processing => ("PROCESSING", None),
            Stage::Success(t) => ("SUCCESS", Some(t)),
            Stage::Closed => (closed, None),
            Stage::Abnormal => ("ABNORMAL", None),
        }
    }
}

/// One recorded refund, with a copy of its order so rendering never needs the order again.
#[derive(Debug, Clone)]
pub(crate) struct RefundRecord<O> {
    pub(crate) refund_id: String,
    pub(crate) out_refund_no: String,
    pub(crate) refund: i64,
    /// `amount.from` as applied (an array).
    pub(crate) from: Value,
    /// Where the final state is notified (the apply request's `notify_url`), if anywhere.
    pub(crate) notify_url: Option<String>,
    pub(crate) created: SystemTime,
    pub(crate) order: O,
    /// A final state forced by [`Book::settle_now`], with when it was forced.
    pub(crate) forced: Option<(FinalStatus, SystemTime)>,
    /// Mainland only: the refund was `ABNORMAL` and apply-abnormal-refund sent it another
    /// way; it is processing again from then and then succeeds.
    pub(crate) reroute: Option<Reroute>,
}

/// An `ABNORMAL` refund sent another way by apply-abnormal-refund (PROTOCOL §4.4).
#[derive(Debug, Clone)]
pub(crate) struct Reroute {
    /// When the refund became `ABNORMAL`.
    pub(crate) abnormal_at: SystemTime,
    /// When apply-abnormal-refund was accepted.
    pub(crate) at: SystemTime,
    /// Where the money goes now (no full card number, no name).
    pub(crate) route: crate::abnormal::Route,
}

impl<O> RefundRecord<O> {
    /// A new refund of `order`, created `now`, with a fresh refund id.
    fn new(
        out_refund_no: &str,
        refund: i64,
        from: &Value,
        notify_url: Option<&str>,
        order: O,
        now: SystemTime,
    ) -> RefundRecord<O> {
        RefundRecord {
            refund_id: next_refund_id(now),
            out_refund_no: out_refund_no.to_string(),
            refund,
            from: from.clone(),
            notify_url: notify_url.map(str::to_string),
            created: now,
            order,
            forced: None,
            reroute: None,
        }
    }
}

/// A refund that just reached its final state, as its notification announces it.
#[derive(Debug, Clone)]
pub(crate) struct Settled {
    /// The apply request's `notify_url`, if it had one.
    pub(crate) notify_url: Option<String>,
    /// The final state.
    pub(crate) stage: Stage,
    /// The notification's resource plaintext (PROTOCOL §3.3, §6.4).
    pub(crate) resource: Value,
}

/// The members of `source` (a JSON object) named in `names`; absent ones are skipped.
pub(crate) fn pick(source: &Value, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|name| Some((name.to_string(), source.get(*name)?.clone())))
        .collect()
}

/// A notification's resource plaintext: the `fields` of the query answer `refund` (absent
/// ones, like `success_time` before success, are skipped), its `status` as
/// `refund_status`, the `amount` object, and the merchant: `mchid`, or `sp_mchid` and
/// `sub_mchid` for a sub-merchant's refund.
pub(crate) fn notice(
    refund: &Value,
    fields: &[&str],
    amount: Value,
    mchid: &str,
    sub_mchid: Option<&str>,
) -> Value {
    let mut notice = pick(refund, fields);
    notice.insert("refund_status".to_string(), refund["status"].clone());
    notice.insert("amount".to_string(), amount);
    match sub_mchid {
        None => {
            notice.insert("mchid".to_string(), json!(mchid));
        }
        Some(sub_mchid) => {
            notice.insert("sp_mchid".to_string(), json!(mchid));
            notice.insert("sub_mchid".to_string(), json!(sub_mchid));
        }
    }
    Value::Object(notice)
}

/// The fields the mainland `Refund` object and the WeCom refund detail share (PROTOCOL
/// §4.3, §6.3): the refund and order numbers, the original-route channel and the creation
/// time. `status` and `success_time` come from [`Book::set_status`].
pub(crate) fn original_route_refund<O: PaidOrder>(record: &RefundRecord<O>) -> Value {
    json!({
        "refund_id": record.refund_id,
        "out_refund_no": record.out_refund_no,
        "transaction_id": record.order.transaction_id(),
        "out_trade_no": record.order.out_trade_no(),
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": rfc3339_cst(record.created),
    })
}

/// A family's view of its refunds: how one renders and is notified, and from that every
/// refund of an order and the refunds that just settled.
pub(crate) trait RefundViews<O: PaidOrder> {
    /// The family's book.
    fn book(&self) -> &Book<O>;

    /// The family's book, to take settled refunds from.
    fn book_mut(&mut self) -> &mut Book<O>;

    /// The refund as the family's query endpoint returns it at `now`.
    fn render(&self, record: &RefundRecord<O>, now: SystemTime) -> Value;

    /// The resource plaintext of the refund's notification at `now` (see [`notice`]).
    fn notification(&self, record: &RefundRecord<O>, now: SystemTime) -> Value;

    /// The refunds that reached their final state since the last call, oldest first.
    fn settle(&mut self, now: SystemTime) -> Vec<Settled> {
        let numbers = self.book_mut().take_settled(now);
        let book = self.book();
        numbers
            .iter()
            .filter_map(|no| book.refund(no))
            .map(|record| Settled {
                notify_url: record.notify_url.clone(),
                stage: book.stage(record, now),
                resource: self.notification(record, now),
            })
            .collect()
    }

    /// Every refund of an order as the query returns it, oldest first.
    fn refunds_for_order(&self, out_trade_no: &str, now: SystemTime) -> Vec<Value> {
        self.book()
            .refunds_of(out_trade_no)
            .into_iter()
            .map(|r| self.render(r, now))
            .collect()
    }
}

/// Next refund number; global so two simulators in one process never share ids.
static REFUND_SEQ: AtomicU64 = AtomicU64::new(1);

/// `50` + 28 digits: 14 from the clock, 14 from a counter.
fn next_refund_id(now: SystemTime) -> String {
    let seq = REFUND_SEQ.fetch_add(1, Ordering::Relaxed) % 100_000_000_000_000;
    let secs = epoch_secs(now).rem_euclid(100_000_000_000_000);
    format!("50{secs:014}{seq:014}")
}

/// The orders and refunds of one family.
#[derive(Debug)]
pub(crate) struct Book<O> {
    settle_after: Duration,
    enforce_order_spacing: bool,
    orders: HashMap<String, O>,
    /// transaction_id → out_trade_no.
    by_transaction: HashMap<String, String>,
    /// out_refund_no → refund (refund numbers are unique per merchant).
    refunds: HashMap<String, RefundRecord<O>>,
    /// refund_id → out_refund_no.
    by_refund_id: HashMap<String, String>,
    /// out_trade_no → its refunds' out_refund_no, oldest first.
    order_refunds: HashMap<String, Vec<String>>,
    /// out_refund_no of the refunds not yet taken by [`Book::take_settled`], oldest first.
    unsettled: Vec<String>,
}

impl<O: PaidOrder> Book<O> {
    /// An empty book with the given settlement delay and spacing rule.
    pub(crate) fn new(settle_after: Duration, enforce_order_spacing: bool) -> Book<O> {
        Book {
            settle_after,
            enforce_order_spacing,
            orders: HashMap::new(),
            by_transaction: HashMap::new(),
            refunds: HashMap::new(),
            by_refund_id: HashMap::new(),
            order_refunds: HashMap::new(),
            unsettled: Vec::new(),
        }
    }

    /// Adds (or replaces) an order, keyed by `out_trade_no`.
    pub(crate) fn add_order(&mut self, order: O) {
        if let Some(old) = self.orders.get(order.out_trade_no()) {
            self.by_transaction.remove(old.transaction_id());
        }
        self.by_transaction.insert(
            order.transaction_id().to_string(),
            order.out_trade_no().to_string(),
        );
        self.orders.insert(order.out_trade_no().to_string(), order);
    }

    /// Finds the order a request refers to (`transaction_id` wins when both are given);
    /// `not_found` is the family's answer for an unknown order.
    pub(crate) fn find_order(
        &self,
        transaction_id: Option<&str>,
        out_trade_no: Option<&str>,
        not_found: ApiError,
    ) -> Result<&O, ApiError> {
        let key = match transaction_id {
            Some(tx) => self.by_transaction.get(tx).map(String::as_str),
            None => out_trade_no,
        };
        let order = key.and_then(|key| self.order(key)).ok_or(not_found)?;
        if out_trade_no.is_some_and(|given| given != order.out_trade_no()) {
            return Err(ApiError::invalid("transaction_id与out_trade_no不匹配"));
        }
        Ok(order)
    }

    /// The order with this merchant order number.
    pub(crate) fn order(&self, out_trade_no: &str) -> Option<&O> {
        self.orders.get(out_trade_no)
    }

    /// Idempotency: the refund already recorded under `out_refund_no` when it is for the
    /// same order and amount (a retry), `None` for a new number, an error otherwise.
    pub(crate) fn retry_of(
        &self,
        out_refund_no: &str,
        out_trade_no: &str,
        refund: i64,
    ) -> Result<Option<&RefundRecord<O>>, Refusal> {
        match self.refunds.get(out_refund_no) {
            None => Ok(None),
            Some(existing)
                if existing.order.out_trade_no() == out_trade_no && existing.refund == refund =>
            {
                Ok(Some(existing))
            }
            Some(_) => Err(Refusal::ConflictingReuse),
        }
    }

    /// Records a new refund of `order` if the platform's limits allow it (see
    /// [`Book::admit`]); returns a copy of the new record. Its final state will be notified
    /// to `notify_url`.
    pub(crate) fn open(
        &mut self,
        order: O,
        out_refund_no: &str,
        refund: i64,
        from: &Value,
        notify_url: Option<&str>,
        now: SystemTime,
    ) -> Result<RefundRecord<O>, Refusal> {
        self.admit(&order, refund, now)?;
        let record = RefundRecord::new(out_refund_no, refund, from, notify_url, order, now);
        self.unsettled.push(record.out_refund_no.clone());
        self.order_refunds
            .entry(record.order.out_trade_no().to_string())
            .or_default()
            .push(record.out_refund_no.clone());
        self.by_refund_id
            .insert(record.refund_id.clone(), record.out_refund_no.clone());
        self.refunds
            .insert(record.out_refund_no.clone(), record.clone());
        Ok(record)
    }

    /// The platform's limits on a new refund of `order`: the one-year window, at most 50
    /// refunds, the refundable amount and (when enforced) one refund per order a minute.
    fn admit(&self, order: &O, refund: i64, now: SystemTime) -> Result<(), Refusal> {
        let window_closed = order
            .paid_at()
            .checked_add(REFUND_WINDOW)
            .is_some_and(|deadline| deadline < now);
        if window_closed {
            return Err(Refusal::WindowClosed);
        }
        let existing = self.refunds_of(order.out_trade_no());
        if existing.len() >= MAX_REFUNDS_PER_ORDER {
            return Err(Refusal::TooManyRefunds);
        }
        // Closed refunds give their amount back; every other state still holds it.
        let held: i64 = existing
            .iter()
            .filter(|r| self.stage(r, now) != Stage::Closed)
            .map(|r| r.refund)
            .sum();
        if held.saturating_add(refund) > order.total() {
            return Err(Refusal::ExceedsRefundable);
        }
        if self.enforce_order_spacing {
            let last = existing.iter().map(|r| r.created).max();
            let too_soon = last
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|gap| gap < ORDER_SPACING);
            if too_soon {
                return Err(Refusal::TooFrequent);
            }
        }
        Ok(())
    }

    /// The refund with this merchant refund number.
    pub(crate) fn refund(&self, out_refund_no: &str) -> Option<&RefundRecord<O>> {
        self.refunds.get(out_refund_no)
    }

    /// Settles a still-processing refund now into `status`. `None`: no such refund;
    /// `Some(Err(stage))`: it is already final, in `stage`.
    pub(crate) fn settle_now(
        &mut self,
        out_refund_no: &str,
        status: FinalStatus,
        now: SystemTime,
    ) -> Option<Result<(), Stage>> {
        let stage = self.stage(self.refunds.get(out_refund_no)?, now);
        if stage != Stage::Processing {
            return Some(Err(stage));
        }
        let record = self.refunds.get_mut(out_refund_no)?;
        record.forced = Some((status, now));
        Some(Ok(()))
    }

    /// Sends an `ABNORMAL` refund another way at `now`: it is processing again, then
    /// succeeds `settle_after` later and is notified again. `None`: no such refund.
    pub(crate) fn reroute(
        &mut self,
        out_refund_no: &str,
        route: crate::abnormal::Route,
        now: SystemTime,
    ) -> Option<()> {
        let abnormal_at = self.settled_at(self.refunds.get(out_refund_no)?, now);
        let record = self.refunds.get_mut(out_refund_no)?;
        record.forced = None;
        record.reroute = Some(Reroute {
            abnormal_at,
            at: now,
            route,
        });
        if !self.unsettled.iter().any(|no| no == out_refund_no) {
            self.unsettled.push(out_refund_no.to_string());
        }
        Some(())
    }

    /// Every order, sorted by `out_trade_no`.
    pub(crate) fn orders(&self) -> Vec<&O> {
        let mut orders: Vec<&O> = self.orders.values().collect();
        orders.sort_by(|a, b| a.out_trade_no().cmp(b.out_trade_no()));
        orders
    }

    /// Every refund, oldest first.
    pub(crate) fn all_refunds(&self) -> Vec<&RefundRecord<O>> {
        let mut refunds: Vec<&RefundRecord<O>> = self.refunds.values().collect();
        refunds.sort_by(|a, b| (a.created, &a.refund_id).cmp(&(b.created, &b.refund_id)));
        refunds
    }

    /// The refund with this WeChat Pay refund id.
    pub(crate) fn refund_by_id(&self, refund_id: &str) -> Option<&RefundRecord<O>> {
        self.by_refund_id
            .get(refund_id)
            .and_then(|no| self.refunds.get(no))
    }

    /// Every refund of an order, oldest first.
    pub(crate) fn refunds_of(&self, out_trade_no: &str) -> Vec<&RefundRecord<O>> {
        self.order_refunds
            .get(out_trade_no)
            .map(|nos| nos.iter().filter_map(|no| self.refunds.get(no)).collect())
            .unwrap_or_default()
    }

    /// The refund numbers of the refunds that reached their final state at `now` and were
    /// not taken before, oldest first; each is taken once.
    pub(crate) fn take_settled(&mut self, now: SystemTime) -> Vec<String> {
        let (settled, unsettled) =
            std::mem::take(&mut self.unsettled)
                .into_iter()
                .partition(|no| {
                    self.refunds
                        .get(no)
                        .is_none_or(|record| self.stage(record, now) != Stage::Processing)
                });
        self.unsettled = unsettled;
        settled
    }

    /// Sets a refund object's `status` at `now` (`closed` is the family's name for the closed
    /// state) and, once it succeeded, its `success_time`.
    pub(crate) fn set_status(
        &self,
        refund: &mut Value,
        record: &RefundRecord<O>,
        now: SystemTime,
        closed: &'static str,
    ) {
        let (status, success_time) = self.stage(record, now).status(closed);
        refund["status"] = json!(status);
        if let Some(t) = success_time {
            refund["success_time"] = json!(rfc3339_cst(t));
        }
    }

    /// The refund's status changes up to `now`, oldest first, each as `{"status", "at"}`:
    /// `PROCESSING` when it was created, then, once settled, `status` (the family's name
    /// for its final state, as rendered) when it settled. A rerouted refund shows
    /// `ABNORMAL` and `PROCESSING` again in between.
    pub(crate) fn status_history(
        &self,
        record: &RefundRecord<O>,
        now: SystemTime,
        status: &Value,
    ) -> Value {
        let mut history = vec![json!({"status": "PROCESSING", "at": rfc3339_cst(record.created)})];
        if let Some(reroute) = &record.reroute {
            history.push(json!({"status": "ABNORMAL", "at": rfc3339_cst(reroute.abnormal_at)}));
            history.push(json!({"status": "PROCESSING", "at": rfc3339_cst(reroute.at)}));
        }
        if self.stage(record, now) != Stage::Processing {
            let at = self.settled_at(record, now);
            history.push(json!({"status": status, "at": rfc3339_cst(at)}));
        }
        Value::Array(history)
    }

    /// When a settled refund reached its current final state: when it was forced, else
    /// `settle_after` after it was created or rerouted.
    fn settled_at(&self, record: &RefundRecord<O>, now: SystemTime) -> SystemTime {
        match (record.forced, &record.reroute) {
            (Some((_, at)), _) => at,
            (None, Some(reroute)) => reroute.at.checked_add(self.settle_after).unwrap_or(now),
            (None, None) => record.created.checked_add(self.settle_after).unwrap_or(now),
        }
    }

    /// Stage at `now`: processing until `settle_after` has passed, then the order's final
    /// state; a rerouted refund is processing for `settle_after` after the reroute, then
    /// succeeds. A state forced by [`Book::settle_now`] wins (a reroute clears it).
    pub(crate) fn stage(&self, record: &RefundRecord<O>, now: SystemTime) -> Stage {
        if let Some((status, at)) = record.forced {
            return match status {
                FinalStatus::Success => Stage::Success(at),
                FinalStatus::Closed => Stage::Closed,
                FinalStatus::Abnormal => Stage::Abnormal,
            };
        }
        let (since, final_status) = match &record.reroute {
            Some(reroute) => (reroute.at, FinalStatus::Success),
            None => (record.created, record.order.final_status()),
        };
        let elapsed = now.duration_since(since).unwrap_or_default();
        if elapsed < self.settle_after {
            return Stage::Processing;
        }
        match final_status {
            FinalStatus::Success => {
                Stage::Success(since.checked_add(self.settle_after).unwrap_or(now))
            }
            FinalStatus::Closed => Stage::Closed,
            FinalStatus::Abnormal => Stage::Abnormal,
        }
    }
}
