//! The script host: builds the Rhai engine, evaluates a task script's top level (which declares
//! jobs), and runs job bodies on worker threads for the scheduler.

// `NativeCallContextStore` and friends are flagged "volatile", not deprecated: they are how a
// closure declared by the script is called later, on another thread, with its imports intact.
#![allow(deprecated)]

pub mod call_error;
pub mod context;
pub mod diagnostic;
pub mod identity;
pub mod resolver;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContextStore, Scope};

use crate::cancel::CancelToken;
use crate::events::{EventBus, Outcome};
use crate::graph::{Body, Condition, JobDef, MatrixValue, PlannedJob};
use crate::scheduler::JobRunner;
use context::{Deferred, JobScope};
use diagnostic::{Diagnostic, SkipSignal};

/// A job's closure with the call context it was declared in (its imports and functions).
#[derive(Clone)]
pub struct JobBody {
    pub closure: FnPtr,
    pub store: Arc<NativeCallContextStore>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Declare and run jobs.
    Execute,
    /// Only declare jobs (`--list`, `--dry-run`, `--matrix-json`): top-level `run` and `sh` are
    /// not executed; `run_output` is, since plans may depend on what it reads.
    Plan,
}

/// Everything one run of a task shares across threads.
pub struct Host {
    pub root: PathBuf,
    pub task: String,
    /// The task script relative to the root, e.g. `tasks/ci.rhai`.
    pub script: String,
    pub bus: EventBus,
    pub mode: Mode,
    pub args: Vec<String>,
    pub jobs: Mutex<Vec<JobDef>>,
    /// Top-level `set_env` changes, inherited by every job.
    pub base_env: Mutex<BTreeMap<String, Option<String>>>,
    pub tempdirs: Mutex<Vec<tempfile::TempDir>>,
    /// Values returned by finished jobs, for `result_of`.
    pub results: Mutex<HashMap<String, Dynamic>>,
    pub engine: OnceLock<Arc<Engine>>,
    /// The task script's named functions, from the AST [`Host::load`] compiled, for the
    /// up-to-date check's identity of a job (see `identity.rs`).
    pub script_functions: OnceLock<Vec<(String, String)>>,
    /// Script files' text by path relative to the root, read once per run for the jobs'
    /// identities (a 200-job task otherwise read its file 200 times).
    pub sources: Mutex<HashMap<String, Option<Arc<str>>>>,
    /// Cancels commands run by top-level code.
    pub top_token: CancelToken,
    /// `-v`: primitives may say more (the pg migration order).
    pub verbose: std::sync::atomic::AtomicBool,
}

/// A limit on script evaluation: the environment variable `name` when set to a number, else
/// `default`.
fn limit(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Most operations a single evaluation may run before it is stopped as runaway.
fn max_operations() -> u64 {
    limit("XTASK_MAX_OPERATIONS", 100_000_000)
}

/// Size limits, so a runaway allocation (`loop { s += s }`) is a script error with a location
/// instead of an out-of-memory abort that would leave every sibling job's children behind.
/// Strings count bytes; arrays and maps count elements (nested ones included).
pub const DEFAULT_MAX_STRING_SIZE: u64 = 64 * 1024 * 1024;
pub const DEFAULT_MAX_ARRAY_SIZE: u64 = 1_000_000;
pub const DEFAULT_MAX_MAP_SIZE: u64 = 1_000_000;

impl Host {
    pub fn new(
        root: PathBuf,
        task: &str,
        bus: EventBus,
        mode: Mode,
        args: Vec<String>,
    ) -> Arc<Host> {
        let host = Arc::new(Host {
            script: format!("tasks/{task}.rhai"),
            task: task.to_string(),
            root: root.clone(),
            bus,
            mode,
            args,
            jobs: Mutex::new(Vec::new()),
            base_env: Mutex::new(BTreeMap::new()),
            tempdirs: Mutex::new(Vec::new()),
            results: Mutex::new(HashMap::new()),
            engine: OnceLock::new(),
            script_functions: OnceLock::new(),
            sources: Mutex::default(),
            top_token: CancelToken::new(),
            verbose: Default::default(),
        });
        let _ = host.engine.set(Arc::new(build_engine(&host.root)));
        host
    }

    pub fn engine(&self) -> &Engine {
        self.engine.get().expect("engine built in Host::new")
    }

    /// Evaluates the task script's top level. Jobs it declares land in `self.jobs`. The returned
    /// guard keeps the top-level scope (and its `defer`s) alive until the run ends.
    pub fn load(self: &Arc<Self>) -> Result<context::ScopeGuard, Diagnostic> {
        let path = self.root.join(&self.script);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Diagnostic::plain(format!("cannot read {}: {e}", path.display())))?;
        let engine = self.engine();
        let mut ast = engine
            .compile(&text)
            .map_err(|e| Diagnostic::from_parse(&e, &self.script, &self.root))?;
        ast.set_source(self.script.as_str());
        let _ = self
            .script_functions
            .set(identity::functions_of(&ast, &text));
        // The jobs' identities are of the text that ran, even if the file changes meanwhile.
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.script.clone(), Some(text.as_str().into()));

        let guard = context::enter(JobScope {
            host: Arc::clone(self),
            job: None,
            name: self.task.clone(),
            token: self.top_token.clone().into(),
            env: Default::default(),
            dir: self.root.clone().into(),
            defers: Default::default(),
            cleanups: Default::default(),
            matrix: Map::new(),
            failed: Default::default(),
        });
        crate::signals::watch(&self.top_token);
        let mut scope = Scope::new();
        scope.push_constant(
            "args",
            self.args
                .iter()
                .cloned()
                .map(Dynamic::from)
                .collect::<Array>(),
        );
        scope.push_constant("opts", parse_opts(&self.args));
        scope.push_constant("task", self.task.clone());
        scope.push_constant("root", self.root.display().to_string());
        let result = engine.run_ast_with_scope(&mut scope, &ast);
        *self.base_env.lock().unwrap() = guard.scope.env.borrow().clone();
        if let Err(e) = result {
            // The run stops here: release what the top level already started (servers, …).
            guard.scope.failed.set(true);
            self.end_scope(&guard.scope);
            return Err(self.diagnose(&e, &self.script));
        }
        Ok(guard)
    }

    /// Turns an evaluation error into a diagnostic. A call no function matched is explained
    /// against the functions there are (see `call_error`).
    pub fn diagnose(&self, err: &EvalAltResult, main_file: &str) -> Diagnostic {
        let mut diagnostic = Diagnostic::from_eval(err, main_file, &self.root);
        let Some(signature) = diagnostic::missing_function(err) else {
            return diagnostic;
        };
        let engine = self.engine();
        // The file the call is in, for its script functions and the call's arguments.
        let ast = diagnostic
            .location
            .as_ref()
            .and_then(|loc| std::fs::read_to_string(self.root.join(&loc.file)).ok())
            .and_then(|text| engine.compile(text).ok())
            .unwrap_or_default();
        let call = call_error::FailedCall::parse(signature, engine);
        let functions = call_error::Functions::of(engine, &ast);
        let mut message = call_error::explain(&call, &functions);
        if let Some(loc) = &diagnostic.location {
            for (position, name) in
                call_error::functions_passed_for_variables(&ast, &call, loc.line, loc.column)
            {
                message.push_str(&call_error::explain_function_for_variable(position, &name));
            }
        }
        diagnostic.message = message;
        diagnostic
    }

    /// Results of jobs that ran in other processes (`XTASK_RESULTS`), for `result_of`.
    pub fn load_results(&self) -> Result<(), String> {
        let Some(dir) = crate::results_file::dir() else {
            return Ok(());
        };
        let loaded = crate::results_file::read_all(&dir)?;
        self.results.lock().unwrap().extend(loaded);
        Ok(())
    }

    pub fn take_jobs(&self) -> Vec<JobDef> {
        std::mem::take(&mut *self.jobs.lock().unwrap())
    }

    /// Ends a scope: the script's `defer`s, then native cleanups.
    pub fn end_scope(&self, scope: &JobScope) {
        self.run_defers(scope);
        scope.run_cleanups();
    }

    /// Runs deferred closures, last registered first, with a fresh token: cleanup must be able to
    /// run commands even when the job was cancelled.
    fn run_defers(&self, scope: &JobScope) {
        let defers: Vec<Deferred> = std::mem::take(&mut *scope.defers.borrow_mut());
        if defers.is_empty() {
            return;
        }
        let cleanup = CancelToken::new();
        // A first interrupt lets cleanup finish; a second one stops it (see `signals`).
        crate::signals::watch_cleanup(&cleanup);
        *scope.token.borrow_mut() = cleanup.clone();
        for deferred in defers.into_iter().rev() {
            let ctx = deferred.store.create_context(self.engine());
            if let Err(err) = deferred.closure.call_within_context::<Dynamic>(&ctx, ()) {
                let text = self.diagnose(&err, &self.script).render(&self.root);
                self.bus.message(
                    scope.job,
                    crate::events::Level::Warn,
                    format!("a deferred cleanup failed: {text}"),
                );
            }
        }
        crate::signals::unwatch(&cleanup);
    }

    /// Removes temp dirs made with `tempdir()`.
    pub fn remove_tempdirs(&self) {
        self.tempdirs.lock().unwrap().clear();
    }

    /// The job's body, after its `confirm:` gate (if any) has passed.
    fn call_job_body(&self, job: &PlannedJob, matrix: &Map) -> Result<Dynamic, Box<EvalAltResult>> {
        if let Some(phrase) = &job.def.confirm {
            crate::primitives::confirm::require_for_job(phrase, &job.name, &job.def.defined_at)?;
        }
        self.call_body(&job.def.body, matrix)
    }

    fn call_body(&self, body: &Body, matrix: &Map) -> Result<Dynamic, Box<EvalAltResult>> {
        let body = body
            .downcast_ref::<JobBody>()
            .expect("every job body of a script is a JobBody");
        let ctx = body.store.create_context(self.engine());
        // A matrix job's closure may take the combination as its parameter, or ignore it.
        body.closure.call_raw_with_extra_args(
            "job",
            &ctx,
            None,
            [],
            [Dynamic::from_map(matrix.clone())],
            None,
        )
    }
}

/// Runs job bodies for the scheduler.
pub struct Runner(pub Arc<Host>);

impl JobRunner for Runner {
    fn run_job(&self, job: &PlannedJob, token: &CancelToken) -> Outcome {
        let host = &self.0;
        let mut env = host.base_env.lock().unwrap().clone();
        for (key, value) in &job.def.env {
            env.insert(key.clone(), Some(value.clone()));
        }
        let matrix: Map = job
            .matrix
            .iter()
            .map(|(k, v)| (k.as_str().into(), matrix_value(v)))
            .collect();
        let dir = match &job.def.dir {
            Some(dir) => host.root.join(dir),
            None => host.root.clone(),
        };
        let guard = context::enter(JobScope {
            host: Arc::clone(host),
            job: Some(job.id),
            name: job.name.clone(),
            token: token.clone().into(),
            env: env.into(),
            dir: dir.into(),
            defers: Default::default(),
            cleanups: Default::default(),
            matrix: matrix.clone(),
            failed: Default::default(),
        });

        let result = match &job.def.condition {
            Condition::Always => host.call_job_body(job, &matrix),
            Condition::Never { reason } => Ok(Dynamic::from(SkipSignal(reason.clone()))),
            Condition::Check { body, reason } => match host.call_body(body, &matrix) {
                Ok(go) if go.as_bool().unwrap_or(false) => host.call_job_body(job, &matrix),
                Ok(_) => Ok(Dynamic::from(SkipSignal(
                    reason
                        .clone()
                        .unwrap_or_else(|| "`if` condition is false".into()),
                ))),
                Err(e) => Err(e),
            },
        };
        let failed = matches!(&result, Err(e) if diagnostic::skip_reason(e).is_none());
        guard.scope.failed.set(failed);
        host.end_scope(&guard.scope);
        drop(guard);

        match result {
            Ok(value) if value.is::<SkipSignal>() => Outcome::Skipped {
                reason: value.cast::<SkipSignal>().0,
            },
            Ok(value) => {
                let value = value.flatten_clone();
                // Handed to later jobs in other processes (see results_file.rs).
                if let Some(dir) = crate::results_file::dir() {
                    if let Err(error) =
                        crate::results_file::write(&dir, &host.task, &job.name, &value)
                    {
                        return Outcome::Failed { error };
                    }
                }
                host.results.lock().unwrap().insert(job.name.clone(), value);
                Outcome::Passed
            }
            Err(err) => match diagnostic::skip_reason(&err) {
                Some(reason) => Outcome::Skipped { reason },
                // Whatever error a cancelled job died of, cancellation is the cause.
                None if token.is_cancelled() => Outcome::Cancelled {
                    reason: token.reason().unwrap_or_default(),
                },
                None => {
                    let diagnostic = host.diagnose(&err, &host.script);
                    if let Some(event) = diagnostic.event(Some(job.id)) {
                        host.bus.emit(event);
                    }
                    Outcome::Failed {
                        error: diagnostic.render(&host.root),
                    }
                }
            },
        }
    }

    fn identity(&self, job: &PlannedJob) -> Option<Vec<(String, String)>> {
        Some(identity::of(&self.0, job))
    }

    fn env_var(&self, job: &PlannedJob, name: &str) -> Option<String> {
        if let Some((_, value)) = job.def.env.iter().find(|(k, _)| k == name) {
            return Some(value.clone());
        }
        match self.0.base_env.lock().unwrap().get(name) {
            Some(value) => value.clone(),
            None => std::env::var(name).ok(),
        }
    }

    fn result(&self, job: &PlannedJob) -> Option<serde_json::Value> {
        let results = self.0.results.lock().unwrap();
        match results.get(&job.name) {
            Some(value) => crate::primitives::dynamic_to_json(value).ok(),
            None => Some(serde_json::Value::Null),
        }
    }

    fn restore_result(&self, job: &PlannedJob, value: serde_json::Value) -> bool {
        let Ok(value) = crate::primitives::json_to_dynamic(&value) else {
            return false;
        };
        self.0
            .results
            .lock()
            .unwrap()
            .insert(job.name.clone(), value);
        true
    }
}

/// The script's own value of a matrix entry (every matrix value a script declares is a `Dynamic`).
fn matrix_value(value: &MatrixValue) -> Dynamic {
    value
        .value
        .downcast_ref::<Dynamic>()
        .cloned()
        .unwrap_or_else(|| Dynamic::from(value.label.clone()))
}

/// An engine being built on another thread (see [`prepare_engine`]).
static PREPARED: Mutex<Option<std::thread::JoinHandle<Engine>>> = Mutex::new(None);

/// Starts building the engine on other threads, so that registering Rhai's standard library and
/// every primitive family (most of a short run's start-up) overlaps with parsing the command
/// line, finding the project and setting up reporters. The next [`Host::new`] takes it; without
/// this call, or if the thread cannot start, the host builds its engine itself. Extensions
/// must be registered before (as [`crate::Xtask::main`] does).
pub fn prepare_engine() {
    let mut slot = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        *slot = std::thread::Builder::new()
            .name("engine".into())
            .spawn(|| {
                // The standard library is the larger half: it builds on a thread of its own
                // while this one registers the primitives.
                let standard = std::thread::Builder::new()
                    .name("engine-std".into())
                    .spawn(standard_library)
                    .ok();
                let engine = engine_without_standard_library();
                with_standard_library(engine, standard.and_then(|s| s.join().ok()))
            })
            .ok();
    }
}

fn build_engine(root: &std::path::Path) -> Engine {
    let prepared = PREPARED.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut engine = prepared
        .and_then(|build| build.join().ok())
        .unwrap_or_else(new_engine);
    engine.set_module_resolver(resolver::LibResolver::new(root.to_path_buf()));
    engine
}

/// The engine every task runs in, but for where it finds `lib/` modules.
fn new_engine() -> Engine {
    with_standard_library(engine_without_standard_library(), None)
}

/// Rhai's standard library (strings, arrays, maps, maths, time): what `Engine::new` adds to a
/// raw engine.
fn standard_library() -> rhai::Shared<rhai::Module> {
    use rhai::packages::Package;
    rhai::packages::StandardPackage::new().as_shared_module()
}

/// Adds the standard library, built here unless given. It goes in front of the primitives'
/// namespace exactly where `Engine::new` puts it, so functions resolve as they would there.
fn with_standard_library(
    mut engine: Engine,
    standard: Option<rhai::Shared<rhai::Module>>,
) -> Engine {
    engine.register_global_module(standard.unwrap_or_else(standard_library));
    engine
}

/// The engine as `Engine::new` configures it (but for the standard library), with the limits,
/// hooks and every primitive family.
fn engine_without_standard_library() -> Engine {
    let mut engine = Engine::new_raw();
    // What `Engine::new` sets besides the standard library (its module resolver is replaced
    // by `lib/`'s, its print and debug by the hooks below).
    engine.set_max_strings_interned(256);
    // Set explicitly: debug builds otherwise allow only 8 nested calls.
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_operations(max_operations());
    let size = |name, default| limit(name, default).try_into().unwrap_or(usize::MAX);
    engine.set_max_string_size(size("XTASK_MAX_STRING_SIZE", DEFAULT_MAX_STRING_SIZE));
    engine.set_max_array_size(size("XTASK_MAX_ARRAY_SIZE", DEFAULT_MAX_ARRAY_SIZE));
    engine.set_max_map_size(size("XTASK_MAX_MAP_SIZE", DEFAULT_MAX_MAP_SIZE));
    engine.on_print(crate::primitives::log::print_line);
    engine.on_debug(|text, _, _| crate::primitives::log::print_line(text));
    // Stops script code of a cancelled job (fail-fast, timeout, Ctrl-C) between operations.
    engine.on_progress(|_| {
        let scope = context::try_current()?;
        let token = scope.token.borrow();
        token
            .is_cancelled()
            .then(|| Dynamic::from(token.reason().unwrap_or_default()))
    });
    crate::primitives::register_all(&mut engine);
    crate::extend::apply(&mut engine);
    engine
}

/// `--key value`, `--key=value` and bare `--flag` in the task's arguments, as a map. Dashes in
/// keys become underscores so scripts can write `opts.dry_run`.
pub fn parse_opts(args: &[String]) -> Map {
    let mut map = Map::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(key) = args[i].strip_prefix("--").filter(|k| !k.is_empty()) {
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), Dynamic::from(v.to_string())),
                None => match args.get(i + 1) {
                    Some(next) if !next.starts_with("--") => {
                        i += 1;
                        (key.to_string(), Dynamic::from(next.clone()))
                    }
                    _ => (key.to_string(), Dynamic::TRUE),
                },
            };
            map.insert(key.replace('-', "_").into(), value);
        }
        i += 1;
    }
    map
}
