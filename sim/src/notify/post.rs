//! The notification client: a minimal HTTP/1.1 `POST` over [`TcpStream`], to loopback
//! receivers only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Connect, read and write timeout of one delivery attempt.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Longest status line read from a receiver.
const MAX_STATUS_LINE: u64 = 8 * 1024;

/// A parsed `http://` URL whose host is a loopback address, the only kind notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host[:port]` as written in the URL, for the `Host` header.
    authority: String,
    /// Where to connect, tried in order.
    addrs: Vec<SocketAddr>,
    /// The request target: path (at least `/`) and query, as written in the URL.
    path: String,
}

impl Target {
    /// Parses `http://127.0.0.1[:port]/..`, `http://localhost[:port]/..` or
    /// `http://[::1][:port]/..`; anything else is refused with the reason.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let refuse = |why: &str| Err(format!("not delivered to {url:?}: {why}"));
        let Some(rest) = url.strip_prefix("http://") else {
            return refuse("only http:// URLs on a loopback host are notified");
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if path.contains('#') || !path.bytes().all(|b| b.is_ascii_graphic()) {
            return refuse("the path must be printable ASCII without a fragment");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, digits)) if !host.is_empty() && !authority.ends_with(']') => {
                match digits.parse::<u16>() {
                    Ok(port) if port != 0 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                        (host, port)
                    }
                    _ => return refuse("invalid port"),
                }
            }
            _ => (authority, 80),
        };
        let ips: Vec<IpAddr> = match host {
            "127.0.0.1" => vec![Ipv4Addr::LOCALHOST.into()],
            "[::1]" => vec![Ipv6Addr::LOCALHOST.into()],
            _ if host.eq_ignore_ascii_case("localhost") => {
                vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
            }
            _ => return refuse("the host is not 127.0.0.1, localhost or [::1]"),
        };
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Target {
            authority: authority.to_string(),
            addrs: ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            path,
        })
    }

    /// The request target (path and query).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// POSTs `body` with `headers` (plus `Host`, `Content-Length` and `Connection: close`)
    /// to `path` and returns the status code the receiver answered with.
    pub(crate) fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<u16, String> {
        let mut stream = self.connect()?;
        let io = |e: std::io::Error| format!("{}: {e}", self.authority);
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: wxrefund-sim\r\nAccept: */*\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            self.authority,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).map_err(io)?;
        stream.flush().map_err(io)?;

        let mut line = Vec::new();
        BufReader::new(stream)
            .take(MAX_STATUS_LINE)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        status_code(&line).ok_or_else(|| {
            let shown = String::from_utf8_lossy(&line);
            format!(
                "{}: no HTTP status line in {:?}",
                self.authority,
                shown.trim_end()
            )
        })
    }

    /// Connects to the first address that accepts.
    fn connect(&self) -> Result<TcpStream, String> {
        let mut last = format!("{}: no address", self.authority);
        for addr in &self.addrs {
            match TcpStream::connect_timeout(addr, TIMEOUT) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = format!("connect {addr}: {e}"),
            }
        }
        Err(last)
    }
}

/// The status code of an `HTTP/1.x NNN reason` line.
fn status_code(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|code| (100..600).contains(code))
}

/// `url` with `query` appended (after `&` when it already has a query).
pub(crate) fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_targets() {
        let target = Target::parse("http://127.0.0.1:8080/notify").expect("loopback");
        assert_eq!(target.path(), "/notify");
        assert_eq!(target.addrs, vec!["127.0.0.1:8080".parse().expect("addr")]);
        let target = Target::parse("http://LOCALHOST:9").expect("localhost");
        assert_eq!((target.path(), target.addrs.len()), ("/", 2));
        let target = Target::parse("http://[::1]:7/cb?callback_format=json").expect("v6");
        assert_eq!(target.path(), "/cb?callback_format=json");
        assert_eq!(target.addrs, vec!["[::1]:7".parse().expect("addr")]);
        assert_eq!(
            Target::parse("http://[::1]/x").map(|t| t.addrs),
            Ok(vec!["[::1]:80".parse().expect("addr")])
        );
        for url in [
            "https://127.0.0.1:8443/notify",
            "http://example.com/notify",
            "http://127.0.0.2:8080/notify",
            "http://10.0.0.1:80/",
            "http://evil.example@127.0.0.1:80/",
            "http://127.0.0.1.nip.io:80/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:+80/",
            "http://127.0.0.1:80/a b",
            "http://127.0.0.1:80/a\r\nX-Injected: 1",
            "http://127.0.0.1:80/#frag",
            "http://:80/",
            "",
        ] {
            let err = Target::parse(url).expect_err(url);
            assert!(err.starts_with("not delivered"), "{err}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_code(b"HTTP/1.0 500\r\n"), Some(500));
        assert_eq!(status_code(b"HTTP/2 200\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 20 OK\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 999 x\r\n"), None);
        assert_eq!(status_code(b"\xff\xfe"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn queries_are_appended() {
        assert_eq!(with_query("http://h/cb", "a=1"), "http://h/cb?a=1");
        assert_eq!(with_query("/cb?x=2", "a=1"), "/cb?x=2&a=1");
    }
}
