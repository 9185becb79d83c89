//! Offline simulator of the WeChat Pay refund platforms: APIv3 mainland refunds, WeChat Pay
//! Global (cross-border) refunds and WeCom (企业微信) mini-program external payment refunds.
//!
//! It serves plain HTTP on `127.0.0.1` and behaves like `api.mch.weixin.qq.com` (and
//! `apihk.mch.weixin.qq.com` for Global, `qyapi.weixin.qq.com` for WeCom) for the endpoints
//! the `wxrefund` client uses:
//!
//! * `GET /v3/certificates` and `GET /v3/global/certificates` — platform certificates,
//!   AEAD_AES_256_GCM-encrypted with the APIv3 key (404 `RESOURCE_NOT_EXISTS` in
//!   [`Verification::PublicKey`] mode);
//! * `POST /v3/refund/domestic/refunds` — apply for a mainland refund;
//! * `GET /v3/refund/domestic/refunds/{out_refund_no}[?sub_mchid=..]` — query one;
//! * `POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund` — send an
//!   `ABNORMAL` refund's money another way (see [Abnormal refunds](#abnormal-refunds));
//! * `POST /v3/global/refunds` — apply for a Global refund (direct or institution mode);
//! * `GET /v3/global/refunds/id/{refund_id}` and
//!   `GET /v3/global/refunds/out-refund-no/{out_refund_no}`, with `?mchid=..` (direct) or
//!   `?sp_mchid=..&sub_mchid=..` (institution) — query one;
//! * `GET /cgi-bin/gettoken?corpid=..&corpsecret=..` — a WeCom access token;
//! * `POST /cgi-bin/miniapppay/refund?access_token=..` — apply for a WeCom refund;
//! * `POST /cgi-bin/miniapppay/get_refund_detail?access_token=..` — query one.
//!
//! Every request must carry a valid `WECHATPAY2-SHA256-RSA2048` `Authorization` header made
//! with the embedded merchant key ([`Simulator::merchant_private_key_pem`]), plus `Accept`
//! and `User-Agent`. Every response is signed with the platform certificate or the WeChat
//! Pay public key, depending on [`Verification`]. Faults (errors, delays, dropped
//! connections, bad signatures, clock skew) can be queued with [`Simulator::inject`].
//! The WeCom endpoints are not APIv3 at all: see [WeCom](#wecom) below.
//!
//! The simulated merchant is `1900000100` (also the service provider in partner mode and
//! the institution in Global institution mode), app `wxd678efh567hg6787`, APIv3 key
//! `wxrefundSimulatorApiV3Key0123456`. Mainland and Global orders and refunds are kept
//! apart: a Global refund endpoint never sees a mainland order and vice versa.
//!
//! # Demo orders
//!
//! Seeded when [`SimOptions::seed_demo_orders`] is set (the default). Mainland totals are
//! in fen:
//!
//! | out_trade_no | transaction_id | total | paid | sub_mchid | refunds settle as |
//! |---|---|---|---|---|---|
//! | `T20261122000001` | `4200000001202611220000000001` | 10000 | 1 day ago | – | SUCCESS |
//! | `T20261122000002` | `4200000001202611220000000002` | 500 | 1 day ago | – | CLOSED |
//! | `T20261122000003` | `4200000001202611220000000003` | 800 | 1 day ago | – | ABNORMAL |
//! | `T20251101000001` | `4200000001202511010000000001` | 1000 | 400 days ago (refunds refused) | – | SUCCESS |
//! | `T20261122000009` | `4200000001202611220000000009` | 10000 | 1 day ago | `1900000109` | SUCCESS |
//!
//! Global orders ([`GlobalOrder`]); totals in minor units of the order currency, rates
//! × 10^8, all direct-mode orders but the last (institution order of sub-merchant
//! `1900000209`):
//!
//! | out_trade_no | transaction_id | total | currency → payer / settlement | rate | paid | refunds settle as |
//! |---|---|---|---|---|---|---|
//! | `G20261122000001` | `4200000002202611220000000001` | 10000 | USD → CNY / HKD | 780000000 | 1 day ago | SUCCESS |
//! | `G20261122000002` | `4200000002202611220000000002` | 5000 | HKD → HKD / HKD | 100000000 | 1 day ago | REFUNDCLOSE |
//! | `G20261122000003` | `4200000002202611220000000003` | 3000 | JPY → CNY / JPY | 100000000 | 1 day ago | ABNORMAL |
//! | `G20251101000001` | `4200000002202511010000000001` | 1000 | USD → CNY / HKD | 780000000 | 400 days ago (refunds refused) | SUCCESS |
//! | `G20261122000009` | `4200000002202611220000000009` | 20000 | EUR → CNY / EUR | 100000000 | 1 day ago | SUCCESS |
//!
//! A Global refund's `payer_refund` and `settlement_refund` are the refund converted with
//! the order's `rate` (rounded half up) when that currency differs from the order
//! currency, and equal to the refund otherwise.
//!
//! WeCom orders ([`WeComOrder`]); totals in fen:
//!
//! | out_trade_no | transaction_id | total | paid | refunds settle as |
//! |---|---|---|---|---|
//! | `W20261122000001` | `4200000003202611220000000001` | 10000 | 1 day ago | SUCCESS |
//! | `W20261122000002` | `4200000003202611220000000002` | 500 | 1 day ago | CLOSED |
//! | `W20261122000003` | `4200000003202611220000000003` | 800 | 1 day ago | ABNORMAL |
//! | `W20251101000001` | `4200000003202511010000000001` | 1000 | 400 days ago (refunds refused) | SUCCESS |
//!
//! More orders can be seeded from a JSON file with [`orders_file::OrderFile`]
//! (`wxrefund-sim --orders FILE`); the [`orders_file`] module documents its format, and
//! `sim/examples/orders.json` is an example.
//!
//! # Abnormal refunds
//!
//! `POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund` (PROTOCOL §4.4)
//! takes `sub_mchid` (partner refunds only), `out_refund_no`, `type` (`USER_BANK_CARD` |
//! `MERCHANT_BANK_CARD`) and, for `USER_BANK_CARD` only, `bank_type` (1-16 of `A-Z_`),
//! `bank_account` and `real_name`: base64 RSA-OAEP (SHA-1, MGF1-SHA-1) ciphertexts for the
//! key the `Wechatpay-Serial` request header names. That header is required and must name
//! a key clients of this mode hold: the public key id ([`Verification::PublicKey`]), the
//! platform certificate serial (and the rotated one after
//! [`Simulator::rotate_platform_certificate`]) ([`Verification::PlatformCertificate`]), or
//! any of them ([`Verification::Both`]). The answers, in the order checked:
//!
//! | HTTP | code | when |
//! |---|---|---|
//! | 400 | `PARAM_ERROR` | a body field missing, malformed, or given for `MERCHANT_BANK_CARD` (`detail.field`, e.g. `/bank_type`; encrypted values are never echoed) |
//! | 400 | `PARAM_ERROR` | `Wechatpay-Serial` missing or not a key of this mode (`detail.field` `Wechatpay-Serial`, `detail.location` `header`) |
//! | 400 | `PARAM_ERROR` | "解密失败": `bank_account` does not decrypt to 6-32 digits, or `real_name` to 1-50 characters without control characters |
//! | 404 | `RESOURCE_NOT_EXISTS` | no refund with this `refund_id` |
//! | 400 | `PARAM_ERROR` | `out_refund_no` is not that refund's (`/out_refund_no`) |
//! | 400 | `PARAM_ERROR` | `sub_mchid` given for a direct refund, or missing for a partner refund |
//! | 403 | `NO_AUTH` | `sub_mchid` is not the partner refund's |
//! | 400 | `INVALID_REQUEST` | the refund is not `ABNORMAL` (the message names its status) |
//!
//! Accepted, the answer is the refund, `PROCESSING` again, with `channel`
//! `OTHER_BANKCARD` and `user_received_account` the bank and the card's last four digits
//! (`工商银行借记卡3445`) or `商户结算银行账户`. It succeeds [`SimOptions::settle_after`]
//! later (or when settled by hand) and is notified again (`REFUND.SUCCESS`). Repeating the
//! accepted request while it is processing answers the refund again. The decrypted card
//! number and name are kept nowhere: the control API's state shows
//! `abnormal_refund: {type, bank_type, bank_account_last4}` and the request log only a
//! body hash.
//!
//! # WeCom
//!
//! The WeCom endpoints (PROTOCOL §6) take no `Authorization` header and send no
//! `Wechatpay-*` headers. The enterprise is corpid `ww5f1e2d3c4b5a6978` with the app secret
//! `wxrefundSimulatorCorpSecret-0123456789`; the collection account is mchid `1900000300`
//! with mini-program `wx8a7b6c5d4e3f2a10` ([`Simulator::wecom_client_config`]). Orders and
//! refunds are kept apart from the APIv3 families. Every answer is HTTP 200 with a JSON
//! object carrying `errcode` (0 on success) and `errmsg`; an error answer carries nothing
//! else. The one exception is a wrong HTTP method: 405 with errcode `43001` ("require GET
//! method", gettoken) or `43002` ("require POST method", the refund endpoints).
//!
//! Access tokens are 64 random alphanumeric characters and expire
//! [`SimOptions::wecom_token_lifetime`] after issue; gettoken's `expires_in` is that
//! lifetime in whole seconds. Tokens are checked before anything else, and only requests
//! with a valid token count for [`Simulator::request_count`] and consume injected faults.
//!
//! | errcode | errmsg | when |
//! |---|---|---|
//! | `-1` | system busy | injected [`Fault::SystemError`] |
//! | `40001` | invalid credential | gettoken: wrong `corpsecret` |
//! | `40013` | invalid corpid | gettoken: wrong `corpid` |
//! | `41002` | corpid missing | gettoken: `corpid` absent or empty |
//! | `41004` | corpsecret missing | gettoken: `corpsecret` absent or empty |
//! | `41001` | access_token missing | refund endpoints: no `access_token` |
//! | `40014` | invalid access_token | unknown or revoked token ([`Simulator::revoke_wecom_tokens`]) |
//! | `42001` | access_token expired | token older than its lifetime |
//! | `40058` | invalid parameter `field`: … | a body field missing or invalid (`amount.total` when it is not the order's total, `mchid`/`appid` when not ours) |
//! | `720501` | out_trade_no\[…\] not exists under mchid\[…\] | unknown order (apply), or `out_refund_no[…]` unknown refund (query) |
//! | `720502` | refund amount exceeds the refundable amount | * |
//! | `720503` | out_refund_no already used with another order or amount | * |
//! | `720504` | order paid more than 365 days ago | * |
//! | `720505` | order already has 50 refunds | * |
//! | `45009` | api freq out of limit | injected [`Fault::RateLimited`] |
//! | `45009` | refund too frequent for this order | * apply on an order within [`SimOptions::wecom_order_spacing`] of the previous request on it |
//!
//! \* Simulator conventions: the real codes for these rules are not documented in the
//! sources this simulator follows, so clients should treat them as "some business error"
//! (and 45009 as "slow down, retry with the same `out_refund_no`").
//!
//! Apply rules, in order: body checks (40058), the order (720501), the order spacing
//! (45009), idempotency (the same `out_refund_no` for the same order and amount answers the
//! original acceptance again; otherwise 720503), the order total (40058), then the one-year
//! window, the 50-refund limit and the refundable amount. The spacing counts every apply
//! request that gets past the order lookup and is not itself refused for spacing,
//! idempotent repeats and requests later refused by another rule included; queries are not
//! subject to it.
//!
//! # Notifications
//!
//! When a refund reaches its final state (the moment a query first shows `SUCCESS`,
//! `CLOSED`/`REFUNDCLOSE` or `ABNORMAL`), a background thread POSTs a notification: to the
//! apply request's `notify_url` for mainland and Global refunds, to
//! [`SimOptions::wecom_callback_url`] for WeCom refunds. Refunds without a target are not
//! notified. Only `http://127.0.0.1`, `http://localhost` and `http://[::1]` URLs (any
//! port) are contacted; any other target is logged as one failed [`Delivery`] and never
//! contacted. A 2xx status acknowledges; otherwise (or when the connection fails, 2 s
//! timeouts) the notification is redelivered after each delay of
//! [`SimOptions::notify_schedule`] in turn, with the same envelope `id` and a fresh
//! timestamp, nonce and signature. [`Simulator::deliveries`] lists every attempt.
//!
//! Mainland and Global notifications are APIv3 envelopes (PROTOCOL §3.2): `id` (`EV-` + 32
//! hex digits), `create_time`, `resource_type` `encrypt-resource`, `event_type`
//! `REFUND.SUCCESS`/`REFUND.CLOSED`/`REFUND.ABNORMAL`, `summary` 退款成功/退款关闭/退款异常
//! and a `resource` encrypted with AEAD_AES_256_GCM under the APIv3 key (associated data
//! `refund`). They carry the five `Wechatpay-*` headers over the exact body sent, signed
//! like responses; in [`Verification::Both`] mode successive attempts alternate between the
//! platform certificate (first) and the public key. The resource plaintext is, with the
//! values the query shows:
//!
//! * mainland: `mchid` (partner refunds: `sp_mchid` and `sub_mchid`), `transaction_id`,
//!   `out_trade_no`, `refund_id`, `out_refund_no`, `refund_status`
//!   (`SUCCESS`/`CLOSED`/`ABNORMAL`), `success_time` (success only),
//!   `user_received_account`, `amount` {`total`, `refund`, `payer_total`, `payer_refund`};
//! * Global: `mchid` (institution refunds: `sp_mchid` and `sub_mchid`), `id`,
//!   `out_refund_no`, `transaction_id`, `out_trade_no`, `refund_status`
//!   (`SUCCESS`/`REFUNDCLOSE`/`ABNORMAL`), `success_time`, `recv_account`, `amount`
//!   {`refund`, `currency`, `payer_refund`, `payer_currency`, `settlement_refund`,
//!   `settlement_currency`}.
//!
//! WeCom callbacks (PROTOCOL §6.4) are POSTed to the callback URL plus
//! `msg_signature`, `timestamp` and `nonce` query parameters, with the body
//! `{"tousername":"ww5f1e2d3c4b5a6978","encrypt":..,"agentid":"1000002"}` (or the XML form
//! when [`SimOptions::wecom_callback_xml`] is set). `Encrypt` is WeCom's AES-256-CBC
//! scheme under the EncodingAESKey `BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY` (IV = the
//! key's first 16 bytes; 16 random bytes, big-endian length, message, corp id; padding to
//! 32 bytes), and `msg_signature` the hex SHA-1 of the sorted callback token
//! `wxrefundSimCallbackToken`, timestamp, nonce and `Encrypt`. Both secrets are in
//! [`Simulator::wecom_client_config`]. The decrypted message is the APIv3-style envelope
//! plus `"notify_type":"REFUND"`; its resource is encrypted with the 32-byte AES key of the
//! EncodingAESKey (an assumption: the platform's key is undocumented) and holds `mchid`,
//! `out_trade_no`, `refund_id`, `out_refund_no`, `refund_status`, `success_time`,
//! `user_received_account` and `amount` {`total`, `refund`, `payer_total`, `payer_refund`}.
//!
//! Misbehaving notifications are queued with [`Simulator::inject_notification`].
//!
//! # Control API
//!
//! The same port serves a JSON control API under `/_sim/`, to requests whose `Host` is a
//! loopback name only (403 otherwise), described by the OpenAPI document `sim/openapi.json`
//! (also at `GET /_sim/openapi.json`): `POST /_sim/orders`, `/_sim/faults`,
//! `/_sim/refunds/{out_refund_no}/settle`, `/_sim/clock`, `/_sim/certificates/rotate`,
//! `/_sim/wecom/tokens/revoke`, `/_sim/notifications/faults`,
//! `/_sim/notifications/{id}/redeliver` and `/_sim/reset`;
//! `GET /_sim/state` and `/_sim/requests`. Each has its method here: [`Simulator::add_order`]
//! and its siblings, [`Simulator::inject`], [`Simulator::settle_now`],
//! [`Simulator::set_clock_skew`], [`Simulator::rotate_platform_certificate`],
//! [`Simulator::revoke_wecom_tokens`], [`Simulator::inject_notification`],
//! [`Simulator::redeliver_notification`],
//! [`Simulator::reset`], [`Simulator::state`] and [`Simulator::request_log`]. Control
//! requests are not refund requests: they take no fault and are not logged or counted.
//!
//! # Example
//!
//! ```
//! use wxrefund_sim::{SimOptions, Simulator};
//!
//! let sim = Simulator::start(SimOptions::default()).expect("simulator starts");
//! let config = sim.client_config();
//! assert_eq!(config["base_url"], sim.base_url());
//! ```

#![warn(missing_docs)]

mod abnormal;
mod auth;
mod book;
mod certs;
mod clock;
mod control;
mod error;
mod fields;
mod global;
mod http;
mod keys;
mod ledger;
mod notify;
pub mod orders_file;
mod server;
mod wecom;

pub use control::SettleError;
pub use notify::{Delivery, NotifyFault};

/// WeCom callback cryptography, as the simulator sends callbacks: for tests and
/// fuzzers that make callbacks of their own.
pub mod wecom_callback {
    pub use crate::notify::callback::{aes_key, encrypt, msg_signature};
}

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::book::RefundViews;
use crate::global::GlobalLedger;
use crate::keys::{
    Keys, APIV3_KEY, APPID, MCHID, MERCHANT_KEY_PEM, MERCHANT_SERIAL, PUBKEY_PUB_PEM, PUBLIC_KEY_ID,
};
use crate::ledger::Ledger;
use crate::notify::Outbox;
use crate::orders_file::OrderFile;
use crate::server::{lock, Shared};
use crate::wecom::{TokenStore, WeComLedger};

/// How the simulator signs responses, and therefore what the client must hold to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verification {
    /// Platform certificates, downloadable from `/v3/certificates`.
    #[default]
    PlatformCertificate,
    /// The "WeChat Pay public key" only; `/v3/certificates` answers 404.
    PublicKey,
    /// Migration mode: responses are signed with the public key when the request carries
    /// `Wechatpay-Serial: <public key id>`, otherwise with the platform certificate.
    Both,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Port to listen on; 0 picks any free port.
    pub port: u16,
    /// How responses are signed.
    pub verification: Verification,
    /// How long a refund stays PROCESSING before reaching its order's final state.
    pub settle_after: Duration,
    /// Refuse (429) a new refund on an order less than 60 s after the previous one.
    pub enforce_order_spacing: bool,
    /// Seed the demo orders listed in the crate documentation.
    pub seed_demo_orders: bool,
    /// How long a WeCom access token stays valid after it is issued (default 7200 s).
    pub wecom_token_lifetime: Duration,
    /// Minimum gap between two WeCom apply requests on one order (default 60 s, like the
    /// platform's 1 request a minute per order); `Duration::ZERO` disables the rule.
    pub wecom_order_spacing: Duration,
    /// Delays between redeliveries of an unacknowledged notification; at most the first 15
    /// are used. Default: the platform's 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/
    /// 6h/6h divided by 150 (100 ms, 100 ms, 200 ms, 1.2 s, 4 s, ...).
    pub notify_schedule: Vec<Duration>,
    /// Where WeCom refund notifications (callbacks) are POSTed; `None` (the default) sends
    /// none. Only loopback `http://` URLs are contacted.
    pub wecom_callback_url: Option<String>,
    /// Send WeCom callbacks as XML (WeCom's default format) instead of JSON.
    pub wecom_callback_xml: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: 0,
            verification: Verification::PlatformCertificate,
            settle_after: Duration::from_millis(300),
            enforce_order_spacing: false,
            seed_demo_orders: true,
            wecom_token_lifetime: Duration::from_secs(7200),
            wecom_order_spacing: Duration::from_secs(60),
            notify_schedule: notify::default_schedule(),
            wecom_callback_url: None,
            wecom_callback_xml: false,
        }
    }
}

/// The final state refunds of an order settle into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    /// Refund succeeds (`SUCCESS`, with `success_time`).
    Success,
    /// Refund is closed (`CLOSED`); its amount becomes refundable again.
    Closed,
    /// The original payment route failed (`ABNORMAL`).
    Abnormal,
}

/// A paid order that can be refunded.
#[derive(Debug, Clone)]
pub struct Order {
    /// Merchant order number.
    pub out_trade_no: String,
    /// WeChat Pay order number.
    pub transaction_id: String,
    /// Amount paid, in fen.
    pub total: i64,
    /// Sub-merchant that took the payment (partner mode), or `None` for a direct order.
    pub sub_mchid: Option<String>,
    /// When the payment succeeded; refunds are refused 365 days after it.
    pub paid_at: SystemTime,
    /// The state this order's refunds settle into.
    pub final_status: FinalStatus,
}

/// A paid WeChat Pay Global order that can be refunded.
#[derive(Debug, Clone)]
pub struct GlobalOrder {
    /// Merchant order number.
    pub out_trade_no: String,
    /// WeChat Pay order number.
    pub transaction_id: String,
    /// Amount paid, in minor units of `currency`.
    pub total: i64,
    /// The order's (标价) currency, e.g. `USD`; refunds must be applied in it.
    pub currency: String,
    /// The currency the payer paid in, e.g. `CNY`.
    pub payer_currency: String,
    /// The currency the merchant is settled in, e.g. `HKD`.
    pub settlement_currency: String,
    /// Exchange rate × 10^8 (1 → `100000000`) converting minor units of `currency` into
    /// minor units of the payer and settlement currencies when they differ from it.
    pub rate: i64,
    /// `Some`: an institution-mode order of this sub-merchant; `None`: a direct order.
    pub sub_mchid: Option<String>,
    /// When the payment succeeded; refunds are refused 365 days after it.
    pub paid_at: SystemTime,
    /// The state this order's refunds settle into (`Closed` shows as `REFUNDCLOSE`).
    pub final_status: FinalStatus,
}

/// A paid WeCom mini-program order (CNY, fen).
#[derive(Debug, Clone)]
pub struct WeComOrder {
    /// Merchant order number, the only reference WeCom refunds accept.
    pub out_trade_no: String,
    /// WeChat Pay order number.
    pub transaction_id: String,
    /// Amount paid, in fen.
    pub total: i64,
    /// When the payment succeeded; refunds are refused 365 days after it.
    pub paid_at: SystemTime,
    /// The state this order's refunds settle into (`Closed` shows as `CLOSED`).
    pub final_status: FinalStatus,
}

/// A misbehaviour applied to the next requests on the refund endpoints.
///
/// On the WeCom refund endpoints `SystemError` answers `{"errcode":-1,"errmsg":"system
/// busy"}` and `RateLimited` answers `{"errcode":45009,"errmsg":"api freq out of limit"}`
/// (both HTTP 200, without processing); `Delay` and `DropAfterCommit` act as for the other
/// families; the signature faults and `ClockSkew` are consumed without effect, as WeCom
/// answers carry no signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer 500 `SYSTEM_ERROR` without processing the request.
    SystemError,
    /// Answer 429 `FREQUENCY_LIMITED` without processing the request.
    RateLimited,
    /// Process normally, but wait this long before answering.
    Delay(Duration),
    /// Process the request (a refund is recorded), then close the connection unanswered.
    DropAfterCommit,
    /// Process normally; the signature is well-formed but made over different bytes.
    BadSignature,
    /// Process normally; the signature is a `WECHATPAY/SIGNTEST/` probe.
    ProbeSignature,
    /// Process normally; answer without the `Wechatpay-*` signature headers.
    Unsigned,
    /// Process normally; sign with `Wechatpay-Timestamp` = now + this many seconds.
    ClockSkew(i64),
}

/// A running simulator. Dropping it stops the server and the notifier and closes its
/// connections.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
    notify_thread: Option<JoinHandle<()>>,
}

/// The demo orders from the crate documentation.
fn demo_orders() -> Vec<Order> {
    let order = |no: &str, tx: &str, total, sub: Option<&str>, days, final_status| Order {
        out_trade_no: no.to_string(),
        transaction_id: tx.to_string(),
        total,
        sub_mchid: sub.map(str::to_string),
        paid_at: clock::days_ago(days),
        final_status,
    };
    vec![
        order(
            "T20261122000001",
            "4200000001202611220000000001",
            10000,
            None,
            1,
            FinalStatus::Success,
        ),
        order(
            "T20261122000002",
            "4200000001202611220000000002",
            500,
            None,
            1,
            FinalStatus::Closed,
        ),
        order(
            "T20261122000003",
            "4200000001202611220000000003",
            800,
            None,
            1,
            FinalStatus::Abnormal,
        ),
        order(
            "T20251101000001",
            "4200000001202511010000000001",
            1000,
            None,
            400,
            FinalStatus::Success,
        ),
        order(
            "T20261122000009",
            "4200000001202611220000000009",
            10000,
            Some("1900000109"),
            1,
            FinalStatus::Success,
        ),
    ]
}

/// A direct-mode Global order paid a day ago whose refunds succeed; `currencies` are the
/// order, payer and settlement currencies.
fn direct_global_order(
    out_trade_no: &str,
    transaction_id: &str,
    total: i64,
    currencies: [&str; 3],
    rate: i64,
) -> GlobalOrder {
    let [currency, payer, settlement] = currencies;
    GlobalOrder {
        out_trade_no: out_trade_no.to_string(),
        transaction_id: transaction_id.to_string(),
        total,
        currency: currency.to_string(),
        payer_currency: payer.to_string(),
        settlement_currency: settlement.to_string(),
        rate,
        sub_mchid: None,
        paid_at: clock::days_ago(1),
        final_status: FinalStatus::Success,
    }
}

/// The Global demo orders from the crate documentation.
fn demo_global_orders() -> Vec<GlobalOrder> {
    vec![
        direct_global_order(
            "G20261122000001",
            "4200000002202611220000000001",
            10000,
            ["USD", "CNY", "HKD"],
            780_000_000,
        ),
        GlobalOrder {
            final_status: FinalStatus::Closed,
            ..direct_global_order(
                "G20261122000002",
                "4200000002202611220000000002",
                5000,
                ["HKD", "HKD", "HKD"],
                100_000_000,
            )
        },
        GlobalOrder {
            final_status: FinalStatus::Abnormal,
            ..direct_global_order(
                "G20261122000003",
                "4200000002202611220000000003",
                3000,
                ["JPY", "CNY", "JPY"],
                100_000_000,
            )
        },
        GlobalOrder {
            paid_at: clock::days_ago(400),
            ..direct_global_order(
                "G20251101000001",
                "4200000002202511010000000001",
                1000,
                ["USD", "CNY", "HKD"],
                780_000_000,
            )
        },
        GlobalOrder {
            sub_mchid: Some("1900000209".to_string()),
            ..direct_global_order(
                "G20261122000009",
                "4200000002202611220000000009",
                20000,
                ["EUR", "CNY", "EUR"],
                100_000_000,
            )
        },
    ]
}

/// Fresh ledgers of the three families holding the demo orders (when the options seed
/// them) and then `extra`.
pub(crate) fn seeded_ledgers(
    options: &SimOptions,
    extra: &OrderFile,
) -> (Ledger, GlobalLedger, WeComLedger) {
    let mut ledger = Ledger::new(options.settle_after, options.enforce_order_spacing);
    let mut global = GlobalLedger::new(options.settle_after, options.enforce_order_spacing);
    let mut wecom = WeComLedger::new(options.settle_after, options.wecom_order_spacing);
    if options.seed_demo_orders {
        demo_orders().into_iter().for_each(|o| ledger.add_order(o));
        demo_global_orders()
            .into_iter()
            .for_each(|o| global.add_order(o));
        wecom::demo_orders()
            .into_iter()
            .for_each(|o| wecom.add_order(o));
    }
    extra
        .domestic
        .iter()
        .for_each(|o| ledger.add_order(o.clone()));
    extra
        .global
        .iter()
        .for_each(|o| global.add_order(o.clone()));
    extra.wecom.iter().for_each(|o| wecom.add_order(o.clone()));
    (ledger, global, wecom)
}

impl Simulator {
    /// Binds `127.0.0.1:<port>` and starts serving in background threads.
    pub fn start(options: SimOptions) -> io::Result<Simulator> {
        let keys = Keys::load()?;
        let listener = TcpListener::bind(("127.0.0.1", options.port))?;
        let addr = listener.local_addr()?;
        let (ledger, global, wecom) = seeded_ledgers(&options, &OrderFile::default());
        let shared = Arc::new(Shared {
            keys,
            verification: options.verification,
            ledger: Mutex::new(ledger),
            global: Mutex::new(global),
            wecom: Mutex::new(wecom),
            seed: Mutex::new(OrderFile::default()),
            clock_skew: AtomicI64::new(0),
            request_log: Mutex::new(VecDeque::new()),
            request_seq: AtomicU64::new(0),
            wecom_tokens: Mutex::new(TokenStore::new(options.wecom_token_lifetime)),
            faults: Mutex::new(VecDeque::new()),
            refund_requests: AtomicUsize::new(0),
            rotated: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            notify: Outbox::new(&options)?,
            options: options.clone(),
        });
        let notify_thread = notify::spawn(Arc::clone(&shared))?;
        let mut simulator = Simulator {
            shared,
            addr,
            accept_thread: None,
            notify_thread: Some(notify_thread),
        };
        // On error, dropping `simulator` stops the notifier again.
        simulator.accept_thread = Some(server::spawn_accept_loop(
            listener,
            Arc::clone(&simulator.shared),
        )?);
        Ok(simulator)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A ready `wxrefund` configuration for mainland refunds in direct mode.
    pub fn client_config(&self) -> Value {
        self.config("domestic", "direct")
    }

    /// The configuration fields every family and mode shares: credentials, base URL and
    /// what the client verifies responses with.
    fn config(&self, family: &str, mode: &str) -> Value {
        let mut config = json!({
            "family": family,
            "mode": mode,
            "mchid": MCHID,
            "merchant_serial_no": MERCHANT_SERIAL,
            "private_key_pem": MERCHANT_KEY_PEM,
            "apiv3_key": APIV3_KEY,
            "base_url": self.base_url(),
        });
        let verification = self.shared.verification;
        if matches!(verification, Verification::PublicKey | Verification::Both) {
            config["wechatpay_public_key_id"] = json!(PUBLIC_KEY_ID);
            config["wechatpay_public_key_pem"] = json!(PUBKEY_PUB_PEM);
        }
        if matches!(
            verification,
            Verification::PlatformCertificate | Verification::Both
        ) {
            config["platform_certificates"] = json!(true);
        }
        config
    }

    /// A ready `wxrefund` configuration for mainland partner (service-provider) mode,
    /// acting for `sub_mchid`.
    pub fn partner_client_config(&self, sub_mchid: &str) -> Value {
        let mut config = self.config("domestic", "partner");
        config["sub_mchid"] = json!(sub_mchid);
        config
    }

    /// A ready `wxrefund` configuration for Global refunds in direct mode.
    pub fn global_client_config(&self) -> Value {
        let mut config = self.config("global", "direct");
        config["appid"] = json!(APPID);
        config
    }

    /// A ready `wxrefund` configuration for Global refunds in institution mode: `mchid`
    /// and `appid` are the institution's (`sp_mchid`, `sp_appid`), acting for `sub_mchid`.
    pub fn global_institution_client_config(&self, sub_mchid: &str) -> Value {
        let mut config = self.config("global", "institution");
        config["appid"] = json!(APPID);
        config["sub_mchid"] = json!(sub_mchid);
        config
    }

    /// A ready `wxrefund` configuration for WeCom refunds that fetches access tokens from
    /// `/cgi-bin/gettoken` with the simulated corpid and corpsecret.
    pub fn wecom_client_config(&self) -> Value {
        wecom::client_config(&self.base_url(), None)
    }

    /// A ready `wxrefund` configuration for WeCom refunds that uses the fixed
    /// `access_token` (e.g. from [`Simulator::issue_wecom_token`]) instead of fetching one.
    pub fn wecom_fixed_token_config(&self, token: &str) -> Value {
        wecom::client_config(&self.base_url(), Some(token))
    }

    /// Mints a valid WeCom access token directly, as a host-side token cache would hold
    /// one; it expires like any other. Not counted by [`Simulator::gettoken_count`].
    pub fn issue_wecom_token(&self) -> String {
        lock(&self.shared.wecom_tokens).issue(SystemTime::now())
    }

    /// Invalidates every WeCom access token issued so far: they are answered with errcode
    /// 40014 from now on. Tokens issued later are valid.
    pub fn revoke_wecom_tokens(&self) {
        lock(&self.shared.wecom_tokens).revoke();
    }

    /// `GET /cgi-bin/gettoken` calls answered so far, successful or not.
    pub fn gettoken_count(&self) -> usize {
        lock(&self.shared.wecom_tokens).gettoken_calls()
    }

    /// Adds a WeCom order (replacing any WeCom order with the same `out_trade_no`).
    pub fn add_wecom_order(&self, order: WeComOrder) {
        lock(&self.shared.wecom).add_order(order);
    }

    /// The refunds recorded for a WeCom order, oldest first, as `get_refund_detail`
    /// returns them (without `errcode`/`errmsg`).
    pub fn wecom_refunds_for_order(&self, out_trade_no: &str) -> Vec<Value> {
        lock(&self.shared.wecom).refunds_for_order(out_trade_no, SystemTime::now())
    }

    /// Adds a mainland order (replacing any order with the same `out_trade_no`).
    pub fn add_order(&self, order: Order) {
        lock(&self.shared.ledger).add_order(order);
    }

    /// Adds a Global order (replacing any Global order with the same `out_trade_no`).
    pub fn add_global_order(&self, order: GlobalOrder) {
        lock(&self.shared.global).add_order(order);
    }

    /// Applies `fault` to the next `times` requests on the refund endpoints of any family
    /// (any request whose path is `/v3/refund/domestic/refunds`, `/v3/global/refunds` or
    /// below them, and WeCom `/cgi-bin/miniapppay/refund` and `get_refund_detail` requests
    /// with a valid access token). Faults queue in order; see [`Fault`] for WeCom.
    pub fn inject(&self, fault: Fault, times: usize) {
        if times > 0 {
            lock(&self.shared.faults).push_back((fault, times, None));
        }
    }

    /// Like [`Simulator::inject`], but the fault applies only to requests for `endpoint`:
    /// a refund endpoint's path (e.g. `/v3/refund/domestic/refunds` or
    /// `/cgi-bin/miniapppay/get_refund_detail`), matched exactly, or a path ending with `/`
    /// (e.g. `/v3/refund/domestic/refunds/` for the queries), matched as a prefix. Requests
    /// for other endpoints pass it by and take the next fault that applies to them.
    ///
    /// # Panics
    ///
    /// If `endpoint` is not a refund endpoint.
    pub fn inject_at(&self, fault: Fault, times: usize, endpoint: &str) {
        assert!(
            server::is_fault_endpoint(endpoint),
            "not a refund endpoint: {endpoint:?}"
        );
        if times > 0 {
            lock(&self.shared.faults).push_back((fault, times, Some(endpoint.to_string())));
        }
    }

    /// The refunds recorded for a mainland order, oldest first, as the query endpoint
    /// returns them.
    pub fn refunds_for_order(&self, out_trade_no: &str) -> Vec<Value> {
        lock(&self.shared.ledger).refunds_for_order(out_trade_no, SystemTime::now())
    }

    /// The refunds recorded for a Global order, oldest first, as the Global query endpoints
    /// return them.
    pub fn global_refunds_for_order(&self, out_trade_no: &str) -> Vec<Value> {
        lock(&self.shared.global).refunds_for_order(out_trade_no, SystemTime::now())
    }

    /// HTTP requests received on the refund endpoints of all families so far (faulted ones
    /// included; WeCom requests only when their access token was valid, gettoken never).
    pub fn request_count(&self) -> usize {
        self.shared.refund_requests.load(Ordering::SeqCst)
    }

    /// Applies `fault` to the next `times` refund notifications of any family (those with
    /// a loopback target; refused URLs take none). Faults queue in order; see
    /// [`NotifyFault`].
    pub fn inject_notification(&self, fault: NotifyFault, times: usize) {
        self.shared.notify.inject(fault, times);
    }

    /// Asks for one more delivery attempt of the notification with envelope `id` (see
    /// [`Delivery::id`]) now, freshly signed; it happens within a notifier tick. When it is
    /// not acknowledged the redelivery schedule goes on from where it stopped. `false`:
    /// no notification with this id was queued for delivery (refused URLs never are), or
    /// it was before a [`Simulator::reset`]. Only the last 1,000 finished notifications
    /// are kept: an older one is not redelivered.
    pub fn redeliver_notification(&self, id: &str) -> bool {
        self.shared.notify.request_redelivery(id)
    }

    /// Every notification delivery attempt so far, in order, failed ones included.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.notify.deliveries()
    }

    /// Signs responses with the rotated platform certificate from now on;
    /// `/v3/certificates` then lists both certificates.
    pub fn rotate_platform_certificate(&self) {
        self.shared.rotated.store(true, Ordering::SeqCst);
    }

    /// Adds the orders of an orders file and makes them part of the seeded start state
    /// that [`Simulator::reset`] returns to (what `wxrefund-sim --orders FILE` does).
    pub fn seed_orders(&self, orders: &OrderFile) {
        {
            let mut seed = lock(&self.shared.seed);
            seed.domestic.extend(orders.domestic.iter().cloned());
            seed.global.extend(orders.global.iter().cloned());
            seed.wecom.extend(orders.wecom.iter().cloned());
        }
        orders.clone().add_to(self);
    }

    /// Settles the refund `out_refund_no` (of any family) into `status` now, instead of
    /// after [`SimOptions::settle_after`]; queries show the new state at once and its
    /// notification follows as usual. Success time is now.
    pub fn settle_now(&self, out_refund_no: &str, status: FinalStatus) -> Result<(), SettleError> {
        self.shared.settle_now(out_refund_no, status)
    }

    /// Shifts the clock of every signature the simulator makes (`Wechatpay-Timestamp` of
    /// answers and notifications, WeCom callbacks' `timestamp`) by `secs` seconds from now
    /// on; 0 restores it. Adds to a [`Fault::ClockSkew`].
    pub fn set_clock_skew(&self, secs: i64) {
        self.shared.clock_skew.store(secs, Ordering::SeqCst);
    }

    /// The current clock skew set with [`Simulator::set_clock_skew`].
    pub fn clock_skew(&self) -> i64 {
        self.shared.clock_skew.load(Ordering::SeqCst)
    }

    /// The last requests on the platform endpoints (not the `/_sim/` control API), oldest
    /// first, at most 1,000: each an object with `seq`, `method`, `path` (the target with
    /// `access_token` and `corpsecret` values masked as `***`), `status` (`null` when the
    /// connection was dropped), `body_sha256` (hex SHA-256 of the request body, to see
    /// that a retry resent the same bytes) and `verdict` (`ok`, `signature_invalid`, `token_expired`,
    /// `token_invalid`, `token_missing`, `fault:KIND`, `not_found`, `method_not_allowed`
    /// or `error:CODE`).
    pub fn request_log(&self) -> Vec<Value> {
        lock(&self.shared.request_log).iter().cloned().collect()
    }

    /// Back to the seeded start state: orders as at start (demo orders and
    /// [`Simulator::seed_orders`]), no refunds, no queued faults of either kind, no clock
    /// skew, the original platform certificate, no WeCom tokens, empty delivery and request
    /// logs and a zero [`Simulator::request_count`]. Notifications already pending are
    /// still delivered.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// A snapshot of the simulator as `GET /_sim/state` shows it: `orders` and `refunds`
    /// per family (`domestic`, `global`, `wecom`; refunds as their query shows them, with
    /// `out_trade_no` and `status_history`, each status change as `{"status", "at"}`; a
    /// mainland refund sent another way also has `abnormal_refund`, see
    /// [Abnormal refunds](crate#abnormal-refunds)),
    /// `deliveries`, queued `faults` (with their `endpoint`, if any) and `notification_faults`,
    /// `clock_skew_secs`, `certificate_rotated` and `request_count`.
    pub fn state(&self) -> Value {
        self.shared.state()
    }

    /// The merchant's private key (PKCS#8 PEM) the simulator expects requests signed with.
    pub fn merchant_private_key_pem() -> &'static str {
        MERCHANT_KEY_PEM
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // The notifier sleeps at most a tick, or finishes its current attempt (bounded by
        // its timeouts), then sees the flag.
        if let Some(handle) = self.notify_thread.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
        // Wake the accept loop, which blocks in accept(), so it sees the flag and exits.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(handle) = self.accept_thread.take() {
            // Without the wake-up connection the join could block forever; detach instead.
            if woke {
                let _ = handle.join();
            }
        }
        // Unblock connection threads waiting for the next request; they then exit.
        for (_, stream) in lock(&self.shared.connections).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::signing_message;
    use crate::keys::{load_rsa_key, PLATFORM_CERT_PEM, PLATFORM_NEXT_SERIAL, PLATFORM_SERIAL};
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::RSA_PKCS1_SHA256;
    use std::io::{Read, Write};

    const REFUNDS: &str = "/v3/refund/domestic/refunds";

    /// Sends raw bytes on a fresh connection and returns the whole response text
    /// (requests use `Connection: close`).
    fn exchange(sim: &Simulator, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(sim.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(raw).expect("write");
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A correctly signed request, as a client would send it.
    fn signed_request(method: &str, target: &str, body: &str) -> Vec<u8> {
        signed_request_with(method, target, body, "")
    }

    /// [`signed_request`] with `extra` header lines (each ending in CRLF).
    fn signed_request_with(method: &str, target: &str, body: &str, extra: &str) -> Vec<u8> {
        let key = load_rsa_key(MERCHANT_KEY_PEM).expect("key");
        let ts = clock::epoch_secs(SystemTime::now()).to_string();
        let nonce = clock::random_alnum(32);
        let msg = signing_message(method, target, &ts, &nonce, body.as_bytes());
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &msg, &mut sig)
            .expect("sign");
        format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\
             User-Agent: sim-test\r\nContent-Type: application/json\r\n\
             Authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"{MCHID}\",nonce_str=\"{nonce}\",\
             timestamp=\"{ts}\",serial_no=\"{MERCHANT_SERIAL}\",signature=\"{}\"\r\n\
             {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            BASE64.encode(sig),
            body.len()
        )
        .into_bytes()
    }

    fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
        let head = response.split("\r\n\r\n").next()?;
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// Asserts the response status and returns the JSON body.
    fn answered(response: &str, status: u16) -> Value {
        let status_line = format!("HTTP/1.1 {status} ");
        assert!(response.starts_with(&status_line), "{response}");
        body(response)
    }

    fn body(response: &str) -> Value {
        let raw = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(raw).expect("JSON body")
    }

    #[test]
    fn unsigned_request_gets_sign_error() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        let response = exchange(
            &sim,
            b"GET /v3/refund/domestic/refunds/R1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\
              User-Agent: test\r\nConnection: close\r\n\r\n",
        );
        assert!(response.starts_with("HTTP/1.1 401 "), "{response}");
        assert_eq!(body(&response)["code"], "SIGN_ERROR");
        assert!(header(&response, "Request-ID").is_some());
        assert_eq!(sim.request_count(), 1);

        let response = exchange(
            &sim,
            b"GET /v3/certificates HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
        assert_eq!(body(&response)["code"], "INVALID_REQUEST");

        let response = exchange(&sim, b"NOT HTTP\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    }

    #[test]
    fn signed_apply_is_answered_with_a_verifiable_signature() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        let apply = r#"{"out_trade_no":"T20261122000001","out_refund_no":"E2E|1","amount":{"refund":100,"total":10000,"currency":"CNY"}}"#;
        let response = exchange(&sim, &signed_request("POST", REFUNDS, apply));
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        let refund = body(&response);
        assert_eq!(refund["status"], "PROCESSING");
        assert!(refund["refund_id"]
            .as_str()
            .is_some_and(|id| id.len() == 30));

        // The response signature verifies with the platform certificate.
        assert_eq!(
            header(&response, "Wechatpay-Serial"),
            Some(keys::PLATFORM_SERIAL)
        );
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));

        // Query with `|` percent-encoded; the first attempt hits an injected SYSTEM_ERROR.
        sim.inject(Fault::SystemError, 1);
        let target = "/v3/refund/domestic/refunds/E2E%7C1";
        let response = exchange(&sim, &signed_request("GET", target, ""));
        assert!(response.starts_with("HTTP/1.1 500 "), "{response}");
        let response = exchange(&sim, &signed_request("GET", target, ""));
        assert_eq!(body(&response)["refund_id"], refund["refund_id"]);
        assert_eq!(sim.request_count(), 3);
    }

    #[test]
    fn global_apply_and_both_queries_over_http() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        let apply = r#"{"mchid":"1900000100","appid":"wxd678efh567hg6787","out_trade_no":"G20261122000001","out_refund_no":"GL|1*x@y","amount":{"refund":1234,"total":10000,"currency":"USD"}}"#;
        // A fault queued now hits the Global endpoint too.
        sim.inject(Fault::SystemError, 1);
        let response = exchange(&sim, &signed_request("POST", "/v3/global/refunds", apply));
        assert!(response.starts_with("HTTP/1.1 500 "), "{response}");
        let response = exchange(&sim, &signed_request("POST", "/v3/global/refunds", apply));
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));
        let answer = body(&response);
        assert!(answer.get("status").is_none());
        assert_eq!(answer["amount"]["payer_refund"], 9625);
        assert_eq!(answer["amount"]["payer_currency"], "CNY");
        let id = answer["id"].as_str().expect("id").to_string();

        let by_no = "/v3/global/refunds/out-refund-no/GL%7C1%2Ax%40y?mchid=1900000100";
        let response = exchange(&sim, &signed_request("GET", by_no, ""));
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));
        let refund = body(&response);
        assert_eq!(refund["id"], id.as_str());
        assert_eq!(refund["out_refund_no"], "GL|1*x@y");
        assert_eq!(refund["status"], "PROCESSING");
        assert_eq!(refund["amount"]["settlement_currency"], "HKD");
        assert_eq!(refund["amount"]["settlement_refund"], 9625);

        let by_id = format!("/v3/global/refunds/id/{id}?mchid=1900000100");
        let response = exchange(&sim, &signed_request("GET", &by_id, ""));
        assert_eq!(body(&response), refund);
        let raw_no = "/v3/global/refunds/out-refund-no/GL|1*x@y?mchid=1900000100";
        let response = exchange(&sim, &signed_request("GET", raw_no, ""));
        assert_eq!(body(&response)["id"], id.as_str());
        assert_eq!(
            sim.global_refunds_for_order("G20261122000001"),
            vec![refund]
        );
        assert!(sim.refunds_for_order("G20261122000001").is_empty());

        // Missing merchant parameter, wrong method, mainland order on the Global endpoint.
        let no_mchid = "/v3/global/refunds/out-refund-no/GL%7C1%2Ax%40y";
        let response = exchange(&sim, &signed_request("GET", no_mchid, ""));
        assert_eq!(answered(&response, 400)["code"], "PARAM_ERROR");
        let response = exchange(&sim, &signed_request("GET", "/v3/global/refunds", ""));
        assert_eq!(answered(&response, 405)["code"], "REQUIRE_POST_METHOD");
        let mainland = apply.replace("G20261122000001", "T20261122000001");
        let response = exchange(
            &sim,
            &signed_request("POST", "/v3/global/refunds", &mainland),
        );
        assert_eq!(answered(&response, 404)["code"], "ORDER_NOT_EXIST");
        assert_eq!(sim.request_count(), 8);
    }

    #[test]
    fn global_institution_refund_over_http() {
        let sim = Simulator::start(SimOptions {
            settle_after: Duration::ZERO,
            ..SimOptions::default()
        })
        .expect("start");
        let apply = r#"{"sp_mchid":"1900000100","sub_mchid":"1900000209","sp_appid":"wxd678efh567hg6787","transaction_id":"4200000002202611220000000009","out_refund_no":"INST1","amount":{"refund":500,"total":20000,"currency":"EUR","from":[{"fund_source":"ORDER_REFUNDABLE_BALANCE","amount":500}]}}"#;
        let response = exchange(&sim, &signed_request("POST", "/v3/global/refunds", apply));
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        let query =
            "/v3/global/refunds/out-refund-no/INST1?sp_mchid=1900000100&sub_mchid=1900000209";
        let refund = body(&exchange(&sim, &signed_request("GET", query, "")));
        assert_eq!(refund["status"], "SUCCESS");
        assert_eq!(refund["amount"]["payer_refund"], 500);
        assert_eq!(
            refund["amount"]["exchange_rate"]["type"],
            "USERPAYMENT_RATE"
        );
        assert_eq!(
            refund["amount"]["from"],
            json!([{"fund_source":"ORDER_REFUNDABLE_BALANCE","amount":500}])
        );
        let direct = "/v3/global/refunds/out-refund-no/INST1?mchid=1900000100";
        let response = exchange(&sim, &signed_request("GET", direct, ""));
        assert_eq!(answered(&response, 404)["code"], "REFUND_NOT_EXIST");

        let response = exchange(&sim, &signed_request("GET", "/v3/global/certificates", ""));
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        assert!(body(&response)["data"].is_array());
    }

    /// A plain WeCom request: no Authorization, no Wechatpay headers.
    fn wecom_request(method: &str, target: &str, body: &str) -> Vec<u8> {
        format!(
            "{method} {target} HTTP/1.1\r\nHost: qyapi\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn wecom_token_refund_and_detail_over_http() {
        let sim = Simulator::start(SimOptions {
            settle_after: Duration::ZERO,
            ..SimOptions::default()
        })
        .expect("start");
        let config = sim.wecom_client_config();
        assert_eq!(config["family"], "wecom");
        assert_eq!(
            config["corpsecret"],
            "wxrefundSimulatorCorpSecret-0123456789"
        );

        let gettoken = format!(
            "/cgi-bin/gettoken?corpid={}&corpsecret={}",
            config["corpid"].as_str().expect("corpid"),
            config["corpsecret"].as_str().expect("corpsecret")
        );
        let response = exchange(&sim, &wecom_request("GET", &gettoken, ""));
        let issued = answered(&response, 200);
        assert_eq!(
            (&issued["errcode"], &issued["errmsg"]),
            (&json!(0), &json!("ok"))
        );
        assert_eq!(issued["expires_in"], 7200);
        assert!(header(&response, "Wechatpay-Signature").is_none());
        let token = issued["access_token"].as_str().expect("token").to_string();
        assert_eq!(sim.gettoken_count(), 1);

        // A fault is consumed by the first request with a valid token, not by gettoken.
        sim.inject(Fault::SystemError, 1);
        let refund = format!("/cgi-bin/miniapppay/refund?access_token={token}");
        let apply = r#"{"mchid":"1900000300","appid":"wx8a7b6c5d4e3f2a10","out_trade_no":"W20261122000001","out_refund_no":"WE2E|1","reason":"退款","amount":{"refund":1500,"total":10000,"currency":"CNY"}}"#;
        let response = exchange(&sim, &wecom_request("POST", &refund, apply));
        assert_eq!(
            answered(&response, 200),
            json!({"errcode": -1, "errmsg": "system busy"})
        );
        let response = exchange(&sim, &wecom_request("POST", &refund, apply));
        assert_eq!(
            answered(&response, 200),
            json!({
                "errcode": 0, "errmsg": "ok", "out_refund_no": "WE2E|1",
                "amount": {"refund": 1500, "payer_refund": 1500, "discount_refund": 0, "currency": "CNY"},
                "promotion_detail": [],
            })
        );
        // A second request on the order within the spacing is refused.
        let response = exchange(&sim, &wecom_request("POST", &refund, apply));
        assert_eq!(answered(&response, 200)["errcode"], 45009);

        let detail = format!("/cgi-bin/miniapppay/get_refund_detail?access_token={token}");
        let query = r#"{"mchid":"1900000300","out_refund_no":"WE2E|1"}"#;
        let response = exchange(&sim, &wecom_request("POST", &detail, query));
        let found = answered(&response, 200);
        assert_eq!(found["errcode"], 0);
        assert_eq!(found["status"], "SUCCESS");
        assert_eq!(found["transaction_id"], "4200000003202611220000000001");
        assert!(found["success_time"].is_string());
        let mut stored = found.clone();
        if let Some(fields) = stored.as_object_mut() {
            fields.remove("errcode");
            fields.remove("errmsg");
        }
        assert_eq!(sim.wecom_refunds_for_order("W20261122000001"), vec![stored]);
        assert!(sim.refunds_for_order("W20261122000001").is_empty());

        let unknown = r#"{"mchid":"1900000300","out_refund_no":"NOPE"}"#;
        let response = exchange(&sim, &wecom_request("POST", &detail, unknown));
        assert_eq!(answered(&response, 200)["errcode"], 720501);
        assert_eq!(sim.request_count(), 5);

        // Revoked: 40014, not counted, no fault consumed.
        sim.revoke_wecom_tokens();
        sim.inject(Fault::RateLimited, 1);
        let response = exchange(&sim, &wecom_request("POST", &detail, query));
        assert_eq!(
            answered(&response, 200),
            json!({"errcode": 40014, "errmsg": "invalid access_token"})
        );
        let no_token = "/cgi-bin/miniapppay/get_refund_detail";
        let response = exchange(&sim, &wecom_request("POST", no_token, query));
        assert_eq!(answered(&response, 200)["errcode"], 41001);
        assert_eq!(sim.request_count(), 5);

        // A fresh token works again and meets the queued fault.
        let fresh = format!(
            "/cgi-bin/miniapppay/get_refund_detail?access_token={}",
            sim.issue_wecom_token()
        );
        let response = exchange(&sim, &wecom_request("POST", &fresh, query));
        assert_eq!(
            answered(&response, 200),
            json!({"errcode": 45009, "errmsg": "api freq out of limit"})
        );
        let response = exchange(&sim, &wecom_request("POST", &fresh, query));
        assert_eq!(answered(&response, 200)["out_refund_no"], "WE2E|1");
        let response = exchange(&sim, &wecom_request("GET", &fresh, ""));
        assert_eq!(answered(&response, 405)["errcode"], 43002);
        let response = exchange(
            &sim,
            &wecom_request("GET", "/cgi-bin/gettoken?corpid=x", ""),
        );
        assert_eq!(answered(&response, 200)["errcode"], 40013);
        assert_eq!(sim.gettoken_count(), 2);
        assert_eq!(sim.request_count(), 7);
        let fixed = sim.wecom_fixed_token_config("tok");
        assert_eq!(fixed["access_token"], "tok");
        assert!(fixed.get("corpsecret").is_none());
        assert!(fixed.get("private_key_pem").is_none());
    }

    #[test]
    fn wecom_tokens_expire_and_faults_drop_or_delay() {
        let sim = Simulator::start(SimOptions {
            wecom_token_lifetime: Duration::from_millis(150),
            wecom_order_spacing: Duration::ZERO,
            ..SimOptions::default()
        })
        .expect("start");
        let token = sim.issue_wecom_token();
        let target = format!("/cgi-bin/miniapppay/refund?access_token={token}");
        let apply = r#"{"mchid":"1900000300","appid":"wx8a7b6c5d4e3f2a10","out_trade_no":"W20261122000002","out_refund_no":"WDROP","amount":{"refund":100,"total":500,"currency":"CNY"}}"#;
        sim.inject(Fault::DropAfterCommit, 1);
        sim.inject(Fault::BadSignature, 1);
        sim.inject(Fault::Delay(Duration::from_millis(50)), 1);
        assert_eq!(exchange(&sim, &wecom_request("POST", &target, apply)), "");
        assert_eq!(sim.wecom_refunds_for_order("W20261122000002").len(), 1);
        let response = exchange(&sim, &wecom_request("POST", &target, apply));
        assert_eq!(answered(&response, 200)["out_refund_no"], "WDROP");
        let started = std::time::Instant::now();
        let response = exchange(&sim, &wecom_request("POST", &target, apply));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(answered(&response, 200)["errcode"], 0);

        std::thread::sleep(Duration::from_millis(200));
        let response = exchange(&sim, &wecom_request("POST", &target, apply));
        assert_eq!(
            answered(&response, 200),
            json!({"errcode": 42001, "errmsg": "access_token expired"})
        );
        assert_eq!(sim.request_count(), 3);
    }

    #[test]
    fn apply_abnormal_refund_over_http() {
        let sim = Simulator::start(SimOptions {
            // Long enough for the debug build's RSA: the refund must still be processing.
            settle_after: Duration::from_millis(1500),
            verification: Verification::Both,
            ..SimOptions::default()
        })
        .expect("start");
        let account = "6222020200112233445";
        let body = |serial: &str| {
            json!({
                "out_refund_no": "AB|1", "type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT",
                "bank_account": abnormal::tests::encrypt_for(&sim.shared.keys, serial, account),
                "real_name": abnormal::tests::encrypt_for(&sim.shared.keys, serial, "张三"),
            })
            .to_string()
        };
        let serial_line = |serial: &str| format!("Wechatpay-Serial: {serial}\r\n");
        let public_key = body(PUBLIC_KEY_ID);
        let platform = body(PLATFORM_SERIAL);
        let apply = r#"{"out_trade_no":"T20261122000001","out_refund_no":"AB|1","amount":{"refund":100,"total":10000,"currency":"CNY"}}"#;
        let refund = answered(
            &exchange(&sim, &signed_request("POST", REFUNDS, apply)),
            200,
        );
        let refund_id = refund["refund_id"].as_str().expect("refund_id");
        let target = format!("{REFUNDS}/{refund_id}/apply-abnormal-refund");

        // Still PROCESSING: refused, signed as usual.
        let response = exchange(
            &sim,
            &signed_request_with("POST", &target, &public_key, &serial_line(PUBLIC_KEY_ID)),
        );
        assert_eq!(answered(&response, 400)["code"], "INVALID_REQUEST");
        sim.settle_now("AB|1", FinalStatus::Abnormal)
            .expect("settled");
        // No or unknown Wechatpay-Serial, wrong method, unsigned: refused.
        let response = exchange(&sim, &signed_request("POST", &target, &public_key));
        assert_eq!(
            answered(&response, 400)["detail"]["field"],
            "Wechatpay-Serial"
        );
        let response = exchange(
            &sim,
            &signed_request_with(
                "POST",
                &target,
                &public_key,
                &serial_line(PLATFORM_NEXT_SERIAL),
            ),
        );
        assert_eq!(answered(&response, 400)["code"], "PARAM_ERROR");
        let response = exchange(&sim, &signed_request("GET", &target, ""));
        assert_eq!(answered(&response, 405)["code"], "METHOD_NOT_ALLOWED");
        let unsigned =
            signed_request_with("POST", &target, &public_key, &serial_line(PUBLIC_KEY_ID));
        let unsigned = String::from_utf8(unsigned)
            .expect("utf-8")
            .replace("signature=\"", "signature=\"AAAA");
        let response = exchange(&sim, unsigned.as_bytes());
        assert_eq!(answered(&response, 401)["code"], "SIGN_ERROR");
        // Encrypted for the platform certificate, but the header names the public key.
        let response = exchange(
            &sim,
            &signed_request_with("POST", &target, &platform, &serial_line(PUBLIC_KEY_ID)),
        );
        let refused = answered(&response, 400);
        assert_eq!(refused["detail"]["field"], "/bank_account");
        assert!(refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("解密失败")));
        let unknown = format!("{REFUNDS}/50999/apply-abnormal-refund");
        let response = exchange(
            &sim,
            &signed_request_with("POST", &unknown, &public_key, &serial_line(PUBLIC_KEY_ID)),
        );
        assert_eq!(answered(&response, 404)["code"], "RESOURCE_NOT_EXISTS");

        // Accepted: answered with the public key (the serial asked for it), PROCESSING.
        let response = exchange(
            &sim,
            &signed_request_with("POST", &target, &public_key, &serial_line(PUBLIC_KEY_ID)),
        );
        let answer = answered(&response, 200);
        assert_eq!(header(&response, "Wechatpay-Serial"), Some(PUBLIC_KEY_ID));
        assert_eq!(answer["status"], "PROCESSING");
        assert_eq!(answer["user_received_account"], "工商银行借记卡3445");
        let state = sim.state();
        let stored = &state["refunds"]["domestic"][0];
        assert_eq!(
            stored["abnormal_refund"],
            json!({"type": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT", "bank_account_last4": "3445"})
        );
        // The full card number and the name appear nowhere the control API shows.
        let shown = format!("{state}{:?}", sim.request_log());
        assert!(
            !shown.contains(account) && !shown.contains("张三"),
            "{shown}"
        );

        // The certificate's serial works as well in Both mode; a retry answers again.
        let response = exchange(
            &sim,
            &signed_request_with("POST", &target, &platform, &serial_line(PLATFORM_SERIAL)),
        );
        assert_eq!(answered(&response, 200)["refund_id"], refund_id);
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));

        let query = "/v3/refund/domestic/refunds/AB%7C1";
        let settled = answered(&exchange(&sim, &signed_request("GET", query, "")), 200);
        assert_eq!(settled["status"], "PROCESSING");
        std::thread::sleep(Duration::from_millis(1600));
        let settled = answered(&exchange(&sim, &signed_request("GET", query, "")), 200);
        assert_eq!(settled["status"], "SUCCESS");
        assert_eq!(settled["channel"], "OTHER_BANKCARD");
        let response = exchange(
            &sim,
            &signed_request_with("POST", &target, &public_key, &serial_line(PUBLIC_KEY_ID)),
        );
        assert_eq!(answered(&response, 400)["code"], "INVALID_REQUEST");
        assert_eq!(sim.request_count(), 13);
    }

    #[test]
    fn drop_after_commit_records_the_refund() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        sim.inject(Fault::DropAfterCommit, 1);
        let apply = r#"{"transaction_id":"4200000001202611220000000001","out_refund_no":"DROP1","amount":{"refund":1,"total":10000,"currency":"CNY"}}"#;
        let response = exchange(&sim, &signed_request("POST", REFUNDS, apply));
        assert_eq!(response, "");
        assert_eq!(sim.refunds_for_order("T20261122000001").len(), 1);
    }

    /// Verifies a response signature with the given certificate.
    fn signature_valid(response: &str, cert_pem: &str) -> bool {
        let (Some(ts), Some(nonce), Some(sig)) = (
            header(response, "Wechatpay-Timestamp"),
            header(response, "Wechatpay-Nonce"),
            header(response, "Wechatpay-Signature"),
        ) else {
            return false;
        };
        let raw_body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let message = format!("{ts}\n{nonce}\n{raw_body}\n");
        keys::verifies(cert_pem, message.as_bytes(), sig)
    }

    #[test]
    fn faults_apply_in_order_to_refund_requests_only() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        let query = "/v3/refund/domestic/refunds/NONE";
        sim.inject(Fault::RateLimited, 1);
        sim.inject(Fault::Unsigned, 1);
        sim.inject(Fault::ProbeSignature, 1);
        sim.inject(Fault::BadSignature, 1);
        sim.inject(Fault::ClockSkew(-600), 1);
        sim.inject(Fault::Delay(Duration::from_millis(100)), 1);

        // Certificate downloads are not refund requests: no fault consumed.
        let response = exchange(&sim, &signed_request("GET", "/v3/certificates", ""));
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));

        let response = exchange(&sim, &signed_request("GET", query, ""));
        assert!(response.starts_with("HTTP/1.1 429 "), "{response}");
        assert_eq!(body(&response)["code"], "FREQUENCY_LIMITED");

        let response = exchange(&sim, &signed_request("GET", query, ""));
        assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
        assert!(header(&response, "Wechatpay-Signature").is_none());
        assert!(header(&response, "Wechatpay-Timestamp").is_none());

        let response = exchange(&sim, &signed_request("GET", query, ""));
        let sig = header(&response, "Wechatpay-Signature").expect("signature");
        assert!(sig.starts_with("WECHATPAY/SIGNTEST/"));
        assert!(!signature_valid(&response, PLATFORM_CERT_PEM));

        let response = exchange(&sim, &signed_request("GET", query, ""));
        let sig = header(&response, "Wechatpay-Signature").expect("signature");
        assert!(BASE64.decode(sig).is_ok());
        assert!(!signature_valid(&response, PLATFORM_CERT_PEM));

        let response = exchange(&sim, &signed_request("GET", query, ""));
        let ts: i64 = header(&response, "Wechatpay-Timestamp")
            .and_then(|t| t.parse().ok())
            .expect("timestamp");
        assert!(ts < clock::epoch_secs(SystemTime::now()) - 590);
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));

        let started = std::time::Instant::now();
        let response = exchange(&sim, &signed_request("GET", query, ""));
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));

        // Queue exhausted: back to normal.
        let response = exchange(&sim, &signed_request("GET", query, ""));
        assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
        assert!(signature_valid(&response, PLATFORM_CERT_PEM));
        assert_eq!(sim.request_count(), 7);
    }

    #[test]
    fn rotation_switches_the_signing_certificate() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        sim.rotate_platform_certificate();
        let response = exchange(&sim, &signed_request("GET", "/v3/certificates", ""));
        assert_eq!(body(&response)["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            header(&response, "Wechatpay-Serial"),
            Some(keys::PLATFORM_NEXT_SERIAL)
        );
        assert!(signature_valid(&response, keys::PLATFORM_NEXT_CERT_PEM));
    }

    #[test]
    fn dropping_the_simulator_closes_idle_connections() {
        let sim = Simulator::start(SimOptions::default()).expect("start");
        let addr = sim.addr;
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // A keep-alive request (no `Connection: close`), fully answered.
        stream
            .write_all(b"GET /v3/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("response");
        assert!(buf[..n].starts_with(b"HTTP/1.1 404 "));

        drop(sim);
        // The server side shut the idle connection down: we read end-of-stream.
        assert_eq!(stream.read(&mut buf).expect("eof"), 0);
        assert!(TcpStream::connect(addr).is_err());
    }

    #[test]
    fn configs_follow_verification_mode() {
        let sim = Simulator::start(SimOptions {
            verification: Verification::PublicKey,
            seed_demo_orders: false,
            ..SimOptions::default()
        })
        .expect("start");
        let config = sim.client_config();
        assert_eq!(config["wechatpay_public_key_id"], PUBLIC_KEY_ID);
        assert!(config.get("platform_certificates").is_none());
        let partner = sim.partner_client_config("1900000109");
        assert_eq!(partner["mode"], "partner");
        assert_eq!(partner["sub_mchid"], "1900000109");
        assert!(sim.refunds_for_order("T20261122000001").is_empty());
        let global = sim.global_client_config();
        assert_eq!(
            (&global["family"], &global["mode"]),
            (&json!("global"), &json!("direct"))
        );
        assert_eq!(global["appid"], "wxd678efh567hg6787");
        assert_eq!(global["wechatpay_public_key_id"], PUBLIC_KEY_ID);
        assert!(global.get("sub_mchid").is_none());
        let institution = sim.global_institution_client_config("1900000209");
        assert_eq!(institution["mode"], "institution");
        assert_eq!(institution["mchid"], MCHID);
        assert_eq!(institution["sub_mchid"], "1900000209");
        assert_eq!(institution["base_url"], sim.base_url());
        assert!(sim.global_refunds_for_order("G20261122000001").is_empty());
    }

    #[test]
    fn demo_global_orders_match_the_documentation() {
        let orders = demo_global_orders();
        let summary: Vec<_> = orders
            .iter()
            .map(|o| {
                (
                    o.out_trade_no.as_str(),
                    o.total,
                    [
                        o.currency.as_str(),
                        o.payer_currency.as_str(),
                        o.settlement_currency.as_str(),
                    ],
                    o.rate,
                    o.sub_mchid.as_deref(),
                    o.final_status,
                )
            })
            .collect();
        let usd = ["USD", "CNY", "HKD"];
        assert_eq!(
            summary,
            vec![
                (
                    "G20261122000001",
                    10000,
                    usd,
                    780_000_000,
                    None,
                    FinalStatus::Success
                ),
                (
                    "G20261122000002",
                    5000,
                    ["HKD"; 3],
                    100_000_000,
                    None,
                    FinalStatus::Closed
                ),
                (
                    "G20261122000003",
                    3000,
                    ["JPY", "CNY", "JPY"],
                    100_000_000,
                    None,
                    FinalStatus::Abnormal
                ),
                (
                    "G20251101000001",
                    1000,
                    usd,
                    780_000_000,
                    None,
                    FinalStatus::Success
                ),
                (
                    "G20261122000009",
                    20000,
                    ["EUR", "CNY", "EUR"],
                    100_000_000,
                    Some("1900000209"),
                    FinalStatus::Success
                ),
            ]
        );
        assert!(orders[3].paid_at < clock::days_ago(399));
        assert!(orders[0].paid_at > clock::days_ago(2));
        assert_eq!(orders[4].transaction_id, "4200000002202611220000000009");
    }
}
