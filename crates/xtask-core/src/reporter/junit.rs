//! `--report junit=PATH`: a JUnit XML file with a testcase per job, in the form Jenkins, GitLab
//! and GitHub test-report actions read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::{strip_ansi, timestamp, Tail};
use crate::events::{Event, JobId, JobSummary, Outcome, Reporter, TestStatus};

/// A test a job's test run reported.
struct Case {
    name: String,
    status: TestStatus,
    output: String,
}

pub struct Junit {
    path: PathBuf,
    task: String,
    started: SystemTime,
    tails: HashMap<JobId, Tail>,
    cases: HashMap<JobId, Vec<Case>>,
    finished: Option<(Vec<JobSummary>, f64)>,
}

impl Junit {
    pub fn new(path: PathBuf) -> Self {
        Junit {
            path,
            task: String::new(),
            started: SystemTime::now(),
            tails: HashMap::new(),
            cases: HashMap::new(),
            finished: None,
        }
    }

    fn render(&self, jobs: &[JobSummary], total: f64) -> String {
        // A testcase per job, then one per test its test run reported.
        let cases = self.cases.values().flatten();
        let tests = jobs.len() + self.cases.values().map(Vec::len).sum::<usize>();
        let failures = jobs.iter().filter(|j| j.outcome.is_failure()).count()
            + cases
                .clone()
                .filter(|c| c.status == TestStatus::Failed)
                .count();
        let skipped = jobs
            .iter()
            .filter(|j| !matches!(j.outcome, Outcome::Passed | Outcome::Failed { .. }))
            .count()
            + cases.filter(|c| c.status == TestStatus::Ignored).count();
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">\n",
            esc(&format!("xtask {}", self.task)),
            tests
        ));
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total:.3}\" timestamp=\"{}\" hostname=\"{}\">\n",
            esc(&self.task),
            tests,
            timestamp(self.started),
            esc(host.trim())
        ));
        for job in jobs {
            x.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">\n",
                esc(&job.name),
                esc(&self.task),
                job.duration.as_secs_f64()
            ));
            match &job.outcome {
                Outcome::Failed { error } => {
                    let message = strip_ansi(error.lines().next().unwrap_or("failed"));
                    x.push_str(&format!(
                        "      <failure message=\"{}\" type=\"failure\">{}</failure>\n",
                        esc(&message),
                        esc(&strip_ansi(error))
                    ));
                }
                Outcome::Skipped { reason } | Outcome::Cancelled { reason } => {
                    x.push_str(&format!("      <skipped message=\"{}\"/>\n", esc(reason)));
                }
                Outcome::Blocked { by } => {
                    x.push_str(&format!(
                        "      <skipped message=\"{}\"/>\n",
                        esc(&format!("needs `{by}`, which did not pass"))
                    ));
                }
                Outcome::UpToDate => {
                    x.push_str("      <skipped message=\"up to date\"/>\n");
                }
                Outcome::Passed => {}
            }
            if let Some(tail) = self.tails.get(&job.id).filter(|t| !t.is_empty()) {
                x.push_str(&format!(
                    "      <system-out>{}</system-out>\n",
                    esc(&strip_ansi(&tail.last_lines(500)))
                ));
            }
            x.push_str("    </testcase>\n");
            for case in self.cases.get(&job.id).into_iter().flatten() {
                x.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{}\">\n",
                    esc(&case.name),
                    esc(&format!("{}.{}", self.task, job.name))
                ));
                match case.status {
                    TestStatus::Failed => x.push_str(&format!(
                        "      <failure message=\"{}\" type=\"test failure\">{}</failure>\n",
                        esc(&format!("test {} failed", case.name)),
                        esc(&strip_ansi(&case.output))
                    )),
                    TestStatus::Ignored => x.push_str("      <skipped message=\"ignored\"/>\n"),
                    TestStatus::Passed => {}
                }
                x.push_str("    </testcase>\n");
            }
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

/// XML text and attribute escaping; drops the control characters XML 1.0 forbids.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

impl Reporter for Junit {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { task, .. } => self.task = task.clone(),
            Event::Output {
                job: Some(id),
                bytes,
            } => self.tails.entry(*id).or_default().push(bytes),
            Event::CommandStarted {
                job: Some(id),
                display,
            } => self
                .tails
                .entry(*id)
                .or_default()
                .push(format!("$ {display}\n").as_bytes()),
            Event::TestCase {
                job,
                name,
                status,
                output,
            } => self.cases.entry(*job).or_default().push(Case {
                name: name.clone(),
                status: *status,
                output: output.clone(),
            }),
            Event::RunFinished { jobs, duration, .. } => {
                self.finished = Some((jobs.clone(), duration.as_secs_f64()))
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        let Some((jobs, total)) = self.finished.take() else {
            return;
        };
        let xml = self.render(&jobs, total);
        if let Err(e) = super::write_report(&self.path, &xml) {
            eprintln!(
                "error: cannot write the JUnit report to {}: {e}",
                self.path.display()
            );
        }
    }
}
