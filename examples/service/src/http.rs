//! HTTP/1.1 request parsing (the subset of RFC 9112 a small JSON service needs).
//!
//! The parser works on a byte buffer that holds the start of a connection's
//! stream. It never copies more than it must: the request line and header
//! fields are validated in place and only turned into owned strings once they
//! are known to be well formed.
//!
//! Message framing is by `Content-Length` only; a request that uses
//! `Transfer-Encoding` is rejected with [`ParseError::UnsupportedTransferEncoding`].

use std::fmt;

/// Longest accepted request head (request line plus header fields), in bytes.
pub const MAX_HEAD_LEN: usize = 16 * 1024;
/// Largest number of header fields accepted in one request.
pub const MAX_HEADERS: usize = 64;
/// Largest accepted request body, in bytes.
pub const MAX_BODY_LEN: usize = 1024 * 1024;

/// HTTP protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// The version as it appears on the wire, e.g. `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field, with its name as sent by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Field name (compare with [`str::eq_ignore_ascii_case`]).
    pub name: String,
    /// Field value with surrounding whitespace removed.
    pub value: String,
}

/// A parsed HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request method, e.g. `GET` (case-sensitive, as sent).
    pub method: String,
    /// Request target exactly as sent, e.g. `/rpc?x=1`.
    pub target: String,
    /// Path part of the target, without the query (always starts with `/`,
    /// or is `*` for `OPTIONS *`).
    pub path: String,
    /// Query string without the leading `?`, if any.
    pub query: Option<String>,
    /// Protocol version.
    pub version: Version,
    /// Header fields in the order received.
    pub headers: Vec<Header>,
    /// Message body (empty when there is none).
    pub body: Vec<u8>,
}

impl Request {
    /// Builds an `HTTP/1.1` request without headers or body, splitting
    /// `target` into path and query. Handy for tests and examples.
    ///
    /// ```
    /// use example_service::http::Request;
    ///
    /// let req = Request::new("GET", "/health?verbose=1");
    /// assert_eq!(req.path, "/health");
    /// assert_eq!(req.query.as_deref(), Some("verbose=1"));
    /// ```
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = split_target(target);
        Request {
            method: method.to_string(),
            target: target.to_string(),
            path: path.to_string(),
            query: query.map(str::to_string),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push(Header {
            name: name.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Sets the body (builder style). Does not add a `Content-Length` field.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Declared body length (`Content-Length`), 0 when absent or invalid.
    pub fn content_length(&self) -> usize {
        content_length_of(&self.headers).ok().flatten().unwrap_or(0)
    }

    /// Whether the client wants the connection kept open after the response
    /// (`HTTP/1.1` default unless `Connection: close`; `HTTP/1.0` only with
    /// `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.has_connection_token("close"),
            Version::Http10 => self.has_connection_token("keep-alive"),
        }
    }

    /// Whether the client sent `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    fn has_connection_token(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why a request could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The buffer ends before the request does; read more and retry.
    Incomplete,
    /// The method is empty or contains a byte that is not a token character.
    InvalidMethod,
    /// The request target is malformed.
    InvalidTarget,
    /// The protocol version is not of the form `HTTP/x.y`.
    InvalidVersion,
    /// The protocol version is well formed but not 1.0 or 1.1.
    UnsupportedVersion,
    /// A header line has no colon or an invalid field name.
    InvalidHeaderName,
    /// A header value contains a control character.
    InvalidHeaderValue,
    /// A header line starts with whitespace (obsolete line folding).
    ObsoleteLineFolding,
    /// `Host` is missing from an `HTTP/1.1` request or given more than once.
    InvalidHost,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// The request head is longer than [`MAX_HEAD_LEN`].
    HeadTooLarge,
    /// `Content-Length` is not a number or given with conflicting values.
    InvalidContentLength,
    /// `Content-Length` exceeds [`MAX_BODY_LEN`].
    BodyTooLarge,
    /// The request uses `Transfer-Encoding`, which this server does not support.
    UnsupportedTransferEncoding,
}

impl ParseError {
    /// The HTTP status code to answer this error with.
    pub fn status(self) -> u16 {
        match self {
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::UnsupportedVersion => 505,
            ParseError::UnsupportedTransferEncoding => 501,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            ParseError::Incomplete => "incomplete request",
            ParseError::InvalidMethod => "invalid method",
            ParseError::InvalidTarget => "invalid request target",
            ParseError::InvalidVersion => "invalid HTTP version",
            ParseError::UnsupportedVersion => "unsupported HTTP version",
            ParseError::InvalidHeaderName => "invalid header name",
            ParseError::InvalidHeaderValue => "invalid header value",
            ParseError::ObsoleteLineFolding => "obsolete header line folding",
            ParseError::InvalidHost => "missing or duplicate Host header",
            ParseError::TooManyHeaders => "too many header fields",
            ParseError::HeadTooLarge => "request head too large",
            ParseError::InvalidContentLength => "invalid Content-Length",
            ParseError::BodyTooLarge => "request body too large",
            ParseError::UnsupportedTransferEncoding => "Transfer-Encoding is not supported",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for ParseError {}

/// Parses a complete request — head and `Content-Length` body — from the
/// start of `buf`. Bytes after the body (a pipelined request) are ignored.
///
/// Returns [`ParseError::Incomplete`] while `buf` holds only part of the
/// request.
///
/// ```
/// use example_service::http::{parse_request, ParseError};
///
/// let raw = b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
/// let req = parse_request(raw).unwrap();
/// assert_eq!(req.method, "POST");
/// assert_eq!(req.body, b"{}");
///
/// assert_eq!(parse_request(&raw[..20]), Err(ParseError::Incomplete));
/// ```
pub fn parse_request(buf: &[u8]) -> Result<Request, ParseError> {
    // A planted slowdown (the head parsed ten times), only for testing xtask's performance
    // checks: far enough past the 20 % limit that no machine load can hide it.
    #[cfg(feature = "slow-parser")]
    for _ in 0..9 {
        std::hint::black_box(parse_head(std::hint::black_box(buf)))?;
    }
    let (mut req, head_len) = parse_head(buf)?;
    let end = head_len + req.content_length();
    if buf.len() < end {
        return Err(ParseError::Incomplete);
    }
    req.body = buf[head_len..end].to_vec();
    Ok(req)
}

/// Parses only the request head (request line and header fields) and
/// returns the request with an empty body together with the number of bytes
/// the head took. The body, if any, is the next
/// [`Request::content_length`] bytes.
///
/// Servers use this to answer `Expect: 100-continue` and to reject oversized
/// bodies before reading them.
pub fn parse_head(buf: &[u8]) -> Result<(Request, usize), ParseError> {
    // RFC 9112 §2.2: ignore empty lines received before the request line.
    let mut pos = 0;
    while pos < buf.len() && (buf[pos] == b'\r' || buf[pos] == b'\n') {
        pos += 1;
        if pos > MAX_HEAD_LEN {
            return Err(ParseError::HeadTooLarge);
        }
    }

    let (line, mut pos) = next_line(buf, pos)?;
    let (method, target, version) = parse_request_line(line)?;

    let mut headers: Vec<Header> = Vec::with_capacity(8);
    loop {
        let (line, next) = next_line(buf, pos)?;
        pos = next;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push(parse_header_line(line)?);
    }

    let host_count = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count();
    if host_count > 1 || (version == Version::Http11 && host_count == 0) {
        return Err(ParseError::InvalidHost);
    }
    if headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err(ParseError::UnsupportedTransferEncoding);
    }
    if let Some(len) = content_length_of(&headers)? {
        if len > MAX_BODY_LEN {
            return Err(ParseError::BodyTooLarge);
        }
    }

    let (path, query) = split_target(target);
    let req = Request {
        method: method.to_string(),
        target: target.to_string(),
        path: path.to_string(),
        query: query.map(str::to_string),
        version,
        headers,
        body: Vec::new(),
    };
    Ok((req, pos))
}

/// Finds the line starting at `start`; returns it without its terminator
/// (CRLF, or a bare LF as RFC 9112 §2.2 allows) and the index after it.
fn next_line(buf: &[u8], start: usize) -> Result<(&[u8], usize), ParseError> {
    let limit = buf.len().min(MAX_HEAD_LEN);
    if start >= limit {
        return Err(incomplete_or_too_large(buf));
    }
    match buf[start..limit].iter().position(|&b| b == b'\n') {
        Some(offset) => {
            let end = start + offset;
            let line = &buf[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok((line, end + 1))
        }
        None => Err(incomplete_or_too_large(buf)),
    }
}

fn incomplete_or_too_large(buf: &[u8]) -> ParseError {
    if buf.len() >= MAX_HEAD_LEN {
        ParseError::HeadTooLarge
    } else {
        ParseError::Incomplete
    }
}

fn parse_request_line(line: &[u8]) -> Result<(&str, &str, Version), ParseError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::InvalidMethod);
    }
    let target = parts.next().unwrap_or_default();
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(ParseError::InvalidTarget);
    }
    let version = parse_version(parts.next().unwrap_or_default())?;
    // Both slices are ASCII-only at this point, so they are valid UTF-8.
    let method = std::str::from_utf8(method).map_err(|_| ParseError::InvalidMethod)?;
    let target = std::str::from_utf8(target).map_err(|_| ParseError::InvalidTarget)?;
    let target = normalize_target(method, target)?;
    Ok((method, target, version))
}

fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(ParseError::UnsupportedVersion)
        }
        _ => Err(ParseError::InvalidVersion),
    }
}

/// Accepts origin-form (`/path?q`), asterisk-form (`*`, `OPTIONS` only) and
/// absolute-form (`http://host/path`, reduced to its path and query).
fn normalize_target<'a>(method: &str, target: &'a str) -> Result<&'a str, ParseError> {
    if target.contains('#') {
        return Err(ParseError::InvalidTarget);
    }
    if target.starts_with('/') {
        return Ok(target);
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(target)
        } else {
            Err(ParseError::InvalidTarget)
        };
    }
    let lower_prefix = |p: &str| {
        target.len() > p.len() && target.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    let rest = if lower_prefix("http://") {
        &target["http://".len()..]
    } else if lower_prefix("https://") {
        &target["https://".len()..]
    } else {
        return Err(ParseError::InvalidTarget);
    };
    match rest.find(['/', '?']) {
        Some(0) => Err(ParseError::InvalidTarget),
        Some(i) if rest.as_bytes()[i] == b'/' => Ok(&rest[i..]),
        // `http://host?q` has an empty path; keep the query, path becomes "/".
        Some(_) | None => Ok("/"),
    }
}

fn parse_header_line(line: &[u8]) -> Result<Header, ParseError> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(ParseError::ObsoleteLineFolding);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::InvalidHeaderName)?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::InvalidHeaderName);
    }
    let value = trim_ows(&line[colon + 1..]);
    if !value
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    {
        return Err(ParseError::InvalidHeaderValue);
    }
    let name = std::str::from_utf8(name).map_err(|_| ParseError::InvalidHeaderName)?;
    let value = match std::str::from_utf8(value) {
        Ok(v) => v.to_string(),
        // obs-text that is not UTF-8: keep it, lossily.
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    };
    Ok(Header {
        name: name.to_string(),
        value,
    })
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `tchar` from RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// The declared body length: `None` without `Content-Length`. Repeated
/// fields (or a list such as `5, 5`) are accepted only if all values agree.
fn content_length_of(headers: &[Header]) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        for item in h.value.split(',') {
            let item = item.trim_matches([' ', '\t']);
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::InvalidContentLength);
            }
            let n: usize = item.parse().map_err(|_| ParseError::InvalidContentLength)?;
            match found {
                Some(prev) if prev != n => return Err(ParseError::InvalidContentLength),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request, ParseError> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn simple_get() {
        let req =
            parse("GET /health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n").unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/health");
        assert_eq!(req.path, "/health");
        assert_eq!(req.query, None);
        assert_eq!(req.version, Version::Http11);
        assert_eq!(req.headers.len(), 2);
        assert_eq!(req.header("HOST"), Some("localhost"));
        assert_eq!(req.header("user-agent"), Some("t"));
        assert!(req.body.is_empty());
        assert!(req.keep_alive());
    }

    #[test]
    fn query_and_bare_lf() {
        let req = parse("GET /a/b?x=1&y=2 HTTP/1.0\n\n").unwrap();
        assert_eq!(req.path, "/a/b");
        assert_eq!(req.query.as_deref(), Some("x=1&y=2"));
        assert_eq!(req.version, Version::Http10);
        assert!(!req.keep_alive());
    }

    #[test]
    fn post_with_body_and_pipelined_rest() {
        let raw =
            b"POST /rpc HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
        let req = parse_request(raw).unwrap();
        assert_eq!(req.body, b"hello");
        let (head, len) = parse_head(raw).unwrap();
        assert!(head.body.is_empty());
        assert_eq!(&raw[len..len + 5], b"hello");
    }

    #[test]
    fn incomplete_everywhere() {
        let raw = b"POST /rpc HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..raw.len() {
            assert_eq!(
                parse_request(&raw[..cut]),
                Err(ParseError::Incomplete),
                "cut at {cut}"
            );
        }
        assert!(parse_request(raw).is_ok());
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        assert!(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").is_ok());
    }

    #[test]
    fn ows_is_trimmed_and_empty_values_allowed() {
        let req = parse("GET / HTTP/1.1\r\nHost:h\r\nX-A: \t v a \t\r\nX-Empty:\r\n\r\n").unwrap();
        assert_eq!(req.header("host"), Some("h"));
        assert_eq!(req.header("x-a"), Some("v a"));
        assert_eq!(req.header("x-empty"), Some(""));
    }

    #[test]
    fn rejects_bad_request_lines() {
        use ParseError::*;
        let cases = [
            ("GET\r\n\r\n", InvalidTarget),
            ("GET /\r\n\r\n", InvalidVersion),
            ("G(T / HTTP/1.1\r\n\r\n", InvalidMethod),
            (" / HTTP/1.1\r\n\r\n", InvalidMethod),
            ("GET  / HTTP/1.1\r\n\r\n", InvalidTarget),
            ("GET / HTTP/1.1 \r\n\r\n", InvalidVersion),
            ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", UnsupportedVersion),
            ("GET / http/1.1\r\n\r\n", InvalidVersion),
            ("GET health HTTP/1.1\r\n\r\n", InvalidTarget),
            ("GET * HTTP/1.1\r\n\r\n", InvalidTarget),
            ("GET /a#frag HTTP/1.1\r\n\r\n", InvalidTarget),
            ("GET /\x01 HTTP/1.1\r\n\r\n", InvalidTarget),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn absolute_and_asterisk_forms() {
        let req =
            parse("GET http://example.com/health?x HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
        assert_eq!(req.path, "/health");
        assert_eq!(req.query.as_deref(), Some("x"));
        let req = parse("GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
        assert_eq!(req.path, "/");
        let req = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(req.path, "*");
    }

    #[test]
    fn rejects_bad_headers() {
        use ParseError::*;
        let cases = [
            ("GET / HTTP/1.1\r\nHost h\r\n\r\n", InvalidHeaderName),
            ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", InvalidHeaderName),
            ("GET / HTTP/1.1\r\n: h\r\n\r\n", InvalidHeaderName),
            (
                "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
                ObsoleteLineFolding,
            ),
            ("GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", InvalidHeaderValue),
            ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", InvalidHeaderValue),
            ("GET / HTTP/1.1\r\n\r\n", InvalidHost),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", InvalidHost),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n",
                BodyTooLarge,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                UnsupportedTransferEncoding,
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn agreeing_content_lengths_are_fine() {
        let req = parse(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\nContent-length: 2\r\n\r\nok",
        )
        .unwrap();
        assert_eq!(req.body, b"ok");
    }

    #[test]
    fn http10_needs_no_host() {
        let req = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(req.keep_alive());
    }

    #[test]
    fn connection_close_and_expect() {
        let req = parse(
            "POST / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\nExpect: 100-Continue\r\n\r\n",
        )
        .unwrap();
        assert!(!req.keep_alive());
        assert!(req.expects_continue());
    }

    #[test]
    fn non_utf8_header_value_is_kept_lossily() {
        let req = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n").unwrap();
        assert_eq!(req.header("x"), Some("caf\u{fffd}"));
    }

    #[test]
    fn limits() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 0..MAX_HEADERS {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(parse(&raw), Err(ParseError::TooManyHeaders));

        let big = format!(
            "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
            "a".repeat(MAX_HEAD_LEN)
        );
        assert_eq!(parse(&big), Err(ParseError::HeadTooLarge));
        assert_eq!(
            parse(&big[..MAX_HEAD_LEN + 1]),
            Err(ParseError::HeadTooLarge)
        );
        assert_eq!(parse(&big[..MAX_HEAD_LEN - 1]), Err(ParseError::Incomplete));
        let blank = "\r\n".repeat(MAX_HEAD_LEN);
        assert_eq!(parse(&blank), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn error_statuses() {
        assert_eq!(ParseError::InvalidMethod.status(), 400);
        assert_eq!(ParseError::BodyTooLarge.status(), 413);
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
        assert_eq!(ParseError::UnsupportedVersion.status(), 505);
        assert_eq!(ParseError::UnsupportedTransferEncoding.status(), 501);
        assert_eq!(
            ParseError::InvalidHost.to_string(),
            "missing or duplicate Host header"
        );
    }
}
