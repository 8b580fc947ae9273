//! The terminal reporter. With one job running, its output streams as it comes. With several,
//! the earliest-started job streams live and the others buffer, each printed as one block when
//! it ends; `prefixed` tags every line with its job instead, `grouped` prints every job as a
//! block. At the end: a table of jobs, and the tail of the first failure with the command that
//! reproduces it.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Instant;

use super::spool::Spool;
use super::style::Style;
use super::summary::{self, Failure};
use super::Tail;
use crate::duration;
use crate::events::{Event, JobId, JobSummary, Level, Outcome, Reporter};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    Stream,
    Prefixed,
    Grouped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Options {
    pub mode: OutputMode,
    pub style: Style,
    pub verbosity: Verbosity,
    /// Draw a live status line on stderr (only on a terminal).
    pub status_line: bool,
    /// Lines of the first failure to re-print at the end.
    pub recap_lines: usize,
}

struct JobView {
    name: String,
    started: Instant,
    buffer: Spool,
    tail: Tail,
}

pub struct Terminal {
    opts: Options,
    out: io::Stdout,
    jobs: HashMap<JobId, JobView>,
    /// Running jobs in the order they started.
    running: Vec<JobId>,
    live: Option<JobId>,
    /// Who wrote the last lines: a job, or `None` for the runner itself.
    last_writer: Option<JobId>,
    prefix_width: usize,
    first_failure: Option<Failure>,
    status_drawn: bool,
    task: String,
}

impl Terminal {
    pub fn new(opts: Options) -> Self {
        Terminal {
            opts,
            out: io::stdout(),
            jobs: HashMap::new(),
            running: Vec::new(),
            live: None,
            last_writer: None,
            prefix_width: 0,
            first_failure: None,
            status_drawn: false,
            task: String::new(),
        }
    }

    fn style(&self) -> Style {
        self.opts.style
    }

    fn write(&mut self, bytes: &[u8]) {
        self.clear_status();
        let _ = self.out.write_all(bytes);
        let _ = self.out.flush();
    }

    fn line(&mut self, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.write(&bytes);
    }

    fn prefixed(&self, id: JobId, bytes: &[u8]) -> Vec<u8> {
        let name = self.jobs.get(&id).map(|j| j.name.as_str()).unwrap_or("?");
        let tag = self
            .style()
            .job(id, &format!("{name:<width$} |", width = self.prefix_width));
        let mut out = Vec::with_capacity(bytes.len() + 32);
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(tag.as_bytes());
            out.push(b' ');
            out.extend_from_slice(line);
        }
        out
    }

    fn header(&self, id: JobId, continued: bool) -> String {
        let name = self.jobs.get(&id).map(|j| j.name.as_str()).unwrap_or("?");
        let more = if continued { " (continued)" } else { "" };
        format!(
            "{} {}",
            self.style().cyan("▶"),
            self.style().bold(&format!("{name}{more}"))
        )
    }

    /// Text that belongs to a job's stream: shown live, buffered, or prefixed.
    fn job_bytes(&mut self, id: JobId, bytes: &[u8]) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.tail.push(bytes);
        }
        match self.opts.mode {
            OutputMode::Prefixed if self.opts.verbosity > Verbosity::Quiet => {
                let tagged = self.prefixed(id, bytes);
                self.write(&tagged);
            }
            OutputMode::Stream
                if self.live == Some(id) && self.opts.verbosity > Verbosity::Quiet =>
            {
                if self.last_writer != Some(id) {
                    let header = self.header(id, true);
                    self.line(&header);
                }
                self.last_writer = Some(id);
                self.write(bytes);
            }
            _ => {
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.buffer.push(bytes);
                }
            }
        }
    }

    fn job_text(&mut self, id: JobId, text: &str) {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\n');
        self.job_bytes(id, &bytes);
    }

    fn top_text(&mut self, text: &str) {
        if self.opts.verbosity > Verbosity::Quiet {
            self.line(text);
            self.last_writer = None;
        }
    }

    fn started(&mut self, id: JobId, name: &str) {
        self.jobs.insert(
            id,
            JobView {
                name: name.to_string(),
                started: Instant::now(),
                buffer: Spool::default(),
                tail: Tail::default(),
            },
        );
        self.running.push(id);
        match self.opts.mode {
            OutputMode::Stream if self.live.is_none() && self.opts.verbosity > Verbosity::Quiet => {
                self.live = Some(id);
                let header = self.header(id, false);
                self.line(&header);
                self.last_writer = Some(id);
            }
            OutputMode::Prefixed if self.opts.verbosity > Verbosity::Quiet => {
                let line = format!("{} started", self.style().cyan("▶"));
                let tagged = self.prefixed(id, format!("{line}\n").as_bytes());
                self.write(&tagged);
            }
            _ => {}
        }
    }

    fn verdict(&self, summary: &JobSummary) -> String {
        let s = self.style();
        let (icon, text) = summary::verdict(summary);
        let paint = |t: &str| match &summary.outcome {
            Outcome::Passed | Outcome::UpToDate => s.green(t),
            Outcome::Failed { .. } => s.red(t),
            Outcome::Blocked { .. } => s.dim(t),
            _ => s.yellow(t),
        };
        let text = if matches!(summary.outcome, Outcome::Passed | Outcome::UpToDate) {
            s.dim(&text)
        } else {
            paint(&text)
        };
        format!("{} {} {text}", paint(icon), summary.name)
    }

    fn finished(&mut self, summary: &JobSummary) {
        let id = summary.id;
        let verdict = self.verdict(summary);
        if let Outcome::Failed { error } = &summary.outcome {
            if self.first_failure.is_none() {
                let tail = self
                    .jobs
                    .get(&id)
                    .map(|j| j.tail.clone())
                    .unwrap_or_default();
                self.first_failure = Some(Failure {
                    name: summary.name.clone(),
                    error: error.clone(),
                    tail,
                });
            }
            self.job_text(id, &self.style().red(error));
        }
        let was_running = self.running.contains(&id);
        self.running.retain(|&r| r != id);
        let quiet = self.opts.verbosity == Verbosity::Quiet;
        let show = !quiet || summary.outcome.is_failure();

        if !was_running {
            // Never started (blocked or cancelled before starting): one line.
            if !quiet {
                self.line(&verdict);
                self.last_writer = None;
            }
            return;
        }
        match self.opts.mode {
            OutputMode::Prefixed => {
                if show {
                    if quiet {
                        let mut buffered = self.take_buffer(id);
                        buffered.drain(|chunk| {
                            let tagged = self.prefixed(id, chunk);
                            self.write(&tagged);
                        });
                    }
                    let tagged = self.prefixed(id, format!("{verdict}\n").as_bytes());
                    self.write(&tagged);
                }
            }
            OutputMode::Stream if self.live == Some(id) && !quiet => {
                if self.last_writer != Some(id) {
                    let header = self.header(id, true);
                    self.line(&header);
                }
                self.line(&verdict);
                self.last_writer = None;
                self.promote_next_live();
            }
            _ => {
                if show {
                    self.print_block(id, &verdict);
                }
            }
        }
    }

    /// Prints a job's header and whatever it buffered so far.
    fn flush_buffer(&mut self, id: JobId) {
        let header = self.header(id, false);
        let mut buffered = self.take_buffer(id);
        self.line(&header);
        buffered.drain(|chunk| self.write(chunk));
    }

    fn take_buffer(&mut self, id: JobId) -> Spool {
        self.jobs
            .get_mut(&id)
            .map(|j| std::mem::take(&mut j.buffer))
            .unwrap_or_default()
    }

    /// Prints a buffered job as one block: header, output, verdict.
    fn print_block(&mut self, id: JobId, verdict: &str) {
        self.flush_buffer(id);
        self.line(verdict);
        self.last_writer = None;
    }

    /// The live job ended: the earliest-started running job goes live, its buffer first.
    fn promote_next_live(&mut self) {
        self.live = self.running.first().copied();
        if let Some(id) = self.live {
            self.flush_buffer(id);
            self.last_writer = Some(id);
        }
    }

    fn summary(
        &mut self,
        jobs: &[JobSummary],
        total: std::time::Duration,
        interrupted: bool,
        rerun_hint: &str,
    ) {
        let style = self.style();
        let mut out = summary::table(jobs, style);
        out.push_str(&summary::tally(&self.task, jobs, total, interrupted, style));
        if let Some(failure) = self.first_failure.take() {
            out.push_str(&summary::recap(
                &failure,
                self.opts.recap_lines,
                rerun_hint,
                style,
            ));
        }
        self.write(out.as_bytes());
    }

    fn clear_status(&mut self) {
        if self.status_drawn {
            let _ = io::stderr().write_all(b"\r\x1b[2K");
            self.status_drawn = false;
        }
    }

    fn draw_status(&mut self) {
        if !self.opts.status_line || self.running.is_empty() {
            return;
        }
        let parts: Vec<String> = self
            .running
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .map(|j| format!("{} {}", j.name, duration::format(j.started.elapsed())))
            .collect();
        let mut text = format!("⠿ running {}: {}", parts.len(), parts.join(", "));
        if text.chars().count() > 100 {
            text = text.chars().take(99).collect::<String>() + "…";
        }
        let _ = write!(io::stderr(), "\r\x1b[2K{}", self.style().dim(&text));
        let _ = io::stderr().flush();
        self.status_drawn = true;
    }
}

impl Reporter for Terminal {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { task, jobs } => {
                self.task = task.clone();
                self.prefix_width = jobs.iter().map(|j| j.chars().count()).max().unwrap_or(0);
            }
            Event::JobStarted { id, name } => self.started(*id, name),
            Event::CommandStarted { job, display } => {
                let text = self.style().dim(&format!("$ {display}"));
                match job {
                    Some(id) => self.job_text(*id, &text),
                    None => self.top_text(&text),
                }
            }
            Event::CommandFinished {
                job,
                display,
                status,
                duration,
            } => {
                if self.opts.verbosity == Verbosity::Verbose {
                    let text =
                        format!("  ↳ {status} in {}: {display}", duration::format(*duration));
                    let text = self.style().dim(&text);
                    match job {
                        Some(id) => self.job_text(*id, &text),
                        None => self.top_text(&text),
                    }
                }
            }
            Event::Output {
                job: Some(id),
                bytes,
            } => self.job_bytes(*id, bytes),
            Event::Output { job: None, bytes } => {
                if self.opts.verbosity > Verbosity::Quiet {
                    self.write(bytes);
                    self.last_writer = None;
                }
            }
            Event::Message { job, level, text } => {
                let s = self.style();
                let text = match level {
                    Level::Info => format!("{} {text}", s.cyan("info:")),
                    Level::Warn => format!("{} {text}", s.yellow("warning:")),
                };
                match job {
                    Some(id) => self.job_text(*id, &text),
                    None => self.top_text(&text),
                }
            }
            Event::JobRetrying { id, attempt, error } => {
                let first = error.lines().next().unwrap_or("");
                let text = self
                    .style()
                    .yellow(&format!("↻ attempt {attempt} failed ({first}); retrying"));
                self.job_text(*id, &text);
            }
            Event::JobFinished(summary) => self.finished(summary),
            // Compilers' own rendering already went by as output; the location is for CI UIs.
            Event::Diagnostic { .. } | Event::TestCase { .. } => {}
            Event::Export { name, value } => {
                let text = self.style().dim(&format!("output {name}={value}"));
                self.top_text(&text);
            }
            Event::RunFinished {
                jobs,
                duration,
                interrupted,
                rerun_hint,
            } => self.summary(jobs, *duration, *interrupted, rerun_hint),
        }
        self.draw_status();
    }

    fn tick(&mut self) {
        self.draw_status();
    }

    fn finish(&mut self) {
        self.clear_status();
    }
}
