//! Request-body field checks shared by the mainland, Global and WeCom endpoints.
//!
//! Every failure is a 400 PARAM_ERROR whose `detail.field` is a JSON pointer into the body
//! (WeCom turns it into its own `errcode` answer).

use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// Parses a request body that must be a JSON object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::param("/", &Value::Null, format!("请求体不是合法的JSON：{e}")))?;
    match root {
        Value::Object(obj) => Ok(obj),
        other => Err(ApiError::param("/", &other, "请求体应为JSON对象")),
    }
}

/// Reads an optional string field; JSON `null` is refused like the platform does.
pub(crate) fn optional_str(
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

/// Reads an optional string field of `obj` (at `/field`) whose length must be in
/// `[min, max]` bytes.
pub(crate) fn optional_str_len(
    obj: &Map<String, Value>,
    field: &str,
    min: usize,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let path = format!("/{field}");
    let value = optional_str(obj, field, &path)?;
    if let Some(v) = &value {
        check_len(v, &path, min, max)?;
    }
    Ok(value)
}

/// Reads a required string field of `obj` (at `/field`) of `[min, max]` bytes.
pub(crate) fn required_str_len(
    obj: &Map<String, Value>,
    field: &str,
    min: usize,
    max: usize,
) -> Result<String, ApiError> {
    optional_str_len(obj, field, min, max)?
        .ok_or_else(|| ApiError::param(&format!("/{field}"), &Value::Null, format!("缺少{field}")))
}

/// Reads a required positive integer amount field.
pub(crate) fn positive_amount(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<i64, ApiError> {
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
pub(crate) fn check_len(value: &str, path: &str, min: usize, max: usize) -> Result<(), ApiError> {
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

/// The order reference: at least one of `transaction_id` (1 to 32 bytes) and
/// `out_trade_no` (`out_trade_no_min` to 32 bytes).
pub(crate) fn order_reference(
    obj: &Map<String, Value>,
    out_trade_no_min: usize,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let transaction_id = optional_str_len(obj, "transaction_id", 1, 32)?;
    let out_trade_no = optional_str_len(obj, "out_trade_no", out_trade_no_min, 32)?;
    if transaction_id.is_none() && out_trade_no.is_none() {
        return Err(ApiError::param(
            "/transaction_id",
            &Value::Null,
            "transaction_id和out_trade_no必须二选一",
        ));
    }
    Ok((transaction_id, out_trade_no))
}

/// `out_refund_no`: required, 1 to 64 bytes of `[0-9A-Za-z_-|*@]`.
pub(crate) fn out_refund_no(obj: &Map<String, Value>) -> Result<String, ApiError> {
    let out_refund_no = required_str_len(obj, "out_refund_no", 1, 64)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-|*@".contains(c);
    if !out_refund_no.chars().all(allowed) {
        return Err(ApiError::param(
            "/out_refund_no",
            &json!(out_refund_no),
            "只能包含数字、大小写字母和_-|*@",
        ));
    }
    Ok(out_refund_no)
}

/// The optional `reason` (1 to 80 bytes, no 4-byte UTF-8 characters) every family accepts.
pub(crate) fn reason(obj: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(reason) = optional_str_len(obj, "reason", 1, 80)? {
        // The platform only accepts characters that take 1-3 bytes in UTF-8.
        if reason.chars().any(|c| c.len_utf8() > 3) {
            return Err(ApiError::param(
                "/reason",
                &json!(reason),
                "不支持4字节字符",
            ));
        }
    }
    Ok(())
}

/// The optional `reason` and `notify_url` fields both APIv3 families accept; returns the
/// `notify_url`.
pub(crate) fn reason_and_notify_url(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    reason(obj)?;
    let notify_url = optional_str_len(obj, "notify_url", 8, 256)?;
    if let Some(url) = &notify_url {
        if url.contains('?') {
            return Err(ApiError::param("/notify_url", &json!(url), "不能携带参数"));
        }
    }
    Ok(notify_url)
}

/// `amount.currency`: a required string of 1 to `max` bytes.
pub(crate) fn currency(amount: &Map<String, Value>, max: usize) -> Result<String, ApiError> {
    let currency = optional_str(amount, "currency", "/amount/currency")?
        .ok_or_else(|| ApiError::param("/amount/currency", &Value::Null, "缺少currency"))?;
    check_len(&currency, "/amount/currency", 1, max)?;
    Ok(currency)
}

/// `amount.currency` of a CNY-only family: [`currency`], and it must be `CNY`.
pub(crate) fn cny_currency(amount: &Map<String, Value>, max: usize) -> Result<(), ApiError> {
    let currency = currency(amount, max)?;
    if currency == "CNY" {
        Ok(())
    } else {
        Err(ApiError::param(
            "/amount/currency",
            &json!(currency),
            "currency仅支持CNY",
        ))
    }
}

/// The `amount` object, required.
pub(crate) fn amount_object(obj: &Map<String, Value>) -> Result<&Map<String, Value>, ApiError> {
    let amount = obj
        .get("amount")
        .ok_or_else(|| ApiError::param("/amount", &Value::Null, "缺少amount"))?;
    amount
        .as_object()
        .ok_or_else(|| ApiError::param("/amount", amount, "amount应为对象"))
}

/// `amount.from`, absent or `[{<key>: one of allowed, amount > 0}]` without duplicate
/// sources and with amounts summing to the refund. Returns it as given, or an empty array.
pub(crate) fn amount_from(
    amount: &Map<String, Value>,
    key: &str,
    allowed: &[&str],
    refund: i64,
) -> Result<Value, ApiError> {
    let Some(from) = amount.get("from") else {
        return Ok(json!([]));
    };
    let items = from
        .as_array()
        .ok_or_else(|| ApiError::param("/amount/from", from, "from应为数组"))?;
    let mut sources = Vec::new();
    let mut sum: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        let path = format!("/amount/from/{i}");
        let source = item.get(key).and_then(Value::as_str);
        let amount = item.get("amount").and_then(Value::as_i64);
        match (source, amount) {
            (Some(source), Some(n)) if n > 0 && allowed.contains(&source) => {
                if sources.contains(&source) {
                    return Err(ApiError::param(&path, item, "出资账户重复"));
                }
                sources.push(source);
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
    Ok(from.clone())
}
