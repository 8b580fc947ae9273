//! `xtask <task> --rehearse`: the generated workflow (see `workflow/`), played locally. Every job
//! runs in its own xtask process (`--job NAME --no-needs`), from its own fresh copy of the
//! repository, once the jobs it needs (whole matrices, as Actions' `needs:` does) have passed,
//! and gets their results the way the workflow hands them over: each job's results directory
//! (`XTASK_RESULTS`, see `results_file.rs`) is its "artifact", and a job starts with the
//! artifacts of the jobs it needs copied into its own. Like Actions, a failure does not stop
//! independent jobs; its dependents are not run, and the run's verdict is the gate's.
//!
//! The scheduler runs it: this module is only a [`JobRunner`] whose job body is a child process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::cancel::CancelToken;
use crate::events::{EventBus, Outcome};
use crate::graph::{Plan, PlannedJob};
use crate::process::{self, Spec};
use crate::results_file;
use crate::scheduler::JobRunner;

pub struct Rehearsal {
    /// The project root the rehearsal was started in.
    root: PathBuf,
    task: String,
    args: Vec<String>,
    bus: EventBus,
    /// Holds `checkouts/` and `artifacts/`; removed when the rehearsal ends.
    work: tempfile::TempDir,
    /// Each finished job's artifact directory, by job name.
    artifacts: Mutex<Vec<(String, PathBuf)>>,
    /// Names of the jobs each job needs, by job id.
    needs: Vec<Vec<String>>,
    target_dir: PathBuf,
}

/// The plan the workflow runs: a job waits for every expansion of each declared job it needs.
pub fn widen_needs(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    let bases: Vec<Vec<String>> = plan
        .jobs
        .iter()
        .map(|j| {
            let mut b: Vec<String> = j.needs.iter().map(|&n| plan.jobs[n].base.clone()).collect();
            b.dedup();
            b
        })
        .collect();
    let by_base = |base: &str| -> Vec<usize> {
        plan.jobs
            .iter()
            .filter(|j| j.base == base)
            .map(|j| j.id)
            .collect()
    };
    let widened: Vec<Vec<usize>> = bases
        .iter()
        .map(|b| {
            let mut ids: Vec<usize> = b.iter().flat_map(|x| by_base(x)).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        })
        .collect();
    for (job, needs) in plan.jobs.iter_mut().zip(widened) {
        job.needs = needs;
    }
    plan
}

impl Rehearsal {
    pub fn new(
        root: &Path,
        task: &str,
        args: &[String],
        bus: EventBus,
        plan: &Plan,
    ) -> Result<Rehearsal, String> {
        let work = tempfile::Builder::new()
            .prefix("xtask-rehearsal-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        // The runners' restored cargo cache: the project's own target dir, unless one is set.
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| if t.is_relative() { root.join(t) } else { t })
            .unwrap_or_else(|| root.join("target"));
        Ok(Rehearsal {
            root: root.to_path_buf(),
            task: task.to_string(),
            args: args.to_vec(),
            bus,
            work,
            artifacts: Mutex::new(Vec::new()),
            needs: plan
                .jobs
                .iter()
                .map(|j| j.needs.iter().map(|&n| plan.jobs[n].name.clone()).collect())
                .collect(),
            target_dir,
        })
    }

    /// The rehearsal's own directory (checkouts and artifacts). Its `TempDir` removes it when
    /// dropped, but a worker thread may still hold the runner as the process exits: the caller
    /// removes it once the scheduler is done.
    pub fn work_dir(&self) -> PathBuf {
        self.work.path().to_path_buf()
    }

    fn rehearse(&self, job: &PlannedJob, token: &CancelToken) -> Result<Outcome, String> {
        let slug = results_file::slug(&job.name);
        let checkout = self.work.path().join("checkouts").join(&slug);
        let project = fresh_copy(&self.root, &checkout, token)?;
        let artifact = self.work.path().join("artifacts").join(&slug);
        std::fs::create_dir_all(&artifact)
            .map_err(|e| format!("cannot create {}: {e}", artifact.display()))?;
        // download-artifact: what the jobs it needs handed over.
        let inputs: Vec<PathBuf> = {
            let done = self.artifacts.lock().unwrap();
            done.iter()
                .filter(|(name, _)| self.needs[job.id].contains(name))
                .map(|(_, dir)| dir.clone())
                .collect()
        };
        for dir in inputs {
            copy_tree(&dir, &artifact, &[])?;
        }
        let report = self.work.path().join(format!("report-{slug}.json"));
        let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask itself: {e}"))?;
        let mut argv = vec![
            exe.display().to_string(),
            "-C".into(),
            project.display().to_string(),
            self.task.clone(),
            "--job".into(),
            job.name.clone(),
            "--no-needs".into(),
            "--report".into(),
            format!("json={}", report.display()),
            "--".into(),
        ];
        argv.extend(self.args.iter().cloned());
        let spec = Spec {
            argv,
            env: vec![
                (
                    results_file::ENV.into(),
                    Some(artifact.display().to_string()),
                ),
                (
                    "CARGO_TARGET_DIR".into(),
                    Some(self.target_dir.display().to_string()),
                ),
            ],
            dir: Some(project.clone()),
            ..Spec::default()
        };
        let sink = self.bus.command_log(
            Some(job.id),
            &format!(
                "xtask {} --job {} --no-needs   (in {})",
                self.task,
                process::display_argv(std::slice::from_ref(&job.name)),
                project.display()
            ),
        );
        let finished = process::execute(&spec, token, sink);
        // upload-artifact: this job's results are now available to the jobs that need it.
        self.artifacts
            .lock()
            .unwrap()
            .push((job.name.clone(), artifact));
        let _ = std::fs::remove_dir_all(&checkout);
        let finished = match finished {
            Ok(f) => f,
            Err(process::Failure::Cancelled { reason }) => {
                return Ok(Outcome::Cancelled { reason })
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(
            verdict(&report, &job.name).unwrap_or_else(|| match finished.code {
                Some(0) => Outcome::Passed,
                Some(130) => Outcome::Cancelled {
                    reason: "interrupted".into(),
                },
                _ => Outcome::Failed {
                    error: format!(
                        "xtask {} --job \"{}\" ended with {}",
                        self.task,
                        job.name,
                        finished.describe()
                    ),
                },
            }),
        )
    }
}

/// The job's own verdict from the child's JSON report.
fn verdict(report: &Path, job: &str) -> Option<Outcome> {
    let text = std::fs::read_to_string(report).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    let entry = report["jobs"]
        .as_array()?
        .iter()
        .find(|j| j["name"] == job)?;
    let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
    Some(match entry["status"].as_str()? {
        "passed" => Outcome::Passed,
        "skipped" => Outcome::Skipped {
            reason: text("reason"),
        },
        "failed" => Outcome::Failed {
            error: text("error"),
        },
        "not run" => Outcome::Blocked { by: text("reason") },
        _ => Outcome::Cancelled {
            reason: text("reason"),
        },
    })
}

impl JobRunner for Rehearsal {
    fn run_job(&self, job: &PlannedJob, token: &CancelToken) -> Outcome {
        match self.rehearse(job, token) {
            Ok(outcome) => outcome,
            Err(error) if token.is_cancelled() => Outcome::Cancelled {
                reason: token.reason().unwrap_or(error),
            },
            Err(error) => Outcome::Failed { error },
        }
    }
}

/// A fresh copy of the repository the project is in, as a runner's checkout would be, with the
/// working tree's uncommitted changes on top; returns the project's directory inside it.
fn fresh_copy(root: &Path, dest: &Path, token: &CancelToken) -> Result<PathBuf, String> {
    let git = |args: &[&str], dir: &Path| -> Result<String, String> {
        let spec = Spec::query("git", args, dir);
        let stderr: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = {
            let stderr = Arc::clone(&stderr);
            Arc::new(move |b: Vec<u8>| stderr.lock().unwrap().extend(b)) as process::Sink
        };
        match process::execute(&spec, token, sink) {
            Ok(f) if f.success() => Ok(String::from_utf8_lossy(&f.stdout).into_owned()),
            Ok(f) => Err(format!(
                "git {} failed ({}): {}",
                args.join(" "),
                f.describe(),
                String::from_utf8_lossy(&stderr.lock().unwrap()).trim()
            )),
            Err(e) => Err(format!("git {}: {e}", args.join(" "))),
        }
    };
    let top = git(&["rev-parse", "--show-toplevel"], root)
        .ok()
        .map(|t| PathBuf::from(t.trim()));
    let Some(top) = top else {
        // A project outside git: every file but build output and VCS data.
        copy_tree(root, dest, &["target", ".git"])?;
        return Ok(dest.to_path_buf());
    };
    let top = top.canonicalize().unwrap_or(top);
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let prefix = root_abs.strip_prefix(&top).unwrap_or(Path::new(""));
    // A clone borrowing the objects (read-only), then the working tree's changes on top.
    git(
        &[
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            &top.display().to_string(),
            &dest.display().to_string(),
        ],
        root,
    )?;
    let head = git(&["rev-parse", "HEAD"], &top)?;
    git(&["checkout", "--quiet", "--detach", head.trim()], dest)?;
    let changed = git(
        &[
            "ls-files",
            "-z",
            "--modified",
            "--others",
            "--exclude-standard",
        ],
        &top,
    )?;
    for file in changed.split('\0').filter(|f| !f.is_empty()) {
        let from = top.join(file);
        let to = dest.join(file);
        if from.is_file() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::copy(&from, &to).map_err(|e| format!("copy {file}: {e}"))?;
        } else if !from.exists() {
            let _ = std::fs::remove_file(&to);
        }
    }
    Ok(dest.join(prefix))
}

/// Copies a directory tree, leaving out entries below it with one of the `skip` names.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<(), String> {
    let walk = walkdir::WalkDir::new(from).into_iter().filter_entry(|e| {
        e.depth() == 0 || !skip.contains(&e.file_name().to_string_lossy().as_ref())
    });
    for entry in walk.filter_map(Result::ok) {
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &dest)
                .map_err(|e| format!("copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}
