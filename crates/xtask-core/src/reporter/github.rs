//! The GitHub Actions reporter, chosen when `GITHUB_ACTIONS=true`. One collapsed group per job,
//! never interleaved: the earliest-started job's group is open and streams live; other jobs buffer
//! and print as their own group when they end (the live group is closed around it and reopened
//! as "(continued)"). Diagnostics become `::error`/`::warning` annotations on their file and line,
//! secrets are announced with `::add-mask::`, the job table goes to `$GITHUB_STEP_SUMMARY` and
//! exported values to `$GITHUB_OUTPUT`. The first failure is re-printed outside any group.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;

use super::style::Style;
use super::summary::{self, Failure};
use super::Tail;
use crate::events::{Event, JobId, JobSummary, Level, Outcome, Reporter, Severity};

pub struct GithubActions {
    out: io::Stdout,
    names: HashMap<JobId, String>,
    buffers: HashMap<JobId, Vec<u8>>,
    tails: HashMap<JobId, Tail>,
    running: Vec<JobId>,
    live: Option<JobId>,
    first_failure: Option<Failure>,
    /// Jobs that already have an error annotation with a file and line.
    annotated: Vec<JobId>,
    task: String,
    /// Where the project root sits in the checkout (`GITHUB_WORKSPACE`): annotations need
    /// repository-relative paths, diagnostics are project-relative.
    path_prefix: PathBuf,
    step_summary: Option<PathBuf>,
    output_file: Option<PathBuf>,
    style: Style,
}

/// Escapes the message part of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=`) of a workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

impl GithubActions {
    pub fn from_env(style: Style, root: &std::path::Path) -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let path_prefix = path("GITHUB_WORKSPACE")
            .and_then(|w| w.canonicalize().ok())
            .and_then(|w| root.strip_prefix(w).ok().map(PathBuf::from))
            .unwrap_or_default();
        GithubActions {
            out: io::stdout(),
            names: HashMap::new(),
            buffers: HashMap::new(),
            tails: HashMap::new(),
            running: Vec::new(),
            live: None,
            first_failure: None,
            annotated: Vec::new(),
            task: String::new(),
            path_prefix,
            step_summary: path("GITHUB_STEP_SUMMARY"),
            output_file: path("GITHUB_OUTPUT"),
            style,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
        let _ = self.out.flush();
    }

    fn line(&mut self, text: &str) {
        self.write(format!("{text}\n").as_bytes());
    }

    fn name(&self, id: JobId) -> String {
        self.names.get(&id).cloned().unwrap_or_default()
    }

    fn open_group(&mut self, id: JobId, continued: bool) {
        let more = if continued { " (continued)" } else { "" };
        let name = self.name(id);
        self.line(&format!("::group::{}{more}", escape_data(&name)));
    }

    fn job_bytes(&mut self, id: JobId, bytes: &[u8]) {
        self.tails.entry(id).or_default().push(bytes);
        if self.live == Some(id) {
            self.write(bytes);
        } else {
            self.buffers.entry(id).or_default().extend_from_slice(bytes);
        }
    }

    fn job_line(&mut self, id: JobId, text: &str) {
        self.job_bytes(id, format!("{text}\n").as_bytes());
    }

    fn annotate(
        &mut self,
        severity: Severity,
        title: &str,
        location: Option<(&str, usize, usize)>,
        message: &str,
    ) {
        let kind = match severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        };
        let mut props = Vec::new();
        if let Some((file, line, col)) = location {
            let file = if std::path::Path::new(file).is_relative() {
                self.path_prefix.join(file).display().to_string()
            } else {
                file.to_string()
            };
            props.push(format!("file={}", escape_property(&file)));
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
        }
        props.push(format!("title={}", escape_property(title)));
        self.line(&format!(
            "::{kind} {}::{}",
            props.join(","),
            escape_data(message)
        ));
    }

    fn verdict(&self, summary: &JobSummary) -> String {
        let (icon, text) = summary::verdict(summary);
        format!("{icon} {} {text}", summary.name)
    }

    fn finished(&mut self, summary: &JobSummary) {
        let id = summary.id;
        let was_running = self.running.contains(&id);
        self.running.retain(|&r| r != id);
        if let Outcome::Failed { error } = &summary.outcome {
            if self.first_failure.is_none() {
                let tail = self.tails.get(&id).cloned().unwrap_or_default();
                self.first_failure = Some(Failure {
                    name: summary.name.clone(),
                    error: error.clone(),
                    tail,
                });
            }
            self.job_line(id, error);
        }
        let verdict = self.verdict(summary);
        if !was_running {
            self.line(&verdict);
        } else if self.live == Some(id) {
            self.line(&verdict);
            self.line("::endgroup::");
            self.live = self.running.first().copied();
            if let Some(next) = self.live {
                self.open_group(next, false);
                let buffered = self.buffers.remove(&next).unwrap_or_default();
                self.write(&buffered);
            }
        } else {
            // A buffered job ended: close the live group around its block, then reopen it.
            if self.live.is_some() {
                self.line("::endgroup::");
            }
            self.open_group(id, false);
            let buffered = self.buffers.remove(&id).unwrap_or_default();
            self.write(&buffered);
            self.line(&verdict);
            self.line("::endgroup::");
            if let Some(live) = self.live {
                self.open_group(live, true);
            }
        }
        if let Outcome::Failed { error } = &summary.outcome {
            // A job whose failure already has an annotation with a location needs no second one.
            if !self.annotated.contains(&id) {
                let first = error
                    .lines()
                    .next()
                    .unwrap_or("failed")
                    .trim_start_matches("error: ")
                    .to_string();
                self.annotate(
                    Severity::Error,
                    &format!("{} failed", summary.name),
                    None,
                    &first,
                );
            }
        }
    }

    fn run_finished(
        &mut self,
        jobs: &[JobSummary],
        total: std::time::Duration,
        interrupted: bool,
        rerun_hint: &str,
    ) {
        let mut out = summary::table(jobs, self.style);
        out.push_str(&summary::tally(
            &self.task,
            jobs,
            total,
            interrupted,
            self.style,
        ));
        if let Some(failure) = self.first_failure.take() {
            out.push_str(&summary::recap(&failure, 40, rerun_hint, self.style));
        }
        self.write(out.as_bytes());
        if let Some(path) = self.step_summary.clone() {
            let markdown = summary::markdown(&self.task, jobs, total, rerun_hint);
            if let Err(e) = append(&path, &markdown) {
                self.line(&format!(
                    "::warning::cannot write the step summary to {}: {e}",
                    path.display()
                ));
            }
        }
    }

    fn export(&mut self, name: &str, value: &str) {
        let Some(path) = self.output_file.clone() else {
            return;
        };
        // Multi-line values need the heredoc form; the delimiter must not occur in the value.
        let entry = if value.contains('\n') {
            let mut delimiter = String::from("XTASK_EOF");
            while value.contains(&delimiter) {
                delimiter.push('_');
            }
            format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
        } else {
            format!("{name}={value}\n")
        };
        if let Err(e) = append(&path, &entry) {
            self.line(&format!(
                "::warning::cannot write output {name} to {}: {e}",
                path.display()
            ));
        }
    }
}

fn append(path: &std::path::Path, text: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

impl Reporter for GithubActions {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { task, .. } => self.task = task.clone(),
            Event::JobStarted { id, name } => {
                self.names.insert(*id, name.clone());
                self.running.push(*id);
                if self.live.is_none() {
                    self.live = Some(*id);
                    self.open_group(*id, false);
                }
            }
            Event::CommandStarted {
                job: Some(id),
                display,
            } => self.job_line(*id, &format!("$ {display}")),
            Event::CommandStarted { job: None, display } => self.line(&format!("$ {display}")),
            // Actions shows each step's timing; a command's exit status is in its error.
            Event::CommandFinished { .. } => {}
            Event::Output {
                job: Some(id),
                bytes,
            } => self.job_bytes(*id, bytes),
            Event::Output { job: None, bytes } => self.write(bytes),
            Event::Message { job, level, text } => {
                let text = match level {
                    Level::Info => text.clone(),
                    Level::Warn => format!("::warning::{}", escape_data(text)),
                };
                match job {
                    Some(id) => self.job_line(*id, &text),
                    None => self.line(&text),
                }
            }
            Event::Diagnostic {
                job,
                level,
                file,
                line,
                column,
                message,
            } => {
                let title = job
                    .map(|id| self.name(id))
                    .unwrap_or_else(|| self.task.clone());
                if let (Some(id), Severity::Error) = (job, level) {
                    self.annotated.push(*id);
                }
                self.annotate(*level, &title, Some((file, *line, *column)), message);
            }
            Event::Export { name, value } => self.export(name, value),
            // The test runner's own output already named each test.
            Event::TestCase { .. } => {}
            Event::JobRetrying { id, attempt, error } => {
                let first = error.lines().next().unwrap_or("").to_string();
                self.job_line(
                    *id,
                    &format!("↻ attempt {attempt} failed ({first}); retrying"),
                );
            }
            Event::JobFinished(summary) => self.finished(summary),
            Event::RunFinished {
                jobs,
                duration,
                interrupted,
                rerun_hint,
            } => self.run_finished(jobs, *duration, *interrupted, rerun_hint),
        }
    }

    fn secret_added(&mut self, value: &str) {
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            self.line(&format!("::add-mask::{}", escape_data(line)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_workflow_commands() {
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("src/a,b.rs:1"), "src/a%2Cb.rs%3A1");
    }
}
