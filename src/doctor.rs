//! Checks a configuration end to end and names each problem with its fix
//! (the `wxrefund doctor` command prints them). The checks send only
//! harmless requests: `GET /`, a query of a refund number that cannot exist,
//! a certificate download, and for WeCom a `gettoken`. No check result ever
//! contains a secret: key values are described (length, whitespace), never shown.

use crate::config::{
    Config, Family, Secret, SignerConfig, DOMESTIC_BASE_URL, GLOBAL_BASE_URL, WECOM_BASE_URL,
};
use crate::crypto::SigningKey;
use crate::error::{Error, ErrorKind};
use crate::http::{Http, RawResponse};
use crate::logging::Call;
use crate::refund::domestic::Domestic;
use crate::refund::global::Global;
use crate::refund::{encode_path_segment, RefundQuery};
use crate::signer::Signer;
use crate::v3::{unix_now, ApiV3};
use crate::wecom_api::WeComApi;
use crate::Mode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Ok,
    /// The check found a problem; [`Check::fix`] says what to do.
    Problem,
    /// The check could not run (not applicable, or an earlier check failed).
    Skipped,
}

impl Outcome {
    /// `ok`, `problem` or `skipped`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Problem => "problem",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The result of one check. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable name, e.g. `private_key`, `clock`, `signed_request`.
    pub name: &'static str,
    /// Passed, failed or not run.
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
    /// For a problem: what to do about it.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn skipped(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Skipped,
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// `{"name","outcome","detail","fix"}` (`fix` only for a problem).
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "name": self.name,
            "outcome": self.outcome.name(),
            "detail": self.detail,
        });
        if let Some(fix) = &self.fix {
            value["fix"] = json!(fix);
        }
        value
    }
}

/// True when any check found a problem.
pub fn has_problem(checks: &[Check]) -> bool {
    checks.iter().any(|check| check.outcome == Outcome::Problem)
}

/// Runs every check that applies to the configuration (its JSON form) and
/// returns them in order. `merchant_certificate_pem` is `apiclient_cert.pem`,
/// when the operator has it: it is checked against the private key and
/// `merchant_serial_no`. Sends requests to the configured platform.
pub fn run(config_json: &str, merchant_certificate_pem: Option<&[u8]>) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = match configuration(config_json) {
        Ok((config, check)) => {
            checks.push(check);
            config
        }
        Err(check) => {
            checks.push(check);
            return checks;
        }
    };
    match config.family {
        Family::WeCom => run_wecom(&config, &mut checks),
        Family::Domestic | Family::Global => {
            run_apiv3(&config, merchant_certificate_pem, &mut checks);
        }
    }
    checks
}

/// The name of a family in log records and check details.
fn default_base_url(family: Family) -> &'static str {
    match family {
        Family::Domestic => DOMESTIC_BASE_URL,
        Family::Global => GLOBAL_BASE_URL,
        Family::WeCom => WECOM_BASE_URL,
    }
}

/// Parses and validates what needs no network and no key material.
fn configuration(config_json: &str) -> Result<(Config, Check), Check> {
    const NAME: &str = "configuration";
    let wrong = |error: &Error| {
        let fix = match &error.field {
            Some(field) => format!("correct the field `{field}` in the configuration file"),
            None => "correct the configuration JSON (field names as in the README)".to_string(),
        };
        Check::problem(NAME, error.message.clone(), fix)
    };
    let config = Config::from_json(config_json).map_err(|e| wrong(&e))?;
    config.check_common().map_err(|e| wrong(&e))?;
    config
        .checked_base_url(default_base_url(config.family))
        .map_err(|e| wrong(&e))?;
    if config.family != Family::WeCom {
        match config.apiv3_credentials() {
            // The apiv3_key check says what is wrong with it, in more detail.
            Err(e) if e.field.as_deref() == Some("apiv3_key") => {}
            Err(e) => return Err(wrong(&e)),
            Ok(_) => {}
        }
        config.public_key_bytes().map_err(|e| wrong(&e))?;
    }
    let detail = format!(
        "family {}, mode {}, mchid {}",
        config.family.name(),
        match config.mode {
            Mode::Direct => "direct",
            Mode::Partner => "partner",
        },
        config.mchid
    );
    Ok((config, Check::ok(NAME, detail)))
}

fn run_apiv3(config: &Config, merchant_certificate_pem: Option<&[u8]>, checks: &mut Vec<Check>) {
    let key = if config.signer.is_some() {
        signer(config, checks)
    } else {
        private_key(config, checks)
    };
    checks.push(merchant_certificate(
        config,
        key.as_ref(),
        merchant_certificate_pem,
    ));
    let apiv3_key_ok = {
        let check = apiv3_key(config);
        let ok = check.outcome == Outcome::Ok;
        checks.push(check);
        ok
    };
    let Some(root) = network(config, checks) else {
        for name in [
            "clock",
            "signed_request",
            "platform_keys",
            "apiv3_key_decrypts",
        ] {
            checks.push(Check::skipped(name, "the platform could not be reached"));
        }
        return;
    };
    let clock_at = checks.len();
    let family = config.family.name();
    // A key pasted with whitespace around it is reported above; the checks
    // below go on without the whitespace, to find any further problem.
    let trimmed;
    let config = match config.apiv3_key.as_ref().map(Secret::expose) {
        Some(key) if key.trim().len() != key.len() => {
            let mut copy = config.clone();
            copy.apiv3_key = Some(Secret::new(key.trim()));
            trimmed = copy;
            &trimmed
        }
        _ => config,
    };
    let (domestic, global);
    let api = match config.family {
        Family::Global => {
            global = Global::new(config, None);
            global.as_ref().map(Global::api).map_err(Clone::clone)
        }
        _ => {
            domestic = Domestic::new(config, None);
            domestic.as_ref().map(Domestic::api).map_err(Clone::clone)
        }
    };
    let api = match api {
        Ok(api) => api,
        Err(error) => {
            checks.push(clock(config, &root, None));
            let detail = format!("the client cannot be built: {}", error.message);
            let fix = if key.is_none() || !apiv3_key_ok {
                "fix the problems above first".to_string()
            } else {
                format!(
                    "correct the field `{}` in the configuration file",
                    error.field.as_deref().unwrap_or("?")
                )
            };
            checks.push(Check::problem("signed_request", detail, fix));
            for name in ["platform_keys", "apiv3_key_decrypts"] {
                checks.push(Check::skipped(name, "no client could be built"));
            }
            return;
        }
    };
    let probe = signed_request(config, api, family);
    checks.push(probe.check.clone());
    checks.insert(clock_at, clock(config, &root, probe.answer.as_ref()));
    let (public_key, downloads) = api.verification_modes();
    let mut decrypt = Check::skipped(
        "apiv3_key_decrypts",
        "in public-key mode the APIv3 key only decrypts notifications: check it with \
         `wxrefund notification parse` on a saved notification",
    );
    if downloads {
        let (download, decrypted) = platform_certificates(api);
        checks.push(download);
        decrypt = decrypted;
    }
    if public_key {
        checks.push(public_key_check(config, &probe));
    }
    checks.push(decrypt);
}

/// What signs the merchant's requests, as the `private_key` or `signer` check found it.
enum MerchantKey {
    /// `private_key_pem` / `private_key_file`.
    Pem(Box<SigningKey>),
    /// `signer` in the configuration (a PKCS#11 token): only its signatures are seen.
    Signer(Arc<dyn Signer>),
}

impl MerchantKey {
    /// Whether the certificate holds this key's public half.
    fn matches(&self, cert: &webpki::EndEntityCert<'_>) -> bool {
        match self {
            // The SubjectPublicKeyInfo ends with the PKCS#1 RSAPublicKey of the key pair.
            MerchantKey::Pem(key) => cert
                .subject_public_key_info()
                .as_ref()
                .ends_with(key.public_key_der()),
            // A key that never leaves its token: a test signature must verify.
            MerchantKey::Signer(signer) => {
                let message = b"wxrefund doctor: does the certificate match the signer?";
                signer.sign(message).is_ok_and(|signature| {
                    cert.verify_signature(crate::crypto::RSA_SHA256, message, &signature)
                        .is_ok()
                })
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            MerchantKey::Pem(_) => "private key",
            MerchantKey::Signer(_) => "signer's key",
        }
    }
}

/// Loads the merchant private key.
fn private_key(config: &Config, checks: &mut Vec<Check>) -> Option<MerchantKey> {
    const NAME: &str = "private_key";
    let field = if config.private_key_file.is_some() {
        "private_key_file"
    } else {
        "private_key_pem"
    };
    let loaded = config
        .private_key_bytes()
        .and_then(|pem| SigningKey::from_pem(&pem, field));
    match loaded {
        Ok(key) => {
            let bits = key.public_key_bits();
            checks.push(Check::ok(
                NAME,
                format!("{field}: an RSA private key of {bits} bits"),
            ));
            Some(MerchantKey::Pem(Box::new(key)))
        }
        Err(error) => {
            checks.push(Check::problem(
                NAME,
                error.message.clone(),
                "give the merchant API private key apiclient_key.pem (PEM, unencrypted), \
                 as generated with the merchant API certificate",
            ));
            None
        }
    }
}

/// Opens the signer of the configuration (a PKCS#11 token: module, token,
/// login, key, one test signature). The PIN is never shown, only its variable.
fn signer(config: &Config, checks: &mut Vec<Check>) -> Option<MerchantKey> {
    const NAME: &str = "signer";
    let Some(SignerConfig::Pkcs11(settings)) = &config.signer else {
        return None;
    };
    match crate::signer::merchant_signer(config, None) {
        Ok(signer) => {
            let key = match (&settings.key_label, &settings.key_id) {
                (Some(label), _) => format!("key {label:?}"),
                (None, Some(id)) => format!("key id {id}"),
                (None, None) => "key".to_string(),
            };
            let login = match &settings.pin_env {
                Some(variable) => format!("logged in with the PIN in {variable}"),
                None => "no login (no pin_env)".to_string(),
            };
            checks.push(Check::ok(
                NAME,
                format!(
                    "PKCS#11 module {} loaded, token {:?} found, {login}, {key} found and \
                     made a test signature",
                    settings.module.display(),
                    settings.token_label
                ),
            ));
            Some(MerchantKey::Signer(signer))
        }
        Err(error) => {
            let fix = match error.field.as_deref() {
                Some("signer.pkcs11.module") => {
                    "set signer.pkcs11.module to the path of the token's PKCS#11 module (the \
                     vendor's .so; SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
                        .to_string()
                }
                Some("signer.pkcs11.token_label") => {
                    "set signer.pkcs11.token_label to one of the labels above (`pkcs11-tool \
                     --module MODULE --list-token-slots`)"
                        .to_string()
                }
                Some("signer.pkcs11.pin_env") => format!(
                    "export the token's user PIN in the environment variable {} of the \
                     process that runs wxrefund, and check it with the token's vendor tool",
                    settings.pin_env.as_deref().unwrap_or("named by pin_env")
                ),
                Some("signer.pkcs11.key_label" | "signer.pkcs11.key_id") => {
                    "give exactly one of key_label (CKA_LABEL) and key_id (CKA_ID, hex) of the \
                     merchant private key (`pkcs11-tool --module MODULE --login --list-objects`)"
                        .to_string()
                }
                Some("signer.pkcs11") => {
                    "use a build of wxrefund with PKCS#11 support (cargo feature `pkcs11`)"
                        .to_string()
                }
                _ => "give exactly one of private_key_pem, private_key_file and signer".to_string(),
            };
            checks.push(Check::problem(NAME, error.message.clone(), fix));
            None
        }
    }
}

/// Checks `apiclient_cert.pem` against the private key and `merchant_serial_no`.
fn merchant_certificate(config: &Config, key: Option<&MerchantKey>, pem: Option<&[u8]>) -> Check {
    const NAME: &str = "merchant_certificate";
    let Some(pem) = pem else {
        return Check::skipped(
            NAME,
            "no merchant certificate given (--merchant-certificate apiclient_cert.pem checks \
             it matches the private key and merchant_serial_no)",
        );
    };
    let parsed = CertificateDer::from_pem_slice(pem).ok().and_then(|der| {
        webpki::EndEntityCert::try_from(&der).ok().map(|cert| {
            let serial = hex_upper(strip_leading_zeros(cert.serial()));
            (serial, key.map(|key| key.matches(&cert)))
        })
    });
    let Some((serial, matches_key)) = parsed else {
        return Check::problem(
            NAME,
            "the merchant certificate is not an X.509 certificate PEM",
            "give apiclient_cert.pem (`-----BEGIN CERTIFICATE-----`), not the key or the .p12",
        );
    };
    let configured = config.merchant_serial_no.as_deref().unwrap_or("");
    let same_serial = configured
        .trim_start_matches('0')
        .eq_ignore_ascii_case(serial.trim_start_matches('0'));
    let key_name = key.map_or("private key", MerchantKey::name);
    if matches_key == Some(false) {
        let fix = match key {
            Some(MerchantKey::Signer(_)) => {
                "name the token's key of this certificate in signer.pkcs11 (key_label or \
                 key_id), or give the apiclient_cert.pem issued for the key in the token"
            }
            _ => {
                "use the apiclient_key.pem generated together with this apiclient_cert.pem \
                 (or apply for a new API certificate and use both new files)"
            }
        };
        return Check::problem(
            NAME,
            format!(
                "the certificate's public key does not match the {key_name}: the {key_name} \
                 belongs to another certificate"
            ),
            fix,
        );
    }
    if !same_serial {
        return Check::problem(
            NAME,
            format!("the certificate's serial is {serial}, but merchant_serial_no is {configured}"),
            format!(
                "set merchant_serial_no to {serial} (`openssl x509 -in apiclient_cert.pem \
                 -noout -serial`)"
            ),
        );
    }
    match matches_key {
        Some(_) => Check::ok(
            NAME,
            format!("serial {serial} equals merchant_serial_no, and the certificate matches the {key_name}"),
        ),
        None => Check::ok(
            NAME,
            format!("serial {serial} equals merchant_serial_no (the {key_name} did not load, so it was not compared)"),
        ),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Describes whitespace around or inside a secret, never the secret itself.
fn whitespace_problem(field: &str, value: &str) -> Option<String> {
    let name = |c: char| match c {
        ' ' => "a space",
        '\t' => "a tab",
        '\n' => "a line break",
        '\r' => "a carriage return",
        _ => "a whitespace character",
    };
    if let Some(c) = value.chars().next_back().filter(|c| c.is_whitespace()) {
        return Some(format!("{field} ends with {} (value not shown)", name(c)));
    }
    if let Some(c) = value.chars().next().filter(|c| c.is_whitespace()) {
        return Some(format!("{field} starts with {} (value not shown)", name(c)));
    }
    value
        .chars()
        .find(|c| c.is_whitespace())
        .map(|c| format!("{field} contains {} (value not shown)", name(c)))
}

/// The APIv3 key: 32 bytes, no stray whitespace.
fn apiv3_key(config: &Config) -> Check {
    const NAME: &str = "apiv3_key";
    let Some(key) = config.apiv3_key.as_ref().map(Secret::expose) else {
        return Check::problem(
            NAME,
            "apiv3_key is missing",
            "set apiv3_key to the 32-character APIv3 key (merchant platform: Account \
             Center > API Security > APIv3 key)",
        );
    };
    if let Some(problem) = whitespace_problem("apiv3_key", key) {
        return Check::problem(
            NAME,
            format!(
                "{problem}; it is {} bytes with it (the checks below use it without)",
                key.len()
            ),
            "remove the whitespace from apiv3_key in the configuration file (a key pasted \
             with a trailing space or line break)",
        );
    }
    if key.len() != 32 {
        return Check::problem(
            NAME,
            format!("apiv3_key is {} bytes; it must be exactly 32", key.len()),
            "copy the APIv3 key exactly (merchant platform: API Security > APIv3 key); if it \
             is lost, set a new one there",
        );
    }
    Check::ok(
        NAME,
        "32 bytes, no whitespace (value not shown; the certificate decryption below proves it)",
    )
}

/// What `GET /` on the base URL answered, and our clock when it did.
struct Root {
    response: Option<RawResponse>,
    received_at: i64,
}

/// DNS, TCP and TLS to the base URL (to the proxy, when one is set).
/// Returns `None` when the platform cannot be reached at all.
fn network(config: &Config, checks: &mut Vec<Check>) -> Option<Root> {
    let base_url = config
        .checked_base_url(default_base_url(config.family))
        .ok()?;
    let uri: http::Uri = base_url.parse().ok()?;
    let https = uri.scheme_str() == Some("https");
    let (host, port, via) = match &config.proxy {
        Some(proxy) => {
            // The proxy URL may hold credentials: only its host and port are shown.
            let Some(proxy) = proxy.expose().parse::<http::Uri>().ok().and_then(|p| {
                let host = p.host()?.to_string();
                Some((host, p.port_u16().unwrap_or(80)))
            }) else {
                checks.push(Check::problem(
                    "dns",
                    "the proxy is not a URL with a host",
                    "set proxy to e.g. http://proxy.example:3128",
                ));
                return None;
            };
            (proxy.0, proxy.1, " (the proxy)")
        }
        None => (
            uri.host().unwrap_or("").to_string(),
            uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            "",
        ),
    };
    let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match (host_for_lookup, port).to_socket_addrs() {
        Ok(found) => found.collect(),
        Err(error) => {
            checks.push(Check::problem(
                "dns",
                format!("{host}{via} does not resolve: {error}"),
                "check the host name in base_url/proxy and the resolver (/etc/resolv.conf)",
            ));
            return None;
        }
    };
    let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    checks.push(Check::ok(
        "dns",
        format!("{host}{via} resolves to {}", shown.join(", ")),
    ));
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    let started = Instant::now();
    let connected = addresses.iter().find_map(|address| {
        TcpStream::connect_timeout(address, timeout)
            .ok()
            .map(|_| *address)
    });
    match connected {
        Some(address) => checks.push(Check::ok(
            "tcp",
            format!(
                "connected to {address}{via} in {} ms",
                started.elapsed().as_millis()
            ),
        )),
        None => {
            checks.push(Check::problem(
                "tcp",
                format!(
                    "no connection to {host}:{port}{via} within {} ms",
                    config.connect_timeout_ms
                ),
                "check the firewall and egress rules for this host and port (and the proxy)",
            ));
            return None;
        }
    }
    // Any HTTP answer proves the handshake and the server certificate.
    let http = Http::new(config).ok()?;
    let call = Call::background(config.family.name());
    let outcome = http.send(&call, "GET", &format!("{base_url}/"), &[], &[], b"");
    let received_at = unix_now();
    match outcome {
        Ok(response) => {
            checks.push(if https {
                Check::ok(
                    "tls",
                    format!(
                        "TLS handshake and server certificate verified (GET / answered HTTP {})",
                        response.status
                    ),
                )
            } else {
                Check::skipped(
                    "tls",
                    "plain http:// on a loopback address (the simulator): there is no TLS to check",
                )
            });
            Some(Root {
                response: Some(response),
                received_at,
            })
        }
        Err(error) if https => {
            checks.push(Check::problem(
                "tls",
                format!("no HTTPS answer from {base_url}: {}", error.message),
                "check the system CA certificates, the host clock (certificates have dates), \
                 and whether a proxy intercepts TLS",
            ));
            None
        }
        Err(error) => {
            checks.push(Check::problem(
                "tls",
                format!("no HTTP answer from {base_url}: {}", error.message),
                "check that the server at base_url is running",
            ));
            None
        }
    }
}

/// The platform's time from an answer's `Date` header, in epoch seconds.
fn date_header(response: &RawResponse) -> Option<i64> {
    let date = httpdate::parse_http_date(response.header("Date")?).ok()?;
    let seconds = date.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(seconds).ok()
}

/// The host clock against the platform's `Date` header and signed timestamp.
fn clock(config: &Config, root: &Root, signed: Option<&SignedAnswer>) -> Check {
    const NAME: &str = "clock";
    let mut seen = Vec::new();
    if let Some(date) = root.response.as_ref().and_then(date_header) {
        seen.push(("Date header", date.saturating_sub(root.received_at)));
    }
    if let Some(answer) = signed {
        if let Some(timestamp) = answer
            .response
            .header("Wechatpay-Timestamp")
            .and_then(|t| t.trim().parse::<i64>().ok())
        {
            seen.push((
                "signed Wechatpay-Timestamp",
                timestamp.saturating_sub(answer.received_at),
            ));
        }
    }
    let Some(&(source, skew)) = seen.iter().max_by_key(|(_, skew)| skew.unsigned_abs()) else {
        return Check::skipped(
            NAME,
            "the platform sent neither a Date header nor a signed timestamp",
        );
    };
    let allowed = config.max_clock_skew_secs;
    let measured: Vec<String> = seen
        .iter()
        .map(|(source, skew)| format!("{source} {skew:+} s"))
        .collect();
    let measured = measured.join(", ");
    if skew.unsigned_abs() > allowed {
        let direction = if skew > 0 { "behind" } else { "ahead of" };
        return Check::problem(
            NAME,
            format!(
                "the host clock is {} s {direction} the platform (platform minus host: \
                 {measured}; largest by {source}); allowed: ±{allowed} s, so signed answers and notifications are refused",
                skew.unsigned_abs()
            ),
            "synchronise the host clock with NTP (e.g. `timedatectl set-ntp true`, chrony or ntpd)",
        );
    }
    Check::ok(
        NAME,
        format!(
            "the host clock is within {} s of the platform (platform minus host: {measured}); \
             allowed: ±{allowed} s",
            skew.unsigned_abs()
        ),
    )
}

/// A signed answer and our clock when it came.
struct SignedAnswer {
    response: RawResponse,
    received_at: i64,
}

/// The signed query and what it proved.
struct Probe {
    check: Check,
    answer: Option<SignedAnswer>,
    /// How verifying the answer went (`None` when nothing was answered).
    verified: Option<Result<(), Error>>,
}

/// A refund number no merchant uses (the charset of `out_refund_no`).
fn nonexistent_refund_no() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("WXREFUND-DOCTOR-{}-{nanos}", unix_now())
}

/// The query target of a refund number, as the family's client sends it.
fn query_target(config: &Config, out_refund_no: &str) -> String {
    let segment = encode_path_segment(out_refund_no);
    match (config.family, config.mode, &config.sub_mchid) {
        (Family::Global, Mode::Partner, Some(sub)) => format!(
            "/v3/global/refunds/out-refund-no/{segment}?sp_mchid={}&sub_mchid={sub}",
            config.mchid
        ),
        (Family::Global, _, _) => format!(
            "/v3/global/refunds/out-refund-no/{segment}?mchid={}",
            config.mchid
        ),
        (_, Mode::Partner, Some(sub)) => {
            format!("/v3/refund/domestic/refunds/{segment}?sub_mchid={sub}")
        }
        _ => format!("/v3/refund/domestic/refunds/{segment}"),
    }
}

/// One harmless signed request: the query of a refund that cannot exist
/// must be answered with a (verified) NOT_FOUND.
fn signed_request(config: &Config, api: &ApiV3, family: &'static str) -> Probe {
    const NAME: &str = "signed_request";
    let out_refund_no = nonexistent_refund_no();
    let call = Call::refund(family, &out_refund_no);
    let (response, verified) = match api.probe(&call, &query_target(config, &out_refund_no)) {
        Ok(answer) => answer,
        Err(error) => {
            return Probe {
                check: Check::problem(
                    NAME,
                    format!("the signed query got no answer: {}", error.message),
                    "see the network checks above",
                ),
                answer: None,
                verified: None,
            }
        }
    };
    let received_at = unix_now();
    let error = (!(200..300).contains(&response.status)).then(|| crate::v3::api_error(&response));
    let code = error
        .as_ref()
        .and_then(|e| e.code.clone())
        .unwrap_or_default();
    let platform_message = error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    let serial = response
        .header("Wechatpay-Serial")
        .unwrap_or("")
        .to_string();
    let not_found = error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::NotFound);
    let check = if code == "SIGN_ERROR" || response.status == 401 {
        let (likely, fix) = if platform_message.contains("序列号")
            || platform_message.contains("serial")
        {
            (
                "merchant_serial_no is likely wrong (the platform does not know it for this mchid)",
                "set merchant_serial_no to the serial of the merchant API certificate \
                 (`openssl x509 -in apiclient_cert.pem -noout -serial`); \
                 --merchant-certificate checks it",
            )
        } else if platform_message.contains("时间") || platform_message.contains("timestamp") {
            (
                "the request timestamp is out of the platform's window: the host clock is wrong",
                "synchronise the host clock with NTP",
            )
        } else {
            (
                "the private key is likely wrong: it does not belong to the certificate \
                 merchant_serial_no names",
                "use the apiclient_key.pem of the certificate merchant_serial_no names; \
                 --merchant-certificate checks they match",
            )
        };
        Check::problem(
            NAME,
            format!("the platform refused the signature ({platform_message}): {likely}"),
            fix,
        )
    } else if not_found || error.is_none() {
        let answered = if not_found {
            format!("NOT_FOUND ({code})")
        } else {
            format!("HTTP {}", response.status)
        };
        match &verified {
            Ok(()) => Check::ok(
                NAME,
                format!(
                    "a signed query of a nonexistent refund was answered {answered}, signed by \
                     {serial} and verified: signing, mchid, merchant_serial_no and answer \
                     verification work end to end"
                ),
            ),
            Err(e) if e.reason == "missing_header" => Check::ok(
                NAME,
                format!(
                    "a signed query of a nonexistent refund was answered {answered}: signing, \
                     mchid and merchant_serial_no work; the platform did not sign this error \
                     answer, so answer verification is not proven by this request (see the \
                     next check)"
                ),
            ),
            Err(e) => Check::problem(
                NAME,
                format!(
                    "a signed query of a nonexistent refund was answered {answered} (so signing \
                     and merchant_serial_no work), but the answer did not verify: {}",
                    e.message
                ),
                match e.kind {
                    ErrorKind::TimestampOutOfWindow => "synchronise the host clock with NTP (see clock)",
                    ErrorKind::DecryptionFailed => "fix the APIv3 key (see apiv3_key_decrypts)",
                    _ if e.message.contains("certificates") => {
                        "see platform_keys: the keys that verify answers could not be obtained"
                    }
                    _ => "see platform_keys: the configured WeChat Pay key does not verify this answer",
                },
            ),
        }
    } else {
        let fix = match code.as_str() {
            "MCH_NOT_EXISTS" | "MCHID_NOT_EXIST" => "check mchid",
            "NO_AUTH" => "the merchant lacks the refund permission or the sub-merchant relation: check mchid/sub_mchid in the merchant platform",
            "PARAM_ERROR" | "INVALID_REQUEST" => "check mchid, sub_mchid and appid",
            _ => "see the platform's message",
        };
        Check::problem(
            NAME,
            format!(
                "the signed query was answered HTTP {} {code} ({platform_message}), not NOT_FOUND",
                response.status
            ),
            fix,
        )
    };
    Probe {
        check,
        answer: Some(SignedAnswer {
            response,
            received_at,
        }),
        verified: Some(verified),
    }
}

/// Certificate mode: download, verify and decrypt the platform certificates.
/// Returns the download check and the APIv3-key decryption check.
fn platform_certificates(api: &ApiV3) -> (Check, Check) {
    const NAME: &str = "platform_keys";
    const DECRYPT: &str = "apiv3_key_decrypts";
    match api.platform_certificates() {
        Ok(certificates) if certificates.is_empty() => (
            Check::problem(
                NAME,
                "the certificate download answered no certificates",
                "configure the WeChat Pay public key (wechatpay_public_key_id + wechatpay_public_key_pem)",
            ),
            Check::skipped(DECRYPT, "nothing to decrypt"),
        ),
        Ok(certificates) => {
            let listed: Vec<String> = certificates
                .iter()
                .map(|c| format!("{} (valid {} to {})", c.serial_no, c.effective_time, c.expire_time))
                .collect();
            (
                Check::ok(
                    NAME,
                    format!(
                        "downloaded and verified {} platform certificate(s): {}",
                        certificates.len(),
                        listed.join(", ")
                    ),
                ),
                Check::ok(
                    DECRYPT,
                    "the APIv3 key decrypted the downloaded certificates",
                ),
            )
        }
        Err(error) if error.reason == "no_platform_certificates" => (
            Check::problem(
                NAME,
                format!(
                    "the platform has no certificates for this merchant (HTTP {} {}): it verifies \
                     with the WeChat Pay public key",
                    error.http_status.unwrap_or(0),
                    error.code.as_deref().unwrap_or("")
                ),
                "configure the WeChat Pay public key: wechatpay_public_key_id (PUB_KEY_ID_...) \
                 and wechatpay_public_key_pem or wechatpay_public_key_file (merchant platform: \
                 API Security > WeChat Pay public key), and remove platform_certificates",
            ),
            Check::skipped(DECRYPT, "no certificates were downloaded"),
        ),
        Err(error) if error.kind == ErrorKind::DecryptionFailed => (
            Check::problem(
                NAME,
                "the certificates were downloaded but could not be decrypted",
                "see apiv3_key_decrypts",
            ),
            Check::problem(
                DECRYPT,
                "the APIv3 key does not decrypt the downloaded certificates (AEAD tag mismatch): \
                 the APIv3 key is wrong",
                "set apiv3_key to the merchant's current APIv3 key (merchant platform: API \
                 Security > APIv3 key); if it was reset there, use the new one",
            ),
        ),
        Err(error) => {
            let fix = match error.kind {
                ErrorKind::TimestampOutOfWindow => "synchronise the host clock with NTP (see clock)",
                ErrorKind::Transport => "see the network checks above",
                _ if error.code.as_deref() == Some("SIGN_ERROR") => "see signed_request",
                _ => "see the platform's message",
            };
            (
                Check::problem(NAME, error.message.clone(), fix),
                Check::skipped(DECRYPT, "no certificates were downloaded"),
            )
        }
    }
}

/// Public-key mode: the signed answer must verify with the configured key.
fn public_key_check(config: &Config, probe: &Probe) -> Check {
    const NAME: &str = "wechatpay_public_key";
    let id = config.wechatpay_public_key_id.as_deref().unwrap_or("");
    let serial = probe
        .answer
        .as_ref()
        .and_then(|a| a.response.header("Wechatpay-Serial"))
        .unwrap_or("");
    match &probe.verified {
        None => Check::skipped(NAME, "no answer to verify"),
        Some(Ok(())) if serial == id => Check::ok(
            NAME,
            format!("the answer signed with {id} verified with wechatpay_public_key_pem"),
        ),
        Some(Ok(())) => Check::ok(
            NAME,
            format!(
                "the answer was signed with platform certificate {serial}, not with {id}; \
                 the public key is used when the platform signs with it"
            ),
        ),
        Some(Err(e)) if e.reason == "missing_header" => Check::skipped(
            NAME,
            "the platform did not sign its error answer, so the public key could not be \
             proven by this run; the first successful call verifies it",
        ),
        Some(Err(e)) if e.reason == "bad_signature" && serial == id => Check::problem(
            NAME,
            format!("an answer signed with {id} does not verify with wechatpay_public_key_pem"),
            "set wechatpay_public_key_pem to the public key of this id (merchant platform: API \
             Security > WeChat Pay public key, pub_key.pem)",
        ),
        Some(Err(e)) if e.reason == "unknown_serial" => Check::problem(
            NAME,
            format!(
                "the answer is signed with {serial}, which is not wechatpay_public_key_id {id}"
            ),
            format!(
                "check wechatpay_public_key_id; if {serial} is a platform certificate, also set \
                 platform_certificates: true"
            ),
        ),
        Some(Err(e)) => Check::problem(NAME, e.message.clone(), "see signed_request and clock"),
    }
}

fn run_wecom(config: &Config, checks: &mut Vec<Check>) {
    checks.push(wecom_credentials(config));
    let Some(root) = network(config, checks) else {
        for name in ["clock", "gettoken", "query"] {
            checks.push(Check::skipped(name, "the platform could not be reached"));
        }
        return;
    };
    checks.push(clock(config, &root, None));
    let token_ok = match WeComApi::new(config, WECOM_BASE_URL, None) {
        Err(error) => {
            checks.push(Check::problem(
                "gettoken",
                error.message.clone(),
                "correct the token source in the configuration",
            ));
            false
        }
        Ok(_) if config.corpsecret.is_none() => {
            checks.push(Check::skipped(
                "gettoken",
                "a fixed access_token is configured: the query below tests it",
            ));
            true
        }
        Ok(api) => match api.check_token() {
            Ok(()) => {
                checks.push(Check::ok(
                    "gettoken",
                    "corpid and corpsecret got an access token (not shown)",
                ));
                true
            }
            Err(error) => {
                let fix = match error.code.as_deref() {
                    Some("40001") => {
                        "corpsecret is wrong: use the Secret of the self-built app \
                                      allowed to call the external payment APIs (WeCom admin: \
                                      App Management > the app > Secret)"
                    }
                    Some("40013") => {
                        "corpid is wrong: use the enterprise ID (WeCom admin: My \
                                      Enterprise > Enterprise ID)"
                    }
                    _ => "see the platform's message",
                };
                checks.push(Check::problem("gettoken", error.message.clone(), fix));
                false
            }
        },
    };
    if !token_ok {
        checks.push(Check::skipped("query", "no access token"));
        return;
    }
    let query = crate::Client::new(config.clone()).and_then(|client| {
        client.query_refund(&RefundQuery::by_out_refund_no(&nonexistent_refund_no()))
    });
    checks.push(match query {
        Err(error) if error.kind == ErrorKind::NotFound => Check::ok(
            "query",
            format!(
                "a query of a nonexistent refund was answered \"not found\" (errcode {}): the \
                 token, mchid and appid work",
                error.code.as_deref().unwrap_or("?")
            ),
        ),
        Err(error) => Check::problem(
            "query",
            format!("a query of a nonexistent refund failed: {}", error.message),
            match error.code.as_deref() {
                Some("40014" | "42001" | "40082") => {
                    "the access_token is invalid or expired: renew it"
                }
                _ => "check mchid and appid against the WeCom admin console",
            },
        ),
        Ok(refund) => Check::problem(
            "query",
            format!(
                "a refund number that cannot exist was found ({})",
                refund.status.name()
            ),
            "check base_url points to WeCom",
        ),
    });
}

/// WeCom secrets: no stray whitespace, and the callback key's length.
fn wecom_credentials(config: &Config) -> Check {
    const NAME: &str = "wecom_credentials";
    let secrets = [
        ("corpsecret", &config.corpsecret),
        ("access_token", &config.access_token),
        ("callback_token", &config.callback_token),
        ("encoding_aes_key", &config.encoding_aes_key),
    ];
    for (field, value) in secrets {
        if let Some(problem) = value
            .as_ref()
            .and_then(|secret| whitespace_problem(field, secret.expose()))
        {
            return Check::problem(
                NAME,
                problem,
                format!("remove the whitespace from {field} in the configuration file"),
            );
        }
    }
    if let Some(key) = &config.encoding_aes_key {
        if key.expose().len() != 43 {
            return Check::problem(
                NAME,
                format!(
                    "encoding_aes_key is {} characters; it must be 43",
                    key.expose().len()
                ),
                "copy the EncodingAESKey of the callback settings exactly",
            );
        }
    }
    let source = if config.corpsecret.is_some() {
        "corpid + corpsecret"
    } else {
        "a fixed access_token"
    };
    Check::ok(
        NAME,
        format!("tokens from {source}; no whitespace in any secret (values not shown)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_named_never_shown() {
        let named = |value: &str| whitespace_problem("apiv3_key", value);
        assert_eq!(named("abc"), None);
        let trailing = named("secret-value ").unwrap();
        assert!(trailing.contains("ends with a space"), "{trailing}");
        assert!(!trailing.contains("secret-value"));
        assert!(named("\tsecret").unwrap().contains("starts with a tab"));
        assert!(named("sec\nret").unwrap().contains("contains a line break"));
    }

    #[test]
    fn serials_compare_without_leading_zeros() {
        assert_eq!(strip_leading_zeros(&[0, 0, 0x1A, 0]), &[0x1A, 0]);
        assert_eq!(hex_upper(strip_leading_zeros(&[0, 0x0B, 0xCD])), "0BCD");
        assert!(strip_leading_zeros(&[0, 0]).is_empty());
    }

    #[test]
    fn probe_targets_follow_the_family_and_mode() {
        let mut config = Config::domestic("1900000100", "AB", "", "");
        assert_eq!(
            query_target(&config, "R 1"),
            "/v3/refund/domestic/refunds/R%201"
        );
        config.mode = Mode::Partner;
        config.sub_mchid = Some("1900000109".into());
        assert_eq!(
            query_target(&config, "R1"),
            "/v3/refund/domestic/refunds/R1?sub_mchid=1900000109"
        );
        config.family = Family::Global;
        assert_eq!(
            query_target(&config, "R1"),
            "/v3/global/refunds/out-refund-no/R1?sp_mchid=1900000100&sub_mchid=1900000109"
        );
        config.mode = Mode::Direct;
        assert_eq!(
            query_target(&config, "R1"),
            "/v3/global/refunds/out-refund-no/R1?mchid=1900000100"
        );
    }

    #[test]
    fn a_configuration_error_names_its_field_and_stops() {
        let checks = run(
            r#"{"family":"domestic","mchid":"1900000100","apiv3_key":7}"#,
            None,
        );
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].outcome, Outcome::Problem);
        assert!(
            checks[0].detail.contains("value not shown"),
            "{:?}",
            checks[0]
        );
        assert!(has_problem(&checks));
    }

    #[test]
    fn a_signer_in_the_configuration_is_checked_instead_of_a_private_key() {
        let mut config =
            Config::domestic("1900000100", "AB", "", "0123456789abcdef0123456789abcdef");
        config.private_key_pem = None;
        config.signer = Some(SignerConfig::Pkcs11(crate::config::Pkcs11Config {
            module: "/nonexistent/libpkcs11.so".into(),
            token_label: "token".into(),
            key_label: Some("merchant".into()),
            key_id: None,
            pin_env: Some("WXREFUND_DOCTOR_UNIT_NO_SUCH_PIN".into()),
        }));
        let mut checks = Vec::new();
        assert!(signer(&config, &mut checks).is_none());
        assert_eq!(checks.len(), 1);
        assert_eq!(
            (checks[0].name, checks[0].outcome),
            ("signer", Outcome::Problem)
        );
        let fix = checks[0].fix.as_deref().unwrap_or("");
        // With the feature the PIN variable is read first; without it the build is named.
        let expected = if cfg!(feature = "pkcs11") {
            "WXREFUND_DOCTOR_UNIT_NO_SUCH_PIN"
        } else {
            "cargo feature `pkcs11`"
        };
        assert!(fix.contains(expected), "{:?}", checks[0]);
    }
}
