//! One run's view of the cache, and what the scheduler does around each job: skip it when its
//! record still matches, else run it while recording, and store the record of a success.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::check;
use super::files::{self, FileSet};
use super::hashing::{digest_bytes, digest_text, StatCache};
use super::recording::{self, Recorded};
use super::store::{self, Loaded, Record};
use crate::cancel::CancelToken;
use crate::events::{EventBus, Level, Outcome};
use crate::graph::{Condition, PlannedJob};
use crate::scheduler::JobRunner;

/// How the command line asked the cache to behave.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--force`: run every job (their records are still updated).
    pub force_all: bool,
    /// `--force-job NAME`: run these jobs (a matrix job's name means all its combinations).
    pub force: Vec<String>,
    /// `--explain`: say in each job's log why it ran or was skipped.
    pub explain: bool,
}

pub struct Session {
    root: PathBuf,
    dir: PathBuf,
    task: String,
    options: Options,
    stat: StatCache,
    /// Never an input: the cache itself and the target directory.
    skip: Vec<PathBuf>,
    /// Query command → digest of its output, once per run. Jobs that start together (four
    /// cargo jobs all recording `rustc -vV`) wait for one run of the command, not one each.
    commands: Mutex<HashMap<String, QueryCell>>,
}

/// A query's digest once some job has run it (`None` inside: it could not run).
type QueryCell = Arc<OnceLock<Option<String>>>;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cache::Session({})", self.dir.display())
    }
}

/// Longest a query command (`rustc -vV`) may take when it is re-run to check a record.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

impl Session {
    /// `${CARGO_TARGET_DIR:-<root>/target}/xtask-cache` (a relative `CARGO_TARGET_DIR` is taken
    /// from the project root).
    pub fn cache_dir(root: &Path) -> PathBuf {
        target_dir(root).join("xtask-cache")
    }

    pub fn open(root: &Path, task: &str, options: Options) -> Arc<Session> {
        let dir = Session::cache_dir(root);
        super::store::create_cache_dir(&dir);
        let stat = StatCache::load(&dir.join("stat-cache"));
        Arc::new(Session {
            root: root.to_path_buf(),
            skip: vec![dir.clone(), target_dir(root)],
            dir,
            task: task.to_string(),
            options,
            stat,
            commands: Mutex::new(HashMap::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the records are kept (`<target>/xtask-cache`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn files(&self) -> files::Context<'_> {
        files::Context {
            root: &self.root,
            stat: &self.stat,
            skip: &self.skip,
        }
    }

    /// Saves the stat cache; called once the run is over.
    pub fn finish(&self) {
        let _ = self.stat.save(&self.dir.join("stat-cache"));
    }

    fn command_key(argv: &[String], env: &[(String, Option<String>)], dir: Option<&str>) -> String {
        serde_json::json!([argv, env, dir]).to_string()
    }

    pub fn remember_command(
        &self,
        argv: &[String],
        env: &[(String, Option<String>)],
        dir: Option<&str>,
        digest: &str,
    ) {
        let known = OnceLock::from(Some(digest.to_string()));
        self.commands
            .lock()
            .unwrap()
            .insert(Self::command_key(argv, env, dir), QueryCell::new(known));
    }

    /// The digest of what a query command prints now (`None` when it cannot run or fails).
    pub fn command_digest(
        &self,
        argv: &[String],
        env: &[(String, Option<String>)],
        dir: Option<&str>,
    ) -> Option<String> {
        let (cell, _) = self.query_cell(argv, env, dir);
        cell.get_or_init(|| self.run_query(argv, env, dir)).clone()
    }

    /// The once-cell holding a query's answer for this run, and whether this call made it.
    fn query_cell(
        &self,
        argv: &[String],
        env: &[(String, Option<String>)],
        dir: Option<&str>,
    ) -> (QueryCell, bool) {
        let mut commands = self.commands.lock().unwrap();
        match commands.entry(Self::command_key(argv, env, dir)) {
            Entry::Occupied(known) => (Arc::clone(known.get()), false),
            Entry::Vacant(new) => (Arc::clone(new.insert(QueryCell::default())), true),
        }
    }

    /// Starts a query command on a helper thread unless this run already has (or is getting)
    /// its answer; [`Session::command_digest`] then waits for it. Without a thread, the
    /// answer is left to `command_digest`, which runs the query itself.
    pub fn prefetch_command(
        session: &Arc<Session>,
        argv: &[String],
        env: &[(String, Option<String>)],
        dir: Option<&str>,
    ) {
        let (cell, new) = session.query_cell(argv, env, dir);
        if !new {
            return;
        }
        let session = Arc::clone(session);
        let (argv, env, dir) = (argv.to_vec(), env.to_vec(), dir.map(str::to_string));
        let _ = crate::workers::spawn(move || {
            cell.get_or_init(|| session.run_query(&argv, &env, dir.as_deref()));
        });
    }

    fn run_query(
        &self,
        argv: &[String],
        env: &[(String, Option<String>)],
        dir: Option<&str>,
    ) -> Option<String> {
        let spec = crate::process::Spec {
            argv: argv.to_vec(),
            env: env.to_vec(),
            dir: Some(dir.map_or_else(|| self.root.clone(), |d| files::resolve(&self.root, d))),
            timeout: Some(COMMAND_TIMEOUT),
            capture_stdout: true,
            ..Default::default()
        };
        let token = CancelToken::new();
        crate::signals::watch(&token);
        let result = crate::process::execute(&spec, &token, Arc::new(|_| {}));
        crate::signals::unwatch(&token);
        match result {
            Ok(done) => Some(output_digest(&done.stdout, done.success())),
            Err(_) => None,
        }
    }

    fn forced(&self, job: &PlannedJob) -> bool {
        self.options.force_all
            || self
                .options
                .force
                .iter()
                .any(|n| *n == job.name || *n == job.base)
    }

    fn explain(&self, bus: &EventBus, job: &PlannedJob, text: String) {
        if self.options.explain {
            bus.message(Some(job.id), Level::Info, format!("cache: {text}"));
        }
    }

    /// Runs one job through the cache. `needs` are the fingerprints of the jobs it needs
    /// (`None`: that job is never cached, so neither is this one). Returns the outcome, the
    /// attempts and the job's fingerprint for its dependents.
    pub fn run_job(
        self: &Arc<Self>,
        job: &PlannedJob,
        needs: &[(String, Option<String>)],
        runner: &dyn JobRunner,
        bus: &EventBus,
        run: impl FnOnce() -> (Outcome, u32),
    ) -> (Outcome, u32, Option<String>) {
        let policy = job.def.cache;
        let identity = match (&job.def.condition, policy) {
            (_, Some(false)) | (Condition::Never { .. }, _) => None,
            _ => runner.identity(job),
        };
        let Some(identity) = identity else {
            if policy == Some(false) {
                self.explain(
                    bus,
                    job,
                    "runs: caching is off for this job (`cache: false`)".into(),
                );
            }
            let (outcome, attempts) = run();
            let fingerprint = skipped_fingerprint(job, &outcome);
            return (outcome, attempts, fingerprint);
        };
        let identity = check::digest_identity(&identity);
        let path = store::record_path(&self.dir, &self.root, &self.task, &job.name);
        let known_needs: Option<Vec<(String, String)>> = needs
            .iter()
            .map(|(n, fp)| fp.clone().map(|fp| (n.clone(), fp)))
            .collect();

        let reason = if self.forced(job) {
            "forced (--force / --force-job)".to_string()
        } else if let Some((name, _)) = needs.iter().find(|(_, fp)| fp.is_none()) {
            format!("needs `{name}`, which is never skipped, so neither is this job")
        } else {
            let needs = known_needs.clone().unwrap_or_default();
            match store::load(&path, &self.task, &job.name) {
                Loaded::Missing => "no successful run is recorded".to_string(),
                Loaded::Unreadable => {
                    "its cache record is unreadable (cut short?): treated as a miss".to_string()
                }
                Loaded::Found(record) => {
                    let env = |name: &str| runner.env_var(job, name);
                    match check::first_difference(&record, &identity, &needs, self, &env) {
                        None => {
                            if runner.restore_result(job, record.result.clone()) {
                                self.explain(
                                    bus,
                                    job,
                                    format!(
                                        "up to date: nothing it depends on changed since its last successful run ({} facts checked)",
                                        record.facts.len()
                                    ),
                                );
                                return (Outcome::UpToDate, 0, Some(record.fingerprint));
                            }
                            "its recorded result could not be restored".to_string()
                        }
                        Some(why) => why,
                    }
                }
            }
        };
        self.explain(bus, job, format!("runs: {reason}"));

        recording::begin(Arc::clone(self));
        self.record_declared_inputs(job, runner);
        let (outcome, attempts) = run();
        if outcome == Outcome::Passed && !job.def.outputs.is_empty() {
            recording::files(FileSet::Glob {
                dir: self.job_dir(job),
                patterns: job.def.outputs.clone(),
            });
        }
        let recorded = recording::end().unwrap_or_default();
        match &outcome {
            Outcome::Passed => {}
            Outcome::Skipped { .. } => {
                let fingerprint = skipped_fingerprint(job, &outcome);
                return (outcome, attempts, fingerprint);
            }
            // Never cache a failure; a record that did not predict this one is dropped.
            _ => {
                store::forget(&path);
                return (outcome, attempts, None);
            }
        }
        if let Some(why) = self.not_cacheable(job, &recorded) {
            store::forget(&path);
            self.explain(bus, job, format!("not cached: {why}"));
            return (outcome, attempts, None);
        }
        let Some(result) = runner.result(job) else {
            store::forget(&path);
            self.explain(
                bus,
                job,
                "not cached: its return value cannot be stored (return a plain value)".into(),
            );
            return (outcome, attempts, None);
        };
        let mut record = Record {
            format: store::FORMAT,
            task: self.task.clone(),
            job: job.name.clone(),
            fingerprint: String::new(),
            identity,
            needs: known_needs.unwrap_or_default(),
            facts: recorded.facts,
            result,
        };
        record.fingerprint = record.compute_fingerprint();
        if let Err(e) = store::save(&path, &record) {
            bus.message(
                Some(job.id),
                Level::Warn,
                format!("could not write the cache record {}: {e}", path.display()),
            );
            return (outcome, attempts, None);
        }
        (outcome, attempts, Some(record.fingerprint))
    }

    /// Why a successful run may not be skipped next time, if it may not.
    fn not_cacheable(&self, job: &PlannedJob, recorded: &Recorded) -> Option<String> {
        if let Some(why) = recorded.untrusted.first() {
            return Some(why.clone());
        }
        if job.def.cache == Some(true) {
            return None;
        }
        if let Some(why) = recorded.volatile.first() {
            return Some(format!("{why} (`cache: true` opts in)"));
        }
        if job.def.inputs.is_empty() {
            if let Some(what) = recorded.opaque.first() {
                return Some(format!(
                    "it runs `{what}`, whose inputs only the script knows: declare them with `inputs: [...]` (or `cache: true`)"
                ));
            }
        }
        None
    }

    fn job_dir(&self, job: &PlannedJob) -> String {
        match &job.def.dir {
            Some(dir) => files::relative(&self.root, &self.root.join(dir)),
            None => ".".into(),
        }
    }

    /// `inputs`: globs relative to the job's directory, and `env:NAME` for a variable.
    fn record_declared_inputs(&self, job: &PlannedJob, runner: &dyn JobRunner) {
        let (vars, globs): (Vec<&String>, Vec<&String>) =
            job.def.inputs.iter().partition(|i| i.starts_with("env:"));
        for var in vars {
            let name = &var["env:".len()..];
            recording::env(name, runner.env_var(job, name).as_deref());
        }
        if !globs.is_empty() {
            recording::files(FileSet::Glob {
                dir: self.job_dir(job),
                patterns: globs.into_iter().cloned().collect(),
            });
        }
    }
}

/// What a query command answered: its output, or that it failed (a failure is an answer too:
/// `git` outside a repository).
pub fn output_digest(stdout: &[u8], success: bool) -> String {
    if success {
        digest_bytes(stdout)
    } else {
        digest_text("the command failed")
    }
}

/// A skipped job has no record, but its dependents still need a stable fingerprint of it.
fn skipped_fingerprint(job: &PlannedJob, outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Skipped { reason } => {
            Some(digest_text(&format!("skipped\n{}\n{reason}", job.name)))
        }
        _ => None,
    }
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
