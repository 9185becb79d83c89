//! WeCom transport (PROTOCOL.md §6): the access_token lifecycle and
//! `errcode` mapping. No RSA here: WeCom authenticates by access token.

use crate::config::{Config, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Http, RawResponse, Retries};
use crate::logging::{self, Call, Decision};
use crate::refund::encode_path_segment;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Supplies WeCom access tokens. Implement it to share one token across a
/// fleet of terminals through a cache the host already runs. The library
/// asks before every request and keeps no copy, so return the cached token.
pub trait AccessTokenProvider: Send + Sync {
    /// A token to use now. `rejected` is the token WeCom just refused
    /// (`40014`/`42001`): return a different, fresh one. Never log tokens.
    fn access_token(&self, rejected: Option<&str>) -> Result<Secret>;
}

/// The family's name in log records.
const FAMILY: &str = crate::Family::WeCom.name();

/// Renew a fetched token this long before WeCom says it expires.
const EARLY_RENEWAL: Duration = Duration::from_secs(300);

/// WeCom documents tokens valid for 7200 s; a longer promise is not believed.
const MAX_TOKEN_LIFETIME: u64 = 7200;

/// A token fixed in the configuration: it cannot be renewed.
struct FixedToken(Secret);

impl AccessTokenProvider for FixedToken {
    fn access_token(&self, rejected: Option<&str>) -> Result<Secret> {
        match rejected {
            Some(_) => Err(Error::new(
                ErrorKind::Api,
                "access_token_rejected",
                "WeCom rejected the configured access_token (expired or revoked); supply a new one",
            )),
            None => Ok(self.0.clone()),
        }
    }
}

/// Tokens fetched from `cgi-bin/gettoken` and cached until shortly before
/// they expire. The mutex makes the fetch single-flight.
struct FetchedToken {
    http: Arc<Http>,
    /// `.../cgi-bin/gettoken?corpid=...`; the corpsecret is added by [`Http::send`].
    url: String,
    corpsecret: Secret,
    retries: Retries,
    cache: Mutex<Option<(Secret, Instant)>>,
}

impl AccessTokenProvider for FetchedToken {
    fn access_token(&self, rejected: Option<&str>) -> Result<Secret> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let why = match cache.as_ref() {
            // Another thread may have renewed it already after the same rejection.
            Some((token, renew_at))
                if Instant::now() < *renew_at && rejected != Some(token.expose()) =>
            {
                return Ok(token.clone());
            }
            None => "first",
            Some(_) if rejected.is_some() => "rejected",
            Some(_) => "expiring",
        };
        let call = Call::background(FAMILY);
        let fetched = self.fetch(&call);
        logging::decision(
            &call,
            &Decision::TokenRenewal {
                why,
                ok: fetched.is_ok(),
            },
        );
        let (token, lifetime) = fetched?;
        let renew_in = lifetime.saturating_sub(EARLY_RENEWAL.min(lifetime / 2));
        // At most two hours ahead; should the clock's range end sooner, renew next time.
        let renew_at = Instant::now()
            .checked_add(renew_in)
            .unwrap_or_else(Instant::now);
        *cache = Some((token.clone(), renew_at));
        Ok(token)
    }
}

impl FetchedToken {
    /// `GET cgi-bin/gettoken`, resent like any safe request (network
    /// failures, 5xx, errcode -1). Its lifetime is at most two hours.
    fn fetch(&self, call: &Call<'_>) -> Result<(Secret, Duration)> {
        let secret_free = |error: Error| token_fetch_failed(redact(error, &[&self.corpsecret]));
        let response = self
            .retries
            .run(
                call,
                || {
                    let corpsecret = [("corpsecret", &self.corpsecret)];
                    self.http
                        .send(call, "GET", &self.url, &corpsecret, &[], b"")
                },
                |outcome| match outcome {
                    Err(_) => Some("network error"),
                    Ok(response) => busy_reason(response),
                },
            )
            .map_err(|e| secret_free(e.into_error()))?;
        let body = errcode_body(&response).map_err(secret_free)?;
        if let Some(error) = errcode_error(&body, &response, false) {
            return Err(secret_free(error));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or_else(|| {
                secret_free(malformed("gettoken answered without a usable access_token"))
            })?;
        let lifetime = match body.get("expires_in") {
            None => MAX_TOKEN_LIFETIME,
            Some(seconds) => seconds
                .as_u64()
                .filter(|&seconds| seconds > 0)
                .ok_or_else(|| {
                    secret_free(malformed(
                        "gettoken answered an expires_in that is not a positive number of seconds",
                    ))
                })?
                .min(MAX_TOKEN_LIFETIME),
        };
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }
}

/// A token fetch failed: the request it was for never left, whatever gettoken did.
fn token_fetch_failed(mut error: Error) -> Error {
    error.message = format!(
        "fetching a WeCom access_token failed, so nothing was sent: {}",
        error.message
    );
    error.outcome_unknown = false;
    error
}

/// The WeCom channel of one client.
pub(crate) struct WeComApi {
    http: Arc<Http>,
    base_url: String,
    tokens: Arc<dyn AccessTokenProvider>,
    retries: Retries,
}

/// A failed call, and whether WeCom may have processed any attempt of it.
pub(crate) struct Failure {
    pub(crate) error: Error,
    /// False when no attempt was processed: none left the machine, or WeCom
    /// refused it at the door (a rejected token).
    pub(crate) maybe_processed: bool,
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        failure.error
    }
}

impl WeComApi {
    /// Builds the channel; `provider` replaces the configured token source.
    pub(crate) fn new(
        config: &Config,
        default_base_url: &str,
        provider: Option<Arc<dyn AccessTokenProvider>>,
    ) -> Result<WeComApi> {
        let base_url = config.checked_base_url(default_base_url)?;
        let http = Arc::new(Http::new(config)?);
        let tokens: Arc<dyn AccessTokenProvider> = match (
            provider,
            &config.access_token,
            &config.corpid,
            &config.corpsecret,
        ) {
            (Some(provider), None, None, None) => provider,
            (None, Some(token), None, None) => Arc::new(FixedToken(token.clone())),
            (None, None, Some(corpid), Some(corpsecret)) => Arc::new(FetchedToken {
                http: http.clone(),
                url: format!(
                    "{base_url}/cgi-bin/gettoken?corpid={}",
                    encode_path_segment(corpid)
                ),
                corpsecret: corpsecret.clone(),
                retries: Retries::new(config),
                cache: Mutex::new(None),
            }),
            _ => {
                return Err(Error::config(
                    "access_token",
                    "give exactly one token source: corpid + corpsecret, access_token, \
                         or a token provider",
                ))
            }
        };
        Ok(WeComApi {
            http,
            base_url,
            tokens,
            retries: Retries::new(config),
        })
    }

    /// Gets an access token from the configured source (for `gettoken`,
    /// a fetch unless one is cached), to check the credentials work.
    pub(crate) fn check_token(&self) -> Result<()> {
        self.tokens.access_token(None).map(drop)
    }

    /// POSTs `body` to `path` with the access token and returns the answer's
    /// object when `errcode` is 0. A rejected token is renewed once and the
    /// call sent once more. With `resend`, busy answers and network failures
    /// are resent too (queries); without it (refund applies, which WeCom
    /// allows once a minute per order) only what never left is resent.
    pub(crate) fn call(
        &self,
        call: &Call<'_>,
        path: &str,
        body: &[u8],
        resend: bool,
    ) -> Result<Map<String, Value>, Failure> {
        let url = format!("{}{path}", self.base_url);
        let mut rejected: Option<Secret> = None;
        let mut maybe_processed = false;
        loop {
            let token = match self
                .tokens
                .access_token(rejected.as_ref().map(Secret::expose))
            {
                Ok(token) => token,
                // No token, so nothing (more) was sent.
                Err(mut error) => {
                    error.outcome_unknown = false;
                    return Err(Failure {
                        error,
                        maybe_processed,
                    });
                }
            };
            let outcome = self.retries.run(
                call,
                || {
                    let secret = [("access_token", &token)];
                    let outcome = self.http.send(call, "POST", &url, &secret, &[], body);
                    maybe_processed |= match &outcome {
                        Ok(response) => !errcode(response).is_some_and(is_token_rejection),
                        Err(error) => error.maybe_sent,
                    };
                    outcome
                },
                |outcome| match outcome {
                    Err(error) if resend || !error.maybe_sent => Some("network error"),
                    Err(_) => None,
                    Ok(response) if resend => busy_reason(response),
                    Ok(_) => None,
                },
            );
            let failed = |error: Error| Failure {
                error: redact(error, &[&token]),
                maybe_processed,
            };
            let response = outcome.map_err(|e| failed(e.into_error()))?;
            let answer = errcode_body(&response).map_err(failed)?;
            if let Some(error) = errcode_error(&answer, &response, !resend) {
                if errcode(&response).is_some_and(is_token_rejection) && rejected.is_none() {
                    // Refused before any processing: safe to send again with a new token.
                    rejected = Some(token);
                    continue;
                }
                return Err(failed(error));
            }
            return Ok(answer);
        }
    }
}

fn is_token_rejection(errcode: i64) -> bool {
    matches!(errcode, 40014 | 42001 | 40082)
}

/// Why WeCom did not process a request, if it did not: 5xx or `errcode -1`.
fn busy_reason(response: &RawResponse) -> Option<&'static str> {
    if response.status >= 500 {
        Some("HTTP 5xx")
    } else if errcode(response) == Some(-1) {
        Some("errcode -1")
    } else {
        None
    }
}

fn errcode(response: &RawResponse) -> Option<i64> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body.get("errcode")?.as_i64()
}

fn malformed(message: &str) -> Error {
    Error::new(ErrorKind::Api, "malformed_response", message)
}

/// The JSON object of an HTTP 200 answer; anything else is an error.
fn errcode_body(response: &RawResponse) -> Result<Map<String, Value>> {
    if response.status != 200 {
        let mut error = Error::new(
            ErrorKind::Api,
            "http_error",
            format!("WeCom answered HTTP {}", response.status),
        )
        .with_retry(response.status >= 500, response.status >= 500);
        error.http_status = Some(response.status);
        return Err(error);
    }
    match serde_json::from_slice(&response.body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(malformed(
            "WeCom answered with a body that is not a JSON object",
        )),
    }
}

/// Maps a non-zero `errcode` to an error. `applying` marks a refund apply,
/// whose outcome is unknown when WeCom was busy or limited it.
fn errcode_error(
    body: &Map<String, Value>,
    response: &RawResponse,
    applying: bool,
) -> Option<Error> {
    let code = body.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    if code == 0 {
        return None;
    }
    let errmsg = body.get("errmsg").and_then(Value::as_str).unwrap_or("");
    let busy = if applying {
        "WeCom was busy and may not have recorded the refund: query it, and send the \
         same request again only if it is not found"
    } else {
        "WeCom stayed busy through every retry; try again later"
    };
    let (kind, retryable, outcome_unknown, hint) = match code {
        -1 => (ErrorKind::Api, true, applying, busy),
        40014 | 42001 | 40082 | 41001 => (
            ErrorKind::Api,
            false,
            false,
            "the access token was rejected",
        ),
        40001 | 40091 | 40013 => (ErrorKind::Api, false, false, "check corpid and corpsecret"),
        45009 | 45011 | 45033 => (
            ErrorKind::RateLimited,
            true,
            applying,
            "rate limited; slow down",
        ),
        60020 => (
            ErrorKind::Api,
            false,
            false,
            "this server's IP is not in the app's trusted IP list",
        ),
        720501 => (
            ErrorKind::NotFound,
            false,
            false,
            "no such order or refund under this mchid",
        ),
        _ => (ErrorKind::Api, false, false, "see errmsg"),
    };
    let mut error = Error::new(
        kind,
        "errcode",
        format!("WeCom errcode {code}: {hint} ({errmsg})"),
    )
    .with_retry(retryable, outcome_unknown);
    error.code = Some(code.to_string());
    error.http_status = Some(response.status);
    Some(error)
}

/// Removes every secret from an error's message, as given and
/// percent-encoded: the two forms in which this library sends them, and so
/// in which a server may echo them.
fn redact(mut error: Error, secrets: &[&Secret]) -> Error {
    for secret in secrets.iter().map(|s| s.expose()).filter(|s| !s.is_empty()) {
        error.message = error
            .message
            .replace(secret, "<redacted>")
            .replace(&encode_path_segment(secret), "<redacted>");
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> RawResponse {
        RawResponse {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn errcodes_map_to_kinds() {
        let map = |body: &str, applying| {
            let r = response(body);
            errcode_error(&errcode_body(&r).unwrap(), &r, applying)
        };
        assert!(map(r#"{"errcode":0,"errmsg":"ok"}"#, true).is_none());
        let e = map(r#"{"errcode":-1,"errmsg":"system busy"}"#, true).unwrap();
        assert_eq!(
            (e.kind, e.retryable, e.outcome_unknown),
            (ErrorKind::Api, true, true)
        );
        let e = map(
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
            false,
        )
        .unwrap();
        assert_eq!((e.kind, e.outcome_unknown), (ErrorKind::RateLimited, false));
        let e = map(r#"{"errcode":720501,"errmsg":"not exists"}"#, false).unwrap();
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (ErrorKind::NotFound, Some("720501"))
        );
        let e = map(
            r#"{"errcode":60020,"errmsg":"not allow to access from your ip"}"#,
            false,
        )
        .unwrap();
        assert!(e.message.contains("trusted IP"));
    }

    #[test]
    fn fixed_token_cannot_be_renewed() {
        let fixed = FixedToken(Secret::new("t0k3n"));
        assert_eq!(fixed.access_token(None).unwrap().expose(), "t0k3n");
        let err = fixed.access_token(Some("t0k3n")).unwrap_err();
        assert!(!err.message.contains("t0k3n"));
    }

    #[test]
    fn redaction_removes_the_token() {
        let e = Error::new(
            ErrorKind::Transport,
            "t",
            "GET /x?access_token=SECRET123 failed",
        );
        assert!(!redact(e, &[&Secret::new("SECRET123")])
            .message
            .contains("SECRET123"));
        let echoed = Error::new(ErrorKind::Api, "t", "token a%2Bb%2F%3D or a+b/= refused");
        let message = redact(echoed, &[&Secret::new("a+b/=")]).message.clone();
        assert_eq!(message, "token <redacted> or <redacted> refused");
    }
}
