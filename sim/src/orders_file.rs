//! Orders to seed, read from a JSON file (`wxrefund-sim --orders FILE`).
//!
//! The file is one JSON object with up to three arrays, each optional:
//!
//! ```json
//! {
//!   "domestic": [{"out_trade_no": "T1", "transaction_id": "4200000001", "total": 10000,
//!                 "sub_mchid": null, "paid_days_ago": 0, "final_status": "SUCCESS"}],
//!   "global":   [{"out_trade_no": "G1", "transaction_id": "4200000002", "total": 10000,
//!                 "currency": "USD", "payer_currency": "CNY", "settlement_currency": "HKD",
//!                 "rate": 780000000, "sub_mchid": null, "paid_days_ago": 0,
//!                 "final_status": "SUCCESS"}],
//!   "wecom":    [{"out_trade_no": "W1", "transaction_id": "4200000003", "total": 10000,
//!                 "paid_days_ago": 0, "final_status": "SUCCESS"}]
//! }
//! ```
//!
//! * `out_trade_no` (1–32 characters, unique within its array), `transaction_id` (1–32
//!   characters) and `total` (a positive integer: fen, or minor units of `currency` for
//!   Global) are required;
//! * `sub_mchid`: a string (partner-mode order, or Global institution-mode order of that
//!   sub-merchant) or `null`/absent (direct order); not allowed for `wecom`;
//! * `paid_days_ago`: integer 0–36500, default 0 (refunds are refused past 365);
//! * `final_status`: `SUCCESS` (default), `CLOSED` or `ABNORMAL`, the state refunds of the
//!   order settle into;
//! * Global only, required: `currency`, `payer_currency`, `settlement_currency` (three
//!   upper-case letters) and `rate` (positive integer, exchange rate × 10^8).
//!
//! Unknown keys are refused, at the top level and in orders. An error names the file, the
//! array and index of the order, and the field, e.g.
//! `orders.json: global[2].rate: expected a positive integer`. The orders are added to the
//! demo orders (replacing one with the same `out_trade_no`).

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::{FinalStatus, GlobalOrder, Order, Simulator, WeComOrder};

/// Orders read from an orders file; see the [module documentation](self) for the format.
#[derive(Debug, Clone, Default)]
pub struct OrderFile {
    /// Mainland orders (`"domestic"`).
    pub domestic: Vec<Order>,
    /// WeChat Pay Global orders (`"global"`).
    pub global: Vec<GlobalOrder>,
    /// WeCom orders (`"wecom"`).
    pub wecom: Vec<WeComOrder>,
}

const DOMESTIC_KEYS: &[&str] = &[
    "out_trade_no",
    "transaction_id",
    "total",
    "sub_mchid",
    "paid_days_ago",
    "final_status",
];
const GLOBAL_KEYS: &[&str] = &[
    "out_trade_no",
    "transaction_id",
    "total",
    "currency",
    "payer_currency",
    "settlement_currency",
    "rate",
    "sub_mchid",
    "paid_days_ago",
    "final_status",
];
const WECOM_KEYS: &[&str] = &[
    "out_trade_no",
    "transaction_id",
    "total",
    "paid_days_ago",
    "final_status",
];

/// One order object being read, and where it is (for error messages).
struct Fields<'a> {
    object: &'a Map<String, Value>,
    at: String,
}

impl Fields<'_> {
    fn error(&self, field: &str, what: &str) -> String {
        format!("{}.{field}: {what}", self.at)
    }

    fn text(&self, field: &str, max: usize) -> Result<String, String> {
        match self.object.get(field) {
            None => Err(self.error(field, "missing")),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s.clone()),
            Some(_) => Err(self.error(field, &format!("expected a string of 1-{max} characters"))),
        }
    }

    fn positive(&self, field: &str) -> Result<i64, String> {
        match self.object.get(field) {
            None => Err(self.error(field, "missing")),
            Some(v) => match v.as_i64() {
                Some(n) if n > 0 => Ok(n),
                _ => Err(self.error(field, "expected a positive integer")),
            },
        }
    }

    fn currency(&self, field: &str) -> Result<String, String> {
        match self.object.get(field) {
            None => Err(self.error(field, "missing")),
            Some(Value::String(s)) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) => {
                Ok(s.clone())
            }
            Some(_) => Err(self.error(field, "expected three upper-case letters, e.g. \"USD\"")),
        }
    }

    fn sub_mchid(&self) -> Result<Option<String>, String> {
        match self.object.get("sub_mchid") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 32 => Ok(Some(s.clone())),
            Some(_) => Err(self.error("sub_mchid", "expected null or a string of 1-32 characters")),
        }
    }

    fn paid_at(&self, now: SystemTime) -> Result<SystemTime, String> {
        let days = match self.object.get("paid_days_ago") {
            None => 0,
            Some(v) => match v.as_u64() {
                Some(n) if n <= 36_500 => n,
                _ => return Err(self.error("paid_days_ago", "expected an integer 0-36500")),
            },
        };
        Ok(now - Duration::from_secs(days * 86_400))
    }

    fn final_status(&self) -> Result<FinalStatus, String> {
        match self.object.get("final_status") {
            None => Ok(FinalStatus::Success),
            Some(Value::String(s)) if s == "SUCCESS" => Ok(FinalStatus::Success),
            Some(Value::String(s)) if s == "CLOSED" => Ok(FinalStatus::Closed),
            Some(Value::String(s)) if s == "ABNORMAL" => Ok(FinalStatus::Abnormal),
            Some(_) => Err(self.error(
                "final_status",
                "expected \"SUCCESS\", \"CLOSED\" or \"ABNORMAL\"",
            )),
        }
    }
}

/// Calls `read` on each order object of `array` (named `name`), checking its keys against
/// `allowed` and that `out_trade_no` is unique.
fn each<T>(
    top: &Map<String, Value>,
    name: &str,
    allowed: &[&str],
    mut read: impl FnMut(&Fields) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let Some(value) = top.get(name) else {
        return Ok(Vec::new());
    };
    let Some(array) = value.as_array() else {
        return Err(format!("{name}: expected an array of orders"));
    };
    let mut seen = std::collections::HashSet::new();
    let mut orders = Vec::with_capacity(array.len());
    for (index, item) in array.iter().enumerate() {
        let at = format!("{name}[{index}]");
        let Some(object) = item.as_object() else {
            return Err(format!("{at}: expected an object"));
        };
        if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "{at}.{key}: unknown field (expected {})",
                allowed.join(", ")
            ));
        }
        let fields = Fields { object, at };
        let order = read(&fields)?;
        let no = fields.text("out_trade_no", 32)?;
        if !seen.insert(no) {
            return Err(fields.error("out_trade_no", "duplicate in this array"));
        }
        orders.push(order);
    }
    Ok(orders)
}

impl OrderFile {
    /// Parses the orders file text; errors start with `name` (the file name), then name
    /// the order and the field.
    pub fn parse(text: &str, name: &str) -> Result<OrderFile, String> {
        Self::parse_at(text, SystemTime::now()).map_err(|e| format!("{name}: {e}"))
    }

    pub(crate) fn parse_at(text: &str, now: SystemTime) -> Result<OrderFile, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Some(top) = value.as_object() else {
            return Err(
                "expected an object with \"domestic\", \"global\" and/or \"wecom\" arrays".into(),
            );
        };
        if let Some(key) = top
            .keys()
            .find(|k| !["domestic", "global", "wecom"].contains(&k.as_str()))
        {
            return Err(format!(
                "{key}: unknown field (expected domestic, global, wecom)"
            ));
        }
        let domestic = each(top, "domestic", DOMESTIC_KEYS, |f| {
            Ok(Order {
                out_trade_no: f.text("out_trade_no", 32)?,
                transaction_id: f.text("transaction_id", 32)?,
                total: f.positive("total")?,
                sub_mchid: f.sub_mchid()?,
                paid_at: f.paid_at(now)?,
                final_status: f.final_status()?,
            })
        })?;
        let global = each(top, "global", GLOBAL_KEYS, |f| {
            Ok(GlobalOrder {
                out_trade_no: f.text("out_trade_no", 32)?,
                transaction_id: f.text("transaction_id", 32)?,
                total: f.positive("total")?,
                currency: f.currency("currency")?,
                payer_currency: f.currency("payer_currency")?,
                settlement_currency: f.currency("settlement_currency")?,
                rate: f.positive("rate")?,
                sub_mchid: f.sub_mchid()?,
                paid_at: f.paid_at(now)?,
                final_status: f.final_status()?,
            })
        })?;
        let wecom = each(top, "wecom", WECOM_KEYS, |f| {
            Ok(WeComOrder {
                out_trade_no: f.text("out_trade_no", 32)?,
                transaction_id: f.text("transaction_id", 32)?,
                total: f.positive("total")?,
                paid_at: f.paid_at(now)?,
                final_status: f.final_status()?,
            })
        })?;
        Ok(OrderFile {
            domestic,
            global,
            wecom,
        })
    }

    /// Reads and parses the orders file at `path`; errors name the file.
    pub fn load(path: &Path) -> Result<OrderFile, String> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
        Self::parse(&text, &name)
    }

    /// Adds every order to `sim`.
    pub fn add_to(self, sim: &Simulator) {
        self.domestic.into_iter().for_each(|o| sim.add_order(o));
        self.global
            .into_iter()
            .for_each(|o| sim.add_global_order(o));
        self.wecom.into_iter().for_each(|o| sim.add_wecom_order(o));
    }

    /// How many orders the file holds, all families together.
    pub fn len(&self) -> usize {
        self.domestic.len() + self.global.len() + self.wecom.len()
    }

    /// Whether the file holds no order.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OrderFile, String> {
        OrderFile::parse(text, "o.json")
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../examples/orders.json");
        let file = parse(text).unwrap();
        assert!(!file.domestic.is_empty() && !file.global.is_empty() && !file.wecom.is_empty());
    }

    #[test]
    fn defaults_and_fields() {
        let file =
            parse(r#"{"domestic":[{"out_trade_no":"A","transaction_id":"1","total":5}]}"#).unwrap();
        let order = &file.domestic[0];
        assert_eq!((order.total, order.sub_mchid.clone()), (5, None));
        assert_eq!(order.final_status, FinalStatus::Success);
        assert!(file.global.is_empty() && file.wecom.is_empty());
    }

    #[test]
    fn errors_name_file_index_and_field() {
        let cases = [
            (
                r#"{"domestic":[{"out_trade_no":"A","transaction_id":"1","total":0}]}"#,
                "o.json: domestic[0].total:",
            ),
            (
                r#"{"wecom":[{"out_trade_no":"A","transaction_id":"1","total":1},{"out_trade_no":"B","transaction_id":"1","total":1,"sub_mchid":null}]}"#,
                "o.json: wecom[1].sub_mchid: unknown field",
            ),
            (
                r#"{"global":[{"out_trade_no":"A","transaction_id":"1","total":1,"currency":"usd","payer_currency":"CNY","settlement_currency":"HKD","rate":1}]}"#,
                "o.json: global[0].currency:",
            ),
            (
                r#"{"global":[{"out_trade_no":"A","transaction_id":"1","total":1,"currency":"USD","payer_currency":"CNY","settlement_currency":"HKD"}]}"#,
                "o.json: global[0].rate: missing",
            ),
            (
                r#"{"domestic":[{"out_trade_no":"A","transaction_id":"1","total":1,"final_status":"DONE"}]}"#,
                "o.json: domestic[0].final_status:",
            ),
            (
                r#"{"domestic":[{"out_trade_no":"A","transaction_id":"1","total":1},{"out_trade_no":"A","transaction_id":"2","total":1}]}"#,
                "o.json: domestic[1].out_trade_no: duplicate",
            ),
            (r#"{"hk":[]}"#, "o.json: hk: unknown field"),
            (r#"{"domestic":{}}"#, "o.json: domestic: expected an array"),
            ("[", "o.json: not JSON"),
        ];
        for (text, start) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with(start), "{text}: {error}");
        }
    }
}
