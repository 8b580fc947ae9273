//! `service::start`: a background process for smoke tests. It runs in its own process group,
//! tracked by the job's cancel token (fail-fast and Ctrl-C terminate it), its output is
//! captured (not streamed) and shown when something fails, and it is stopped when the job
//! ends however it ends. `start` returns once the service is ready (an HTTP answer, a TCP
//! connection, or a log line) and fails at once if the process exits first.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rhai::{Array, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::error::IntoScript as _;
use super::http::{self, socket_addrs, tcp_probe, AddressError};
use super::options::Options as _;
use super::options::{self, option_type, options, script_type, Duration as OptDuration, Vars};
use super::reference::{plain, Function};
use super::wait::{self, Poll, WaitError};
use super::{at_call_site, Result};
use crate::cancel::{self, GroupGuard};
use crate::events::{Event, EventBus, JobId, Level};
use crate::process::{self, display_argv, Background, Failure, Spec};
use crate::script::{context, Mode};

option_type! {
    /// `#{ http: url }`, `#{ tcp: "127.0.0.1:port" }` or `#{ log: regex }`.
    ReadyMap(Map) as "map", |value| {
        value.clone().try_cast::<Map>().ok_or_else(|| format!(
            "must be a map: #{{ http: url }}, #{{ tcp: \"127.0.0.1:port\" }} or #{{ log: regex }}, not {}",
            script_type(&value)
        ))
    }
}

options! {
    /// Options of `service::start` (and of `docker::run`'s readiness and log).
    pub struct StartOptions for "service::start" {
        /// Variables for the service on top of the job's; `()` unsets one.
        env: Vars,
        /// Directory to run in, relative to the job's (a relative program path is relative
        /// to it).
        dir: Option<String>,
        /// When the service counts as ready: `#{ http: url }` (any 2xx, or `status: code`),
        /// `#{ tcp: "127.0.0.1:port" }` or `#{ log: regex }` (a line of its output); without
        /// it, once started.
        ready: Option<ReadyMap>,
        /// How long to wait for readiness, with backoff.
        timeout: OptDuration = OptDuration(DEFAULT_READY_TIMEOUT) => "\"60s\"",
        /// The service's name in messages (default: the program's file name).
        name: Option<String>,
        /// Lines of its log shown when the job fails (0 hides it).
        log_tail: i64 = DEFAULT_LOG_TAIL as i64 => "30",
        /// How long `stop()` waits after SIGTERM before SIGKILL.
        stop_timeout: OptDuration = OptDuration(DEFAULT_STOP_TIMEOUT) => "\"5s\"",
    }
}

options! {
    /// The `ready` option of `service::start`: one of `http`, `tcp`, `log`.
    pub struct ReadyOptions for "ready" {
        /// A URL that must answer (any 2xx unless `status` says which).
        http: Option<String>,
        /// `host:port` that must accept a TCP connection.
        tcp: Option<String>,
        /// A regex a line of the service's output must match.
        log: Option<String>,
        /// The HTTP status `http` must answer with.
        status: Option<i64>,
    }
}

/// Option tables read from inside another option (`ready`'s sub-keys): the reference lists
/// only a function's top-level options, so the doc-comment check finds these here.
pub(crate) const NESTED_OPTIONS: &[(&str, &[options::Field])] = &[("ready", ReadyOptions::FIELDS)];

/// The methods of the handle `service::start` returns.
pub(crate) const HANDLE: &[Function] = &[
    plain(
        "Service.name",
        &["service: &mut Service"],
        "The service's name (the `name` option, else the program's).",
    ),
    plain(
        "Service.pid",
        &["service: &mut Service"],
        "Its process id (the leader of its process group).",
    ),
    plain(
        "Service.running",
        &["service: &mut Service"],
        "Whether it is still running.",
    ),
    plain(
        "Service.log",
        &["service: &mut Service"],
        "Its output so far, secrets masked.",
    ),
    plain(
        "Service.stop",
        &["service: &mut Service"],
        "Stops it now (its whole process group) instead of at the end of the job.",
    ),
    plain(
        "Service.to_string",
        &["service: &mut Service"],
        "Says `service NAME (pid N)`, for messages.",
    ),
    plain(
        "Service.to_debug",
        &["service: &mut Service"],
        "The same as `to_string`.",
    ),
];

pub(crate) const FUNCTIONS: &[Function] = &[Function {
    name: "service::start",
    params: &["argv: array", "options: map"],
    summary: "Starts a program in the background (its own process group), waits until it is ready and returns a handle (`.pid`, `.name`, `.running`, `.log()`, `.stop()`); stopped when the job ends.",
    options: &[StartOptions::FIELDS],
    result: &[],
}];
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_LOG_TAIL: usize = 30;
/// The captured log keeps its last this-many bytes: enough for any smoke test, bounded for a
/// chatty service.
const LOG_LIMIT: usize = 8 * 1024 * 1024;

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    FuncRegistration::new("start")
        .set_into_module(&mut module, |ctx: NativeCallContext, argv: Array| {
            at_call_site(&ctx, start_program(argv, Map::new()))
        });
    FuncRegistration::new("start").set_into_module(
        &mut module,
        |ctx: NativeCallContext, argv: Array, options: Map| {
            at_call_site(&ctx, start_program(argv, options))
        },
    );
    engine.register_static_module("service", module.into());

    engine.register_type_with_name::<Service>("Service");
    engine.register_get("pid", |s: &mut Service| s.inner.pid as i64);
    engine.register_get("name", |s: &mut Service| s.inner.name.clone());
    engine.register_get("running", |s: &mut Service| s.is_running());
    engine.register_fn("stop", |s: &mut Service| {
        s.stop();
    });
    engine.register_fn("log", |s: &mut Service| s.log_text());
    engine.register_fn("to_string", |s: &mut Service| s.describe());
    engine.register_fn("to_debug", |s: &mut Service| s.describe());
}

/// What readiness means for one service.
enum Ready {
    /// Started is ready.
    Immediately,
    Http {
        url: String,
        status: Option<Vec<u16>>,
    },
    Tcp {
        addr: String,
        addrs: Vec<std::net::SocketAddr>,
    },
    Log(regex_lite::Regex),
}

/// What goes wrong starting a service, worded as scripts see it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("service::start needs a command, e.g. service::start([\"./server\"])")]
    NoCommand,
    #[error("option `log_tail` must be a number of lines (0 hides the log)")]
    LogTail,
    /// `got`: the kinds given (none, or more than one).
    #[error(
        "option `ready` needs exactly one of `http`, `tcp` or `log` (got {})",
        if got.is_empty() { "none".to_string() } else { got.join(", ") }
    )]
    ReadyKinds { got: Vec<String> },
    #[error("`ready.status` goes with `ready.http`")]
    StatusWithoutHttp,
    #[error("`ready.status` must be an HTTP status code")]
    ReadyStatus,
    #[error("ready.tcp: {0}")]
    ReadyTcp(#[source] AddressError),
    #[error("ready.log: invalid regex `{pattern}`: {source}")]
    ReadyLog {
        pattern: String,
        source: regex_lite::Error,
    },
    #[error("service `{name}`: working directory does not exist: {}", dir.display())]
    NoDir { name: String, dir: PathBuf },
    #[error(
        "service `{name}`: program not found: `{program}` (is it built, installed and on PATH?)"
    )]
    ProgramNotFound { name: String, program: String },
    /// The OS's (or the process layer's) words for why it could not be started.
    #[error("service `{name}`: cannot start `{command}`: {reason}")]
    CannotStart {
        name: String,
        command: String,
        reason: String,
    },
    /// Not ready in time, exited or stopped; `waited_for` as `Ready::describe` says it, `log`
    /// the tail of its output (or empty).
    #[error("{}{log}", not_ready(name, command, waited_for, wait))]
    NotReady {
        name: String,
        command: String,
        waited_for: String,
        wait: WaitError,
        log: String,
    },
}

fn not_ready(name: &str, command: &str, waited_for: &str, wait: &WaitError) -> String {
    let what = format!("service `{name}` (`{command}`)");
    match wait {
        WaitError::TimedOut { after, last } => format!(
            "{what} was not ready after {} waiting for {waited_for} (last attempt: {last}); stopped it",
            crate::duration::format(*after),
        ),
        WaitError::Cancelled(reason) => format!("{what}: stopped: {reason}"),
        WaitError::Fatal(text) if text.starts_with("exited") => {
            format!("{what} {text} before it was ready")
        }
        WaitError::Fatal(text) => format!("{what}: {text}; stopped it"),
    }
}

impl Ready {
    fn parse(value: Option<ReadyMap>) -> Result<Ready> {
        let Some(ReadyMap(map)) = value else {
            return Ok(Ready::Immediately);
        };
        let ready: ReadyOptions = options::parse(&map)?;
        let kinds: Vec<&str> = ["http", "tcp", "log"]
            .into_iter()
            .filter(|k| map.contains_key(*k))
            .collect();
        if kinds.len() != 1 {
            let got = kinds.iter().map(|k| k.to_string()).collect();
            return Err(ServiceError::ReadyKinds { got }).script();
        }
        if ready.status.is_some() && kinds[0] != "http" {
            return Err(ServiceError::StatusWithoutHttp).script();
        }
        let text = match kinds[0] {
            "http" => ready.http,
            "tcp" => ready.tcp,
            _ => ready.log,
        }
        .unwrap_or_default();
        Ok(match kinds[0] {
            "http" => {
                let mut status = None;
                if let Some(value) = ready.status {
                    let code = Some(value)
                        .filter(|c| (100..=599).contains(c))
                        .map(|c| c as u16);
                    match code {
                        Some(code) => status = Some(vec![code]),
                        None => return Err(ServiceError::ReadyStatus).script(),
                    }
                }
                Ready::Http { url: text, status }
            }
            "tcp" => {
                let addrs = socket_addrs(&text)
                    .map_err(ServiceError::ReadyTcp)
                    .script()?;
                Ready::Tcp { addr: text, addrs }
            }
            _ => match regex_lite::Regex::new(&text) {
                Ok(re) => Ready::Log(re),
                Err(source) => {
                    return Err(ServiceError::ReadyLog {
                        pattern: text,
                        source,
                    })
                    .script()
                }
            },
        })
    }

    fn describe(&self) -> String {
        match self {
            Ready::Immediately => "its start".into(),
            Ready::Http { url, .. } => url.clone(),
            Ready::Tcp { addr, .. } => format!("a TCP connection to {addr}"),
            Ready::Log(re) => format!("a log line matching /{}/", re.as_str()),
        }
    }
}

/// The service's output, as captured: only the last [`LOG_LIMIT`] bytes are kept.
#[derive(Default)]
struct LogBuffer {
    bytes: Mutex<Vec<u8>>,
}

impl LogBuffer {
    fn append(&self, chunk: &[u8]) {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        bytes.extend_from_slice(chunk);
        if bytes.len() > LOG_LIMIT {
            let excess = bytes.len() - LOG_LIMIT;
            // Cut at a line boundary so the kept log starts with a whole line.
            let cut = bytes[excess..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(excess, |nl| excess + nl + 1);
            bytes.drain(..cut);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The last `n` lines of `text`, with a header saying how much was left out.
fn tail(text: &str, n: usize) -> (String, usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let shown = lines.len().min(n);
    (lines[lines.len() - shown..].join("\n"), shown, lines.len())
}

/// The exit status once the reaper thread collected it.
#[derive(Default)]
struct Exit {
    status: Mutex<Option<ExitStatus>>,
    changed: Condvar,
}

impl Exit {
    fn get(&self) -> Option<ExitStatus> {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, status: ExitStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        self.changed.notify_all();
    }

    /// Waits up to `limit` for the exit; true once it happened.
    fn wait(&self, limit: Duration) -> bool {
        let guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, limit, |s| s.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.is_some()
    }
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "an unknown status".into(),
    }
}

/// A running (or stopped) service, as scripts hold it.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    pid: u32,
    log: Arc<LogBuffer>,
    exit: Arc<Exit>,
    /// `Some` while the service may be running; dropping it kills whatever is left of the
    /// group, which is also what happens if the handle is dropped without a stop.
    group: Mutex<Option<GroupGuard>>,
    stop_timeout: Duration,
    log_tail: usize,
    /// Set once an error message carried the log tail, so cleanup does not show it again.
    tail_shown: AtomicBool,
    bus: EventBus,
    job: Option<JobId>,
}

impl Service {
    pub(crate) fn is_running(&self) -> bool {
        let group = self.inner.group.lock().unwrap_or_else(|e| e.into_inner());
        group.is_some() && self.inner.exit.get().is_none()
    }

    pub(crate) fn describe(&self) -> String {
        format!("service `{}` (pid {})", self.inner.name, self.inner.pid)
    }

    /// The captured log with registered secrets masked.
    pub(crate) fn log_text(&self) -> String {
        self.inner.bus.redact(&self.inner.log.text())
    }

    /// The last lines of the log, masked, under a header; empty when there is no log.
    fn log_tail(&self) -> String {
        if self.inner.log_tail == 0 {
            return String::new();
        }
        let (text, shown, total) = tail(&self.log_text(), self.inner.log_tail);
        if total == 0 {
            return format!("\n(service `{}` wrote no output)", self.inner.name);
        }
        let which = if shown == total {
            format!(
                "its log ({total} line{})",
                if total == 1 { "" } else { "s" }
            )
        } else {
            format!("the last {shown} of {total} lines of its log")
        };
        format!("\n--- {which} ---\n{text}\n---")
    }

    /// SIGTERM to the group, SIGKILL after the stop timeout; idempotent. Returns whether the
    /// service was still running.
    pub(crate) fn stop(&self) -> bool {
        let guard = self
            .inner
            .group
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(guard) = guard else {
            return false;
        };
        let was_running = self.inner.exit.get().is_none();
        if was_running {
            let pgid = self.inner.pid as i32;
            cancel::signal_group(pgid, libc::SIGTERM);
            if !self.inner.exit.wait(self.inner.stop_timeout) {
                cancel::signal_group(pgid, libc::SIGKILL);
                self.inner.exit.wait(Duration::from_secs(5));
            }
        }
        // Kills what the service left in its group.
        drop(guard);
        was_running
    }
}

/// Also the engine of `docker::run`, which runs `docker run` in the foreground as a service.
/// `service::start` from a script: a program whose inputs only the script knows (for the
/// up-to-date check, like `run`). `docker::run` calls [`start`] directly: its input is the image.
fn start_program(argv: Array, options: Map) -> Result<Service> {
    let options: StartOptions = options::parse(&options)?;
    if crate::cache::recording::is_recording() {
        let scope = context::current();
        let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
        let dir = match &options.dir {
            Some(dir) => scope.path(dir),
            None => scope.dir.borrow().clone(),
        };
        let spec = crate::process::Spec {
            argv,
            env: scope.env_changes(),
            dir: Some(dir),
            ..Default::default()
        };
        super::implied::service(&spec);
    }
    start_with(argv, options)
}

pub(crate) fn start_with(argv: Array, options: StartOptions) -> Result<Service> {
    let scope = context::current();
    let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
    if argv.is_empty() || argv[0].is_empty() {
        return Err(ServiceError::NoCommand).script();
    }
    let display = display_argv(&argv);
    let name = match options.name {
        Some(name) => name,
        None => std::path::Path::new(&argv[0])
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| argv[0].clone()),
    };
    let dir = match options.dir {
        Some(dir) => scope.path(&dir),
        None => scope.dir.borrow().clone(),
    };
    let mut env = scope.env_changes();
    env.extend(options.env.0);
    let ready = Ready::parse(options.ready)?;
    let timeout = options.timeout.0;
    let stop_timeout = options.stop_timeout.0;
    let log_tail = match usize::try_from(options.log_tail) {
        Ok(n) => n,
        Err(_) => return Err(ServiceError::LogTail).script(),
    };

    let bus = scope.host.bus.clone();
    let job = scope.job;
    let inert = |pid| Inner {
        name: name.clone(),
        pid,
        log: Arc::default(),
        exit: Arc::default(),
        group: Mutex::new(None),
        stop_timeout,
        log_tail,
        tail_shown: AtomicBool::new(false),
        bus: bus.clone(),
        job,
    };
    // Listing and dry runs only learn the jobs: start nothing.
    if scope.host.mode == Mode::Plan {
        return Ok(Service {
            inner: Arc::new(inert(0)),
        });
    }

    bus.emit(Event::CommandStarted {
        job,
        display: format!("{display} &"),
    });
    let token = scope.token();
    if !dir.is_dir() {
        return Err(ServiceError::NoDir { name, dir }).script();
    }
    let program = resolve_program(&argv[0], &dir);
    let spec = Spec {
        argv: std::iter::once(program.to_string_lossy().into_owned())
            .chain(argv[1..].iter().cloned())
            .collect(),
        env,
        dir: Some(dir.clone()),
        ..Spec::default()
    };
    let started = match process::spawn_background(&spec, process::Output::Pipe, &token) {
        Ok(started) => started,
        Err(Failure::NotFound { .. }) => {
            return Err(ServiceError::ProgramNotFound {
                name,
                program: argv[0].clone(),
            })
            .script()
        }
        Err(e) => {
            let reason = match e {
                // The OS's own words, as for any program that cannot be started.
                Failure::Io(e) => e.to_string(),
                e => e.to_string(),
            };
            return Err(ServiceError::CannotStart {
                name,
                command: display,
                reason,
            })
            .script();
        }
    };
    let Background {
        mut child,
        group,
        output,
    } = started;
    let reader = output.expect("a piped background child has an output reader");
    let pid = child.id();
    let mut inner = inert(pid);
    inner.group = Mutex::new(Some(group));
    let service = Service {
        inner: Arc::new(inner),
    };
    {
        let log = Arc::clone(&service.inner.log);
        std::thread::spawn(move || pump(reader, &log));
        let exit = Arc::clone(&service.inner.exit);
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                exit.set(status);
            }
        });
    }

    // Stopped with the job from here on, even if waiting for readiness fails below.
    let cleanup = service.clone();
    let owner = Rc::downgrade(&scope);
    scope.on_exit(move || {
        let failed = owner.upgrade().is_some_and(|s| s.failed.get());
        let exited = cleanup.inner.exit.get();
        let was_running = cleanup.stop();
        if failed && !cleanup.inner.tail_shown.load(Ordering::Relaxed) {
            let state = match exited {
                Some(status) if !was_running => {
                    format!("had exited with {}", describe_status(status))
                }
                _ => "was stopped".to_string(),
            };
            let mut text = format!("{} {state}", cleanup.describe());
            text.push_str(&cleanup.log_tail());
            cleanup
                .inner
                .bus
                .message(cleanup.inner.job, Level::Warn, text);
        }
    });

    let started = Instant::now();
    let log = Arc::clone(&service.inner.log);
    let exit = Arc::clone(&service.inner.exit);
    let result = wait::until(&token, timeout, http::backoff(None), |left| {
        if let Some(status) = exit.get() {
            return Poll::Fatal(format!("exited with {}", describe_status(status)));
        }
        match &ready {
            Ready::Immediately => Poll::Ready(()),
            Ready::Http { url, status } => {
                match http::probe(url, status.as_deref(), left, &token) {
                    Poll::Ready(_) => Poll::Ready(()),
                    Poll::NotYet(text) => Poll::NotYet(text),
                    Poll::Fatal(text) => Poll::Fatal(text),
                }
            }
            Ready::Tcp { addrs, .. } => tcp_probe(addrs, left),
            Ready::Log(re) => {
                if log.text().lines().any(|line| re.is_match(line)) {
                    Poll::Ready(())
                } else {
                    Poll::NotYet("no such line yet".into())
                }
            }
        }
    });
    // A probe may have reached another server on that port while this one died binding it.
    let result = match (result, exit.get()) {
        (Ok(()), Some(status)) => Err(WaitError::Fatal(format!(
            "exited with {}",
            describe_status(status)
        ))),
        (result, _) => result,
    };
    if let Err(wait) = result {
        service.stop();
        service.inner.tail_shown.store(true, Ordering::Relaxed);
        return Err(ServiceError::NotReady {
            name,
            command: display,
            waited_for: ready.describe(),
            wait,
            log: service.log_tail(),
        })
        .script();
    }
    bus.message(
        job,
        Level::Info,
        format!(
            "{} ready after {} ({})",
            service.describe(),
            crate::duration::format(started.elapsed()),
            ready.describe()
        ),
    );
    Ok(service)
}

/// A relative program path with a slash is relative to the service's directory (`Command`
/// would leave that ambiguous); bare names are looked up on PATH.
fn resolve_program(program: &str, dir: &std::path::Path) -> PathBuf {
    let path = PathBuf::from(program);
    if program.contains('/') && path.is_relative() {
        dir.join(path)
    } else {
        path
    }
}

/// Copies the service's output into its log until every writer closed the pipe.
fn pump(mut reader: impl Read, log: &LogBuffer) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => log.append(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_its_end_from_a_line_start() {
        let log = LogBuffer::default();
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..(LOG_LIMIT / 1024 + 10) {
            log.append(line.as_bytes());
        }
        log.append(b"last line\n");
        let text = log.text();
        assert!(text.len() <= LOG_LIMIT);
        assert!(text.starts_with('x') && text.ends_with("last line\n"));
        assert!(text.lines().all(|l| l.len() == 1023 || l == "last line"));
    }

    #[test]
    fn tail_counts_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), ("b\nc".to_string(), 2, 3));
        assert_eq!(tail("a\n", 5), ("a".to_string(), 1, 1));
        assert_eq!(tail("", 5), (String::new(), 0, 0));
    }

    #[test]
    fn not_ready_says_what_was_awaited_and_how_it_ended() {
        let not_ready = |wait| ServiceError::NotReady {
            name: "api".into(),
            command: "./api --port 1".into(),
            waited_for: "a TCP connection to 127.0.0.1:1".into(),
            wait,
            log: "\n(service `api` wrote no output)".into(),
        };
        let timed_out = not_ready(WaitError::TimedOut {
            after: Duration::from_secs(2),
            last: "127.0.0.1:1: connection refused".into(),
        });
        assert_eq!(
            timed_out.to_string(),
            "service `api` (`./api --port 1`) was not ready after 2.00s waiting for a TCP \
             connection to 127.0.0.1:1 (last attempt: 127.0.0.1:1: connection refused); stopped \
             it\n(service `api` wrote no output)"
        );
        let exited = not_ready(WaitError::Fatal("exited with code 3".into()));
        assert!(
            exited.to_string().starts_with(
                "service `api` (`./api --port 1`) exited with code 3 before it was ready"
            ),
            "{exited}"
        );
    }

    #[test]
    fn an_unresolvable_ready_address_is_a_typed_error() {
        let err = ServiceError::ReadyTcp(socket_addrs("no-port-here").unwrap_err());
        assert!(
            matches!(&err, ServiceError::ReadyTcp(AddressError::Invalid { addr, .. }) if addr == "no-port-here"),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with("ready.tcp: `no-port-here` is not a host:port address"));
    }

    #[test]
    fn relative_programs_resolve_against_the_service_dir() {
        let dir = std::path::Path::new("/srv/app");
        assert_eq!(
            resolve_program("target/debug/app", dir),
            PathBuf::from("/srv/app/target/debug/app")
        );
        assert_eq!(resolve_program("python3", dir), PathBuf::from("python3"));
        assert_eq!(resolve_program("/bin/sh", dir), PathBuf::from("/bin/sh"));
    }
}
