//! The one place that talks to the network (ureq, rustls). TLS verification
//! is always on; there is deliberately no switch to turn it off.

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use std::time::Duration;

/// Longest pause between two retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Sleeps before retry number `attempt + 1`: `base` doubled per attempt,
/// at most five seconds.
pub(crate) fn pause_before_retry(base: Duration, attempt: u32) {
    let delay = base.saturating_mul(1 << attempt.min(16));
    std::thread::sleep(delay.min(MAX_RETRY_DELAY));
}

/// Largest response body read, in bytes; refund answers are a few KiB.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// A response as received: status, headers, and the body's raw bytes
/// (verification needs them exactly).
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header named `name`, compared without regard to case.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A network failure, split by whether the request could have reached the server.
#[derive(Debug)]
pub(crate) struct TransportError {
    /// False only when the request certainly never left (DNS, connect refused).
    pub maybe_sent: bool,
    pub message: String,
}

impl TransportError {
    pub(crate) fn into_error(self) -> Error {
        Error::new(ErrorKind::Transport, "transport", self.message)
            .with_retry(true, self.maybe_sent)
    }
}

/// A configured HTTP agent; cheap to share between threads.
pub(crate) struct Http {
    agent: ureq::Agent,
    user_agent: String,
}

impl Http {
    pub(crate) fn new(config: &Config) -> Result<Http> {
        let proxy = match &config.proxy {
            // The proxy URL may hold credentials: never echo it.
            Some(url) => Some(ureq::Proxy::new(url.expose()).map_err(|_| {
                Error::config("proxy", "not a valid proxy URL (e.g. http://host:3128)")
            })?),
            None => None,
        };
        let read = Some(Duration::from_millis(config.read_timeout_ms));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(proxy)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_millis(config.connect_timeout_ms)))
            .timeout_send_request(read)
            .timeout_send_body(read)
            .timeout_recv_response(read)
            .timeout_recv_body(read)
            // The platform's keep-alive is 8 s: never reuse a connection idle longer (§1.7).
            .max_idle_age(Duration::from_secs(7))
            .build()
            .new_agent();
        let user_agent = format!(
            "wxrefund/{} ({}/{}) rust",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        Ok(Http { agent, user_agent })
    }

    /// Sends one request. `body` is sent byte for byte (it is what was signed).
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<RawResponse, TransportError> {
        let result = match method {
            "GET" => {
                let mut request = self.agent.get(url);
                for (name, value) in self.common_headers().iter().chain(headers) {
                    request = request.header(*name, *value);
                }
                request.call()
            }
            _ => {
                let mut request = self.agent.post(url);
                for (name, value) in self.common_headers().iter().chain(headers) {
                    request = request.header(*name, *value);
                }
                request.send(body)
            }
        };
        let mut response = result.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(classify)?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    fn common_headers(&self) -> [(&str, &str); 3] {
        [
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("User-Agent", self.user_agent.as_str()),
        ]
    }
}

/// Whether the request may have reached the server decides `outcome_unknown`.
fn classify(error: ureq::Error) -> TransportError {
    use std::io::ErrorKind as Io;
    let maybe_sent = match &error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::BadUri(_) => false,
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => false,
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            Io::ConnectionRefused | Io::AddrNotAvailable | Io::NotFound
        ),
        _ => true,
    };
    let message = match error {
        // The proxy's answer may echo its URL and credentials.
        ureq::Error::ConnectProxyFailed(_) => "network error: the proxy refused to connect".into(),
        other => format!("network error: {other}"),
    };
    TransportError {
        maybe_sent,
        message,
    }
}
