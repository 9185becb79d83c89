//! A deliberately small HTTP/1.1 server side: enough for JSON APIs over keep-alive
//! connections with `Content-Length` bodies.

use std::io::{self, BufRead, Read, Write};

/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Largest request line or header line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 100;

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    /// Method as sent, e.g. `GET`.
    pub(crate) method: String,
    /// Request target exactly as on the request line (path plus `?query`).
    pub(crate) target: String,
    /// Header names lower-cased, values trimmed.
    pub(crate) headers: Vec<(String, String)>,
    /// Exact body bytes.
    pub(crate) body: Vec<u8>,
    /// Whether the client wants the connection kept open afterwards.
    pub(crate) keep_alive: bool,
}

impl Request {
    /// The first value of a header (name matched case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target, without the query.
    pub(crate) fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(p, _)| p)
    }

    /// The raw query string, if the target has one.
    pub(crate) fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The socket failed or closed mid-request: just drop the connection.
    Io(io::Error),
    /// The peer sent something we refuse: answer with this status and message, then close.
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads one line (ending in LF), refusing lines longer than [`MAX_LINE`].
/// Returns `None` on a clean end of stream before any byte.
fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        if n as u64 >= MAX_LINE {
            return Err(ReadError::Bad(431, "请求行或请求头过长"));
        }
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ReadError::Bad(400, "请求头不是合法的UTF-8"))
}

/// Reads the next request from a connection. `Ok(None)` means the peer closed the
/// connection cleanly between requests. `continue_writer` receives `100 Continue` when the
/// client asks for it.
pub(crate) fn read_request(
    reader: &mut impl BufRead,
    continue_writer: &mut impl Write,
) -> Result<Option<Request>, ReadError> {
    // Tolerate stray empty lines between requests (RFC 9112 §2.2).
    let request_line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && t.starts_with('/') => (m, t, v),
        _ => return Err(ReadError::Bad(400, "请求行格式错误")),
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Bad(505, "仅支持HTTP/1.1")),
    };

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or(ReadError::Io(io::ErrorKind::UnexpectedEof.into()))?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Bad(431, "请求头过多"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(ReadError::Bad(400, "请求头格式错误"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ReadError::Bad(400, "请求头格式错误"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }

    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
        keep_alive: true,
    };
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    request.keep_alive = if http10 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };

    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Bad(411, "仅支持Content-Length请求体"));
    }
    let mut length: Option<usize> = None;
    for (name, value) in &request.headers {
        if name == "content-length" {
            let parsed: usize = value
                .parse()
                .map_err(|_| ReadError::Bad(400, "Content-Length格式错误"))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(ReadError::Bad(400, "Content-Length不一致"));
            }
            length = Some(parsed);
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(ReadError::Bad(413, "请求体过大"));
    }
    if length > 0 {
        if request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            continue_writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            continue_writer.flush()?;
        }
        request.body = vec![0u8; length];
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

/// A response ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Standard reason phrase for the statuses the simulator uses.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// An RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for epoch
/// seconds; a time before 1970 is shown as 1970.
pub(crate) fn http_date(epoch_secs: i64) -> String {
    let secs = u64::try_from(epoch_secs).unwrap_or(0);
    let time = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(secs))
        .unwrap_or(std::time::UNIX_EPOCH);
    httpdate::fmt_http_date(time)
}

/// Serialises and sends a response in one write (one segment for small bodies).
pub(crate) fn write_response(
    writer: &mut impl Write,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    out.push_str(if keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        "Connection: close\r\n"
    });
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    writer.write_all(&bytes)?;
    writer.flush()
}

/// Decodes `%XX` escapes. `None` for a malformed escape or a result that is not UTF-8.
/// `+` is left alone: in a path it is a literal plus sign.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Looks up a query parameter by name, percent-decoding its value.
/// `Some(None)` means the parameter is present but malformed.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<Option<String>> {
    query?
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k).as_deref() == Some(name)).then(|| percent_decode(v))
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("R%7C1%2A2%402").as_deref(), Some("R|1*2@2"));
        assert_eq!(percent_decode("R|1*2@2").as_deref(), Some("R|1*2@2"));
        assert_eq!(percent_decode("a%7cb").as_deref(), Some("a|b"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%E9%80%80").as_deref(), Some("退"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn query_parameters() {
        let q = Some("a=1&sub_mchid=1900000109");
        assert_eq!(
            query_param(q, "sub_mchid"),
            Some(Some("1900000109".to_string()))
        );
        assert_eq!(query_param(q, "b"), None);
        assert_eq!(query_param(None, "a"), None);
        assert_eq!(query_param(Some("a=%zz"), "a"), Some(None));
    }

    fn parse(raw: &[u8]) -> Result<Option<Request>, ReadError> {
        read_request(&mut BufReader::new(raw), &mut Vec::new())
    }

    #[test]
    fn reads_a_request_with_body() {
        let raw = b"POST /v3/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
        let req = parse(raw).expect("ok").expect("request");
        assert_eq!(req.method, "POST");
        assert_eq!(req.path(), "/v3/x");
        assert_eq!(req.query(), Some("y=1"));
        assert_eq!(req.header("HOST"), Some("a"));
        assert_eq!(req.body, b"{}");
        assert!(req.keep_alive);
    }

    #[test]
    fn refuses_bad_requests() {
        assert!(matches!(
            parse(b"GARBAGE\r\n\r\n"),
            Err(ReadError::Bad(400, _))
        ));
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(matches!(parse(big.as_bytes()), Err(ReadError::Bad(413, _))));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(chunked), Err(ReadError::Bad(411, _))));
        assert!(matches!(parse(b""), Ok(None)));
    }
}
