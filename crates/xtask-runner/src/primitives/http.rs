//! `http::` and `tcp::` for smoke tests of services the pipeline started: requests whose
//! responses scripts can inspect, waiting until an endpoint answers, JSON-RPC calls, and
//! `free_port()` so parallel jobs never pick the same port.
//!
//! The client speaks plain HTTP/1.1 (ureq without TLS): smoke tests talk to local services.
//! It never follows redirects and never uses a proxy, so a test sees exactly what the service
//! answered. Every request runs on a helper thread while the job's cancel token is watched.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::error::IntoScript as _;
use super::options::Options as _;
use super::options::{self, option_type, options, result, script_type, Duration as OptDuration};
use super::reference::Function;
use super::wait::{self, Backoff, Cancelled, Poll, WaitError};
use super::{at_call_site, Result};
use crate::cancel::CancelToken;
use crate::script::context;

option_type! {
    /// Request headers: a map of names to values (written as text).
    Headers(Vec<(String, String)>) as "map", |value| {
        match value.clone().try_cast::<Map>() {
            Some(map) => Ok(map
                .into_iter()
                .map(|(k, v)| (k.to_string(), super::display_value(&v)))
                .collect()),
            None => Err(format!(
                "must be a map, e.g. #{{ \"x-token\": \"…\" }}, not {}",
                script_type(&value)
            )),
        }
    }
}

option_type! {
    /// Any value, sent as its text.
    Text(String) as "string", |value| Ok(super::display_value(&value))
}

option_type! {
    /// Any plain value, sent as JSON.
    JsonBody(Dynamic) as "any", |value| Ok(value)
}

option_type! {
    /// An HTTP status code or a list of them.
    Statuses(Vec<u16>) as "int or array of ints", |value| {
        let items = match value.clone().try_cast::<rhai::Array>() {
            Some(items) => items,
            None => vec![value.clone()],
        };
        items
            .iter()
            .map(|v| match v.as_int() {
                Ok(code) if (100..=599).contains(&code) => Ok(code as u16),
                _ => Err("must be an HTTP status code or a list of them".to_string()),
            })
            .collect()
    }
}

options! {
    /// Options of `http::get`, `http::post` and `http::request`.
    pub struct RequestOptions for "http request" {
        /// The method (`http::request`; default `GET`).
        method: Option<String>,
        /// The URL (`http::request`); plain `http://` only.
        url: Option<String>,
        /// Request headers, e.g. `#{ "x-token": "…" }`.
        headers: Headers,
        /// The body, as text.
        body: Option<Text>,
        /// A value sent as JSON, with `content-type: application/json` unless a header says
        /// otherwise (not with `body`).
        json: Option<JsonBody>,
        /// Gives up on the request after this long.
        timeout: OptDuration = OptDuration(DEFAULT_REQUEST_TIMEOUT) => "\"30s\"",
    }
}

options! {
    /// Options of `http::wait`.
    pub struct WaitOptions for "http::wait" {
        /// The status (or statuses) that count as ready (default: any 2xx).
        status: Option<Statuses>,
        /// Gives up after this long.
        timeout: OptDuration = OptDuration(DEFAULT_WAIT_TIMEOUT) => "\"30s\"",
        /// A fixed pause between attempts (default: backoff from 50 ms to 500 ms).
        interval: Option<OptDuration>,
    }
}

options! {
    /// Options of `tcp::wait`.
    pub struct TcpWaitOptions for "tcp::wait" {
        /// Gives up after this long.
        timeout: OptDuration = OptDuration(DEFAULT_WAIT_TIMEOUT) => "\"30s\"",
        /// A fixed pause between attempts (default: backoff from 50 ms to 500 ms).
        interval: Option<OptDuration>,
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function {
        name: "http::get",
        params: &["url: string", "options: map"],
        summary: "One GET request; any status is an answer: `#{ status, ok, headers, body, json, method, url, duration }`.",
        options: &[RequestOptions::FIELDS],
        result: <ResponseResult as options::Fields>::FIELDS,
    },
    Function {
        name: "http::post",
        params: &["url: string", "body: string", "options: map"],
        summary: "One POST request, with a body or options; returns what `http::get` does.",
        options: &[RequestOptions::FIELDS],
        result: <ResponseResult as options::Fields>::FIELDS,
    },
    Function {
        name: "http::request",
        params: &["options: map"],
        summary: "One request with the method and URL in the options; returns what `http::get` does.",
        options: &[RequestOptions::FIELDS],
        result: <ResponseResult as options::Fields>::FIELDS,
    },
    Function {
        name: "http::wait",
        params: &["url: string", "options: map"],
        summary: "Polls until the URL answers with the wanted status; returns that response.",
        options: &[WaitOptions::FIELDS],
        result: <ResponseResult as options::Fields>::FIELDS,
    },
    Function {
        name: "http::json_rpc",
        params: &["url: string", "method: string", "params: ?"],
        summary: "A JSON-RPC 2.0 call; returns its `result`, fails on an `error` answer, a non-200 status or a body that is not JSON-RPC.",
        options: &[],
        result: &[],
    },
    Function {
        name: "tcp::wait",
        params: &["addr: string", "options: map"],
        summary: "Waits until a TCP connection to `host:port` succeeds.",
        options: &[TcpWaitOptions::FIELDS],
        result: &[],
    },
    Function {
        name: "free_port",
        params: &[],
        summary: "A free loopback port, never the same twice in one run.",
        options: &[],
        result: &[],
    },
];
/// What goes wrong in `http::` and `tcp::`, worded as scripts see it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("https is not supported; the client speaks plain HTTP to local services")]
    Https,
    #[error("not an http:// URL (e.g. http://127.0.0.1:8080/health)")]
    NotHttp,
    #[error("invalid request: {0}")]
    Invalid(#[source] ureq::http::Error),
    #[error("connection refused")]
    Refused,
    #[error("connection reset by the server")]
    Reset,
    #[error("the server closed the connection")]
    Closed,
    #[error("no answer within {}", crate::duration::format(*within))]
    NoAnswer { within: Duration },
    #[error("host not found")]
    HostNotFound,
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// Any other transport failure, as ureq words it.
    #[error("{0}")]
    Transport(#[source] ureq::Error),
    #[error("reading the body: {0}")]
    Body(#[source] Box<HttpError>),
    #[error("stopped: {0}")]
    Stopped(#[source] Cancelled),
    /// A request that failed: `GET http://…: connection refused`.
    #[error("{method} {url}: {source}")]
    Request {
        method: String,
        url: String,
        source: Box<HttpError>,
    },
    #[error("http::request needs a `url`")]
    NoUrl,
    #[error("give either `body` or `json`, not both")]
    BodyAndJson,
    /// The `json` option holds a value JSON cannot express.
    #[error("option `json`: {0}")]
    NotJson(String),
    /// `what` names the wait: `http::wait http://…`, `tcp::wait host:port`.
    #[error("{what}: {source}")]
    Wait { what: String, source: WaitError },
    #[error("tcp::wait: {0}")]
    TcpAddress(#[source] AddressError),
    #[error("json_rpc {method}: params: {reason}")]
    RpcParams { method: String, reason: String },
    #[error("json_rpc {method} at {url}: {failure}")]
    Rpc {
        method: String,
        url: String,
        #[source]
        failure: RpcFailure,
    },
    #[error("free_port: {0}")]
    FreePort(#[source] std::io::Error),
}

/// A `host:port` that names no socket address.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("`{addr}` is not a host:port address ({source})")]
    Invalid {
        addr: String,
        source: std::io::Error,
    },
    #[error("`{addr}` resolves to no address")]
    Empty { addr: String },
}

/// Why a JSON-RPC call failed; `body` is the answer's text (messages show an excerpt).
#[derive(Debug, thiserror::Error)]
pub enum RpcFailure {
    #[error("{0}")]
    Send(#[source] Box<HttpError>),
    #[error("status {status} (expected 200)\n{}", excerpt(body))]
    Status { status: u16, body: String },
    #[error("the answer is not JSON\n{}", excerpt(body))]
    NotJson { body: String },
    /// The server's `error` member: its code and its own message.
    #[error("error {code}: {message}\n{}", excerpt(body))]
    Error {
        code: String,
        message: String,
        body: String,
    },
    #[error("the answer has neither `result` nor `error`\n{}", excerpt(body))]
    Neither { body: String },
    /// The `result` cannot become a script value.
    #[error("{0}")]
    Result(String),
}

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// A single probe while waiting must not eat the whole wait.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Larger bodies are cut (and the response says so): smoke tests read small JSON answers.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// How much of a body error messages show.
pub const EXCERPT: usize = 600;

pub fn register(engine: &mut Engine) {
    let mut http = Module::new();
    FuncRegistration::new("get").set_into_module(&mut http, |ctx: NativeCallContext, url: &str| {
        at_call_site(&ctx, script_request("GET", url, Map::new()))
    });
    FuncRegistration::new("get").set_into_module(
        &mut http,
        |ctx: NativeCallContext, url: &str, options: Map| {
            at_call_site(&ctx, script_request("GET", url, options))
        },
    );
    FuncRegistration::new("post").set_into_module(
        &mut http,
        |ctx: NativeCallContext, url: &str, body: &str| {
            let mut options = Map::new();
            options.insert("body".into(), body.into());
            at_call_site(&ctx, script_request("POST", url, options))
        },
    );
    FuncRegistration::new("post").set_into_module(
        &mut http,
        |ctx: NativeCallContext, url: &str, options: Map| {
            at_call_site(&ctx, script_request("POST", url, options))
        },
    );
    FuncRegistration::new("request")
        .set_into_module(&mut http, |ctx: NativeCallContext, options: Map| {
            at_call_site(&ctx, request_from_options(options))
        });
    FuncRegistration::new("wait")
        .set_into_module(&mut http, |ctx: NativeCallContext, url: &str| {
            at_call_site(&ctx, script_wait(url, Map::new()))
        });
    FuncRegistration::new("wait").set_into_module(
        &mut http,
        |ctx: NativeCallContext, url: &str, options: Map| {
            at_call_site(&ctx, script_wait(url, options))
        },
    );
    FuncRegistration::new("json_rpc").set_into_module(
        &mut http,
        |ctx: NativeCallContext, url: &str, method: &str| {
            at_call_site(&ctx, json_rpc(url, method, Dynamic::UNIT))
        },
    );
    FuncRegistration::new("json_rpc").set_into_module(
        &mut http,
        |ctx: NativeCallContext, url: &str, method: &str, params: Dynamic| {
            at_call_site(&ctx, json_rpc(url, method, params))
        },
    );
    super::load::register_into(&mut http);
    engine.register_static_module("http", http.into());

    let mut tcp = Module::new();
    FuncRegistration::new("wait")
        .set_into_module(&mut tcp, |ctx: NativeCallContext, addr: &str| {
            at_call_site(&ctx, tcp_wait(addr, Map::new()))
        });
    FuncRegistration::new("wait").set_into_module(
        &mut tcp,
        |ctx: NativeCallContext, addr: &str, options: Map| {
            at_call_site(&ctx, tcp_wait(addr, options))
        },
    );
    engine.register_static_module("tcp", tcp.into());

    engine.register_fn("free_port", || -> Result<i64> {
        free_port()
            .map(i64::from)
            .map_err(HttpError::FreePort)
            .script()
    });
}

fn request_from_options(options: Map) -> Result<Map> {
    let parsed: RequestOptions = options::parse(&options)?;
    let method = parsed.method.clone().unwrap_or_else(|| "GET".into());
    let Some(url) = parsed.url.clone() else {
        return Err(HttpError::NoUrl).script();
    };
    send_script_request(build_request(&method, &url, parsed).script()?)
}

/// A request as the client sends it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Request {
    pub fn get(url: &str, timeout: Duration) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout,
        }
    }

    /// `GET http://…`, how messages name the request.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-case names; repeated headers joined with ", ".
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub duration: Duration,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends one request, blocking. Any HTTP status is a response; only transport problems
/// (refused, timed out, malformed answer) are errors.
pub fn send(request: &Request) -> std::result::Result<Response, HttpError> {
    super::implied::http(&request.url);
    check_url(&request.url)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .timeout_global(Some(request.timeout))
        .user_agent(concat!("xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(request.url.as_str());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let started = Instant::now();
    let sent = match &request.body {
        Some(body) => builder
            .body(body.clone())
            .map_err(HttpError::Invalid)
            .and_then(|r| agent.run(r).map_err(|e| describe_error(e, request))),
        None => builder
            .body(())
            .map_err(HttpError::Invalid)
            .and_then(|r| agent.run(r).map_err(|e| describe_error(e, request))),
    };
    let mut response = sent?;
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            None => headers.push((name.as_str().to_string(), value)),
        }
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| HttpError::Body(Box::new(describe_error(e, request))))?;
    Ok(Response {
        status,
        headers,
        body,
        duration: started.elapsed(),
    })
}

/// [`send`] on a helper thread, given up when the token is cancelled.
pub fn send_cancellable(
    request: &Request,
    token: &CancelToken,
) -> std::result::Result<Response, HttpError> {
    let owned = request.clone();
    wait::cancellable(token, move || send(&owned)).map_err(HttpError::Stopped)?
}

fn check_url(url: &str) -> std::result::Result<(), HttpError> {
    if url.starts_with("http://") {
        Ok(())
    } else if url.starts_with("https://") {
        Err(HttpError::Https)
    } else {
        Err(HttpError::NotHttp)
    }
}

fn describe_error(err: ureq::Error, request: &Request) -> HttpError {
    let no_answer = HttpError::NoAnswer {
        within: request.timeout,
    };
    match err {
        ureq::Error::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => HttpError::Refused,
            std::io::ErrorKind::ConnectionReset => HttpError::Reset,
            std::io::ErrorKind::UnexpectedEof => HttpError::Closed,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => no_answer,
            _ => HttpError::Io(e),
        },
        ureq::Error::Timeout(_) => no_answer,
        ureq::Error::HostNotFound => HttpError::HostNotFound,
        other => HttpError::Transport(other),
    }
}

/// The first [`EXCERPT`] characters of a body, for messages.
pub fn excerpt(text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return "(empty body)".into();
    }
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{} … ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

result! {
    /// What `http::get`, `http::post`, `http::request` and `http::wait` return.
    pub struct ResponseResult {
        /// The HTTP status code.
        status: i64 as "int",
        /// Whether the status is 2xx.
        ok: bool as "bool",
        /// The response headers, by lower-case name.
        headers: std::collections::BTreeMap<String, String> as "map of strings",
        /// The body as text.
        body: String as "string",
        /// The body parsed as JSON, or `()` when it is not JSON.
        json: Dynamic as "any",
        /// The request's method.
        method: String as "string",
        /// The request's URL.
        url: String as "string",
        /// Seconds the request took.
        duration: f64 as "float",
    }
}

/// The map scripts get (see [`ResponseResult`]).
pub fn response_map(request: &Request, response: &Response) -> Map {
    options::to_map(&ResponseResult {
        status: response.status as i64,
        ok: (200..300).contains(&response.status),
        headers: response
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
            .collect(),
        body: response.text(),
        json: response
            .json()
            .and_then(|value| json_to_dynamic(&value).ok())
            .unwrap_or(Dynamic::UNIT),
        method: request.method.clone(),
        url: request.url.clone(),
        duration: response.duration.as_secs_f64(),
    })
}

pub use super::{dynamic_to_json, json_to_dynamic};

fn build_request(
    method: &str,
    url: &str,
    options: RequestOptions,
) -> std::result::Result<Request, HttpError> {
    let mut request = Request::get(url, options.timeout.0);
    request.method = method.to_ascii_uppercase();
    request.headers.extend(options.headers.0);
    let has_header = |request: &Request, name: &str| {
        request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    match (options.body, options.json) {
        (Some(_), Some(_)) => return Err(HttpError::BodyAndJson),
        (Some(Text(body)), None) => {
            request.body = Some(body.into_bytes());
        }
        (None, Some(JsonBody(json))) => {
            let value = dynamic_to_json(&json).map_err(HttpError::NotJson)?;
            request.body = Some(value.to_string().into_bytes());
            if !has_header(&request, "content-type") {
                request
                    .headers
                    .push(("content-type".into(), "application/json".into()));
            }
        }
        (None, None) => {}
    }
    Ok(request)
}

fn script_request(method: &str, url: &str, options: Map) -> Result<Map> {
    send_script_request(build_request(method, url, options::parse(&options)?).script()?)
}

fn send_script_request(request: Request) -> Result<Map> {
    let scope = context::current();
    let response = send_request(&request, &scope.token()).script()?;
    Ok(response_map(&request, &response))
}

/// [`send_cancellable`], its error naming the request.
pub fn send_request(
    request: &Request,
    token: &CancelToken,
) -> std::result::Result<Response, HttpError> {
    send_cancellable(request, token).map_err(|e| HttpError::Request {
        method: request.method.clone(),
        url: request.url.clone(),
        source: Box::new(e),
    })
}

pub fn status_matches(status: u16, wanted: Option<&[u16]>) -> bool {
    match wanted {
        Some(codes) => codes.contains(&status),
        None => (200..300).contains(&status),
    }
}

/// One readiness probe of an HTTP endpoint.
pub fn probe(
    url: &str,
    wanted: Option<&[u16]>,
    left: Duration,
    token: &CancelToken,
) -> Poll<(Request, Response)> {
    let request = Request::get(url, PROBE_TIMEOUT.min(left.max(Duration::from_millis(100))));
    match send_cancellable(&request, token) {
        Ok(response) if status_matches(response.status, wanted) => Poll::Ready((request, response)),
        Ok(response) => Poll::NotYet(format!(
            "status {}: {}",
            response.status,
            excerpt(&response.text())
        )),
        Err(e @ (HttpError::NotHttp | HttpError::Https)) => Poll::Fatal(e.to_string()),
        Err(e) => Poll::NotYet(e.to_string()),
    }
}

fn script_wait(url: &str, options: Map) -> Result<Map> {
    let options: WaitOptions = options::parse(&options)?;
    let wanted = options.status.map(|s| s.0);
    let timeout = options.timeout.0;
    let backoff = backoff(options.interval);
    let scope = context::current();
    let (request, response) =
        wait_for(url, wanted.as_deref(), timeout, backoff, &scope.token()).script()?;
    Ok(response_map(&request, &response))
}

/// Polls `url` until it answers with a wanted status (any 2xx when `None`).
pub fn wait_for(
    url: &str,
    wanted: Option<&[u16]>,
    timeout: Duration,
    backoff: Backoff,
    token: &CancelToken,
) -> std::result::Result<(Request, Response), HttpError> {
    wait::until(token, timeout, backoff, |left| {
        probe(url, wanted, left, token)
    })
    .map_err(|source| HttpError::Wait {
        what: format!("http::wait {url}"),
        source,
    })
}

/// A fixed `interval` between attempts, else backoff from 50 ms to 500 ms.
pub fn backoff(interval: Option<OptDuration>) -> Backoff {
    match interval {
        Some(i) => Backoff::fixed(i.0.max(wait::TICK)),
        None => Backoff::new(Duration::from_millis(50), Duration::from_millis(500)),
    }
}

static RPC_ID: AtomicI64 = AtomicI64::new(1);

/// Posts a JSON-RPC 2.0 call and returns its `result`; an `error` answer, a non-200 status or a
/// body that is not JSON-RPC fails with what came back.
fn json_rpc(url: &str, method: &str, params: Dynamic) -> Result<Dynamic> {
    let params = match params.is_unit() {
        true => None,
        false => Some(
            dynamic_to_json(&params)
                .map_err(|reason| HttpError::RpcParams {
                    method: method.into(),
                    reason,
                })
                .script()?,
        ),
    };
    let scope = context::current();
    json_rpc_call(url, method, params, &scope.token()).script()
}

/// `json_rpc` without the script: `params` already JSON.
pub fn json_rpc_call(
    url: &str,
    method: &str,
    params: Option<serde_json::Value>,
    token: &CancelToken,
) -> std::result::Result<Dynamic, HttpError> {
    let failed = |failure| HttpError::Rpc {
        method: method.into(),
        url: url.into(),
        failure,
    };
    let id = RPC_ID.fetch_add(1, Ordering::Relaxed);
    let mut call = serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method });
    if let Some(params) = params {
        call["params"] = params;
    }
    let mut request = Request::get(url, DEFAULT_REQUEST_TIMEOUT);
    request.method = "POST".into();
    request
        .headers
        .push(("content-type".into(), "application/json".into()));
    request.body = Some(call.to_string().into_bytes());
    let response =
        send_cancellable(&request, token).map_err(|e| failed(RpcFailure::Send(Box::new(e))))?;
    let body = response.text();
    if response.status != 200 {
        return Err(failed(RpcFailure::Status {
            status: response.status,
            body,
        }));
    }
    let Some(answer) = response.json() else {
        return Err(failed(RpcFailure::NotJson { body }));
    };
    if let Some(err) = answer.get("error") {
        let code = err.get("code").map(|c| c.to_string()).unwrap_or_default();
        let message = err
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("(no message)");
        return Err(failed(RpcFailure::Error {
            code,
            message: message.into(),
            body,
        }));
    }
    match answer.get("result") {
        Some(result) => json_to_dynamic(result).map_err(|e| failed(RpcFailure::Result(e))),
        None => Err(failed(RpcFailure::Neither { body })),
    }
}

/// Resolves `host:port` (loopback names included) to socket addresses.
pub fn socket_addrs(addr: &str) -> std::result::Result<Vec<SocketAddr>, AddressError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| AddressError::Invalid {
            addr: addr.into(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(AddressError::Empty { addr: addr.into() });
    }
    Ok(addrs)
}

/// One readiness probe of a TCP address.
pub fn tcp_probe(addrs: &[SocketAddr], left: Duration) -> Poll<()> {
    let limit = Duration::from_millis(500).min(left.max(Duration::from_millis(50)));
    let mut last = String::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, limit) {
            Ok(_) => return Poll::Ready(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!("{addr}: connection refused")
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Poll::NotYet(last)
}

fn tcp_wait(addr: &str, options: Map) -> Result<()> {
    let options: TcpWaitOptions = options::parse(&options)?;
    let timeout = options.timeout.0;
    let backoff = backoff(options.interval);
    let token = context::current().token();
    wait_for_tcp(addr, timeout, backoff, &token).script()
}

/// Waits until a TCP connection to `addr` (`host:port`) succeeds.
pub fn wait_for_tcp(
    addr: &str,
    timeout: Duration,
    backoff: Backoff,
    token: &CancelToken,
) -> std::result::Result<(), HttpError> {
    let addrs = socket_addrs(addr).map_err(HttpError::TcpAddress)?;
    wait::until(token, timeout, backoff, |left| tcp_probe(&addrs, left)).map_err(|source| {
        HttpError::Wait {
            what: format!("tcp::wait {addr}"),
            source,
        }
    })
}

/// Ports handed out in this run: the OS may offer a port again once its probe socket closed,
/// and two jobs must not get the same one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nothing listens on, never the same twice in one run.
pub fn free_port() -> std::io::Result<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "the OS kept offering ports this run already handed out",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A one-shot loopback server answering every connection with `reply`.
    fn serve(reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        format!("http://{addr}/")
    }

    #[test]
    fn any_status_is_a_response_and_headers_are_lower_case() {
        let url = serve(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"no\"}",
        );
        let response = send(&Request::get(&url, Duration::from_secs(5))).unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.json().unwrap()["status"], "no");
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("content-type").unwrap(), "application/json");
        assert_eq!(header("x-a").unwrap(), "1, 2");
    }

    #[test]
    fn redirects_are_not_followed() {
        let url = serve(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let response = send(&Request::get(&url, Duration::from_secs(5))).unwrap();
        assert_eq!(response.status, 302);
    }

    #[test]
    fn refused_connections_and_bad_urls_read_well() {
        let port = free_port().unwrap();
        let err = send(&Request::get(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_secs(5),
        ))
        .unwrap_err();
        assert!(matches!(err, HttpError::Refused), "{err:?}");
        assert_eq!(err.to_string(), "connection refused");
        let err = send(&Request::get("https://127.0.0.1/", Duration::from_secs(1))).unwrap_err();
        assert!(matches!(err, HttpError::Https), "{err:?}");
        let err = send(&Request::get("127.0.0.1:80", Duration::from_secs(1))).unwrap_err();
        assert!(err.to_string().contains("not an http:// URL"), "{err}");
    }

    #[test]
    fn a_wait_on_a_bad_url_gives_up_at_once_naming_the_url() {
        let token = CancelToken::new();
        let err = wait_for(
            "ftp://127.0.0.1/",
            None,
            Duration::from_secs(30),
            backoff(None),
            &token,
        )
        .unwrap_err();
        match &err {
            HttpError::Wait {
                source: WaitError::Fatal(_),
                what,
            } => assert_eq!(what, "http::wait ftp://127.0.0.1/"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "http::wait ftp://127.0.0.1/: not an http:// URL (e.g. http://127.0.0.1:8080/health)"
        );
    }

    #[test]
    fn a_json_rpc_error_answer_carries_the_server_message() {
        let url = serve(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 63\r\nConnection: close\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"no\"}}",
        );
        let err = json_rpc_call(&url, "m", None, &CancelToken::new()).unwrap_err();
        match err {
            HttpError::Rpc {
                failure: RpcFailure::Error { code, message, .. },
                ..
            } => assert_eq!((code.as_str(), message.as_str()), ("-32601", "no")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn free_ports_are_never_repeated() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn excerpts_are_cut() {
        assert_eq!(excerpt(""), "(empty body)");
        let long = "x".repeat(EXCERPT + 10);
        assert!(excerpt(&long).ends_with(&format!("({} bytes in all)", EXCERPT + 10)));
    }
}
