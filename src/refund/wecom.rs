//! WeCom (企业微信) mini-program external payment refunds (PROTOCOL.md §6):
//! apply and query, plus the local one-request-per-order-per-minute guard.

use super::{
    check_charset, check_out_refund_no, check_reason, check_refund_amounts, Refund, RefundQuery,
};
use crate::config::{Config, Family, WECOM_BASE_URL};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::Call;
use crate::notify::wecom::CallbackKeys;
use crate::notify::{Headers, Notification};
use crate::wecom_api::{AccessTokenProvider, WeComApi};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Apply for a WeCom refund: the body of `POST cgi-bin/miniapppay/refund`.
/// `mchid` and `appid` come from the configuration. The answer means
/// "accepted" only; the result comes from a query or the notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Merchant order number, 6-32 characters (WeCom has no `transaction_id` here).
    pub out_trade_no: String,
    /// Merchant refund number, 1-64 of `[0-9A-Za-z_-|*@]`; reuse it for every retry.
    pub out_refund_no: String,
    /// Shown to the payer; 1-80 bytes, no emoji.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Amounts, in fen.
    pub amount: Amount,
    /// `AVAILABLE`: refund from the secondary merchant balance when the order awaits profit sharing.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub funds_account: Option<String>,
}

/// `amount` of a WeCom refund request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Amount to refund, fen; at most `total`.
    pub refund: i64,
    /// The original order total, fen.
    pub total: i64,
    /// `CNY`.
    pub currency: String,
}

impl RefundRequest {
    /// Checks every rule of §6.2 that can be checked before sending.
    pub fn validate(&self) -> Result<()> {
        check_charset("out_trade_no", &self.out_trade_no, 6, 32, b"_-|*")?;
        check_out_refund_no(&self.out_refund_no)?;
        if let Some(reason) = &self.reason {
            check_reason(reason)?;
        }
        check_refund_amounts(self.amount.refund, self.amount.total)?;
        if self.amount.currency != "CNY" {
            return Err(Error::invalid_field(
                "amount.currency",
                "WeCom refunds are in CNY",
            ));
        }
        if let Some(account) = &self.funds_account {
            if account != "AVAILABLE" {
                return Err(Error::invalid_field("funds_account", "must be AVAILABLE"));
            }
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct ApplyBody<'a> {
    mchid: &'a str,
    appid: &'a str,
    #[serde(flatten)]
    request: &'a RefundRequest,
}

#[derive(Serialize)]
struct QueryBody<'a> {
    mchid: &'a str,
    out_refund_no: &'a str,
}

/// Remembers when each order last had a refund request sent, so that a
/// too-early one is refused locally instead of spending WeCom's per-order quota.
struct OrderSpacing {
    interval: Duration,
    last_sent: Mutex<HashMap<String, Instant>>,
}

impl OrderSpacing {
    /// Admits a request for `out_trade_no` now, or says how long to wait.
    fn admit(&self, out_trade_no: &str) -> Result<Option<Instant>> {
        if self.interval.is_zero() {
            return Ok(None);
        }
        let mut last_sent = self.lock();
        let now = Instant::now();
        if let Some(at) = last_sent.get(out_trade_no) {
            let elapsed = now.duration_since(*at);
            if elapsed < self.interval {
                let wait = (self.interval - elapsed).as_secs_f64().ceil() as u64;
                let mut error = Error::new(
                    ErrorKind::RateLimited,
                    "order_spacing",
                    format!(
                        "WeCom allows one refund request per order every {} s; \
                         order {out_trade_no} must wait {wait} s (query the refund meanwhile)",
                        self.interval.as_secs()
                    ),
                )
                .with_retry(true, false);
                error.retry_after_secs = Some(wait);
                return Err(error);
            }
        }
        // Forget orders whose interval has passed, so the map stays small.
        last_sent.retain(|_, at| now.duration_since(*at) < self.interval);
        Ok(last_sent.insert(out_trade_no.to_string(), now))
    }

    /// Undoes `admit` when the request certainly never reached WeCom.
    fn release(&self, out_trade_no: &str, previous: Option<Instant>) {
        let mut last_sent = self.lock();
        match previous {
            Some(at) => last_sent.insert(out_trade_no.to_string(), at),
            None => last_sent.remove(out_trade_no),
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.last_sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A WeCom refund client: one merchant and mini-program.
pub(crate) struct WeCom {
    api: WeComApi,
    mchid: String,
    appid: String,
    spacing: OrderSpacing,
    callback: Option<CallbackKeys>,
}

impl WeCom {
    pub(crate) fn new(
        config: &Config,
        provider: Option<Arc<dyn AccessTokenProvider>>,
    ) -> Result<WeCom> {
        config.check_common()?;
        let callback = match (&config.callback_token, &config.encoding_aes_key) {
            (Some(token), Some(key)) => Some(CallbackKeys::new(
                token,
                key,
                config.corpid.clone(),
                config.max_clock_skew_secs,
            )?),
            (None, None) => None,
            _ => {
                return Err(Error::config(
                    "callback_token",
                    "callback_token and encoding_aes_key go together",
                ))
            }
        };
        Ok(WeCom {
            callback,
            api: WeComApi::new(config, WECOM_BASE_URL, provider)?,
            mchid: config.mchid.clone(),
            // Checked present by `check_common` for the WeCom family.
            appid: config.appid.clone().unwrap_or_default(),
            spacing: OrderSpacing {
                interval: Duration::from_secs(config.order_spacing_secs),
                last_sent: Mutex::new(HashMap::new()),
            },
        })
    }

    /// `POST cgi-bin/miniapppay/refund`: [`RefundStatus::Accepted`](super::RefundStatus::Accepted) on success.
    pub(crate) fn create(&self, request: &RefundRequest) -> Result<Refund> {
        request.validate()?;
        let body = serde_json::to_vec(&ApplyBody {
            mchid: &self.mchid,
            appid: &self.appid,
            request,
        })
        .map_err(|e| Error::new(ErrorKind::Internal, "serialize", e.to_string()))?;
        let previous = self.spacing.admit(&request.out_trade_no)?;
        let call = Call::refund(Family::WeCom.name(), &request.out_refund_no);
        let applied = self
            .api
            .call(&call, "/cgi-bin/miniapppay/refund", &body, false)
            .map(|fields| Refund::from_fields(fields, "refund_id"))
            .map_err(|failure| {
                // WeCom never saw this request: it spent none of the order's quota.
                if !failure.maybe_processed {
                    self.spacing.release(&request.out_trade_no, previous);
                }
                failure.error
            });
        call.finish(applied)
    }

    /// A refund callback: `params` are the callback URL's query parameters.
    pub(crate) fn parse_notification(&self, params: &Headers, body: &[u8]) -> Result<Notification> {
        match &self.callback {
            Some(keys) => keys.parse(params, body),
            None => Err(Error::config(
                "callback_token",
                "configure callback_token and encoding_aes_key to parse WeCom callbacks",
            )),
        }
    }

    /// `POST cgi-bin/miniapppay/get_refund_detail`, by `out_refund_no`.
    pub(crate) fn query(&self, query: &RefundQuery) -> Result<Refund> {
        let out_refund_no = match (&query.out_refund_no, &query.refund_id, &query.sub_mchid) {
            (Some(no), None, None) => no,
            (None, None, _) => return Err(Error::invalid_field("out_refund_no", "required")),
            (_, Some(_), _) => {
                return Err(Error::invalid_field(
                    "refund_id",
                    "WeCom refunds are queried by out_refund_no only",
                ))
            }
            (_, _, Some(_)) => {
                return Err(Error::invalid_field(
                    "sub_mchid",
                    "WeCom has no sub-merchants",
                ))
            }
        };
        check_out_refund_no(out_refund_no)?;
        let body = serde_json::to_vec(&QueryBody {
            mchid: &self.mchid,
            out_refund_no,
        })
        .map_err(|e| Error::new(ErrorKind::Internal, "serialize", e.to_string()))?;
        let call = Call::refund(Family::WeCom.name(), out_refund_no);
        let fields = self
            .api
            .call(&call, "/cgi-bin/miniapppay/get_refund_detail", &body, true)
            .map_err(Error::from)
            .map(|fields| Refund::from_fields(fields, "refund_id"));
        call.finish(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refund::parse_json;

    #[test]
    fn validation_rules() {
        let good = r#"{"out_trade_no":"W20261122000001","out_refund_no":"WR1",
            "amount":{"refund":1,"total":2,"currency":"CNY"}}"#;
        let field = |json: &str| {
            parse_json::<RefundRequest>("r", json)
                .and_then(|r| r.validate())
                .err()
                .and_then(|e| e.field.clone())
        };
        assert_eq!(field(good), None);
        assert_eq!(
            field(&good.replace("W20261122000001", "W1")).as_deref(),
            Some("out_trade_no")
        );
        assert_eq!(
            field(&good.replace("CNY", "USD")).as_deref(),
            Some("amount.currency")
        );
        assert_eq!(
            field(&good.replace(r#""refund":1"#, r#""refund":3"#)).as_deref(),
            Some("amount.refund")
        );
        assert_eq!(
            field(&good.replace(r#""WR1","#, r#""WR1","reason":"","#)).as_deref(),
            Some("reason")
        );
        let err = parse_json::<RefundRequest>(
            "r",
            &good.replace(r#""WR1","#, r#""WR1","transaction_id":"1","#),
        )
        .unwrap_err();
        assert!(err.message.contains("unknown field `transaction_id`"));
    }

    #[test]
    fn spacing_refuses_early_requests_with_the_wait() {
        let spacing = OrderSpacing {
            interval: Duration::from_secs(60),
            last_sent: Mutex::new(HashMap::new()),
        };
        let previous = spacing.admit("W1").unwrap();
        assert_eq!(previous, None);
        let err = spacing.admit("W1").unwrap_err();
        assert_eq!(err.kind, ErrorKind::RateLimited);
        assert!(matches!(err.retry_after_secs, Some(59 | 60)), "{err:?}");
        spacing.admit("W2").unwrap();
        spacing.release("W1", previous);
        spacing.admit("W1").unwrap();
        let off = OrderSpacing {
            interval: Duration::ZERO,
            last_sent: Mutex::new(HashMap::new()),
        };
        off.admit("W1").unwrap();
        off.admit("W1").unwrap();
    }
}
