//! The one place that talks to the network (ureq, rustls). TLS verification
//! is always on; there is deliberately no switch to turn it off.

use crate::config::{Config, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::{self, Answer, Attempt, Call, Decision};
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

/// Longest pause between two retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How often, and how patiently, a request is sent again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retries {
    /// Resends after the first attempt.
    max: u32,
    /// The first pause; each next one doubles, up to five seconds.
    delay: Duration,
}

impl Retries {
    pub(crate) fn new(config: &Config) -> Retries {
        Retries {
            max: config.max_retries,
            delay: Duration::from_millis(config.retry_delay_ms),
        }
    }

    /// Runs `attempt` until `again` finds no reason to resend its outcome or
    /// the resends are spent, and returns the last outcome. Each resend is
    /// logged as a decision of `call`, with the reason `again` gave.
    pub(crate) fn run<T>(
        &self,
        call: &Call<'_>,
        mut attempt: impl FnMut() -> T,
        again: impl Fn(&T) -> Option<&'static str>,
    ) -> T {
        let mut resends = 0;
        loop {
            let outcome = attempt();
            let why = match again(&outcome) {
                Some(why) if resends < self.max => why,
                _ => return outcome,
            };
            let pause = self
                .delay
                .saturating_mul(1 << resends.min(16))
                .min(MAX_RETRY_DELAY);
            logging::decision(call, &Decision::Retry { why, delay: pause });
            std::thread::sleep(pause);
            resends += 1;
        }
    }
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
            .build();
        // ureq's own chain, with our TLS (src/tls.rs) in place of its, and the
        // secret-query swap last, on the plaintext.
        let connector =
            ().chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(crate::tls::Tls(crate::tls::client_config(config)?))
                .chain(secret_query::Substitute);
        let agent = ureq::Agent::with_parts(agent, connector, DefaultResolver::default());
        let user_agent = format!(
            "wxrefund/{} ({}/{}) rust",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        Ok(Http { agent, user_agent })
    }

    /// Sends one request for `call`, and logs it as one attempt. `body` is
    /// sent byte for byte (it is what was signed). `secret_query` holds query
    /// parameters that carry a secret (a WeCom access token or corpsecret):
    /// they are appended to `url`, but ureq (and so every log record it
    /// writes) sees only a stand-in; the real value replaces it in the bytes
    /// as they leave for the socket.
    pub(crate) fn send(
        &self,
        call: &Call<'_>,
        method: &str,
        url: &str,
        secret_query: &[(&str, &Secret)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<RawResponse, TransportError> {
        let number = call.next_attempt();
        let started = Instant::now();
        let outcome = self.send_once(method, url, secret_query, headers, body);
        if !logging::attempts_logged() {
            return outcome;
        }
        // Parsed again only for the record: the answer's own parse comes later.
        let code = match &outcome {
            Ok(response) => platform_code(&response.body),
            Err(_) => None,
        };
        logging::attempt(&Attempt {
            call,
            method,
            path: path_of(url),
            attempt: number,
            answer: match &outcome {
                Ok(response) => Answer::Http {
                    status: response.status,
                    code: code.as_deref(),
                    request_id: response.header("Request-ID"),
                },
                Err(error) => Answer::Network {
                    maybe_sent: error.maybe_sent,
                },
            },
            elapsed: started.elapsed(),
        });
        outcome
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        secret_query: &[(&str, &Secret)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<RawResponse, TransportError> {
        let (url, _substituting) = secret_query::stand_in(url, secret_query);
        let result = match method {
            "GET" => {
                let mut request = self.agent.get(&url);
                for (name, value) in self.common_headers().iter().chain(headers) {
                    request = request.header(*name, *value);
                }
                request.call()
            }
            _ => {
                let mut request = self.agent.post(&url);
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

/// The platform's error code in an answer body: APIv3's `code`, or WeCom's
/// `errcode` when it is not 0.
pub(crate) fn platform_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Codes {
        code: Option<serde_json::Value>,
        errcode: Option<i64>,
    }
    let codes: Codes = serde_json::from_slice(body).ok()?;
    match (codes.code, codes.errcode) {
        (Some(serde_json::Value::String(code)), _) => Some(code),
        (_, Some(errcode)) if errcode != 0 => Some(errcode.to_string()),
        _ => None,
    }
}

/// The path of an absolute URL (`/v3/...`), query included.
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/", |slash| &after_scheme[slash..])
}

/// Whether the request may have reached the server decides `outcome_unknown`.
fn classify(error: ureq::Error) -> TransportError {
    use std::io::ErrorKind as Io;
    let maybe_sent = match &error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::BadUri(_) => false,
        // Raised during the handshake, before any byte of the request.
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => false,
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
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(problem)) => {
            format!(
                "TLS: the server's certificate was refused ({problem:?}); {}; nothing was sent",
                certificate_hint(&problem)
            )
        }
        ureq::Error::Rustls(other) => format!("TLS handshake failed: {other}; nothing was sent"),
        other => format!("network error: {other}"),
    };
    TransportError {
        maybe_sent,
        message,
    }
}

/// What to do about a refused server certificate.
fn certificate_hint(problem: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError as Problem;
    match problem {
        Problem::UnknownIssuer => {
            "it is issued by a CA this client does not trust: behind a TLS-inspecting proxy, \
             add that proxy's CA with tls_ca_file (or tls_ca_pem), or use tls_roots \"system\" \
             if the host's trust store has it"
        }
        Problem::NotValidForName | Problem::NotValidForNameContext { .. } => {
            "it is not for this host name: check base_url (and any proxy in the way)"
        }
        Problem::Expired
        | Problem::ExpiredContext { .. }
        | Problem::NotValidYet
        | Problem::NotValidYetContext { .. } => {
            "it is outside its validity period: check the host clock (NTP), then the server"
        }
        _ => {
            "the server is not the one configured, or something in the way rewrote its certificate"
        }
    }
}

/// Secret query values kept out of ureq's sight, and so out of its logs
/// (which print whole URLs at DEBUG/TRACE and hex dumps of the bytes sent):
/// ureq builds the request with a random stand-in of the same length, and
/// the last link of the connector chain, below TLS, swaps the real value in
/// as the request line leaves, then wipes it from the buffer.
mod secret_query {
    use crate::config::Secret;
    use std::cell::RefCell;
    use ureq::unversioned::transport::{
        Buffers, ConnectionDetails, Connector, NextTimeout, Transport,
    };
    use zeroize::{Zeroize, Zeroizing};

    /// `name=stand-in` and `name=value` (percent-encoded), of equal length.
    struct Swap {
        stand_in: Zeroizing<Vec<u8>>,
        real: Zeroizing<Vec<u8>>,
    }

    thread_local! {
        /// The swaps of the request this thread is sending: ureq is blocking,
        /// so its transport runs on the caller's thread.
        static SWAPS: RefCell<Vec<Swap>> = const { RefCell::new(Vec::new()) };
    }

    /// Clears this thread's swaps when the request is done, however it ends.
    pub(super) struct Substituting;

    impl Drop for Substituting {
        fn drop(&mut self) {
            SWAPS.with(|swaps| swaps.borrow_mut().clear());
        }
    }

    /// `url` with each secret parameter appended as a stand-in, and the
    /// guard under which the transport swaps the real values in.
    pub(super) fn stand_in(url: &str, params: &[(&str, &Secret)]) -> (String, Substituting) {
        let mut url = url.to_string();
        let swaps = params
            .iter()
            .map(|(name, value)| {
                let real = Zeroizing::new(
                    format!(
                        "{name}={}",
                        crate::refund::encode_path_segment(value.expose())
                    )
                    .into_bytes(),
                );
                let stand_in = format!("{name}={}", random_stand_in(real.len() - name.len() - 1));
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&stand_in);
                Swap {
                    stand_in: Zeroizing::new(stand_in.into_bytes()),
                    real,
                }
            })
            .collect();
        SWAPS.with(|current| *current.borrow_mut() = swaps);
        (url, Substituting)
    }

    /// Letters and digits that match nothing else in a request line.
    fn random_stand_in(len: usize) -> String {
        let rng = crate::crypto::backend::rand::SystemRandom::new();
        // A CSPRNG failure leaves a fixed stand-in: still no secret in the logs.
        crate::crypto::random_alphanumeric(&rng, len).unwrap_or_else(|_| "X".repeat(len))
    }

    /// Swaps `from` for `to` where `from` stands as a whole parameter
    /// (followed by `&`, a space or the end) in the request line of `head`.
    /// Returns where it did, to swap back after sending.
    fn swap_in(head: &mut [u8], from: &[u8], to: &[u8]) -> Option<usize> {
        let line_end = head
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(head.len());
        let at = head[..line_end]
            .windows(from.len())
            .position(|window| window == from)?;
        let after = head.get(at + from.len()).copied();
        if !matches!(after, Some(b'&' | b' ') | None)
            || at == 0
            || !matches!(head[at - 1], b'?' | b'&')
        {
            return None;
        }
        head[at..at + to.len()].copy_from_slice(to);
        Some(at)
    }

    /// The connector that wraps every connection (after TLS, so it sees plaintext).
    #[derive(Debug)]
    pub(super) struct Substitute;

    impl<In: Transport> Connector<In> for Substitute {
        type Out = Substituted<In>;

        fn connect(
            &self,
            _: &ConnectionDetails,
            chained: Option<In>,
        ) -> Result<Option<Self::Out>, ureq::Error> {
            Ok(chained.map(Substituted))
        }
    }

    #[derive(Debug)]
    pub(super) struct Substituted<T>(T);

    impl<T: Transport> Transport for Substituted<T> {
        fn buffers(&mut self) -> &mut dyn Buffers {
            self.0.buffers()
        }

        fn transmit_output(
            &mut self,
            amount: usize,
            timeout: NextTimeout,
        ) -> Result<(), ureq::Error> {
            let swapped: Vec<(usize, usize)> = SWAPS.with(|swaps| {
                let swaps = swaps.borrow();
                let output = &mut self.0.buffers().output()[..amount];
                swaps
                    .iter()
                    .enumerate()
                    .filter_map(|(i, swap)| Some((i, swap_in(output, &swap.stand_in, &swap.real)?)))
                    .collect()
            });
            let sent = self.0.transmit_output(amount, timeout);
            // Leave no secret behind in the connection's buffer.
            SWAPS.with(|swaps| {
                let swaps = swaps.borrow();
                let output = self.0.buffers().output();
                for (i, at) in swapped {
                    let Some(swap) = swaps.get(i) else { continue };
                    if let Some(bytes) = output.get_mut(at..at + swap.real.len()) {
                        bytes.zeroize();
                        bytes.copy_from_slice(&swap.stand_in);
                    }
                }
            });
            sent
        }

        fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
            self.0.await_input(timeout)
        }

        fn is_open(&mut self) -> bool {
            self.0.is_open()
        }

        fn is_tls(&self) -> bool {
            self.0.is_tls()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn swaps_whole_parameters_of_the_request_line_only() {
            let mut head = b"POST /x?a=1&token=XXXX HTTP/1.1\r\nHost: token=XXXX\r\n".to_vec();
            assert_eq!(swap_in(&mut head, b"token=XXXX", b"token=s%2B"), Some(12));
            assert_eq!(
                head,
                b"POST /x?a=1&token=s%2B HTTP/1.1\r\nHost: token=XXXX\r\n".to_vec()
            );
            let mut longer = b"GET /x?token=XXXXY HTTP/1.1\r\n".to_vec();
            assert_eq!(swap_in(&mut longer, b"token=XXXX", b"token=s%2B"), None);
        }

        #[test]
        fn stand_ins_have_the_length_of_the_encoded_secret() {
            let secret = Secret::new("a+b/c=");
            let (url, _guard) = stand_in("http://h/p", &[("access_token", &secret)]);
            let value = url.split_once("access_token=").unwrap().1;
            assert_eq!(value.len(), "a%2Bb%2Fc%3D".len());
            assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(!url.contains("a+b"));
        }
    }
}
