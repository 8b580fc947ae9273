//! HTTP responses and their serialization.

use std::io::{self, Write};
use std::time::SystemTime;

use crate::json::Value;
use crate::time::http_date;

/// Value of the `Server` header field.
pub const SERVER: &str = concat!("example-service/", env!("CARGO_PKG_VERSION"));

/// An HTTP response to be written to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Extra header fields. `Content-Length`, `Connection`, `Date` and
    /// `Server` are added when the response is written.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the given status, no headers and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response (`Content-Type: application/json`).
    pub fn json(status: u16, value: &Value) -> Response {
        Response::new(status)
            .with_header("Content-Type", "application/json")
            .with_body(value.to_string())
    }

    /// A JSON error response of the form `{"error":"<message>"}`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, &Value::object([("error", Value::from(message))]))
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), mostly for tests and logs.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Serializes the response as `HTTP/1.1`. With `head_only` (a `HEAD`
    /// request) the body is left out but `Content-Length` still describes it.
    pub fn to_bytes(&self, head_only: bool, keep_alive: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.body.len());
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: {}\r\n",
            self.status,
            reason_phrase(self.status),
            http_date(SystemTime::now()),
            SERVER
        );
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        // RFC 9110 §8.6: no Content-Length in 1xx and 204 responses.
        if self.status >= 200 && self.status != 204 {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let _ = write!(out, "Connection: {connection}\r\n\r\n");
        if !head_only && self.status != 204 && self.status != 304 {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// Writes the response (see [`Response::to_bytes`]) and flushes.
    pub fn write_to<W: Write>(
        &self,
        w: &mut W,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        w.write_all(&self.to_bytes(head_only, keep_alive))?;
        w.flush()
    }
}

/// Standard reason phrase for a status code (empty for unknown codes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response, head_only: bool, keep_alive: bool) -> String {
        String::from_utf8(r.to_bytes(head_only, keep_alive)).unwrap()
    }

    #[test]
    fn json_response_bytes() {
        let r = Response::json(200, &Value::object([("status", Value::from("ok"))]));
        let t = text(&r, false, true);
        assert!(t.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{t}");
        assert!(t.contains("\r\nServer: example-service/"));
        assert!(t.contains("\r\nContent-Type: application/json\r\n"));
        assert!(t.contains("\r\nContent-Length: 15\r\n"));
        assert!(t.contains("\r\nConnection: keep-alive\r\n\r\n"));
        assert!(t.ends_with("\r\n\r\n{\"status\":\"ok\"}"));
    }

    #[test]
    fn head_only_keeps_length_drops_body() {
        let r = Response::error(404, "not found");
        let t = text(&r, true, false);
        assert!(t.contains("Content-Length: 21\r\n"), "{t}");
        assert!(t.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn no_content() {
        let t = text(&Response::new(204).with_body("x"), false, true);
        assert!(!t.contains("Content-Length"));
        assert!(t.ends_with("\r\n\r\n"));
    }

    #[test]
    fn reasons() {
        assert_eq!(reason_phrase(405), "Method Not Allowed");
        assert_eq!(reason_phrase(299), "");
    }
}
