//! One WeChat Pay APIv3 call: sign -> send -> verify -> map errors -> retry
//! (PROTOCOL.md §1, §2, §4.5). Shared by every APIv3 refund family.

use crate::config::{Config, SerialPreference};
use crate::crypto::{aead_decrypt, random_alphanumeric, EncryptedResource, VerifyingKey};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{platform_code, Http, RawResponse, Retries, TransportError};
use crate::logging::{self, Call, Decision};
use crate::signer::{self, Signer};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The only signature scheme of APIv3 refunds.
const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// Prefix of WeChat Pay's probe signatures, sent to check that merchants verify (§2.6).
const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";
/// An unknown serial triggers at most one certificate download per this interval.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A signed APIv3 channel for one merchant.
pub(crate) struct ApiV3 {
    http: Http,
    base_url: String,
    mchid: String,
    serial_no: String,
    signer: Arc<dyn Signer>,
    rng: crate::crypto::backend::rand::SystemRandom,
    apiv3_key: Zeroizing<Vec<u8>>,
    public_key: Option<(String, Arc<VerifyingKey>)>,
    /// The public key id to send as `Wechatpay-Serial`, if answers should use it.
    request_serial: Option<String>,
    certificates: Option<CertificateStore>,
    certificates_path: &'static str,
    retries: Retries,
    max_skew: u64,
    /// The family name in log records.
    family: &'static str,
}

/// A platform certificate as downloaded from `/v3/certificates` (or the
/// Global path): its answer verified, the certificate decrypted with the APIv3 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCertificate {
    /// The certificate serial, hex, as the platform names it in `Wechatpay-Serial`.
    pub serial_no: String,
    /// Start of validity, RFC 3339 as the platform sends it.
    pub effective_time: String,
    /// End of validity, RFC 3339 as the platform sends it.
    pub expire_time: String,
    /// The certificate, PEM (`-----BEGIN CERTIFICATE-----`).
    pub pem: String,
}

/// Platform certificates by serial, downloaded on demand.
struct CertificateStore {
    by_serial: RwLock<HashMap<String, Arc<VerifyingKey>>>,
    /// The serial of the certificate that became effective last: the one
    /// to encrypt with (`effective_time`, serial).
    newest: RwLock<Option<(String, String)>>,
    /// When the last download started, and how it failed if it did; the
    /// lock also makes downloads single-flight.
    last_download: Mutex<Option<(Instant, Option<Error>)>>,
}

impl ApiV3 {
    /// Builds the channel from a configuration; platform certificates come
    /// from `certificates_path` (`/v3/certificates`, `/v3/global/certificates`).
    pub(crate) fn new(
        config: &Config,
        default_base_url: &str,
        certificates_path: &'static str,
        family: &'static str,
        host_signer: Option<Arc<dyn Signer>>,
    ) -> Result<ApiV3> {
        config.check_common()?;
        let (serial_no, apiv3_key) = config.apiv3_credentials()?;
        let base_url = config.checked_base_url(default_base_url)?;
        let signer = signer::merchant_signer(config, host_signer)?;
        let public_key = match config.public_key_bytes()? {
            Some((id, pem)) => Some((
                id,
                Arc::new(VerifyingKey::public_key_pem(
                    &pem,
                    "wechatpay_public_key_pem",
                )?),
            )),
            None => None,
        };
        let download = config.platform_certificates.unwrap_or(public_key.is_none());
        let request_serial = match (config.wechatpay_serial, &public_key) {
            (Some(SerialPreference::PublicKey), None) => {
                return Err(Error::config(
                    "wechatpay_serial",
                    "\"public_key\" needs wechatpay_public_key_id and its PEM",
                ))
            }
            (Some(SerialPreference::PlatformCertificate), _) | (None, None) => None,
            (_, Some((id, _))) => Some(id.clone()),
        };
        if !download && public_key.is_none() {
            return Err(Error::config(
                "platform_certificates",
                "no way to verify responses: configure the WeChat Pay public key \
                 (wechatpay_public_key_id + wechatpay_public_key_pem) or platform certificates",
            ));
        }
        Ok(ApiV3 {
            http: Http::new(config)?,
            base_url,
            mchid: config.mchid.clone(),
            serial_no: serial_no.to_string(),
            signer,
            rng: crate::crypto::backend::rand::SystemRandom::new(),
            apiv3_key: Zeroizing::new(apiv3_key.to_vec()),
            public_key,
            request_serial,
            certificates: download.then(|| CertificateStore {
                by_serial: RwLock::new(HashMap::new()),
                newest: RwLock::new(None),
                last_download: Mutex::new(None),
            }),
            certificates_path,
            retries: Retries::new(config),
            max_skew: config.max_clock_skew_secs,
            family,
        })
    }

    /// Sends a signed request to `target` (path plus `?query`, already
    /// percent-encoded: it is signed exactly as sent) and returns the JSON
    /// object of the verified 2xx answer.
    pub(crate) fn call(
        &self,
        call: &Call<'_>,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Map<String, Value>> {
        self.call_with_serial(call, method, target, body, None)
    }

    /// As [`ApiV3::call`], sending `Wechatpay-Serial: serial` (the key that
    /// encrypted fields of the body) instead of the configured preference.
    pub(crate) fn call_with_serial(
        &self,
        call: &Call<'_>,
        method: &str,
        target: &str,
        body: &[u8],
        serial: Option<&str>,
    ) -> Result<Map<String, Value>> {
        let response = self.send_with_retries(call, method, target, body, serial)?;
        if !(200..300).contains(&response.status) {
            return Err(api_error(&response));
        }
        let request_id = response.header("Request-ID").map(str::to_string);
        let with_context = |mut error: Error| {
            // A failed certificate download keeps its own status and request
            // id, and a network failure (of that download) has none.
            if error.http_status.is_none() && error.kind != ErrorKind::Transport {
                error.http_status = Some(response.status);
                error.request_id.clone_from(&request_id);
            }
            // The platform answered, so a POST may well have been accepted.
            error.with_retry(true, method != "GET")
        };
        verify_response(&response, self.max_skew, |serial| self.key_for(serial))
            .map_err(with_context)?;
        match serde_json::from_slice(&response.body) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(with_context(Error::new(
                ErrorKind::Api,
                "malformed_response",
                "the verified response body is not a JSON object",
            ))),
        }
    }

    /// Sends with bounded retries; every attempt carries the same body bytes
    /// and a fresh signature. Returns the last response, whatever its status.
    fn send_with_retries(
        &self,
        call: &Call<'_>,
        method: &str,
        target: &str,
        body: &[u8],
        serial: Option<&str>,
    ) -> Result<RawResponse> {
        let url = format!("{}{}", self.base_url, target);
        self.retries
            .run(
                call,
                || {
                    let authorization =
                        self.authorization(method, target, body).map_err(|error| {
                            // An earlier attempt of this call may have been processed.
                            let sent = call.attempts() > 0;
                            error.with_retry(true, sent)
                        })?;
                    let mut headers = vec![("Authorization", authorization.as_str())];
                    // The key of encrypted fields, or the one answers should be
                    // signed with (§2.5, public-key migration).
                    if let Some(id) = serial.or(self.request_serial.as_deref()) {
                        headers.push(("Wechatpay-Serial", id));
                    }
                    Ok(self.http.send(call, method, &url, &[], &headers, body))
                },
                |outcome: &Result<_>| match outcome {
                    Ok(Ok(response)) => retry_reason(response),
                    Ok(Err(_)) => Some("network error"),
                    Err(_) => None,
                },
            )?
            .map_err(TransportError::into_error)
    }

    /// The `Authorization` header for one request (§1.2-§1.4).
    fn authorization(&self, method: &str, target: &str, body: &[u8]) -> Result<String> {
        let nonce = random_alphanumeric(&self.rng, 32)?;
        let timestamp = unix_now().to_string();
        let message = signing_message(method, target, &timestamp, &nonce, body);
        let signature = BASE64.encode(signer::sign(self.signer.as_ref(), &message)?);
        Ok(format!(
            "{SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",serial_no=\"{}\",signature=\"{signature}\"",
            self.mchid, self.serial_no
        ))
    }

    /// Verifies a notification's signature headers over `body`, with the same
    /// keys and window as responses.
    pub(crate) fn verify_notification<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<()> {
        verify_signed(header, body, unix_now(), self.max_skew, |serial| {
            self.key_for(serial)
        })
    }

    /// The doctor's probe: sends a signed `GET target` (with retries) and
    /// returns the answer, whatever its status, and whether its signature
    /// verifies with the keys of this client (error answers included).
    pub(crate) fn probe(&self, call: &Call<'_>, target: &str) -> Result<(RawResponse, Result<()>)> {
        let response = self.send_with_retries(call, "GET", target, b"", None)?;
        let verified = verify_response(&response, self.max_skew, |serial| self.key_for(serial));
        Ok((response, verified))
    }

    /// Whether answers are verified with the WeChat Pay public key, and
    /// whether platform certificates are downloaded (both can hold).
    pub(crate) fn verification_modes(&self) -> (bool, bool) {
        (self.public_key.is_some(), self.certificates.is_some())
    }

    /// The platform key to encrypt sensitive fields with, and its serial for
    /// `Wechatpay-Serial`: the WeChat Pay public key when configured, else the
    /// newest platform certificate (downloaded when none is held yet).
    pub(crate) fn encryption_key(&self) -> Result<(String, Arc<VerifyingKey>)> {
        if let Some((id, key)) = &self.public_key {
            return Ok((id.clone(), key.clone()));
        }
        let Some(store) = &self.certificates else {
            return Err(Error::config(
                "wechatpay_public_key_id",
                "no key to encrypt with: configure the WeChat Pay public key or platform certificates",
            ));
        };
        if store.newest().is_none() {
            self.download_certificates(store)?;
        }
        store
            .newest()
            .and_then(|serial| Some((serial.clone(), store.get(&serial)?)))
            .ok_or_else(|| {
                Error::verification(
                    "no_platform_certificates",
                    "the platform sent no certificate to encrypt with",
                )
            })
    }

    /// Decrypts an AEAD resource with the APIv3 key.
    pub(crate) fn decrypt(&self, resource: &EncryptedResource) -> Result<Vec<u8>> {
        aead_decrypt(&self.apiv3_key, resource)
    }

    /// The key for `serial`: the public key, or a platform certificate
    /// (downloaded when unknown, at most once a minute).
    fn key_for(&self, serial: &str) -> Result<Arc<VerifyingKey>> {
        if let Some((id, key)) = &self.public_key {
            if id == serial {
                return Ok(key.clone());
            }
        }
        let unknown = || {
            Error::verification(
                "unknown_serial",
                format!("response signed with serial {serial}, which matches no configured key or platform certificate"),
            )
        };
        let Some(store) = &self.certificates else {
            return Err(unknown());
        };
        if let Some(key) = store.get(serial) {
            return Ok(key);
        }
        self.download_certificates(store)?;
        store.get(serial).ok_or_else(unknown)
    }

    /// Downloads the platform certificates unless another download started less than
    /// a minute ago (then repeats how that one failed, if it did). Concurrent
    /// callers wait for the one download in flight.
    fn download_certificates(&self, store: &CertificateStore) -> Result<()> {
        let mut last = store
            .last_download
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, failure)) = last.as_ref() {
            if at.elapsed() < REFRESH_INTERVAL {
                return failure.clone().map_or(Ok(()), Err);
            }
        }
        let outcome = self.platform_certificates().map(drop);
        *last = Some((Instant::now(), outcome.clone().err()));
        outcome
    }

    /// Downloads, verifies and decrypts the platform certificates now, keeps
    /// them for verifying answers (when this client downloads certificates),
    /// and returns them. Logged as a `certificate_download` decision.
    pub(crate) fn platform_certificates(&self) -> Result<Vec<PlatformCertificate>> {
        let call = Call::background(self.family);
        let outcome = self.download_and_verify(&call, self.certificates.as_ref());
        logging::decision(
            &call,
            &Decision::CertificateDownload {
                count: outcome.as_ref().map_or(0, Vec::len),
                error: outcome.as_ref().err().map(|error| error.reason),
            },
        );
        outcome
    }

    /// One download: every failure names the download and carries its own
    /// HTTP status, code and request id, not those of the answer being verified.
    /// Adds the certificates to `store`, when there is one, and returns them.
    fn download_and_verify(
        &self,
        call: &Call<'_>,
        store: Option<&CertificateStore>,
    ) -> Result<Vec<PlatformCertificate>> {
        let path = self.certificates_path;
        let named = |mut error: Error| {
            error.message = format!(
                "downloading platform certificates (GET {path}) failed: {}",
                error.message
            );
            error
        };
        let response = self
            .send_with_retries(call, "GET", path, b"", None)
            .map_err(named)?;
        let failed = |mut error: Error| {
            error.http_status = Some(response.status);
            error.request_id = response.header("Request-ID").map(str::to_string);
            named(error)
        };
        if !(200..300).contains(&response.status) {
            let mut error = api_error(&response);
            // §2.5: a public-key-only merchant has no platform certificates.
            if matches!(
                error.code.as_deref(),
                Some("RESOURCE_NOT_EXISTS" | "NOT_FOUND")
            ) {
                let code = error.code.take();
                error = Error::verification(
                    "no_platform_certificates",
                    format!(
                        "{}; this merchant verifies with the WeChat Pay public key: configure \
                         wechatpay_public_key_id and wechatpay_public_key_pem",
                        error.message
                    ),
                );
                error.code = code;
            }
            return Err(failed(error));
        }
        let downloaded = self.decrypt_certificates(&response.body).map_err(failed)?;
        // The AEAD proves the certificates came from the holder of the APIv3
        // key; the response must still be signed by one we know or just got.
        verify_response(&response, self.max_skew, |serial| {
            downloaded
                .iter()
                .find(|(certificate, _)| certificate.serial_no == serial)
                .map(|(_, key)| key.clone())
                .or_else(|| store.and_then(|store| store.get(serial)))
                .or_else(|| {
                    self.public_key
                        .as_ref()
                        .filter(|(id, _)| id == serial)
                        .map(|(_, key)| key.clone())
                })
                .ok_or_else(|| {
                    Error::verification(
                        "unknown_serial",
                        format!("the download is signed with unknown serial {serial}"),
                    )
                })
        })
        .map_err(failed)?;
        if let Some(store) = store {
            let mut map = store
                .by_serial
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.extend(
                downloaded
                    .iter()
                    .map(|(certificate, key)| (certificate.serial_no.clone(), key.clone())),
            );
            let mut newest = store
                .newest
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for certificate in &downloaded {
                let candidate = (
                    certificate.0.effective_time.clone(),
                    certificate.0.serial_no.clone(),
                );
                // RFC 3339 times in one zone, as the platform sends them, sort as text.
                if newest.as_ref().is_none_or(|current| candidate > *current) {
                    *newest = Some(candidate);
                }
            }
        }
        Ok(downloaded
            .into_iter()
            .map(|(certificate, _)| certificate)
            .collect())
    }

    fn decrypt_certificates(
        &self,
        body: &[u8],
    ) -> Result<Vec<(PlatformCertificate, Arc<VerifyingKey>)>> {
        #[derive(serde::Deserialize)]
        struct Download {
            data: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            serial_no: String,
            #[serde(default)]
            effective_time: String,
            #[serde(default)]
            expire_time: String,
            encrypt_certificate: EncryptedResource,
        }
        let download: Download = serde_json::from_slice(body).map_err(|e| {
            Error::new(
                ErrorKind::Api,
                "malformed_response",
                format!("certificate download: {e}"),
            )
        })?;
        download
            .data
            .into_iter()
            .map(|entry| {
                let pem = aead_decrypt(&self.apiv3_key, &entry.encrypt_certificate)?;
                let key = Arc::new(VerifyingKey::certificate_pem(&pem)?);
                let pem = String::from_utf8(pem).map_err(|_| {
                    Error::new(
                        ErrorKind::VerificationFailed,
                        "invalid_certificate",
                        "a downloaded platform certificate is not a valid X.509 PEM",
                    )
                })?;
                let certificate = PlatformCertificate {
                    serial_no: entry.serial_no,
                    effective_time: entry.effective_time,
                    expire_time: entry.expire_time,
                    pem,
                };
                Ok((certificate, key))
            })
            .collect()
    }
}

impl CertificateStore {
    /// The serial of the newest certificate held.
    fn newest(&self) -> Option<String> {
        self.newest
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map(|(_, serial)| serial.clone())
    }

    fn get(&self, serial: &str) -> Option<Arc<VerifyingKey>> {
        self.by_serial
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(serial)
            .cloned()
    }
}

/// `METHOD\nTARGET\nTIMESTAMP\nNONCE\nBODY\n`: an empty body is signed as
/// the empty string (§1.2).
pub(crate) fn signing_message(
    method: &str,
    target: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut message = Vec::with_capacity(body.len() + 128);
    for part in [method, target, timestamp, nonce] {
        message.extend_from_slice(part.as_bytes());
        message.push(b'\n');
    }
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// Verifies a signed 2xx answer (§2.1-§2.6): all four headers present, the
/// timestamp within `max_skew` seconds of our clock in either direction,
/// no probe signature, and a valid signature by the key for `Wechatpay-Serial`.
pub(crate) fn verify_response(
    response: &RawResponse,
    max_skew: u64,
    key_for: impl FnOnce(&str) -> Result<Arc<VerifyingKey>>,
) -> Result<()> {
    verify_signed(
        |name| response.header(name),
        &response.body,
        unix_now(),
        max_skew,
        key_for,
    )
}

/// The verification itself, with headers and clock given (also used for notifications).
pub(crate) fn verify_signed<'h>(
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: i64,
    max_skew: u64,
    key_for: impl FnOnce(&str) -> Result<Arc<VerifyingKey>>,
) -> Result<()> {
    let required = |name: &'static str| {
        header(name).ok_or_else(|| {
            Error::verification(
                "missing_header",
                format!("unsigned response: header {name} is missing"),
            )
        })
    };
    let timestamp = required("Wechatpay-Timestamp")?;
    let nonce = required("Wechatpay-Nonce")?;
    let signature = required("Wechatpay-Signature")?;
    let serial = required("Wechatpay-Serial")?;
    if let Some(kind) = header("Wechatpay-Signature-Type") {
        if kind != SCHEME {
            return Err(Error::verification(
                "unsupported_signature_type",
                format!("Wechatpay-Signature-Type {kind} is not {SCHEME}"),
            ));
        }
    }
    check_timestamp("Wechatpay-Timestamp", timestamp, now, max_skew)?;
    if signature.starts_with(PROBE_PREFIX) {
        return Err(Error::verification(
            "probe_signature",
            "WECHATPAY/SIGNTEST/ probe signature: verification fails by design",
        ));
    }
    let signature = BASE64.decode(signature.trim()).map_err(|_| {
        Error::verification("malformed_signature", "Wechatpay-Signature is not base64")
    })?;
    let key = key_for(serial)?;
    let mut message = Vec::with_capacity(body.len() + timestamp.len() + nonce.len() + 3);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    if key.verify(&message, &signature) {
        Ok(())
    } else {
        Err(Error::verification(
            "bad_signature",
            "the signature does not match the body: altered body or wrong key",
        ))
    }
}

/// Checks a signed timestamp (epoch seconds, named `name` in messages) is
/// within `max_skew` seconds of `now`, in either direction: replays and wrong
/// clocks are refused. Shared by answers, notifications and WeCom callbacks.
pub(crate) fn check_timestamp(name: &str, timestamp: &str, now: i64, max_skew: u64) -> Result<()> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| {
        Error::verification(
            "invalid_timestamp",
            format!("{name} is not a number of seconds"),
        )
    })?;
    if now.abs_diff(ts) > max_skew {
        return Err(Error::new(
            ErrorKind::TimestampOutOfWindow,
            "timestamp_out_of_window",
            format!(
                "{name} is {} s {} our clock (allowed: {max_skew} s); check the host clock (NTP)",
                now.abs_diff(ts),
                if ts < now { "behind" } else { "ahead of" }
            ),
        ));
    }
    Ok(())
}

/// Why an answer is resent: 5xx and `SYSTEM_ERROR` are; 429 is not, its
/// outcome is unknown (§4.5).
fn retry_reason(response: &RawResponse) -> Option<&'static str> {
    match platform_code(&response.body).as_deref() {
        Some("SYSTEM_ERROR") => Some("SYSTEM_ERROR"),
        Some("BIZERR_NEED_RETRY") => Some("BIZERR_NEED_RETRY"),
        _ if response.status >= 500 => Some("HTTP 5xx"),
        _ => None,
    }
}

/// Maps a non-2xx answer (`{"code","message","detail"}`) to an [`Error`].
pub(crate) fn api_error(response: &RawResponse) -> Error {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_str).map(str::to_string);
    let platform_message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let status = response.status;
    let (kind, retryable, outcome_unknown) = match code.as_deref() {
        _ if status == 429 => (ErrorKind::RateLimited, true, true),
        Some("FREQUENCY_LIMITED" | "RATELIMIT_EXCEEDED" | "RATE_LIMITED") => {
            (ErrorKind::RateLimited, true, true)
        }
        Some(
            "RESOURCE_NOT_EXISTS" | "ORDER_NOT_EXIST" | "ORDER_NOT_EXISTS" | "REFUND_NOT_EXIST",
        ) => (ErrorKind::NotFound, false, false),
        Some("SYSTEM_ERROR" | "SERVICE_UNAVAILABLE" | "BIZERR_NEED_RETRY") => {
            (ErrorKind::Api, true, true)
        }
        _ if status >= 500 => (ErrorKind::Api, true, true),
        _ => (ErrorKind::Api, false, false),
    };
    let message = match &code {
        Some(code) => format!("HTTP {status} {code}: {platform_message}"),
        None => format!("HTTP {status} without an APIv3 error body"),
    };
    let mut error = Error::new(kind, "api_error", message).with_retry(retryable, outcome_unknown);
    error.http_status = Some(status);
    error.code = code;
    error.detail = body.get("detail").cloned();
    error.request_id = response.header("Request-ID").map(str::to_string);
    error
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;

    const MERCHANT_KEY: &str = include_str!("../sim/keys/merchant_key.pem");
    const PLATFORM_CERT: &str = include_str!("../sim/keys/platform_cert.pem");

    /// RSASSA-PKCS1-v1_5 is deterministic: each backend (ring, aws-lc; the test command
    /// runs both) must give OpenSSL's bytes.
    #[test]
    fn signatures_match_openssl_vectors_on_every_backend() {
        let vectors: Value =
            serde_json::from_str(include_str!("../tests/fixtures/signing_vectors.json")).unwrap();
        let key = SigningKey::from_pem(MERCHANT_KEY.as_bytes(), "k").unwrap();
        let vectors = vectors["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let text = |name: &str| v[name].as_str().unwrap();
            let message = signing_message(
                text("method"),
                text("url"),
                text("timestamp"),
                text("nonce"),
                text("body").as_bytes(),
            );
            assert_eq!(
                BASE64.encode(key.sign_raw(&message).unwrap()),
                text("signature")
            );
        }
    }

    fn vector_response() -> (RawResponse, i64) {
        let v: Value =
            serde_json::from_str(include_str!("../tests/fixtures/verify_vector.json")).unwrap();
        let text = |name: &str| v[name].as_str().unwrap().to_string();
        let response = RawResponse {
            status: 200,
            headers: vec![
                ("wechatpay-timestamp".into(), text("timestamp")),
                ("Wechatpay-Nonce".into(), text("nonce")),
                ("Wechatpay-Signature".into(), text("signature")),
                (
                    "Wechatpay-Serial".into(),
                    "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
                ),
            ],
            body: text("body").into_bytes(),
        };
        (response, text("timestamp").parse().unwrap())
    }

    fn check(response: &RawResponse, now: i64) -> Result<()> {
        let cert = Arc::new(VerifyingKey::certificate_pem(PLATFORM_CERT.as_bytes()).unwrap());
        verify_signed(
            |n| response.header(n),
            &response.body,
            now,
            300,
            |serial| {
                if serial == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1" {
                    Ok(cert.clone())
                } else {
                    Err(Error::verification("unknown_serial", "unknown"))
                }
            },
        )
    }

    #[test]
    fn openssl_signed_response_verifies() {
        let (response, ts) = vector_response();
        check(&response, ts).unwrap();
        check(&response, ts + 300).unwrap();
        check(&response, ts - 300).unwrap();
    }

    #[test]
    fn tampered_stale_future_probe_and_missing_are_rejected() {
        let (response, ts) = vector_response();
        let reason = |r: &RawResponse, now| check(r, now).unwrap_err().reason;
        assert_eq!(reason(&response, ts + 301), "timestamp_out_of_window");
        assert_eq!(reason(&response, ts - 301), "timestamp_out_of_window");

        let mut tampered = vector_response().0;
        tampered.body = tampered.body.replace_first(b"SUCCESS", b"SUCCESs");
        assert_eq!(reason(&tampered, ts), "bad_signature");

        let mut probe = vector_response().0;
        probe.headers[2].1 = "WECHATPAY/SIGNTEST/bm90LWEtcmVhbC1zaWduYXR1cmU=".into();
        assert_eq!(reason(&probe, ts), "probe_signature");

        let mut wrong_serial = vector_response().0;
        wrong_serial.headers[3].1 = "PUB_KEY_ID_0000".into();
        assert_eq!(reason(&wrong_serial, ts), "unknown_serial");

        let mut garbage = vector_response().0;
        garbage.headers[2].1 = "%%%not base64%%%".into();
        assert_eq!(reason(&garbage, ts), "malformed_signature");

        for missing in 0..4 {
            let mut r = vector_response().0;
            let name = r.headers.remove(missing).0;
            let err = check(&r, ts).unwrap_err();
            assert_eq!(err.reason, "missing_header");
            assert!(err.message.to_lowercase().contains(&name.to_lowercase()));
        }
    }

    #[test]
    fn wrong_key_fails() {
        let (response, ts) = vector_response();
        let other = include_str!("../sim/keys/platform_next_cert.pem");
        let key = Arc::new(VerifyingKey::certificate_pem(other.as_bytes()).unwrap());
        let err = verify_signed(|n| response.header(n), &response.body, ts, 300, |_| Ok(key))
            .unwrap_err();
        assert_eq!(err.reason, "bad_signature");
    }

    trait ReplaceFirst {
        fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }
    impl ReplaceFirst for Vec<u8> {
        fn replace_first(mut self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).unwrap();
            self.splice(at..at + from.len(), to.iter().copied());
            self
        }
    }

    #[test]
    fn error_mapping() {
        let response = |status, body: &str| RawResponse {
            status,
            headers: vec![("Request-ID".into(), "08F0-268447845".into())],
            body: body.as_bytes().to_vec(),
        };
        let e = api_error(&response(
            429,
            r#"{"code":"FREQUENCY_LIMITED","message":"slow"}"#,
        ));
        assert_eq!(
            (e.kind, e.retryable, e.outcome_unknown),
            (ErrorKind::RateLimited, true, true)
        );
        let e = api_error(&response(
            500,
            r#"{"code":"SYSTEM_ERROR","message":"busy"}"#,
        ));
        assert_eq!(
            (e.kind, e.retryable, e.outcome_unknown),
            (ErrorKind::Api, true, true)
        );
        let e = api_error(&response(
            404,
            r#"{"code":"RESOURCE_NOT_EXISTS","message":"no"}"#,
        ));
        assert_eq!((e.kind, e.retryable), (ErrorKind::NotFound, false));
        let e = api_error(&response(
            400,
            r#"{"code":"PARAM_ERROR","message":"bad","detail":{"field":"/amount/refund"}}"#,
        ));
        assert_eq!(e.code.as_deref(), Some("PARAM_ERROR"));
        assert_eq!(e.detail.as_ref().unwrap()["field"], "/amount/refund");
        assert_eq!(e.request_id.as_deref(), Some("08F0-268447845"));
        let e = api_error(&response(502, "<html>bad gateway</html>"));
        assert_eq!(
            (e.kind, e.retryable, e.code.as_deref()),
            (ErrorKind::Api, true, None)
        );
    }
}
