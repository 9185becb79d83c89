//! wxrefund: apply for and query WeChat Pay refunds from Rust, C, C++, Java and Python.
//!
//! The Rust API is [`Client`]: build it from a [`Config`] (or its JSON form),
//! then [`Client::create_refund`] and [`Client::query_refund`]. The C ABI in
//! [`ffi`] is a thin layer over exactly these calls.
//!
//! ```no_run
//! use wxrefund::{Client, Config, RefundQuery};
//! use wxrefund::domestic::{Amount, RefundRequest};
//!
//! let config = Config::domestic("1900000100", "3775B6A4...", "-----BEGIN PRIVATE KEY-----...", "0123456789abcdef0123456789abcdef");
//! let client = Client::new(config)?;
//! let refund = client.create_refund(&RefundRequest {
//!     out_trade_no: Some("T20261122000001".into()),
//!     out_refund_no: "R20261122000001".into(),
//!     amount: Amount { refund: 100, total: 10000, currency: "CNY".into(), from: None },
//!     ..Default::default()
//! })?;
//! let latest = client.query_refund(&RefundQuery::by_out_refund_no("R20261122000001"))?;
//! println!("{}", latest.status.name());
//! # Ok::<(), wxrefund::Error>(())
//! ```

mod config;
mod crypto;
pub mod doctor;
mod error;
pub mod ffi;
mod http;
mod logging;
mod notify;
#[cfg(feature = "python")]
mod python;
mod refund;
mod signer;
mod tls;
mod v3;
mod wecom_api;

pub use config::{
    Config, Family, Mode, Secret, SerialPreference, DOMESTIC_BASE_URL, GLOBAL_BASE_URL,
    MAX_JSON_BYTES, WECOM_BASE_URL,
};
pub use crypto::CRYPTO_BACKEND;
pub use error::{Error, ErrorDetails, ErrorKind, Reply, Result};
pub use logging::TARGET as LOG_TARGET;
pub use notify::{Headers, Notification};
pub use refund::{domestic, global, wecom};
pub use refund::{CreateRefund, Refund, RefundQuery, RefundStatus};
pub use signer::Signer;
pub use v3::PlatformCertificate;
pub use wecom_api::AccessTokenProvider;

use logging::{Call, Decision};
use refund::domestic::Domestic;
use refund::global::Global;
use refund::wecom::WeCom;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A refund client for one family and account. Thread-safe: share it
/// (e.g. in an `Arc`) and call it from many threads at once.
pub struct Client {
    backend: Backend,
}

enum Backend {
    Domestic(Domestic),
    Global(Global),
    WeCom(WeCom),
}

impl Client {
    /// Builds a client, loading and checking keys. Does not touch the network.
    pub fn new(config: Config) -> Result<Client> {
        let backend = match config.family {
            Family::Domestic => Backend::Domestic(Domestic::new(&config, None)?),
            Family::Global => Backend::Global(Global::new(&config, None)?),
            Family::WeCom => Backend::WeCom(WeCom::new(&config, None)?),
        };
        Ok(Client { backend })
    }

    /// Builds an APIv3 client (mainland or Global) whose requests are signed
    /// by `signer`, e.g. a key in an HSM behind the host's API: the
    /// configuration has `merchant_serial_no` and no private key.
    pub fn with_signer(config: Config, signer: Arc<dyn Signer>) -> Result<Client> {
        let backend = match config.family {
            Family::Domestic => Backend::Domestic(Domestic::new(&config, Some(signer))?),
            Family::Global => Backend::Global(Global::new(&config, Some(signer))?),
            Family::WeCom => {
                return Err(Error::config(
                    "family",
                    "WeCom requests are not signed (an access token authenticates them)",
                ))
            }
        };
        Ok(Client { backend })
    }

    /// Builds a WeCom client whose access tokens come from `provider` (e.g. a
    /// cache shared by a fleet of terminals) instead of the configuration.
    pub fn with_access_token_provider(
        config: Config,
        provider: Arc<dyn AccessTokenProvider>,
    ) -> Result<Client> {
        if config.family != Family::WeCom {
            return Err(Error::config(
                "family",
                "an access token provider is only for the wecom family",
            ));
        }
        let backend = Backend::WeCom(WeCom::new(&config, Some(provider))?);
        Ok(Client { backend })
    }

    /// Builds a client from the configuration JSON (see [`Config`] for the fields).
    pub fn from_json(config_json: &str) -> Result<Client> {
        Client::new(Config::from_json(config_json)?)
    }

    /// The family this client speaks for.
    pub fn family(&self) -> Family {
        match self.backend {
            Backend::Domestic(_) => Family::Domestic,
            Backend::Global(_) => Family::Global,
            Backend::WeCom(_) => Family::WeCom,
        }
    }

    /// Applies for a refund: pass `&domestic::RefundRequest`,
    /// `&global::RefundRequest` or `&wecom::RefundRequest`, matching the client's family. Validates
    /// before sending; retries only what is safe, with the same bytes. The
    /// answer means "accepted": the refund is final only when a query or
    /// notification says so.
    pub fn create_refund<'a>(&self, request: impl Into<CreateRefund<'a>>) -> Result<Refund> {
        match (&self.backend, request.into()) {
            (Backend::Domestic(client), CreateRefund::Domestic(request)) => client.create(request),
            (Backend::Global(client), CreateRefund::Global(request)) => client.create(request),
            (Backend::WeCom(client), CreateRefund::WeCom(request)) => client.create(request),
            (_, other) => Err(Error::new(
                ErrorKind::InvalidRequest,
                "wrong_family",
                format!(
                    "this client is configured for the {:?} family; the request is {other:?}",
                    self.family()
                ),
            )),
        }
    }

    /// Applies for a refund described by JSON with WeChat's field names for
    /// this client's family. Unknown fields are rejected.
    pub fn create_refund_json(&self, request_json: &str) -> Result<Refund> {
        const WHAT: &str = "refund request";
        match &self.backend {
            Backend::Domestic(client) => client.create(&refund::parse_json(WHAT, request_json)?),
            Backend::Global(client) => client.create(&refund::parse_json(WHAT, request_json)?),
            Backend::WeCom(client) => client.create(&refund::parse_json(WHAT, request_json)?),
        }
    }

    /// Sends the money of an `ABNORMAL` mainland refund another way (the
    /// payer's other bank card, or the merchant's), PROTOCOL.md §4.4. The
    /// bank details are encrypted with the WeChat Pay public key or the newest
    /// platform certificate before anything is sent. The answer is the
    /// refund, `PROCESSING` again: wait for its final status as usual.
    pub fn apply_abnormal_refund(
        &self,
        request: &domestic::AbnormalRefundRequest,
    ) -> Result<Refund> {
        match &self.backend {
            Backend::Domestic(client) => client.apply_abnormal(request),
            _ => Err(Error::new(
                ErrorKind::InvalidRequest,
                "wrong_family",
                format!(
                    "apply-abnormal-refund is a mainland API; this client is {:?}",
                    self.family()
                ),
            )),
        }
    }

    /// As [`Client::apply_abnormal_refund`], with the request as JSON:
    /// `refund_id`, `out_refund_no`, `type`, and for `USER_BANK_CARD`
    /// `bank_type`, `bank_account`, `real_name` (plaintext; encrypted here).
    pub fn apply_abnormal_refund_json(&self, request_json: &str) -> Result<Refund> {
        self.apply_abnormal_refund(&refund::parse_json(
            "abnormal refund request",
            request_json,
        )?)
    }

    /// Queries one refund, by `out_refund_no` or (Global) by `refund_id`.
    pub fn query_refund(&self, query: &RefundQuery) -> Result<Refund> {
        match &self.backend {
            Backend::Domestic(client) => client.query(query),
            Backend::Global(client) => client.query(query),
            Backend::WeCom(client) => client.query(query),
        }
    }

    /// Verifies and decrypts a refund notification: `headers` as received
    /// (any case, CGI `HTTP_` names accepted), `body` the exact bytes received.
    /// On error, `error.reply` says what to answer the platform.
    pub fn parse_notification(&self, headers: &Headers, body: &[u8]) -> Result<Notification> {
        let parsed = notify::check_body_size(body).and_then(|()| match &self.backend {
            Backend::Domestic(client) => notify::parse_apiv3(client.api(), headers, body),
            Backend::Global(client) => notify::parse_apiv3(client.api(), headers, body),
            Backend::WeCom(client) => client.parse_notification(headers, body),
        });
        let call = Call::new(self.family().name(), None);
        logging::decision(
            &call,
            &match &parsed {
                Ok(notification) => Decision::Notification {
                    accepted: true,
                    reason: "verified",
                    event_type: Some(&notification.event_type),
                    status: Some(notification.refund.status.name()),
                },
                Err(error) => Decision::Notification {
                    accepted: false,
                    reason: error.reason,
                    event_type: None,
                    status: None,
                },
            },
        );
        parsed.map_err(notify::with_reply)
    }

    /// Queries until the refund is final (`SUCCESS`, `CLOSED`) or needs
    /// action (`ABNORMAL`), and returns it. Polls at once, then after 1, 2,
    /// 4, 8, 16 and then every 30 seconds (well within the platforms' rate
    /// limits), never past `timeout`. Network failures and busy answers are
    /// polled through; any other error ends the wait. When time runs out the
    /// error is [`ErrorKind::Timeout`], with the last refund seen in
    /// `error.refund`. The result's `attempts` counts every request sent.
    pub fn wait_for_final(&self, query: &RefundQuery, timeout: Duration) -> Result<Refund> {
        let reference = match (&query.out_refund_no, &query.refund_id) {
            (Some(no), _) => Some(("out_refund_no", no.as_str())),
            (None, Some(id)) => Some(("refund_id", id.as_str())),
            (None, None) => None,
        };
        let call = Call::new(self.family().name(), reference);
        let deadline = Instant::now().checked_add(timeout);
        let mut last_refund = None;
        let mut polls = 0u32;
        let mut pause = WAIT_FIRST_PAUSE;
        let ended = loop {
            polls = polls.saturating_add(1);
            let outcome = self.query_refund(query);
            let attempts = match &outcome {
                Ok(refund) => refund.attempts,
                Err(error) => error.attempts,
            };
            call.add_attempts(attempts);
            let last_error = match outcome {
                Ok(refund)
                    if refund.status.is_final() || refund.status == RefundStatus::Abnormal =>
                {
                    break Ok(refund);
                }
                Ok(refund) => {
                    last_refund = Some(refund);
                    None
                }
                Err(error) if error.retryable => Some(error),
                Err(error) => break Err(error),
            };
            let left = deadline.map_or(pause, |at| at.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                break Err(wait_timeout(timeout, polls, last_refund.take(), last_error));
            }
            std::thread::sleep(pause.min(left));
            pause = pause.saturating_mul(2).min(WAIT_MAX_PAUSE);
        };
        let status = match &ended {
            Ok(refund) => refund.status.name().to_string(),
            Err(error) => error.kind.name().to_string(),
        };
        logging::decision(
            &call,
            &Decision::WaitEnded {
                status: &status,
                polls,
            },
        );
        call.finish(ended)
    }

    /// Downloads the platform certificates now (`/v3/certificates`, Global
    /// `/v3/global/certificates`): the answer verified, each certificate
    /// decrypted with the APIv3 key. A client that verifies with
    /// certificates keeps them. WeCom has no certificates: `INVALID_REQUEST`.
    pub fn download_certificates(&self) -> Result<Vec<PlatformCertificate>> {
        match &self.backend {
            Backend::Domestic(client) => client.api().platform_certificates(),
            Backend::Global(client) => client.api().platform_certificates(),
            Backend::WeCom(_) => Err(Error::new(
                ErrorKind::InvalidRequest,
                "wrong_family",
                "WeCom has no platform certificates: it authenticates with an access token",
            )),
        }
    }

    /// As [`Client::parse_notification`], with the headers as a JSON object of strings.
    pub fn parse_notification_json(&self, headers_json: &str, body: &[u8]) -> Result<Notification> {
        let headers = Headers::from_json(headers_json).map_err(notify::with_reply)?;
        self.parse_notification(&headers, body)
    }

    /// Queries one refund described by JSON (`{"out_refund_no": ...}` or `{"refund_id": ...}`).
    pub fn query_refund_json(&self, query_json: &str) -> Result<Refund> {
        self.query_refund(&refund::parse_json("refund query", query_json)?)
    }
}

/// The first pause of [`Client::wait_for_final`]; each next one doubles.
const WAIT_FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two queries of a wait.
const WAIT_MAX_PAUSE: Duration = Duration::from_secs(30);

/// The error of a wait that ran out of time, carrying the last refund seen.
fn wait_timeout(
    timeout: Duration,
    polls: u32,
    refund: Option<Refund>,
    last_error: Option<Error>,
) -> Error {
    let seen = match (&refund, &last_error) {
        (Some(refund), _) => format!("the refund is still {}", refund.status.name()),
        (None, Some(error)) => format!("the last query failed: {error}"),
        (None, None) => "no query answered".to_string(),
    };
    let mut error = Error::new(
        ErrorKind::Timeout,
        "wait_timeout",
        format!(
            "no final status within {} ms ({polls} queries): {seen}; wait again or query later",
            logging::millis(timeout)
        ),
    )
    .with_retry(true, false);
    error.refund = refund;
    error
}

/// The library version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
