//! Refund notifications (PROTOCOL §3, §6.4): when a refund reaches its final state, a
//! background thread POSTs a signed APIv3 envelope to the apply request's `notify_url`
//! (mainland, Global) or a WeCom callback to [`crate::SimOptions::wecom_callback_url`],
//! and redelivers on the schedule until a receiver answers 2xx. Faults can be queued with
//! [`crate::Simulator::inject_notification`]; every attempt is logged as a [`Delivery`].

pub(crate) mod callback;
mod post;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::book::{RefundViews, Settled, Stage};
use crate::certs::encrypted_object;
use crate::clock::{epoch_secs, fill_random, hex, random_alnum, rfc3339_cst};
use crate::keys::{APIV3_KEY, PUBLIC_KEY_ID};
use crate::server::{lock, take_fault, Shared};
use crate::wecom::{AGENT_ID, CALLBACK_TOKEN, CORPID, ENCODING_AES_KEY};
use crate::{Fault, SimOptions};
use post::{with_query, Target};

/// How often the notifier looks for settled refunds and due deliveries.
const TICK: Duration = Duration::from_millis(20);
/// How many finished notifications are kept for [`Outbox::request_redelivery`].
const MAX_FINISHED: usize = 1000;
/// The platform redelivers at most this many times.
const MAX_RETRIES: usize = 15;
/// The platform's redelivery delays in seconds (PROTOCOL §3.4).
const PLATFORM_SCHEDULE: [u64; MAX_RETRIES] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10_800, 10_800, 10_800, 21_600, 21_600,
];
/// The default schedule is the platform's this many times faster.
const SCHEDULE_SPEEDUP: u64 = 150;
/// How far in the past a [`NotifyFault::Stale`] timestamp is.
const STALE_SECS: i64 = 600;
/// Associated data of a refund notification's resource.
const RESOURCE_AAD: &str = "refund";

/// A misbehaviour applied to the next notifications (see
/// [`crate::Simulator::inject_notification`]).
///
/// All but `Duplicate` make the first attempt faulty: a receiver should refuse it, and the
/// simulator then redelivers a correct notification on the schedule. A faulty attempt
/// never counts as acknowledged, even when the receiver (wrongly) answers 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFault {
    /// Once the notification is acknowledged, deliver the identical request (same `id`,
    /// body and headers) once more, a first schedule step later.
    Duplicate,
    /// `Wechatpay-Signature` is `WECHATPAY/SIGNTEST/` + base64 junk (PROTOCOL §2.6);
    /// WeCom: a random `msg_signature`.
    Probe,
    /// A well-formed signature made over other bytes; WeCom: `msg_signature` over another
    /// `Encrypt` value.
    BadSignature,
    /// The body is altered after signing: the envelope's `create_time` is one second
    /// later; WeCom: the `Encrypt` value is altered.
    Tampered,
    /// The resource is encrypted with another 32-byte key, and correctly signed; WeCom:
    /// the callback is encrypted with another AES key.
    WrongKey,
    /// The timestamp (`Wechatpay-Timestamp`, WeCom `timestamp`) is 600 s in the past, and
    /// the signature is valid over it.
    Stale,
}

/// One delivery attempt of a notification, as [`crate::Simulator::deliveries`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The notification's envelope `id` (`EV-` + 32 hex digits), shared by its attempts.
    pub id: String,
    /// 1 for the notification's first attempt, then 2, 3, ...
    pub attempt: u32,
    /// The URL posted to (WeCom: with its `msg_signature`, `timestamp` and `nonce`).
    pub url: String,
    /// The HTTP status the receiver answered; 2xx acknowledges.
    pub status: Option<u16>,
    /// Why there is no status: not a loopback URL, connection failure, timeout, ...
    pub error: Option<String>,
    /// The fault this attempt carried: a faulty first attempt, or the repeated delivery of
    /// [`NotifyFault::Duplicate`]; `None` for a correct (re)delivery.
    pub fault: Option<NotifyFault>,
    /// The exact body sent (or that would have been sent, for a refused URL).
    pub body: String,
}

/// The default redelivery schedule: the platform's, 150 times faster (100 ms, 100 ms,
/// 200 ms, 1.2 s, 4 s, ...).
pub(crate) fn default_schedule() -> Vec<Duration> {
    PLATFORM_SCHEDULE
        .iter()
        .map(|secs| Duration::from_millis(secs * 1000 / SCHEDULE_SPEEDUP))
        .collect()
}

/// Notification settings, queued faults and the delivery log, shared with the
/// [`crate::Simulator`].
pub(crate) struct Outbox {
    /// Redelivery delays, at most [`MAX_RETRIES`].
    schedule: Vec<Duration>,
    wecom_callback_url: Option<String>,
    wecom_callback_xml: bool,
    /// The AES key of [`ENCODING_AES_KEY`].
    wecom_key: [u8; 32],
    /// Pending faults, each with how many more notifications it applies to.
    faults: Mutex<VecDeque<(NotifyFault, usize)>>,
    log: Mutex<Vec<Delivery>>,
    /// Ids of the notifications the notifier holds (those it ever tried to deliver).
    known: Mutex<std::collections::HashSet<String>>,
    /// Ids whose redelivery was asked for, not yet picked up by the notifier.
    redeliver: Mutex<Vec<String>>,
    /// APIv3 attempts signed so far: in `Both` mode the odd ones use the public key.
    signed: AtomicUsize,
}

impl Outbox {
    /// An empty outbox with the options' schedule and WeCom callback settings.
    pub(crate) fn new(options: &SimOptions) -> io::Result<Outbox> {
        Ok(Outbox {
            schedule: options
                .notify_schedule
                .iter()
                .take(MAX_RETRIES)
                .copied()
                .collect(),
            wecom_callback_url: options.wecom_callback_url.clone(),
            wecom_callback_xml: options.wecom_callback_xml,
            wecom_key: callback::aes_key(ENCODING_AES_KEY)?,
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            known: Mutex::new(std::collections::HashSet::new()),
            redeliver: Mutex::new(Vec::new()),
            signed: AtomicUsize::new(0),
        })
    }

    /// Queues `fault` for the next `times` notifications.
    pub(crate) fn inject(&self, fault: NotifyFault, times: usize) {
        if times > 0 {
            lock(&self.faults).push_back((fault, times));
        }
    }

    /// Every delivery attempt so far, in order.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.log).clone()
    }

    /// Forgets queued faults and the delivery log.
    pub(crate) fn clear(&self) {
        lock(&self.faults).clear();
        lock(&self.log).clear();
        lock(&self.known).clear();
        lock(&self.redeliver).clear();
    }

    /// Asks for one more attempt of notification `id` now; `false` when no notification
    /// with this id was ever delivered (or it is from before a reset).
    pub(crate) fn request_redelivery(&self, id: &str) -> bool {
        if !lock(&self.known).contains(id) {
            return false;
        }
        lock(&self.redeliver).push(id.to_string());
        true
    }

    /// The queued faults, each with how many more notifications it applies to.
    pub(crate) fn pending_faults(&self) -> Vec<(NotifyFault, usize)> {
        lock(&self.faults).iter().copied().collect()
    }

    fn record(&self, delivery: Delivery) {
        lock(&self.log).push(delivery);
    }
}

/// Starts the notifier thread; it stops when the simulator is stopping (wake it with
/// `unpark` to stop at once).
pub(crate) fn spawn(shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("wxrefund-sim-notify".to_string())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let stopping = || shared.stopping.load(Ordering::SeqCst);
    let mut queue: Vec<Notification> = Vec::new();
    // Finished notifications, newest last, kept for redelivery on request.
    let mut done: VecDeque<Notification> = VecDeque::new();
    while !stopping() {
        queue.extend(announce_settled(shared));
        for id in std::mem::take(&mut *lock(&shared.notify.redeliver)) {
            if let Some(n) = queue.iter_mut().find(|n| n.id == id) {
                n.due = Instant::now();
            } else if let Some(at) = done.iter().position(|n| n.id == id) {
                if let Some(mut n) = done.remove(at) {
                    n.due = Instant::now();
                    queue.push(n);
                }
            }
        }
        let mut pending = Vec::with_capacity(queue.len());
        for mut n in queue.drain(..) {
            if stopping() || n.due > Instant::now() || n.attempt(shared) {
                pending.push(n);
            } else {
                if done.len() >= MAX_FINISHED {
                    done.pop_front();
                }
                done.push_back(n);
            }
        }
        queue = pending;
        thread::park_timeout(TICK);
    }
}

/// Which kind of receiver a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// Mainland and Global: a signed APIv3 envelope.
    Apiv3,
    /// A WeCom callback.
    WeCom,
}

/// New notifications for the refunds of every family that settled since the last look.
fn announce_settled(shared: &Shared) -> Vec<Notification> {
    let now = SystemTime::now();
    let mainland = lock(&shared.ledger).settle(now);
    let global = lock(&shared.global).settle(now);
    let wecom = lock(&shared.wecom).settle(now);
    let apiv3 = mainland
        .into_iter()
        .chain(global)
        .filter_map(|settled| Some((settled.notify_url.clone()?, Channel::Apiv3, settled)));
    let callback_url = &shared.notify.wecom_callback_url;
    let wecom = wecom
        .into_iter()
        .filter_map(|settled| Some((callback_url.clone()?, Channel::WeCom, settled)));
    apiv3
        .chain(wecom)
        .filter_map(|(url, channel, settled)| {
            Notification::new(shared, url, channel, &settled, now)
        })
        .collect()
}

/// The event type and summary of a final state.
fn event(stage: Stage) -> Option<(&'static str, &'static str)> {
    match stage {
        Stage::Processing => None,
        Stage::Success(_) => Some(("REFUND.SUCCESS", "退款成功")),
        Stage::Closed => Some(("REFUND.CLOSED", "退款关闭")),
        Stage::Abnormal => Some(("REFUND.ABNORMAL", "退款异常")),
    }
}

/// What a notification carries, built once; attempts only sign it afresh.
enum Payload {
    /// The APIv3 envelope, its serialized body and the resource plaintext.
    Apiv3 {
        envelope: Value,
        body: String,
        resource: String,
    },
    /// The WeCom message (the decrypted callback) and its `Encrypt` value.
    WeCom { message: Vec<u8>, encrypted: String },
}

/// One HTTP request of a delivery attempt.
#[derive(Debug, Clone)]
struct Request {
    url: String,
    /// Path and query.
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// One refund's notification and its delivery state.
struct Notification {
    id: String,
    created: SystemTime,
    url: String,
    target: Target,
    payload: Payload,
    /// The fault still to apply (a faulty attempt, or a duplicate after acknowledgement).
    fault: Option<NotifyFault>,
    attempts: u32,
    /// Schedule steps used so far.
    retries: usize,
    due: Instant,
    /// The acknowledged request, when a [`NotifyFault::Duplicate`] is due.
    duplicate: Option<Request>,
}

/// The APIv3 envelope of a refund event (PROTOCOL §3.2), its resource encrypted with `key`.
fn envelope(
    id: &str,
    created: SystemTime,
    (event_type, summary): (&str, &str),
    key: &[u8],
    resource: &str,
) -> io::Result<Value> {
    Ok(json!({
        "id": id,
        "create_time": rfc3339_cst(created),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": resource_object(key, resource)?,
    }))
}

/// The encrypted `resource` object of a refund notification.
fn resource_object(key: &[u8], resource: &str) -> io::Result<Value> {
    let mut encrypted = encrypted_object(key, RESOURCE_AAD, resource.as_bytes())?;
    encrypted["original_type"] = json!("refund");
    Ok(encrypted)
}

/// A WeCom callback body (JSON, or XML) carrying `encrypted`, and its content type.
fn callback_body(encrypted: &str, xml: bool) -> (String, &'static str) {
    if xml {
        let body = format!(
            "<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName>\
             <Encrypt><![CDATA[{encrypted}]]></Encrypt>\
             <AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
        );
        (body, "text/xml")
    } else {
        let body = json!({"tousername": CORPID, "encrypt": encrypted, "agentid": AGENT_ID});
        (body.to_string(), "application/json")
    }
}

/// `encrypted` with its first character changed (still base64).
fn altered(encrypted: &str) -> String {
    let mut chars = encrypted.chars();
    let first = if chars.next() == Some('A') { 'B' } else { 'A' };
    format!("{first}{}", chars.as_str())
}

/// A random 32-byte key, the wrong one for [`NotifyFault::WrongKey`].
fn wrong_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    fill_random(&mut key);
    key
}

impl Payload {
    /// Encrypts a settled refund's notification for `channel`.
    fn build(
        shared: &Shared,
        channel: Channel,
        id: &str,
        created: SystemTime,
        settled: &Settled,
    ) -> io::Result<Option<Payload>> {
        let Some(event) = event(settled.stage) else {
            return Ok(None);
        };
        let resource = settled.resource.to_string();
        let payload = match channel {
            Channel::Apiv3 => {
                let envelope = envelope(id, created, event, APIV3_KEY.as_bytes(), &resource)?;
                Payload::Apiv3 {
                    body: envelope.to_string(),
                    envelope,
                    resource,
                }
            }
            Channel::WeCom => {
                let key = &shared.notify.wecom_key;
                let mut message = envelope(id, created, event, key, &resource)?;
                message["notify_type"] = json!("REFUND");
                let message = message.to_string().into_bytes();
                Payload::WeCom {
                    encrypted: callback::encrypt(key, &message, CORPID),
                    message,
                }
            }
        };
        Ok(Some(payload))
    }

    /// The body a correct attempt carries (unsigned for WeCom, whose signature is in the
    /// URL).
    fn body(&self, xml: bool) -> String {
        match self {
            Payload::Apiv3 { body, .. } => body.clone(),
            Payload::WeCom { encrypted, .. } => callback_body(encrypted, xml).0,
        }
    }
}

impl Notification {
    /// The notification of a settled refund to `url`, due now; `None` when there is
    /// nothing to deliver (a refused URL or an encryption failure is logged instead).
    fn new(
        shared: &Shared,
        url: String,
        channel: Channel,
        settled: &Settled,
        now: SystemTime,
    ) -> Option<Notification> {
        let mut raw_id = [0u8; 16];
        fill_random(&mut raw_id);
        let id = format!("EV-{}", hex(&raw_id));
        let refused = |error: String, body: String| {
            shared.notify.record(Delivery {
                id: id.clone(),
                attempt: 1,
                url: url.clone(),
                status: None,
                error: Some(error),
                fault: None,
                body,
            });
        };
        let payload = match Payload::build(shared, channel, &id, now, settled) {
            Ok(payload) => payload?,
            Err(e) => {
                refused(
                    format!("cannot encrypt the notification: {e}"),
                    String::new(),
                );
                return None;
            }
        };
        let target = match Target::parse(&url) {
            Ok(target) => target,
            Err(reason) => {
                refused(reason, payload.body(shared.notify.wecom_callback_xml));
                return None;
            }
        };
        lock(&shared.notify.known).insert(id.clone());
        Some(Notification {
            created: now,
            url,
            target,
            payload,
            fault: take_fault(&shared.notify.faults),
            attempts: 0,
            retries: 0,
            due: Instant::now(),
            duplicate: None,
            id,
        })
    }

    /// Makes the next delivery attempt and logs it; returns whether more are due.
    fn attempt(&mut self, shared: &Shared) -> bool {
        let (fault, request) = match self.duplicate.take() {
            Some(request) => (Some(NotifyFault::Duplicate), Ok(request)),
            None => {
                let faulty = self.fault.filter(|f| *f != NotifyFault::Duplicate);
                if faulty.is_some() {
                    self.fault = None;
                }
                (faulty, self.request(shared, faulty))
            }
        };
        self.attempts = self.attempts.saturating_add(1);
        let (url, body, status) = match &request {
            Ok(r) => (
                r.url.clone(),
                r.body.clone(),
                self.target.post(&r.path, &r.headers, r.body.as_bytes()),
            ),
            Err(e) => (self.url.clone(), String::new(), Err(e.clone())),
        };
        let acknowledged = matches!(status, Ok(200..=299));
        shared.notify.record(Delivery {
            id: self.id.clone(),
            attempt: self.attempts,
            url,
            status: status.as_ref().ok().copied(),
            error: status.err(),
            fault,
            body,
        });
        match fault {
            Some(NotifyFault::Duplicate) => false,
            None if acknowledged => match (self.fault, request) {
                (Some(NotifyFault::Duplicate), Ok(request)) => {
                    self.fault = None;
                    self.duplicate = Some(request);
                    let delay = shared.notify.schedule.first().copied();
                    self.wait(delay.unwrap_or_default())
                }
                _ => false,
            },
            _ => self.retry(&shared.notify.schedule),
        }
    }

    /// Schedules the next redelivery; `false` once the schedule is used up.
    fn retry(&mut self, schedule: &[Duration]) -> bool {
        let Some(delay) = schedule.get(self.retries) else {
            return false;
        };
        self.retries += 1;
        self.wait(*delay)
    }

    /// Makes the next attempt due after `delay`; `false` for a delay too long to represent.
    fn wait(&mut self, delay: Duration) -> bool {
        match Instant::now().checked_add(delay) {
            Some(due) => {
                self.due = due;
                true
            }
            None => false,
        }
    }

    /// A freshly signed request, with `fault` applied.
    fn request(&self, shared: &Shared, fault: Option<NotifyFault>) -> Result<Request, String> {
        match &self.payload {
            Payload::Apiv3 {
                envelope,
                body,
                resource,
            } => self.apiv3_request(shared, fault, envelope, body, resource),
            Payload::WeCom { message, encrypted } => {
                Ok(self.wecom_request(shared, fault, message, encrypted))
            }
        }
    }

    /// An APIv3 notification request: the `Wechatpay-*` headers over the body.
    fn apiv3_request(
        &self,
        shared: &Shared,
        fault: Option<NotifyFault>,
        envelope: &Value,
        body: &str,
        resource: &str,
    ) -> Result<Request, String> {
        let signed = match fault {
            Some(NotifyFault::WrongKey) => {
                let mut rekeyed = envelope.clone();
                rekeyed["resource"] = resource_object(&wrong_key(), resource)
                    .map_err(|e| format!("cannot encrypt the notification: {e}"))?;
                rekeyed.to_string()
            }
            _ => body.to_string(),
        };
        let sign_fault = match fault {
            Some(NotifyFault::Probe) => Some(Fault::ProbeSignature),
            Some(NotifyFault::BadSignature) => Some(Fault::BadSignature),
            Some(NotifyFault::Stale) => Some(Fault::ClockSkew(-STALE_SECS)),
            _ => None,
        };
        // In `Both` mode alternate between the platform certificate and the public key.
        let use_public_key = shared.notify.signed.fetch_add(1, Ordering::Relaxed) % 2 == 1;
        let mut headers = shared
            .signature_headers(
                use_public_key.then_some(PUBLIC_KEY_ID),
                signed.as_bytes(),
                sign_fault.as_ref(),
            )
            .map_err(|e| format!("cannot sign the notification: {e}"))?;
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
        let body = if fault == Some(NotifyFault::Tampered) {
            let mut tampered = envelope.clone();
            let later = self.created.checked_add(Duration::from_secs(1));
            tampered["create_time"] = json!(rfc3339_cst(later.unwrap_or(SystemTime::UNIX_EPOCH)));
            tampered.to_string()
        } else {
            signed
        };
        Ok(Request {
            url: self.url.clone(),
            path: self.target.path().to_string(),
            headers,
            body,
        })
    }

    /// A WeCom callback request: `msg_signature`, `timestamp` and `nonce` in the query.
    fn wecom_request(
        &self,
        shared: &Shared,
        fault: Option<NotifyFault>,
        message: &[u8],
        encrypted: &str,
    ) -> Request {
        let now =
            epoch_secs(SystemTime::now()).saturating_add(shared.clock_skew.load(Ordering::SeqCst));
        let timestamp = match fault {
            Some(NotifyFault::Stale) => now.saturating_sub(STALE_SECS),
            _ => now,
        }
        .to_string();
        let nonce = random_alnum(16);
        let encrypted = match fault {
            Some(NotifyFault::WrongKey) => callback::encrypt(&wrong_key(), message, CORPID),
            _ => encrypted.to_string(),
        };
        let sign = |encrypted: &str| {
            callback::msg_signature(CALLBACK_TOKEN, &timestamp, &nonce, encrypted)
        };
        let signature = match fault {
            Some(NotifyFault::Probe) => {
                let mut junk = [0u8; 20];
                fill_random(&mut junk);
                hex(&junk)
            }
            Some(NotifyFault::BadSignature) => sign(&format!("{encrypted}tampered")),
            _ => sign(&encrypted),
        };
        let sent = match fault {
            Some(NotifyFault::Tampered) => altered(&encrypted),
            _ => encrypted,
        };
        let query = format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}");
        let (body, content_type) = callback_body(&sent, shared.notify.wecom_callback_xml);
        Request {
            url: with_query(&self.url, &query),
            path: with_query(self.target.path(), &query),
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body,
        }
    }
}
