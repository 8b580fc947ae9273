//! The GitHub Actions reporter, chosen when `GITHUB_ACTIONS=true`. One collapsed group per job,
//! never interleaved: the earliest-started job's group streams live; other jobs buffer and print
//! as their own group when they end (the live group is closed around it and reopens, as
//! "(continued)", only when the live job prints again: no empty groups). Diagnostics and failures
//! become `::error`/`::warning` annotations, collected and spent at the end within GitHub's
//! per-step budget (`annotations.rs`), whole (multi-line messages escaped), one per finding;
//! secrets are announced with `::add-mask::`, the job table and the overflow go to
//! `$GITHUB_STEP_SUMMARY` (trimmed under 1 MiB), exported values to `$GITHUB_OUTPUT`. The first
//! failure is re-printed outside any group.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::PathBuf;

use super::annotations::{self, Finding};
use super::spool::Spool;
use super::style::Style;
use super::summary::{self, Failure};
use super::Tail;
use crate::events::{Event, JobId, JobSummary, Level, Outcome, Reporter, Severity};

pub struct GithubActions {
    out: io::Stdout,
    names: HashMap<JobId, String>,
    buffers: HashMap<JobId, Spool>,
    tails: HashMap<JobId, Tail>,
    running: Vec<JobId>,
    live: Option<JobId>,
    /// The job whose group is open in the log right now.
    open: Option<JobId>,
    /// Jobs whose group was opened before (a reopened one says "(continued)").
    opened: HashSet<JobId>,
    first_failure: Option<Failure>,
    /// Findings to annotate at the end, with the job they came from.
    findings: Vec<(Option<JobId>, Finding)>,
    task: String,
    /// Where the project root sits in the checkout (`GITHUB_WORKSPACE`): annotations need
    /// repository-relative paths, diagnostics are project-relative.
    path_prefix: PathBuf,
    /// The project root, where git tells which files the change touched.
    repo_dir: PathBuf,
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
            open: None,
            opened: HashSet::new(),
            first_failure: None,
            findings: Vec::new(),
            task: String::new(),
            path_prefix,
            repo_dir: root.to_path_buf(),
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

    /// Makes `id`'s group the open one, closing another first; called only right before
    /// something is written into it, so no group is ever empty.
    fn ensure_open(&mut self, id: JobId) {
        if self.open == Some(id) {
            return;
        }
        self.close_group();
        let more = if self.opened.contains(&id) {
            " (continued)"
        } else {
            ""
        };
        let name = self.name(id);
        self.line(&format!("::group::{}{more}", escape_data(&name)));
        self.open = Some(id);
        self.opened.insert(id);
    }

    fn close_group(&mut self) {
        if self.open.take().is_some() {
            self.line("::endgroup::");
        }
    }

    fn job_bytes(&mut self, id: JobId, bytes: &[u8]) {
        self.tails.entry(id).or_default().push(bytes);
        if self.live == Some(id) {
            self.ensure_open(id);
            self.write(bytes);
        } else {
            self.buffers.entry(id).or_default().push(bytes);
        }
    }

    /// Prints what a job buffered (from disk if it spilled there).
    fn write_buffered(&mut self, id: JobId) {
        let mut buffered = self.buffers.remove(&id).unwrap_or_default();
        buffered.drain(|chunk| self.write(chunk));
    }

    fn job_line(&mut self, id: JobId, text: &str) {
        self.job_bytes(id, format!("{text}\n").as_bytes());
    }

    /// A finding to annotate at the end of the run; paths become repository-relative.
    fn collect(
        &mut self,
        job: Option<JobId>,
        severity: Severity,
        title: &str,
        location: Option<(&str, usize, usize)>,
        message: &str,
    ) {
        let location = location.map(|(file, line, col)| {
            let file = if std::path::Path::new(file).is_relative() {
                self.path_prefix.join(file).display().to_string()
            } else {
                file.to_string()
            };
            (file, line, col)
        });
        self.findings.push((
            job,
            Finding {
                severity,
                title: title.to_string(),
                location,
                message: message.to_string(),
            },
        ));
    }

    fn annotate(&mut self, finding: &Finding) {
        let kind = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        };
        let mut props = Vec::new();
        if let Some((file, line, col)) = &finding.location {
            props.push(format!("file={}", escape_property(file)));
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
        }
        props.push(format!("title={}", escape_property(&finding.title)));
        self.line(&format!(
            "::{kind} {}::{}",
            props.join(","),
            escape_data(&finding.message)
        ));
    }

    /// One annotation per failure: when a job's failure came with findings of its own (the
    /// compiler's, a failing test's), the script-line error that merely says the step failed is
    /// dropped; a failure with no located finding at all gets one without a place.
    fn failure_findings(&mut self, id: JobId, name: &str, error: &str) {
        let is_script = |f: &Finding| {
            f.location
                .as_ref()
                .is_some_and(|(file, _, _)| file.ends_with(".rhai"))
        };
        let has_own = self.findings.iter().any(|(job, f)| {
            *job == Some(id)
                && f.severity == Severity::Error
                && f.location.is_some()
                && !is_script(f)
        });
        if has_own {
            self.findings.retain(|(job, f)| {
                !(*job == Some(id) && is_script(f) && error.contains(f.message.as_str()))
            });
        }
        let located = self.findings.iter().any(|(job, f)| {
            *job == Some(id) && f.severity == Severity::Error && f.location.is_some()
        });
        if !located {
            let whole = error.trim_start_matches("error: ").trim_end().to_string();
            let whole = if whole.is_empty() {
                "failed".to_string()
            } else {
                whole
            };
            self.collect(
                Some(id),
                Severity::Error,
                &format!("{name} failed"),
                None,
                &whole,
            );
        }
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
            // Never started (blocked, cancelled before its start): one line, no group.
            self.close_group();
            self.line(&verdict);
        } else if self.live == Some(id) {
            self.ensure_open(id);
            self.line(&verdict);
            self.close_group();
            self.live = self.running.first().copied();
            if let Some(next) = self.live {
                let mut buffered = self.buffers.remove(&next).unwrap_or_default();
                if !buffered.is_empty() {
                    self.ensure_open(next);
                    buffered.drain(|chunk| self.write(chunk));
                }
            }
        } else {
            // A buffered job ended: its block as a group of its own. The live job's group
            // reopens when that job prints again.
            self.ensure_open(id);
            self.write_buffered(id);
            self.line(&verdict);
            self.close_group();
        }
        if let Outcome::Failed { error } = &summary.outcome {
            self.failure_findings(id, &summary.name, error);
        }
    }

    fn run_finished(
        &mut self,
        jobs: &[JobSummary],
        total: std::time::Duration,
        interrupted: bool,
        rerun_hint: &str,
    ) {
        self.close_group();
        let changed = annotations::changed_files(&self.repo_dir);
        let findings: Vec<Finding> = std::mem::take(&mut self.findings)
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        let (shown, rest) = annotations::spend(&findings, &changed);
        for finding in &shown {
            self.annotate(finding);
        }
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
            let mut markdown = summary::markdown(&self.task, jobs, total, rerun_hint);
            markdown.push_str(&annotations::overflow_markdown(&rest));
            let existing = std::fs::metadata(&path)
                .map(|m| m.len() as usize)
                .unwrap_or(0);
            let markdown = annotations::trim_summary(&markdown, existing);
            self.hand_over_summary(jobs, &markdown);
            if let Err(e) = append(&path, &markdown) {
                self.line(&format!(
                    "::warning::cannot write the step summary to {}: {e}",
                    path.display()
                ));
            }
        }
    }

    /// In a distributed run (`XTASK_RESULTS` set: one job of a generated workflow), a copy of
    /// the summary for the gate job, which merges every job's.
    fn hand_over_summary(&self, jobs: &[JobSummary], markdown: &str) {
        let Some(dir) = std::env::var_os("XTASK_RESULTS").filter(|d| !d.is_empty()) else {
            return;
        };
        let first = jobs.first().map(|j| j.name.as_str()).unwrap_or("run");
        let slug: String = first
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("summary-{slug}.md")), markdown);
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
                // A warning is also an annotation, spent from the same budget at the end.
                let line = match level {
                    Level::Info => text.clone(),
                    Level::Warn => {
                        let title = job
                            .map(|id| self.name(id))
                            .unwrap_or_else(|| self.task.clone());
                        self.collect(*job, Severity::Warning, &title, None, text);
                        format!("warning: {text}")
                    }
                };
                match job {
                    Some(id) => self.job_line(*id, &line),
                    None => self.line(&line),
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
                self.collect(*job, *level, &title, Some((file, *line, *column)), message);
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
