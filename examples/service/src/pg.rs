//! PostgreSQL liveness probe without a driver.
//!
//! [`probe`] opens a TCP connection to the server and sends an `SSLRequest`
//! (the first message a libpq client may send). Any real PostgreSQL server
//! answers with a single byte: `S` (willing to do TLS) or `N` (not). That
//! proves the server process is accepting connections without needing
//! credentials. The connection is then closed without starting a session.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Port used when the URL has none.
pub const DEFAULT_PORT: u16 = 5432;

/// The `SSLRequest` message: length 8, then the code 80877103 (`1234.5679`).
pub const SSL_REQUEST: [u8; 8] = [0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f];

/// The parts of a `postgres://user[:password]@host[:port]/database` URL that
/// the probe needs. The password is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// User name (may be empty).
    pub user: String,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name (may be empty).
    pub database: String,
}

impl DatabaseUrl {
    /// Parses a `postgres://` or `postgresql://` URL. Query parameters
    /// (`?sslmode=...`) are accepted and ignored.
    ///
    /// ```
    /// use example_service::pg::DatabaseUrl;
    ///
    /// let url = DatabaseUrl::parse("postgres://app:secret@db.internal:6543/pool?sslmode=disable").unwrap();
    /// assert_eq!((url.user.as_str(), url.host.as_str(), url.port), ("app", "db.internal", 6543));
    /// assert_eq!(url.database, "pool");
    /// assert_eq!(url.to_string(), "postgres://app@db.internal:6543/pool"); // no password
    /// ```
    pub fn parse(url: &str) -> Result<DatabaseUrl, UrlError> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or(UrlError("scheme must be postgres:// or postgresql://"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("", authority),
        };
        let user = userinfo.split(':').next().unwrap_or_default();

        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or(UrlError("unterminated IPv6 address"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or(UrlError("invalid port"))?),
                ),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError("missing host (Unix sockets are not supported)"));
        }
        if host.contains(',') {
            return Err(UrlError("multiple hosts are not supported"));
        }
        let port = match port {
            None | Some("") => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(UrlError("invalid port")),
            },
        };
        Ok(DatabaseUrl {
            user: percent_decode(user)?,
            host: percent_decode(host)?,
            port,
            database: percent_decode(database)?,
        })
    }
}

impl fmt::Display for DatabaseUrl {
    /// Formats the URL without a password, safe for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres://")?;
        if !self.user.is_empty() {
            write!(f, "{}@", self.user)?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{}/{}", self.port, self.database)
    }
}

fn percent_decode(s: &str) -> Result<String, UrlError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(UrlError("invalid percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError("invalid percent-encoding"))
}

/// Why a `DATABASE_URL` could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlError(&'static str);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for UrlError {}

/// What the server answered to the `SSLRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslSupport {
    /// `S`: the server would continue with a TLS handshake.
    Supported,
    /// `N`: the server does not do TLS on this connection.
    NotSupported,
}

/// Why the database is considered unavailable.
#[derive(Debug)]
pub enum ProbeError {
    /// `DATABASE_URL` is malformed.
    InvalidUrl(UrlError),
    /// The host name did not resolve (or resolved to nothing).
    Resolve(String, io::Error),
    /// No address accepted a connection; the last error.
    Connect(SocketAddr, io::Error),
    /// No answer before the deadline.
    Timeout(SocketAddr),
    /// The server closed the connection without answering.
    Closed(SocketAddr),
    /// The answer was not `S` or `N`: not a PostgreSQL server.
    UnexpectedResponse(SocketAddr, u8),
    /// Another I/O error while talking to the server.
    Io(SocketAddr, io::Error),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::InvalidUrl(e) => write!(f, "invalid DATABASE_URL: {e}"),
            ProbeError::Resolve(host, e) => write!(f, "cannot resolve {host}: {e}"),
            ProbeError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            ProbeError::Timeout(addr) => write!(f, "timed out waiting for {addr}"),
            ProbeError::Closed(addr) => write!(f, "{addr} closed the connection without answering"),
            ProbeError::UnexpectedResponse(addr, b) => {
                write!(f, "{addr} is not a PostgreSQL server (answered 0x{b:02x})")
            }
            ProbeError::Io(addr, e) => write!(f, "i/o error talking to {addr}: {e}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// Parses `url` and [`probe`]s the server it names.
pub fn check(url: &str, timeout: Duration) -> Result<SslSupport, ProbeError> {
    let url = DatabaseUrl::parse(url).map_err(ProbeError::InvalidUrl)?;
    probe(&url.host, url.port, timeout)
}

/// Connects to `host:port` and performs the `SSLRequest` exchange, all
/// within `timeout` (name resolution aside).
pub fn probe(host: &str, port: u16, timeout: Duration) -> Result<SslSupport, ProbeError> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ProbeError::Resolve(host.to_string(), e))?
        .collect();
    if addrs.is_empty() {
        return Err(ProbeError::Resolve(
            host.to_string(),
            io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        ));
    }

    let mut last_err = None;
    for addr in addrs {
        let left = remaining(deadline).ok_or(ProbeError::Timeout(addr))?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return exchange(stream, addr, deadline),
            Err(e) if is_timeout(&e) => last_err = Some(ProbeError::Timeout(addr)),
            Err(e) => last_err = Some(ProbeError::Connect(addr, e)),
        }
    }
    Err(last_err.expect("at least one address was tried"))
}

fn exchange(
    mut stream: TcpStream,
    addr: SocketAddr,
    deadline: Instant,
) -> Result<SslSupport, ProbeError> {
    let io_err = |e: io::Error| {
        if is_timeout(&e) {
            ProbeError::Timeout(addr)
        } else {
            ProbeError::Io(addr, e)
        }
    };
    let left = remaining(deadline).ok_or(ProbeError::Timeout(addr))?;
    stream.set_write_timeout(Some(left)).map_err(io_err)?;
    stream.set_read_timeout(Some(left)).map_err(io_err)?;
    let _ = stream.set_nodelay(true);
    stream.write_all(&SSL_REQUEST).map_err(io_err)?;

    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(ProbeError::Closed(addr)),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        }
    }
    match byte[0] {
        b'S' => Ok(SslSupport::Supported),
        b'N' => Ok(SslSupport::NotSupported),
        other => Err(ProbeError::UnexpectedResponse(addr, other)),
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn url(s: &str) -> Result<DatabaseUrl, UrlError> {
        DatabaseUrl::parse(s)
    }

    #[test]
    fn parses_urls() {
        let u = url("postgres://user@localhost:5433/app").unwrap();
        assert_eq!(
            u,
            DatabaseUrl {
                user: "user".into(),
                host: "localhost".into(),
                port: 5433,
                database: "app".into()
            }
        );
        let u = url("postgresql://h").unwrap();
        assert_eq!(
            (
                u.user.as_str(),
                u.host.as_str(),
                u.port,
                u.database.as_str()
            ),
            ("", "h", 5432, "")
        );
        let u = url("postgres://a%40b:p%3Aw@[::1]:7000/d%20b").unwrap();
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port),
            ("a@b", "::1", 7000)
        );
        assert_eq!(u.database, "d b");
        assert_eq!(u.to_string(), "postgres://a@b@[::1]:7000/d b");
        let u = url("postgres://u:p@w@10.0.0.1/db").unwrap();
        assert_eq!(u.host, "10.0.0.1");
        assert_eq!(url("postgres://[::1]/x").unwrap().port, 5432);
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "mysql://h/db",
            "postgres:///db",
            "postgres://u@/db",
            "postgres://h:x/db",
            "postgres://h:0/db",
            "postgres://h:70000/db",
            "postgres://h:+5/db",
            "postgres://[::1/db",
            "postgres://[::1]x/db",
            "postgres://h1,h2/db",
            "postgres://h/d%zz",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }

    fn fake_server(answer: Option<u8>) -> (u16, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = [0u8; 8];
            s.read_exact(&mut got).unwrap();
            match answer {
                Some(b) => s.write_all(&[b]).unwrap(),
                None => thread::sleep(Duration::from_millis(500)),
            }
            got.to_vec()
        });
        (port, handle)
    }

    #[test]
    fn probe_answers() {
        for (answer, want) in [
            (b'S', SslSupport::Supported),
            (b'N', SslSupport::NotSupported),
        ] {
            let (port, h) = fake_server(Some(answer));
            assert_eq!(
                probe("127.0.0.1", port, Duration::from_secs(5)).unwrap(),
                want
            );
            assert_eq!(h.join().unwrap(), SSL_REQUEST);
        }
    }

    #[test]
    fn probe_rejects_other_servers() {
        let (port, h) = fake_server(Some(b'H'));
        let err = probe("127.0.0.1", port, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(err, ProbeError::UnexpectedResponse(_, b'H')),
            "{err}"
        );
        assert!(err.to_string().contains("not a PostgreSQL server"));
        h.join().unwrap();
    }

    #[test]
    fn probe_times_out() {
        let (port, h) = fake_server(None);
        let err = check(
            &format!("postgres://u@127.0.0.1:{port}/d"),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(matches!(err, ProbeError::Timeout(_)), "{err}");
        h.join().unwrap();
    }

    #[test]
    fn probe_connection_refused() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = probe("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
        assert!(matches!(err, ProbeError::Connect(..)), "{err}");
        assert!(err.to_string().starts_with("cannot connect to 127.0.0.1:"));
    }

    #[test]
    fn check_invalid_url() {
        let err = check("http://x", Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid DATABASE_URL: scheme must be postgres:// or postgresql://"
        );
    }
}
