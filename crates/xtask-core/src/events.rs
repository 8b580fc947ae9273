//! The event stream: the only way the scheduler, the process layer and the primitives talk to
//! reporters. Every event passes through [`EventBus::emit`], which is also the one place where
//! secrets are masked, so no reporter can leak one.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::redact::{Added, Redactor, MIN_SECRET_LEN};

/// Index of a job in the run's plan.
pub type JobId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Notice,
}

impl Severity {
    /// From a compiler's level word (`error`, `warning`, `note`, `help`).
    pub fn from_level(level: &str) -> Severity {
        match level {
            "error" | "error: internal compiler error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Notice,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestStatus {
    Passed,
    Failed,
    Ignored,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Not run: its fingerprint matched its last successful run (see `cache`).
    UpToDate,
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
    /// Stopped before finishing: fail-fast after a sibling failed, or an interrupt.
    Cancelled {
        reason: String,
    },
    /// Never started because a job it needs did not pass.
    Blocked {
        by: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::UpToDate => "up to date",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::Blocked { .. } => "not run",
        }
    }

    /// Whether jobs that need this one may start.
    pub fn satisfies_needs(&self) -> bool {
        matches!(
            self,
            Outcome::Passed | Outcome::UpToDate | Outcome::Skipped { .. }
        )
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

#[derive(Clone, Debug)]
pub struct JobSummary {
    pub id: JobId,
    pub name: String,
    pub outcome: Outcome,
    pub duration: Duration,
    pub attempts: u32,
    /// The locks it claimed while it ran (cargo's build directory), remembered for the next
    /// run's scheduling.
    pub locks: Vec<String>,
    /// Of `duration`, the time it spent parked, waiting for a claim (the build directory, the
    /// machine): the schedule's doing, not the job's work.
    pub waited: Duration,
    /// From when it last let a claimed lock go to its end: the part of its work that runs
    /// beside the lock's next holder.
    pub after_lock: Option<Duration>,
}

#[derive(Clone, Debug)]
pub enum Event {
    RunStarted {
        task: String,
        jobs: Vec<String>,
    },
    JobStarted {
        id: JobId,
        name: String,
    },
    /// A command is about to start inside a job (or at the top level when `job` is `None`).
    CommandStarted {
        job: Option<JobId>,
        display: String,
    },
    /// A command ended: how, and after how long (shown with `-v`).
    CommandFinished {
        job: Option<JobId>,
        display: String,
        /// "exit status 0", "killed by signal 9", "timed out after 2s", …
        status: String,
        duration: Duration,
    },
    /// Complete lines of a child's output (stdout and stderr merged), or of `print`.
    Output {
        job: Option<JobId>,
        bytes: Vec<u8>,
    },
    Message {
        job: Option<JobId>,
        level: Level,
        text: String,
    },
    /// A compiler/linter finding or a script error with a place in a file, for annotations.
    Diagnostic {
        job: Option<JobId>,
        level: Severity,
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// One test of a test run a job made (`cargo::test`), for per-test reports.
    TestCase {
        job: JobId,
        name: String,
        status: TestStatus,
        /// The failing test's captured output.
        output: String,
    },
    /// A value a script exports for later CI steps (`set_output`).
    Export {
        name: String,
        value: String,
    },
    JobRetrying {
        id: JobId,
        attempt: u32,
        error: String,
    },
    JobFinished(JobSummary),
    RunFinished {
        jobs: Vec<JobSummary>,
        duration: Duration,
        interrupted: bool,
        /// The command that re-runs one job on its own, with `{job}` where its name goes.
        rerun_hint: String,
    },
}

/// Something that turns events into output: the terminal, and later Actions, JUnit, JSON.
pub trait Reporter: Send {
    fn on_event(&mut self, event: &Event);
    /// Called a few times a second while jobs run, for live displays.
    fn tick(&mut self) {}
    /// A new secret: the one place a reporter may see its value (to tell a CI system to mask it).
    fn secret_added(&mut self, _value: &str) {}
    /// Called for every reporter once the run is over, after `RunFinished`.
    fn finish(&mut self) {}
}

#[derive(Clone, Default)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

#[derive(Default)]
struct BusInner {
    reporters: Mutex<Vec<Box<dyn Reporter>>>,
    redactor: RwLock<Redactor>,
}

impl EventBus {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Self {
        EventBus {
            inner: Arc::new(BusInner {
                reporters: Mutex::new(reporters),
                redactor: RwLock::new(Redactor::default()),
            }),
        }
    }

    /// Registers a value that must never be shown.
    pub fn add_secret(&self, value: &str) {
        self.add_named_secret("", value);
    }

    /// [`add_secret`](Self::add_secret) for the value of a named secret, which a warning about a
    /// value too short to mask can name.
    pub fn add_named_secret(&self, name: &str, value: &str) {
        let added = self.inner.redactor.write().unwrap().add(value);
        if added == Added::Known || value.is_empty() {
            return;
        }
        // CI systems mask it in their own logs even when we cannot.
        self.each_reporter(|r| r.secret_added(value));
        if added == Added::TooShort {
            let which = if name.is_empty() {
                "a secret value".to_string()
            } else {
                format!("secret `{name}`")
            };
            self.message(
                None,
                Level::Warn,
                format!(
                    "{which} is shorter than {MIN_SECRET_LEN} characters: too short to mask \
                     safely, so xtask's output does not mask it (a CI log that knows it, as \
                     GitHub Actions does, still will); use a longer value"
                ),
            );
        }
    }

    /// Masks secrets in free text that leaves the bus by another way (e.g. exit messages).
    pub fn redact(&self, text: &str) -> String {
        self.inner
            .redactor
            .read()
            .unwrap()
            .redact_str(text)
            .into_owned()
    }

    pub fn emit(&self, mut event: Event) {
        self.inner.redactor.read().unwrap().redact_event(&mut event);
        self.each_reporter(|r| r.on_event(&event));
    }

    /// A sink for one stream of output (a command's) into the job's log, masked as a stream: a
    /// secret split between two chunks of an over-long line is still masked.
    pub fn output_stream(&self, job: Option<JobId>) -> crate::process::Sink {
        let stream = Mutex::new(OutputStream {
            bus: self.clone(),
            job,
            masking: Default::default(),
        });
        Arc::new(move |bytes| stream.lock().unwrap_or_else(|e| e.into_inner()).push(bytes))
    }

    pub fn finish(&self) {
        self.each_reporter(|r| r.finish());
    }

    pub fn tick(&self) {
        self.each_reporter(|r| r.tick());
    }

    /// Reporters are called one at a time, so each sees events in one order and never interleaves
    /// its writes with another's.
    fn each_reporter(&self, mut f: impl FnMut(&mut dyn Reporter)) {
        let mut reporters = self
            .inner
            .reporters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for reporter in reporters.iter_mut() {
            f(reporter.as_mut());
        }
    }

    /// Announces a command in a job's log (`$ argv`) and returns the sink that streams its
    /// output there: how every family runs a command whose output belongs in the log.
    pub fn command_log(&self, job: Option<JobId>, display: &str) -> crate::process::Sink {
        self.emit(Event::CommandStarted {
            job,
            display: display.to_string(),
        });
        self.output_stream(job)
    }

    pub fn message(&self, job: Option<JobId>, level: Level, text: impl Into<String>) {
        self.emit(Event::Message {
            job,
            level,
            text: text.into(),
        });
    }
}

/// The state of one [`EventBus::output_stream`]; what it still holds back goes out when the
/// stream's last sink is dropped.
struct OutputStream {
    bus: EventBus,
    job: Option<JobId>,
    masking: crate::redact::Stream,
}

impl OutputStream {
    fn push(&mut self, bytes: Vec<u8>) {
        let masked = {
            let redactor = self.bus.inner.redactor.read().unwrap();
            self.masking.push(&redactor, bytes)
        };
        self.emit_masked(masked);
    }

    /// Already masked: straight to the reporters.
    fn emit_masked(&self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let event = Event::Output {
            job: self.job,
            bytes,
        };
        self.bus.each_reporter(|r| r.on_event(&event));
    }
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        let mut rest = {
            let redactor = self.bus.inner.redactor.read().unwrap();
            self.masking.finish(&redactor)
        };
        if !rest.is_empty() {
            // Output events are whole lines, as the process layer sends them.
            rest.push(b'\n');
            self.emit_masked(rest);
        }
    }
}
