//! `--report json=PATH`: the whole run as JSON: jobs with status, timings, errors and output
//! tails, diagnostics, exported values.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use super::{strip_ansi, timestamp, Tail};
use crate::events::{Event, JobId, Outcome, Reporter, Severity};

pub struct JsonReport {
    path: PathBuf,
    started: SystemTime,
    /// When the run and each job started, as this reporter heard of it: the timeline.
    run_started: Instant,
    job_started: HashMap<JobId, Instant>,
    tails: HashMap<JobId, Tail>,
    diagnostics: Vec<Value>,
    outputs: BTreeMap<String, String>,
    report: Option<Value>,
}

impl JsonReport {
    pub fn new(path: PathBuf) -> Self {
        JsonReport {
            path,
            started: SystemTime::now(),
            run_started: Instant::now(),
            job_started: HashMap::new(),
            tails: HashMap::new(),
            diagnostics: Vec::new(),
            outputs: BTreeMap::new(),
            report: None,
        }
    }
}

impl Reporter for JsonReport {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { .. } => self.run_started = Instant::now(),
            Event::JobStarted { id, .. } => {
                self.job_started.insert(*id, Instant::now());
            }
            Event::Output { job: Some(id), bytes } => self.tails.entry(*id).or_default().push(bytes),
            Event::Diagnostic { job, level, file, line, column, message } => self.diagnostics.push(json!({
                "job": job,
                "level": match level { Severity::Error => "error", Severity::Warning => "warning", Severity::Notice => "notice" },
                "file": file,
                "line": line,
                "column": column,
                "message": strip_ansi(message),
            })),
            Event::Export { name, value } => {
                self.outputs.insert(name.clone(), value.clone());
            }
            Event::RunFinished { jobs, duration, interrupted, rerun_hint } => {
                let jobs: Vec<Value> = jobs
                    .iter()
                    .map(|j| {
                        let (error, reason) = match &j.outcome {
                            Outcome::Failed { error } => (Some(strip_ansi(error)), None),
                            Outcome::Skipped { reason } | Outcome::Cancelled { reason } => (None, Some(reason.clone())),
                            Outcome::Blocked { by } => (None, Some(format!("needs `{by}`"))),
                            Outcome::Passed | Outcome::UpToDate => (None, None),
                        };
                        json!({
                            "id": j.id,
                            "name": j.name,
                            "status": j.outcome.label(),
                            // Seconds into the run; null for a job that never started.
                            "started_secs": self.job_started.get(&j.id).map(|t| t.saturating_duration_since(self.run_started).as_secs_f64()),
                            "duration_secs": j.duration.as_secs_f64(),
                            // Of that, parked waiting for the build directory or the machine.
                            "waited_secs": j.waited.as_secs_f64(),
                            "attempts": j.attempts,
                            "error": error,
                            "reason": reason,
                            "rerun": j.outcome.is_failure().then(|| rerun_hint.replace("{job}", &j.name)),
                            "output_tail": self.tails.get(&j.id).map(|t| strip_ansi(&t.last_lines(200))),
                        })
                    })
                    .collect();
                let failed = jobs.iter().any(|j| j["status"] == "failed");
                self.report = Some(json!({
                    "started_at": timestamp(self.started),
                    "duration_secs": duration.as_secs_f64(),
                    "interrupted": interrupted,
                    "passed": !failed && !interrupted,
                    "jobs": jobs,
                    "diagnostics": self.diagnostics,
                    "outputs": self.outputs,
                }));
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        let Some(report) = self.report.take() else {
            return;
        };
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = super::write_report(&self.path, &text) {
            eprintln!(
                "error: cannot write the JSON report to {}: {e}",
                self.path.display()
            );
        }
    }
}
