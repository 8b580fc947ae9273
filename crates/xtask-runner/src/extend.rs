//! Primitives of the user's own: the entry point of an adopting repository's `xtask/` crate
//! ([`Xtask`]) and the few calls a Rust-written primitive needs to behave like a built-in one
//! (run a command through the process layer, log to its job, mask a secret, clean up when the
//! job ends).
//!
//! A function registered here is an ordinary Rhai function: an `Err` from [`error()`] gets the
//! script position of the call (`tasks/ci.rhai:4:5`), commands it starts with [`run`] are
//! cancelled with their job (fail-fast, timeout, Ctrl-C) and their output is masked like any
//! other.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use rhai::{Array, Dynamic, Engine, Map};

use crate::events::Level;
use crate::script::context;

pub use crate::primitives::{error, Result};

type Extension = Arc<dyn Fn(&mut Engine) + Send + Sync>;

/// Extensions of this process, set once by [`Xtask::main`] before any engine is built.
static EXTENSIONS: OnceLock<Vec<Extension>> = OnceLock::new();

/// The runner with the built-in primitives and any the caller registers.
#[derive(Default)]
pub struct Xtask {
    extensions: Vec<Extension>,
}

impl Xtask {
    pub fn new() -> Xtask {
        Xtask::default()
    }

    /// Adds functions or modules to every engine the runner builds (the task's, and the one
    /// `xtask definitions` documents), after the built-in families, so a name registered here
    /// overloads or shadows a built-in one.
    ///
    /// Scripts have one integer type, `i64` (Rhai's `only_i64`): take and return `i64` (and
    /// `f64`), since a script has no way to pass a `u32` and no operators for one it is given.
    pub fn register(mut self, extension: impl Fn(&mut Engine) + Send + Sync + 'static) -> Xtask {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Parses this process's command line and runs it; returns the exit code.
    pub fn main(self) -> ExitCode {
        let _ = EXTENSIONS.set(self.extensions);
        ExitCode::from(crate::cli::main().clamp(0, 255) as u8)
    }
}

/// Applies the registered extensions to a freshly built engine.
pub(crate) fn apply(engine: &mut Engine) {
    for extension in EXTENSIONS.get().map(Vec::as_slice).unwrap_or_default() {
        extension(engine);
    }
}

/// Runs a program in the calling job, as `run(argv)` does in a script: the job's environment and
/// directory, output streamed into its log, cancelled with it; fails on a non-zero exit.
/// Returns `#{ status, success, duration }`.
pub fn run(argv: &[&str]) -> Result<Map> {
    crate::primitives::process::run(to_array(argv), Map::new(), false)
}

/// Runs a program as `run_output(argv)` does: returns its stdout without the trailing newline.
pub fn run_output(argv: &[&str]) -> Result<String> {
    let result = crate::primitives::process::run(to_array(argv), Map::new(), true)?;
    let stdout = result
        .get("stdout")
        .map(|s| s.to_string())
        .unwrap_or_default();
    Ok(stdout.trim_end_matches(['\n', '\r']).to_string())
}

/// A line in the calling job's log.
pub fn info(text: &str) {
    if let Some(scope) = context::try_current() {
        scope.host.bus.message(scope.job, Level::Info, text);
    }
}

/// Masks `value` in every output of the run from now on (and registers it with Actions).
pub fn add_secret(value: &str) {
    if let Some(scope) = context::try_current() {
        scope.host.bus.add_secret(value);
    }
}

/// A path as the calling job sees it (relative paths against the job's `dir`).
pub fn path(relative: &str) -> PathBuf {
    match context::try_current() {
        Some(scope) => scope.path(relative),
        None => PathBuf::from(relative),
    }
}

/// Runs `cleanup` when the calling job ends (passed, failed, timed out or interrupted), after the
/// script's `defer`s: stop what the primitive started.
pub fn on_exit(cleanup: impl FnOnce() + 'static) {
    if let Some(scope) = context::try_current() {
        scope.on_exit(cleanup);
    }
}

/// Whether the calling job has been cancelled; a long-running primitive checks it between steps
/// and returns an error when it is.
pub fn is_cancelled() -> bool {
    context::try_current().is_some_and(|scope| scope.token().is_cancelled())
}

fn to_array(argv: &[&str]) -> Array {
    argv.iter().map(|a| Dynamic::from(a.to_string())).collect()
}
