//! A small threaded HTTP/1.1 server: one thread per connection (capped at
//! [`MAX_CONNECTIONS`]), keep-alive, pipelining, `Expect: 100-continue`,
//! graceful shutdown and one log line per request on stderr.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use example_service::handlers::AppState;
//! use example_service::server::Server;
//!
//! let server = Server::bind("127.0.0.1:0", AppState::default())?.log_requests(false);
//! let running = server.spawn()?;
//!
//! let mut conn = TcpStream::connect(running.addr())?;
//! conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! conn.read_to_string(&mut reply)?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with(r#"{"status":"ok"}"#));
//!
//! running.shutdown()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::handlers::{self, AppState};
use crate::http::{parse_head, ParseError, Request};
use crate::response::Response;
use crate::router::Router;
use crate::time::rfc3339_millis;

/// Most connections served at once; further ones get `503` and are closed.
pub const MAX_CONNECTIONS: usize = 256;
/// How long an idle keep-alive connection stays open.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send a complete request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const POLL_INTERVAL: Duration = Duration::from_millis(200);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const READ_CHUNK: usize = 8 * 1024;

struct Shared {
    router: Router<AppState>,
    state: AppState,
    shutdown: AtomicBool,
    active: AtomicUsize,
    log: bool,
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds the listening socket (port 0 picks a free port; see
    /// [`Server::local_addr`]) with the service's routes and `state`.
    pub fn bind<A: ToSocketAddrs>(addr: A, state: AppState) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            shared: Arc::new(Shared {
                router: handlers::router(),
                state,
                shutdown: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                log: true,
            }),
        })
    }

    /// Turns the per-request log lines on stderr on (default) or off.
    pub fn log_requests(mut self, enabled: bool) -> Server {
        // Nothing else holds the Arc before `run`/`shutdown_handle`.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.log = enabled;
        }
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
            wake_addr: wake_addr(self.addr),
        }
    }

    /// Accepts and serves connections until [`ShutdownHandle::shutdown`] is
    /// called, then waits up to [`SHUTDOWN_GRACE`] for open connections.
    pub fn run(self) -> io::Result<()> {
        for conn in self.listener.incoming() {
            if self.shared.shutdown.load(Ordering::SeqCst) {
                break;
            }
            match conn {
                Ok(stream) => self.start_connection(stream),
                Err(e) => match e.kind() {
                    io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::Interrupted
                    | io::ErrorKind::WouldBlock => {}
                    _ => {
                        // E.g. out of file descriptors: back off a little.
                        log_line(format_args!("accept failed: {e}"));
                        thread::sleep(Duration::from_millis(50));
                    }
                },
            }
        }
        drop(self.listener);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Runs the server on a background thread.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let addr = self.addr;
        let handle = self.shutdown_handle();
        let thread = thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || self.run())?;
        Ok(RunningServer {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    fn start_connection(&self, stream: TcpStream) {
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "-".to_string());
        if self.shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            self.shared.active.fetch_sub(1, Ordering::SeqCst);
            let mut conn = Connection::new(stream, peer, &self.shared);
            let _ = conn.reject(503, "too many connections");
            return;
        }
        let guard = ActiveGuard(Arc::clone(&self.shared));
        let spawned = thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                let guard = guard;
                let _ = Connection::new(stream, peer, &guard.0).serve();
            });
        if let Err(e) = spawned {
            log_line(format_args!("cannot spawn connection thread: {e}"));
        }
    }
}

/// Decrements the active-connection count when the connection ends (also
/// on panic, or if its thread could not be started).
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Stops a running server. Cheap to clone.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    wake_addr: SocketAddr,
}

impl ShutdownHandle {
    /// Asks the server to stop: no new connections are accepted, idle
    /// keep-alive connections are closed and in-flight requests finish.
    pub fn shutdown(&self) {
        if !self.shared.shutdown.swap(true, Ordering::SeqCst) {
            // Wake the blocking accept() with a throwaway connection.
            let _ = TcpStream::connect_timeout(&self.wake_addr, Duration::from_secs(1));
        }
    }

    /// Whether shutdown has been requested.
    pub fn is_shutdown(&self) -> bool {
        self.shared.shutdown.load(Ordering::SeqCst)
    }
}

/// A server running on a background thread (see [`Server::spawn`]). Dropping
/// it shuts the server down.
pub struct RunningServer {
    addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to stop the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Stops the server and waits for it.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        self.handle.shutdown();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Where to connect to wake a listener bound to `addr`.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

enum Fill {
    Data,
    Eof,
    Idle,
}

struct Connection<'a> {
    stream: TcpStream,
    peer: String,
    shared: &'a Shared,
    buf: Vec<u8>,
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, peer: String, shared: &'a Shared) -> Connection<'a> {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(POLL_INTERVAL));
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        Connection {
            stream,
            peer,
            shared,
            buf: Vec::with_capacity(READ_CHUNK),
        }
    }

    fn shutting_down(&self) -> bool {
        self.shared.shutdown.load(Ordering::SeqCst)
    }

    /// Reads what is available into the buffer (waiting at most one poll
    /// interval).
    fn fill(&mut self) -> io::Result<Fill> {
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let result = self.stream.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        match result {
            Ok(0) => Ok(Fill::Eof),
            Ok(_) => Ok(Fill::Data),
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(Fill::Idle),
                _ => Err(e),
            },
        }
    }

    /// Serves requests until the client or the server closes the connection.
    fn serve(&mut self) -> io::Result<()> {
        loop {
            let waiting_since = Instant::now();
            let (mut req, head_len) = loop {
                if !self.buf.is_empty() {
                    match parse_head(&self.buf) {
                        Ok(found) => break found,
                        Err(ParseError::Incomplete) => {}
                        Err(e) => return self.reject(e.status(), &e.to_string()),
                    }
                }
                match self.fill()? {
                    Fill::Data => {}
                    Fill::Eof if self.buf.is_empty() => return Ok(()),
                    Fill::Eof => return self.reject(400, "incomplete request"),
                    Fill::Idle if self.buf.is_empty() => {
                        if self.shutting_down() || waiting_since.elapsed() >= KEEP_ALIVE_TIMEOUT {
                            return Ok(());
                        }
                    }
                    Fill::Idle => {
                        if waiting_since.elapsed() >= REQUEST_TIMEOUT {
                            return self.reject(408, "request timeout");
                        }
                    }
                }
            };
            let started = Instant::now();
            self.buf.drain(..head_len);

            let body_len = req.content_length();
            if self.buf.len() < body_len && req.expects_continue() {
                self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            }
            while self.buf.len() < body_len {
                match self.fill()? {
                    Fill::Data => {}
                    Fill::Eof => return self.reject(400, "incomplete request body"),
                    Fill::Idle => {
                        if waiting_since.elapsed() >= REQUEST_TIMEOUT {
                            return self.reject(408, "request timeout");
                        }
                    }
                }
            }
            req.body = self.buf.drain(..body_len).collect();

            let keep_alive = req.keep_alive() && !self.shutting_down();
            let response = catch_unwind(AssertUnwindSafe(|| {
                self.shared.router.dispatch(&req, &self.shared.state)
            }))
            .unwrap_or_else(|_| Response::error(500, "internal server error"));
            response.write_to(&mut self.stream, req.method == "HEAD", keep_alive)?;
            self.log(Some(&req), response.status, response.body.len(), started);
            if !keep_alive {
                let _ = self.stream.shutdown(Shutdown::Write);
                return Ok(());
            }
        }
    }

    /// Answers an unusable request with an error and closes the connection.
    fn reject(&mut self, status: u16, message: &str) -> io::Result<()> {
        let started = Instant::now();
        let response = Response::error(status, message);
        let written = response.write_to(&mut self.stream, false, false);
        self.log(None, status, response.body.len(), started);
        written?;
        self.linger_close();
        Ok(())
    }

    /// Half-closes and discards what the client still sends for a moment, so
    /// that unread input does not turn the close into a reset that could
    /// destroy the response before the client reads it.
    fn linger_close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + Duration::from_millis(500);
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(50)));
        let mut sink = [0u8; 4096];
        let mut discarded = 0usize;
        while Instant::now() < deadline && discarded < 256 * 1024 {
            match self.stream.read(&mut sink) {
                Ok(0) => break,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn log(&self, req: Option<&Request>, status: u16, bytes: usize, started: Instant) {
        if !self.shared.log {
            return;
        }
        let line = match req {
            Some(r) => format!(
                "{} {} {}",
                r.method,
                r.target.replace('"', "%22"),
                r.version
            ),
            None => "-".to_string(),
        };
        log_line(format_args!(
            "{} \"{}\" {} {} {:.3}ms",
            self.peer,
            line,
            status,
            bytes,
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
}

/// Writes one timestamped line to stderr, ignoring write errors.
fn log_line(args: std::fmt::Arguments<'_>) {
    let line = format!("{} {}\n", rfc3339_millis(SystemTime::now()), args);
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_addr_uses_loopback_for_wildcards() {
        let a: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(wake_addr(a), "127.0.0.1:8080".parse().unwrap());
        let a: SocketAddr = "[::]:9".parse().unwrap();
        assert_eq!(wake_addr(a), "[::1]:9".parse().unwrap());
        let a: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert_eq!(wake_addr(a), a);
    }

    #[test]
    fn spawn_and_shutdown() {
        let running = Server::bind("127.0.0.1:0", AppState::default())
            .unwrap()
            .log_requests(false)
            .spawn()
            .unwrap();
        let handle = running.shutdown_handle();
        assert!(!handle.is_shutdown());
        let addr = running.addr();
        running.shutdown().unwrap();
        assert!(handle.is_shutdown());
        // The listener is closed.
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }
}
