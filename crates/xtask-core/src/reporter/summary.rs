//! The end-of-run summary, shared by reporters: the job table, the tally line, the recap of the
//! first failure, and the same table as markdown for a CI run page.

use std::time::Duration;

use super::style::Style;
use super::Tail;
use crate::duration;
use crate::events::{JobSummary, Outcome};

/// The first failed job, kept for the recap at the end.
pub struct Failure {
    pub name: String,
    pub error: String,
    pub tail: Tail,
}

/// The one-line verdict printed when a job ends: a symbol and the text after the job's name.
pub fn verdict(job: &JobSummary) -> (&'static str, String) {
    let time = duration::format(job.duration);
    match &job.outcome {
        Outcome::Passed => ("✓", format!("passed in {time}")),
        Outcome::UpToDate => ("✓", "up to date".to_string()),
        Outcome::Failed { .. } => ("✗", format!("failed after {time}")),
        Outcome::Skipped { reason } => ("↷", format!("skipped: {reason}")),
        Outcome::Cancelled { reason } => ("■", format!("cancelled: {reason}")),
        Outcome::Blocked { by } => ("-", format!("not run: needs `{by}`, which did not pass")),
    }
}

/// Why a job did not pass, or how many attempts it took.
pub fn note(job: &JobSummary) -> String {
    match &job.outcome {
        Outcome::Skipped { reason } | Outcome::Cancelled { reason } => reason.clone(),
        Outcome::Blocked { by } => format!("needs `{by}`"),
        _ if job.attempts > 1 => format!("{} attempts", job.attempts),
        _ => String::new(),
    }
}

fn time(job: &JobSummary) -> String {
    if job.duration.is_zero() {
        "-".into()
    } else {
        duration::format(job.duration)
    }
}

pub fn table(jobs: &[JobSummary], s: Style) -> String {
    if jobs.is_empty() {
        return String::new();
    }
    let width = jobs
        .iter()
        .map(|j| j.name.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = s.bold(&format!(
        "\n{:<width$}  {:<9}  {:>9}\n",
        "job", "status", "time"
    ));
    for job in jobs {
        let label = format!("{:<9}", job.outcome.label());
        let status = match &job.outcome {
            Outcome::Passed | Outcome::UpToDate => s.green(&label),
            Outcome::Failed { .. } => s.red(&label),
            _ => s.yellow(&label),
        };
        let note = note(job);
        let note = if note.is_empty() {
            String::new()
        } else {
            format!("  {}", s.dim(&note))
        };
        out.push_str(&format!(
            "{:<width$}  {status}  {:>9}{note}\n",
            job.name,
            time(job)
        ));
    }
    out
}

pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Stopped, or never started, because of a failure elsewhere or an interrupt (the table's
    /// "cancelled").
    pub cancelled: usize,
    /// Skipped as up to date: their inputs are those of their last successful run.
    pub up_to_date: usize,
    /// Never started because a job they need did not pass (the table's "not run").
    pub not_run: usize,
}

pub fn counts(jobs: &[JobSummary]) -> Counts {
    let count = |f: fn(&Outcome) -> bool| jobs.iter().filter(|j| f(&j.outcome)).count();
    Counts {
        passed: count(|o| matches!(o, Outcome::Passed)),
        failed: count(|o| matches!(o, Outcome::Failed { .. })),
        skipped: count(|o| matches!(o, Outcome::Skipped { .. })),
        cancelled: count(|o| matches!(o, Outcome::Cancelled { .. })),
        not_run: count(|o| matches!(o, Outcome::Blocked { .. })),
        up_to_date: count(|o| matches!(o, Outcome::UpToDate)),
    }
}

/// "ci: 3 passed, 1 failed, 2 not run (4.12s)", plus what an interrupt stopped.
pub fn tally_text(task: &str, jobs: &[JobSummary], total: Duration) -> String {
    let c = counts(jobs);
    let mut tally = format!("{task}: {} passed, {} failed", c.passed, c.failed);
    if c.up_to_date > 0 {
        tally.push_str(&format!(", {} up to date", c.up_to_date));
    }
    if c.skipped > 0 {
        tally.push_str(&format!(", {} skipped", c.skipped));
    }
    if c.cancelled > 0 {
        tally.push_str(&format!(", {} cancelled", c.cancelled));
    }
    if c.not_run > 0 {
        tally.push_str(&format!(", {} not run", c.not_run));
    }
    tally.push_str(&format!(" ({})", duration::format(total)));
    tally
}

pub fn tally(
    task: &str,
    jobs: &[JobSummary],
    total: Duration,
    interrupted: bool,
    s: Style,
) -> String {
    let text = tally_text(task, jobs, total);
    let mut out = if counts(jobs).failed > 0 || interrupted {
        s.red(&text)
    } else {
        s.green(&text)
    };
    out.push('\n');
    if interrupted {
        let stopped: Vec<&str> = jobs
            .iter()
            // Jobs that never started (no attempt) were not stopped: they are in the table.
            .filter(|j| j.attempts > 0)
            .filter(|j| matches!(&j.outcome, Outcome::Cancelled { reason } if reason.contains("interrupted")))
            .map(|j| j.name.as_str())
            .collect();
        let stopped = if stopped.is_empty() {
            "-".to_string()
        } else {
            stopped.join(", ")
        };
        out.push_str(&s.yellow(&format!("interrupted; stopped: {stopped}\n")));
    }
    out
}

/// The tail of the first failure under a header, and the command that reproduces it.
pub fn recap(failure: &Failure, lines: usize, rerun_hint: &str, s: Style) -> String {
    let mut out = format!(
        "\n{}\n",
        s.red(&format!("━━ first failure: {} ━━", failure.name))
    );
    if !failure.tail.is_empty() {
        out.push_str(&failure.tail.last_lines(lines));
        out.push('\n');
    }
    out.push_str(&s.red(&failure.error));
    out.push('\n');
    out.push_str(&format!(
        "{} {}\n",
        s.bold("reproduce:"),
        rerun_hint.replace("{job}", &failure.name)
    ));
    out
}

/// The job table as GitHub-flavoured markdown.
pub fn markdown(task: &str, jobs: &[JobSummary], total: Duration, rerun_hint: &str) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### `cargo xtask {task}`: {}\n\n",
        cell(&tally_text(task, jobs, total))
    );
    out.push_str("| job | status | duration | retries | notes |\n|---|---|---|---|---|\n");
    for job in jobs {
        let icon = match &job.outcome {
            Outcome::Passed | Outcome::UpToDate => "✅",
            Outcome::Failed { .. } => "❌",
            Outcome::Skipped { .. } => "⏭️",
            Outcome::Cancelled { .. } | Outcome::Blocked { .. } => "⏹️",
        };
        let mut notes = note(job);
        if job.outcome.is_failure() {
            notes = format!("reproduce: `{}`", rerun_hint.replace("{job}", &job.name));
        }
        out.push_str(&format!(
            "| {} | {icon} {} | {} | {} | {} |\n",
            cell(&job.name),
            job.outcome.label(),
            time(job),
            job.attempts.saturating_sub(1),
            cell(&notes)
        ));
    }
    out
}
