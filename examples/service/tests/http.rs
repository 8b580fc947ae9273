//! End-to-end tests: a real server on 127.0.0.1:0 (in-process, and the built
//! binary), driven by a plain `std::net::TcpStream` client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use example_service::handlers::AppState;
use example_service::pg::SSL_REQUEST;
use example_service::server::{RunningServer, Server};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn start(state: AppState) -> RunningServer {
    Server::bind("127.0.0.1:0", state)
        .expect("bind")
        .log_requests(false)
        .spawn()
        .expect("spawn")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response; `head` means the request was HEAD (no body follows).
fn read_reply<R: BufRead>(r: &mut R, head: bool) -> Reply {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let mut parts = line.trim_end().splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("header line");
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').expect("header colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: String::new(),
    };
    if !head {
        if let Some(len) = reply.header("content-length") {
            let mut body = vec![0u8; len.parse().unwrap()];
            r.read_exact(&mut body).expect("body");
            reply.body = String::from_utf8(body).unwrap();
        }
    }
    reply
}

/// Sends `raw` on a fresh connection and reads the single response.
fn exchange(addr: SocketAddr, raw: &str) -> Reply {
    let mut s = connect(addr);
    s.write_all(raw.as_bytes()).unwrap();
    let head = raw.starts_with("HEAD ");
    read_reply(&mut BufReader::new(s), head)
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
}

fn post_rpc(addr: SocketAddr, body: &str) -> Reply {
    exchange(
        addr,
        &format!(
            "POST /rpc HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn version_reply(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"version":"{}","name":"example-service"}}}}"#,
        env!("CARGO_PKG_VERSION")
    )
}

#[test]
fn health() {
    let server = start(AppState::default());
    let r = get(server.addr(), "/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"status":"ok"}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.header("date").unwrap().ends_with(" GMT"));
    assert_eq!(
        r.header("server"),
        Some(concat!("example-service/", env!("CARGO_PKG_VERSION")))
    );
    // The query string is not part of the route.
    assert_eq!(get(server.addr(), "/health?probe=1").status, 200);
}

#[test]
fn head_health_has_no_body() {
    let server = start(AppState::default());
    let mut s = connect(server.addr());
    s.write_all(b"HEAD /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(all.contains("Content-Length: 15\r\n"));
    assert!(
        all.ends_with("\r\n\r\n"),
        "HEAD response must not carry a body: {all:?}"
    );
}

#[test]
fn deep_health_without_database() {
    let server = start(AppState::new(None));
    let r = get(server.addr(), "/health/deep");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"status":"ok","database":"not configured"}"#);
}

/// A one-shot fake PostgreSQL server: checks the SSLRequest and answers
/// `reply` (or stays silent with `None`).
fn fake_postgres(reply: Option<u8>) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut msg = [0u8; 8];
        s.read_exact(&mut msg).unwrap();
        assert_eq!(msg, SSL_REQUEST);
        match reply {
            Some(b) => s.write_all(&[b]).unwrap(),
            None => thread::sleep(Duration::from_millis(800)),
        }
    });
    (format!("postgres://app@127.0.0.1:{port}/pool"), handle)
}

#[test]
fn deep_health_with_answering_database() {
    for answer in [b'N', b'S'] {
        let (url, pg) = fake_postgres(Some(answer));
        let server = start(AppState::new(Some(url)));
        let r = get(server.addr(), "/health/deep");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, r#"{"status":"ok","database":"ok"}"#);
        pg.join().unwrap();
    }
}

#[test]
fn deep_health_with_database_down() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = start(AppState::new(Some(format!(
        "postgres://app@127.0.0.1:{port}/pool"
    ))));
    let r = get(server.addr(), "/health/deep");
    assert_eq!(r.status, 503);
    assert!(
        r.body.starts_with(&format!(
            r#"{{"status":"degraded","database":"cannot connect to 127.0.0.1:{port}: "#
        )),
        "{}",
        r.body
    );
}

#[test]
fn deep_health_with_silent_or_wrong_server() {
    let (url, pg) = fake_postgres(None);
    let mut state = AppState::new(Some(url));
    state.db_timeout = Duration::from_millis(200);
    let server = start(state);
    let r = get(server.addr(), "/health/deep");
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains("timed out waiting for 127.0.0.1:"),
        "{}",
        r.body
    );
    pg.join().unwrap();

    let (url, pg) = fake_postgres(Some(b'H'));
    let server = start(AppState::new(Some(url)));
    let r = get(server.addr(), "/health/deep");
    assert_eq!(r.status, 503);
    assert!(
        r.body
            .contains("is not a PostgreSQL server (answered 0x48)"),
        "{}",
        r.body
    );
    pg.join().unwrap();
}

#[test]
fn rpc_getversion() {
    let server = start(AppState::default());
    let r = post_rpc(
        server.addr(),
        r#"{"jsonrpc":"2.0","id":1,"method":"getversion"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, version_reply("1"));

    let r = post_rpc(
        server.addr(),
        r#"{"jsonrpc":"2.0","id":"req-\"7\"\n","method":"getversion","params":[]}"#,
    );
    assert_eq!(r.body, version_reply(r#""req-\"7\"\n""#));
}

#[test]
fn rpc_errors() {
    let server = start(AppState::default());
    let addr = server.addr();
    let cases = [
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"nosuchmethod"}"#,
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
        ),
        (
            r#"["#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":["getversion"]}"#,
            r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32600,"message":"Invalid Request"}}"#,
        ),
        (
            r#"{"id":5,"method":"getversion"}"#,
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32600,"message":"Invalid Request"}}"#,
        ),
        (
            r#"[]"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#,
        ),
        (
            r#""getversion""#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#,
        ),
    ];
    for (body, want) in cases {
        let r = post_rpc(addr, body);
        assert_eq!(r.status, 200, "{body}");
        assert_eq!(r.body, want, "{body}");
    }
}

#[test]
fn rpc_batch_and_notification() {
    let server = start(AppState::default());
    let r = post_rpc(
        server.addr(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"getversion"},{"jsonrpc":"2.0","method":"getversion"}]"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, format!("[{}]", version_reply("1")));

    let r = post_rpc(server.addr(), r#"{"jsonrpc":"2.0","method":"getversion"}"#);
    assert_eq!(r.status, 204);
    assert_eq!(r.body, "");
    assert_eq!(r.header("content-length"), None);
}

#[test]
fn not_found_and_method_not_allowed() {
    let server = start(AppState::default());
    let addr = server.addr();
    for path in ["/", "/nope", "/health/", "/rpc/x", "/HEALTH"] {
        let r = get(addr, path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, r#"{"error":"not found"}"#);
    }

    let r = get(addr, "/rpc");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.body, r#"{"error":"method not allowed"}"#);

    let r = exchange(
        addr,
        "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    let r = exchange(addr, "DELETE /health/deep HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
}

#[test]
fn malformed_requests() {
    let server = start(AppState::default());
    let addr = server.addr();
    let cases = [
        ("GARBAGE\r\n\r\n", 400, "invalid request target"),
        (
            "GET /health HTTP/1.1\r\n\r\n",
            400,
            "missing or duplicate Host header",
        ),
        (
            "GET /health HTTP/1.1\r\nHost t\r\n\r\n",
            400,
            "invalid header name",
        ),
        (
            "GET /health HTTP/9.9\r\nHost: t\r\n\r\n",
            505,
            "unsupported HTTP version",
        ),
        (
            "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
            400,
            "invalid Content-Length",
        ),
        (
            "POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n",
            413,
            "request body too large",
        ),
        (
            "POST /rpc HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
            "Transfer-Encoding is not supported",
        ),
    ];
    for (raw, status, message) in cases {
        let r = exchange(addr, raw);
        assert_eq!(r.status, status, "{raw:?}");
        assert_eq!(r.body, format!(r#"{{"error":"{message}"}}"#), "{raw:?}");
        assert_eq!(r.header("connection"), Some("close"));
    }

    // A request cut short by the client.
    let mut s = connect(addr);
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let r = read_reply(&mut BufReader::new(s), false);
    assert_eq!(r.status, 400);
    assert_eq!(r.body, r#"{"error":"incomplete request"}"#);

    // An oversized head.
    let big = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(20_000));
    assert_eq!(exchange(addr, &big).status, 431);
}

#[test]
fn keep_alive_and_pipelining() {
    let server = start(AppState::default());
    let s = connect(server.addr());
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);

    // Sequential requests on one connection.
    for _ in 0..3 {
        w.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut r, false);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }

    // Three pipelined requests in one write, the last one closing.
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"getversion"}"#;
    let pipelined = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\n\r\nPOST /rpc HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        body.len()
    );
    w.write_all(pipelined.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut r, false).status, 200);
    let rpc = read_reply(&mut r, false);
    assert_eq!(rpc.body, version_reply("9"));
    let last = read_reply(&mut r, false);
    assert_eq!(last.status, 404);
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "server must close after Connection: close");
}

#[test]
fn http10_closes_by_default() {
    let server = start(AppState::default());
    let r = exchange(server.addr(), "GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn expect_continue_and_split_body() {
    let server = start(AppState::default());
    let s = connect(server.addr());
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let body = r#"{"jsonrpc":"2.0","id":"c","method":"getversion"}"#;
    write!(
        w,
        "POST /rpc HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "\r\n");
    // Send the body in two pieces.
    w.write_all(&body.as_bytes()[..10]).unwrap();
    w.flush().unwrap();
    thread::sleep(Duration::from_millis(50));
    w.write_all(&body.as_bytes()[10..]).unwrap();
    let reply = read_reply(&mut r, false);
    assert_eq!(reply.body, version_reply(r#""c""#));
}

#[test]
fn concurrent_clients() {
    let server = start(AppState::default());
    let addr = server.addr();
    let workers: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                for _ in 0..10 {
                    let body = format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"getversion"}}"#);
                    assert_eq!(post_rpc(addr, &body).body, version_reply(&i.to_string()));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

/// The built binary, killed on drop if still running.
struct Binary {
    child: Child,
    addr: SocketAddr,
}

impl Binary {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Binary {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-service"));
        cmd.args(args)
            .env_remove("LISTEN_ADDR")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn binary");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read first line");
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim_end()
            .parse()
            .expect("socket address");
        assert!(line.ends_with('\n'));
        Binary { child, addr }
    }

    fn wait_with_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut s).unwrap();
        }
        s
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn binary_prints_address_serves_and_logs() {
    let mut bin = Binary::start(
        &["--listen", "127.0.0.1:0"],
        &[("LISTEN_ADDR", "127.0.0.1:1")],
    );
    assert_eq!(bin.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(bin.addr.port(), 0, "the real bound port is printed");
    assert_eq!(get(bin.addr, "/health").body, r#"{"status":"ok"}"#);
    let r = get(bin.addr, "/health/deep");
    assert_eq!(r.body, r#"{"status":"ok","database":"not configured"}"#);

    #[cfg(unix)]
    {
        // SIGTERM shuts down gracefully with exit status 0.
        let pid = bin.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if sent.map(|s| s.success()).unwrap_or(false) {
            let status = bin
                .wait_with_timeout(Duration::from_secs(10))
                .expect("exits after SIGTERM");
            assert!(status.success(), "{status:?}");
            let log = bin.stderr();
            assert!(
                log.contains(r#""GET /health HTTP/1.1" 200 15 "#),
                "request log line missing:\n{log}"
            );
            assert!(log.contains("example-service: stopped"), "{log}");
        }
    }
}

#[test]
fn binary_uses_listen_addr_and_database_url() {
    let (url, pg) = fake_postgres(Some(b'N'));
    let bin = Binary::start(
        &[],
        &[("LISTEN_ADDR", "127.0.0.1:0"), ("DATABASE_URL", &url)],
    );
    let r = get(bin.addr, "/health/deep");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"status":"ok","database":"ok"}"#);
    pg.join().unwrap();
}

#[test]
fn binary_help_version_and_bad_args() {
    let exe = env!("CARGO_BIN_EXE_example-service");
    let out = Command::new(exe).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("example-service {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(exe).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen ADDR"));
    let out = Command::new(exe).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(exe)
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on not-an-address"));
}
