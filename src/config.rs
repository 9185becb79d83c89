//! Client configuration: the JSON given to `wxrefund_client_new`, and its typed Rust form.

use crate::error::{Error, ErrorKind, Result};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The refund family a client speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Family {
    /// WeChat Pay APIv3 mainland refunds (`/v3/refund/domestic/refunds`).
    Domestic,
    /// WeChat Pay Global (cross-border) refunds (`/v3/global/refunds`).
    Global,
    /// WeCom (企业微信) mini-program external payments (`/cgi-bin/miniapppay/refund`).
    #[serde(rename = "wecom")]
    WeCom,
}

impl Family {
    /// The family's name in configuration JSON and log records: `domestic`, `global`, `wecom`.
    pub const fn name(self) -> &'static str {
        match self {
            Family::Domestic => "domestic",
            Family::Global => "global",
            Family::WeCom => "wecom",
        }
    }
}

/// Who signs and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A merchant refunds its own orders.
    #[default]
    Direct,
    /// A service provider (`mchid` = `sp_mchid`) refunds for a sub-merchant
    /// (`sub_mchid`). Global calls it institution mode; `"institution"` is accepted.
    #[serde(alias = "institution")]
    Partner,
}

/// Which key the client asks the platform to sign answers with, by the
/// `Wechatpay-Serial` request header (PROTOCOL.md §2.5, public-key migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SerialPreference {
    /// Send the WeChat Pay public key id: answers come signed with the public key.
    PublicKey,
    /// Send no `Wechatpay-Serial`: answers come signed with a platform certificate.
    PlatformCertificate,
}

/// `signer` of the configuration: where the merchant private key lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SignerConfig {
    /// A PKCS#11 token (HSM, secure element, TPM): the key never leaves it.
    Pkcs11(Pkcs11Config),
}

/// `signer.pkcs11`: which module, token and key sign, and where the PIN is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The label of the token holding the key.
    pub token_label: String,
    /// The key's `CKA_LABEL`; give this or `key_id`.
    #[serde(default)]
    pub key_label: Option<String>,
    /// The key's `CKA_ID`, in hex; give this or `key_label`.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The name of the environment variable holding the user PIN (the PIN
    /// itself never goes in a configuration file). No PIN: no login.
    #[serde(default)]
    pub pin_env: Option<String>,
}

/// `tls_roots`: the roots HTTPS servers are verified against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TlsRoots {
    /// Mozilla's roots, compiled into the library.
    #[default]
    #[serde(rename = "bundled")]
    Bundled,
    /// The host's trust store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the system bundle).
    #[serde(rename = "system")]
    System,
    /// Both.
    #[serde(rename = "bundled+system")]
    BundledAndSystem,
}

/// A secret string (key material). Its `Debug` never shows the value, its
/// memory is zeroed when dropped, and a value of the wrong type in JSON is
/// named by its type only, never shown.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        // `any`: serde_json checks the type itself for `deserialize_string`, and
        // its message would show the value.
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// Accepts a string; for anything else says what type it was, without its
/// value (serde's default message would print the number or bytes).
struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: serde::de::Error>(&self, what: &str) -> Result<Secret, E> {
        Err(E::custom(format_args!(
            "invalid type: {what} (value not shown), expected a string"
        )))
    }
}

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Secret, E> {
        Ok(Secret(Zeroizing::new(value)))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        self.refuse("boolean")
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        self.refuse("integer")
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        self.refuse("integer")
    }

    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
        self.refuse("integer")
    }

    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
        self.refuse("integer")
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        self.refuse("number")
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        self.refuse("bytes")
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

/// Configuration of one client: which family and account it speaks for, its
/// keys, and how it talks to the network. The JSON form uses the same field
/// names; unknown fields are rejected so that a misspelling is not ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Refund family: `"domestic"`, `"global"` or `"wecom"`.
    pub family: Family,
    /// `"direct"` (default) or `"partner"` (Global: `"institution"`).
    #[serde(default)]
    pub mode: Mode,
    /// The merchant that signs: the merchant itself, or the service provider
    /// (institution) in partner mode. WeCom: the merchant number WeCom allocated.
    pub mchid: String,
    /// Partner mode: sub-merchant used when a request does not name one.
    #[serde(default)]
    pub sub_mchid: Option<String>,
    /// Global: the merchant's `appid` (institution mode: `sp_appid`). WeCom: the mini-program's appid.
    #[serde(default)]
    pub appid: Option<String>,
    /// Global institution mode: the sub-merchant's `sub_appid`, when it has one.
    #[serde(default)]
    pub sub_appid: Option<String>,
    /// APIv3: serial number of the merchant API certificate (`apiclient_cert.pem`), hex.
    #[serde(default)]
    pub merchant_serial_no: Option<String>,
    /// The merchant private key PEM (`apiclient_key.pem`, PKCS#8 or PKCS#1).
    #[serde(default)]
    pub private_key_pem: Option<Secret>,
    /// Path of the merchant private key PEM, instead of `private_key_pem`.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Where the merchant private key lives when it is not given as PEM:
    /// `{"pkcs11": {...}}` (a token the key never leaves).
    #[serde(default)]
    pub signer: Option<SignerConfig>,
    /// APIv3: the APIv3 key, exactly 32 bytes.
    #[serde(default)]
    pub apiv3_key: Option<Secret>,
    /// ID of the WeChat Pay public key (`PUB_KEY_ID_...`).
    #[serde(default)]
    pub wechatpay_public_key_id: Option<String>,
    /// The WeChat Pay public key PEM (`pub_key.pem`).
    #[serde(default)]
    pub wechatpay_public_key_pem: Option<String>,
    /// Path of the WeChat Pay public key PEM, instead of `wechatpay_public_key_pem`.
    #[serde(default)]
    pub wechatpay_public_key_file: Option<PathBuf>,
    /// Download platform certificates from `/v3/certificates`. Default: true
    /// when no WeChat Pay public key is configured.
    #[serde(default)]
    pub platform_certificates: Option<bool>,
    /// APIv3: which key answers should be signed with, `"public_key"` (the
    /// default when a public key is configured) or `"platform_certificate"`.
    /// Notifications are accepted signed by either key the client holds.
    #[serde(default)]
    pub wechatpay_serial: Option<SerialPreference>,
    /// API origin, e.g. `https://api.mch.weixin.qq.com` (the default).
    /// Plain `http://` is accepted for loopback addresses only (the simulator).
    #[serde(default)]
    pub base_url: Option<String>,
    /// TCP connect timeout, milliseconds. Default 10000.
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time to wait for a response, milliseconds. Default 30000.
    #[serde(default = "defaults::read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// HTTP proxy URL, e.g. `http://proxy.local:3128`.
    #[serde(default)]
    pub proxy: Option<Secret>,
    /// Which roots HTTPS servers are verified against: `"bundled"` (Mozilla's,
    /// compiled in; the default), `"system"` (the host's trust store) or
    /// `"bundled+system"`.
    #[serde(default)]
    pub tls_roots: TlsRoots,
    /// A PEM file of CA certificates trusted in addition (e.g. a corporate
    /// TLS-inspecting proxy's CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// CA certificates trusted in addition, as PEM text.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// How many times a failed call is resent (same bytes) after the first try. Default 2, at most 10.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// Delay before the first retry, doubled for each further one. Default 200 ms.
    #[serde(default = "defaults::retry_delay_ms")]
    pub retry_delay_ms: u64,
    /// Largest accepted difference between a response timestamp and our clock. Default 300 s.
    #[serde(default = "defaults::max_clock_skew_secs")]
    pub max_clock_skew_secs: u64,
    /// WeCom: the corp id, with `corpsecret`, to fetch access tokens from `cgi-bin/gettoken`.
    #[serde(default)]
    pub corpid: Option<String>,
    /// WeCom: the secret of the self-built app allowed to call 对外收款 APIs.
    #[serde(default)]
    pub corpsecret: Option<Secret>,
    /// WeCom: a fixed access token supplied by the host, instead of `corpid` + `corpsecret`.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// WeCom: the callback Token of the 对外收款 app (verifies `msg_signature`).
    #[serde(default)]
    pub callback_token: Option<Secret>,
    /// WeCom: the callback EncodingAESKey (43 characters) that decrypts callbacks.
    #[serde(default)]
    pub encoding_aes_key: Option<Secret>,
    /// WeCom: minimum seconds between two refund requests for one order,
    /// enforced locally (the platform allows one a minute). Default 60; 0 turns it off.
    #[serde(default = "defaults::order_spacing_secs")]
    pub order_spacing_secs: u64,
}

mod defaults {
    pub fn connect_timeout_ms() -> u64 {
        10_000
    }
    pub fn read_timeout_ms() -> u64 {
        30_000
    }
    pub fn max_retries() -> u32 {
        2
    }
    pub fn retry_delay_ms() -> u64 {
        200
    }
    pub fn max_clock_skew_secs() -> u64 {
        300
    }
    pub fn order_spacing_secs() -> u64 {
        60
    }
}

/// The production API origin for mainland refunds.
pub const DOMESTIC_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// The production API origin for WeChat Pay Global refunds.
pub const GLOBAL_BASE_URL: &str = "https://apihk.mch.weixin.qq.com";

/// The production API origin for WeCom.
pub const WECOM_BASE_URL: &str = "https://qyapi.weixin.qq.com";

/// Largest configuration or request JSON accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 1 << 20;

impl Config {
    /// A mainland direct-mode configuration with the required fields and every default.
    pub fn domestic(
        mchid: &str,
        merchant_serial_no: &str,
        private_key_pem: &str,
        apiv3_key: &str,
    ) -> Config {
        Config {
            family: Family::Domestic,
            mode: Mode::Direct,
            mchid: mchid.into(),
            sub_mchid: None,
            appid: None,
            sub_appid: None,
            merchant_serial_no: Some(merchant_serial_no.into()),
            private_key_pem: Some(Secret::new(private_key_pem)),
            private_key_file: None,
            signer: None,
            apiv3_key: Some(Secret::new(apiv3_key)),
            wechatpay_public_key_id: None,
            wechatpay_public_key_pem: None,
            wechatpay_public_key_file: None,
            platform_certificates: None,
            wechatpay_serial: None,
            base_url: None,
            connect_timeout_ms: defaults::connect_timeout_ms(),
            read_timeout_ms: defaults::read_timeout_ms(),
            proxy: None,
            tls_roots: TlsRoots::Bundled,
            tls_ca_file: None,
            tls_ca_pem: None,
            max_retries: defaults::max_retries(),
            retry_delay_ms: defaults::retry_delay_ms(),
            max_clock_skew_secs: defaults::max_clock_skew_secs(),
            corpid: None,
            corpsecret: None,
            access_token: None,
            callback_token: None,
            encoding_aes_key: None,
            order_spacing_secs: defaults::order_spacing_secs(),
        }
    }

    /// A WeCom configuration that fetches tokens with `corpid` + `corpsecret`.
    pub fn wecom(mchid: &str, appid: &str, corpid: &str, corpsecret: &str) -> Config {
        Config {
            family: Family::WeCom,
            appid: Some(appid.into()),
            merchant_serial_no: None,
            private_key_pem: None,
            apiv3_key: None,
            corpid: Some(corpid.into()),
            corpsecret: Some(Secret::new(corpsecret)),
            ..Config::domestic(mchid, "", "", "")
        }
    }

    /// Parses the JSON form. Errors name the field and never echo secret values.
    pub fn from_json(json: &str) -> Result<Config> {
        if json.len() > MAX_JSON_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidJson,
                "too_large",
                format!("configuration JSON is larger than {MAX_JSON_BYTES} bytes"),
            ));
        }
        let mut json = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut json).map_err(|e| config_json_error(&e))
    }

    /// The API origin without a trailing slash, checked: `https://`, or `http://` on loopback.
    pub(crate) fn checked_base_url(&self, default: &str) -> Result<String> {
        let url = self.base_url.as_deref().unwrap_or(default);
        let url = url.trim_end_matches('/');
        let uri = parse_url(url).map_err(|rule| Error::config("base_url", rule))?;
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") || url.contains(['?', '#']) {
            return Err(Error::config(
                "base_url",
                "must be an origin such as https://api.mch.weixin.qq.com (no path, query or credentials)",
            ));
        }
        Ok(url.to_string())
    }

    /// Validates what every family shares: accounts, app ids, and network
    /// settings; and refuses settings the family does not use, so that a
    /// misplaced key is noticed.
    pub(crate) fn check_common(&self) -> Result<()> {
        check_id("mchid", &self.mchid)?;
        match (self.family, &self.appid) {
            (Family::Domestic, Some(_)) => {
                return Err(Error::config("appid", "not used by mainland refunds"))
            }
            (Family::Global | Family::WeCom, None) => {
                return Err(Error::config("appid", "required for this family"))
            }
            (_, Some(appid)) => check_id("appid", appid)?,
            (Family::Domestic, None) => {}
        }
        if self.family == Family::WeCom && self.mode != Mode::Direct {
            return Err(Error::config("mode", "WeCom refunds have no partner mode"));
        }
        for (field, value) in [
            ("sub_mchid", &self.sub_mchid),
            ("sub_appid", &self.sub_appid),
        ] {
            if let Some(value) = value {
                if self.mode != Mode::Partner {
                    return Err(Error::config(
                        field,
                        "only allowed in partner/institution mode",
                    ));
                }
                check_id(field, value)?;
            }
        }
        let apiv3_only = [
            ("merchant_serial_no", self.merchant_serial_no.is_some()),
            ("private_key_pem", self.private_key_pem.is_some()),
            ("private_key_file", self.private_key_file.is_some()),
            ("signer", self.signer.is_some()),
            ("apiv3_key", self.apiv3_key.is_some()),
            (
                "wechatpay_public_key_id",
                self.wechatpay_public_key_id.is_some(),
            ),
            (
                "wechatpay_public_key_pem",
                self.wechatpay_public_key_pem.is_some(),
            ),
            (
                "wechatpay_public_key_file",
                self.wechatpay_public_key_file.is_some(),
            ),
            (
                "platform_certificates",
                self.platform_certificates.is_some(),
            ),
        ];
        let wecom_only = [
            ("corpid", self.corpid.is_some()),
            ("corpsecret", self.corpsecret.is_some()),
            ("access_token", self.access_token.is_some()),
            ("callback_token", self.callback_token.is_some()),
            ("encoding_aes_key", self.encoding_aes_key.is_some()),
        ];
        let unused = if self.family == Family::WeCom {
            &apiv3_only[..]
        } else {
            &wecom_only[..]
        };
        if let Some((field, _)) = unused.iter().find(|(_, set)| *set) {
            return Err(Error::config(
                field,
                format!("not used by the {:?} family", self.family),
            ));
        }
        if self.connect_timeout_ms == 0 || self.read_timeout_ms == 0 {
            return Err(Error::config(
                "connect_timeout_ms/read_timeout_ms",
                "must be greater than 0",
            ));
        }
        if self.max_retries > 10 {
            return Err(Error::config("max_retries", "must be at most 10"));
        }
        if self.retry_delay_ms > 60_000 {
            return Err(Error::config("retry_delay_ms", "must be at most 60000"));
        }
        Ok(())
    }

    /// APIv3 families: the merchant certificate serial and the APIv3 key, checked.
    pub(crate) fn apiv3_credentials(&self) -> Result<(&str, &[u8])> {
        let serial = self.merchant_serial_no.as_deref().unwrap_or("");
        if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::config(
                "merchant_serial_no",
                "must be the certificate serial in hex, as printed by \
                 `openssl x509 -in apiclient_cert.pem -noout -serial` (without `serial=`)",
            ));
        }
        let key = self.apiv3_key.as_ref().map_or("", Secret::expose);
        if key.len() != 32 {
            return Err(Error::config(
                "apiv3_key",
                format!("must be exactly 32 bytes (got {})", key.len()),
            ));
        }
        Ok((serial, key.as_bytes()))
    }

    /// The merchant private key PEM bytes, from `private_key_pem` or `private_key_file`.
    pub(crate) fn private_key_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        match (&self.private_key_pem, &self.private_key_file) {
            (Some(pem), None) => Ok(Zeroizing::new(pem.expose().as_bytes().to_vec())),
            (None, Some(path)) => read_key_file("private_key_file", path).map(Zeroizing::new),
            _ => Err(Error::config(
                "private_key_pem",
                "give exactly one of private_key_pem and private_key_file",
            )),
        }
    }

    /// The extra CA certificates as (field, PEM bytes): `tls_ca_file` and `tls_ca_pem`.
    pub(crate) fn tls_ca_pems(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let mut pems = Vec::new();
        if let Some(path) = &self.tls_ca_file {
            pems.push((
                "tls_ca_file",
                read_bounded("tls_ca_file", path, 1024 * 1024, "not a CA bundle")?,
            ));
        }
        if let Some(pem) = &self.tls_ca_pem {
            pems.push(("tls_ca_pem", pem.as_bytes().to_vec()));
        }
        Ok(pems)
    }

    /// The WeChat Pay public key as (id, PEM bytes), when configured.
    pub(crate) fn public_key_bytes(&self) -> Result<Option<(String, Vec<u8>)>> {
        let pem = match (
            &self.wechatpay_public_key_pem,
            &self.wechatpay_public_key_file,
        ) {
            (None, None) => None,
            (Some(pem), None) => Some(pem.as_bytes().to_vec()),
            (None, Some(path)) => Some(read_key_file("wechatpay_public_key_file", path)?),
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "wechatpay_public_key_pem",
                    "give only one of wechatpay_public_key_pem and wechatpay_public_key_file",
                ))
            }
        };
        match (pem, &self.wechatpay_public_key_id) {
            (None, None) => Ok(None),
            (Some(pem), Some(id)) if id.starts_with("PUB_KEY_ID_") => Ok(Some((id.clone(), pem))),
            (Some(_), Some(_)) => Err(Error::config(
                "wechatpay_public_key_id",
                "must start with PUB_KEY_ID_",
            )),
            (Some(_), None) => Err(Error::config(
                "wechatpay_public_key_id",
                "required with the WeChat Pay public key",
            )),
            (None, Some(_)) => Err(Error::config(
                "wechatpay_public_key_pem",
                "the public key PEM (or file) is required with wechatpay_public_key_id",
            )),
        }
    }
}

/// Reads a key file named by `field`, refusing anything larger than a key
/// could be (a wrong path such as `/dev/zero` must not exhaust memory).
fn read_key_file(field: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    read_bounded(field, path, 64 * 1024, "not a key file")
}

/// Reads at most `max` bytes of the file named by `field`; a larger one is `what_else`.
fn read_bounded(field: &str, path: &std::path::Path, max: u64, what_else: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let cannot_read =
        |e: std::io::Error| Error::config(field, format!("cannot read {}: {e}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(max + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.len() as u64 > max {
        return Err(Error::config(
            field,
            format!(
                "{} is larger than {} KiB: {what_else}",
                path.display(),
                max / 1024
            ),
        ));
    }
    Ok(bytes)
}

/// Merchant ids are 1-32 ASCII letters or digits.
fn check_id(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 32 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::config(field, "must be 1-32 ASCII letters or digits"));
    }
    Ok(())
}

/// Parses an absolute URL the way an HTTP client will: `https://`, or
/// `http://` only on a loopback host (the simulator); no credentials
/// (`http://localhost:1@evil.example` is a request to evil.example).
/// The error is the rule broken, never the URL.
pub(crate) fn parse_url(url: &str) -> std::result::Result<http::Uri, &'static str> {
    let uri: http::Uri = url.parse().map_err(|_| "not a valid absolute URL")?;
    let authority = uri.authority().ok_or("not a valid absolute URL")?;
    if authority.as_str().contains('@') {
        return Err("must not carry credentials (user@host)");
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(authority.host()) => Ok(uri),
        Some("http") => {
            Err("plain http:// is only allowed for loopback (the simulator); use https://")
        }
        _ => Err("must start with https://"),
    }
}

/// True for `localhost`, `127.x.x.x` and `[::1]`.
fn is_loopback(host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|v6| v6.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// serde's messages for this struct never contain values of string fields, only
/// their names and types, except for "invalid value" errors on enums, which
/// show the (non-secret) variant given.
fn config_json_error(error: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let kind = match error.inner().classify() {
        serde_json::error::Category::Data => ErrorKind::InvalidConfig,
        _ => ErrorKind::InvalidJson,
    };
    let mut config_error = Error::new(
        kind,
        "invalid_config_json",
        format!("configuration: {error}"),
    );
    config_error.field = crate::error::json_field(error.path());
    config_error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(json_extra: &str) -> String {
        format!(
            r#"{{"family":"domestic","mchid":"1900000100","merchant_serial_no":"AB12",
                "private_key_pem":"x","apiv3_key":"0123456789abcdef0123456789abcdef"{json_extra}}}"#
        )
    }

    #[test]
    fn parses_with_defaults() {
        let config = Config::from_json(&base("")).unwrap();
        assert_eq!(config.mode, Mode::Direct);
        assert_eq!(config.max_retries, 2);
        assert_eq!(config.max_clock_skew_secs, 300);
        config.check_common().unwrap();
        config.apiv3_credentials().unwrap();
    }

    #[test]
    fn rejects_unknown_field_by_name() {
        let err = Config::from_json(&base(r#","mch_id":"1""#)).unwrap_err();
        assert!(err.message.contains("unknown field `mch_id`"), "{err}");
    }

    #[test]
    fn apiv3_key_length_is_checked_without_echoing_it() {
        let mut config = Config::from_json(&base("")).unwrap();
        config.apiv3_key = Some(Secret::new("short-secret-value"));
        let err = config.apiv3_credentials().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("apiv3_key"));
        assert!(!err.message.contains("short-secret-value"));
    }

    #[test]
    fn http_only_on_loopback() {
        let mut config = Config::from_json(&base("")).unwrap();
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "https://x.example",
        ] {
            config.base_url = Some(ok.into());
            assert!(config.checked_base_url("").is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "ftp://x",
            "https://x/path",
            "https://u:p@x",
            "http://localhost:1@evil.example",
            "http://127.0.0.1.evil.example",
            "https://x?q",
            "https://",
        ] {
            config.base_url = Some(bad.into());
            assert!(config.checked_base_url("").is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_debug_is_redacted() {
        let config = Config::from_json(&base("")).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}
