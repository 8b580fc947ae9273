//! `run`, `run_output`, `sh`, `sh_output`: starting programs from scripts.
//! Commands are argv arrays; `sh` is the only way to get a shell, and it is explicit.

use rhai::{Array, Dynamic, Engine, Map};

use super::error::{CommandFailed, IntoScript as _};
use super::options::{self, options, result, Duration, Vars};
use super::{error, Result};
use crate::events::Event;
use crate::process::{self, display_argv, Spec};
use crate::script::{context, Mode};

options! {
    /// Options of `run`, `run_output`, `sh` and `sh_output`.
    pub struct RunOptions for "run" {
        /// Variables set for this command on top of the job's; `()` unsets one.
        env: Vars,
        /// Directory to run in, relative to the job's.
        dir: Option<String>,
        /// Stops the command (its whole process group) after this long.
        timeout: Option<Duration>,
        /// Returns the result of a failed command instead of failing the job.
        allow_fail: bool = false,
        /// Text written to the command's standard input.
        stdin: Option<String>,
    }
}

result! {
    /// How a command ended: the start of what `run` returns and of every family's result for a
    /// command it ran (`cargo::`, `npm::`).
    pub struct Exit {
        /// Exit code; `()` when a signal ended the command.
        status: Option<i64> as "int",
        /// Whether it exited with 0.
        success: bool as "bool",
        /// Seconds it took.
        #[serde(skip_serializing_if = "Option::is_none")]
        duration: Option<f64> as "float",
        /// Set (true) in `--list` and `--dry-run`, where commands are not run.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        skipped: bool as "bool",
    }
}

impl Exit {
    /// What a command not run in `--list` and `--dry-run` returns.
    pub(crate) fn skipped() -> Exit {
        Exit {
            status: Some(0),
            success: true,
            skipped: true,
            duration: None,
        }
    }
}

result! {
    /// What `run` and `sh` return.
    pub struct RunResult {
        ..exit: Exit,
        /// Standard output (only `run_output` and `sh_output` capture it; they return it as text).
        #[serde(skip_serializing_if = "Option::is_none")]
        stdout: Option<String> as "string",
    }
}

pub(crate) const FUNCTIONS: &[super::reference::Function] = &[
    super::reference::Function {
        name: "run",
        params: &["argv: array", "options: map"],
        summary: "Runs a program (an argv array, no shell) in the job's directory and environment; fails the job when it fails.",
        options: &[<RunOptions as options::Options>::FIELDS],
        result: <RunResult as options::Fields>::FIELDS,
    },
    super::reference::Function {
        name: "run_output",
        params: &["argv: array", "options: map"],
        summary: "Runs a program and returns its standard output without the trailing newline (it also runs in `--list` and `--dry-run`).",
        options: &[<RunOptions as options::Options>::FIELDS],
        result: &[],
    },
    super::reference::Function {
        name: "sh",
        params: &["script: string", "options: map"],
        summary: "Runs a shell command line with `sh -c`; the explicit way to get a shell.",
        options: &[<RunOptions as options::Options>::FIELDS],
        result: <RunResult as options::Fields>::FIELDS,
    },
    super::reference::Function {
        name: "sh_output",
        params: &["script: string", "options: map"],
        summary: "Runs a shell command line and returns its standard output without the trailing newline.",
        options: &[<RunOptions as options::Options>::FIELDS],
        result: &[],
    },
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("run", |argv: Array| {
        run(argv, Map::new(), false).map(Dynamic::from_map)
    });
    engine.register_fn("run", |argv: Array, options: Map| {
        run(argv, options, false).map(Dynamic::from_map)
    });
    engine.register_fn("run", |command: &str| -> Result<Dynamic> {
        error(format!(
            "run() takes an argv array, e.g. run([\"cargo\", \"build\"]); for a shell command ask for one explicitly: sh({command:?})"
        ))
    });
    engine.register_fn("run_output", |argv: Array| output(argv, Map::new()));
    engine.register_fn("run_output", |argv: Array, options: Map| {
        output(argv, options)
    });
    engine.register_fn("sh", |script: &str| {
        run(shell(script), Map::new(), false).map(Dynamic::from_map)
    });
    engine.register_fn("sh", |script: &str, options: Map| {
        run(shell(script), options, false).map(Dynamic::from_map)
    });
    engine.register_fn("sh_output", |script: &str| {
        output(shell(script), Map::new())
    });
    engine.register_fn("sh_output", |script: &str, options: Map| {
        output(shell(script), options)
    });
}

/// Why `run` did not give a result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("empty command: run() needs at least a program name")]
    Empty,
    /// The build directory could not be claimed; the resource pool's own words.
    #[error("{0}")]
    Claim(String),
    #[error(transparent)]
    Command(#[from] CommandFailed),
    #[error("command failed with {status}: `{argv}`")]
    Failed {
        argv: String,
        status: String,
        code: Option<i32>,
    },
}

fn shell(script: &str) -> Array {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn output(argv: Array, options: Map) -> Result<String> {
    let options = options::parse::<RunOptions>(&options)?;
    let argv = argv.iter().map(crate::primitives::display_value).collect();
    let mut stdout = run_with(argv, options, true)
        .script()?
        .stdout
        .unwrap_or_default();
    while stdout.ends_with('\n') || stdout.ends_with('\r') {
        stdout.pop();
    }
    Ok(stdout)
}

/// Also the way other families run a command whose output belongs in the job's log.
pub(crate) fn run(argv: Array, options: Map, capture: bool) -> Result<Map> {
    let options = options::parse::<RunOptions>(&options)?;
    let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
    run_with(argv, options, capture)
        .script()
        .map(|r| options::to_map(&r))
}

/// `run` with its options read.
pub(crate) fn run_with(
    argv: Vec<String>,
    options: RunOptions,
    capture: bool,
) -> std::result::Result<RunResult, RunError> {
    let scope = context::current();
    if argv.is_empty() || argv[0].is_empty() {
        return Err(RunError::Empty);
    }
    let mut spec = Spec {
        argv,
        capture_stdout: capture,
        env: scope.env_changes(),
        ..Spec::default()
    };
    spec.dir = Some(scope.dir.borrow().clone());
    if let Some(dir) = &options.dir {
        spec.dir = Some(scope.path(dir));
    }
    spec.env.extend(options.env.0);
    spec.timeout = options.timeout.map(|t| t.0);
    spec.stdin = options.stdin.map(String::into_bytes);
    let allow_fail = options.allow_fail;
    let display = display_argv(&spec.argv);

    // Listing and dry runs evaluate the top level only to learn the jobs: do not act.
    if scope.host.mode == Mode::Plan && !capture {
        return Ok(RunResult {
            exit: Exit::skipped(),
            stdout: None,
        });
    }

    if !capture {
        super::implied::run(&spec);
    }
    let bus = scope.host.bus.clone();
    let job = scope.job;
    // `run(["cargo", "build"])` competes for the build directory like `cargo::build` does.
    let dir = spec.dir.clone().unwrap_or_default();
    let _build_dir = match super::build_dir::claim_for_argv(&spec.argv, &dir, &spec.env) {
        Some(claim) => {
            Some(crate::resources::claim(claim, &scope.token()).map_err(RunError::Claim)?)
        }
        None => None,
    };
    let sink = bus.command_log(job, &display);
    let started = std::time::Instant::now();
    let outcome = process::execute(&spec, &scope.token(), sink);
    bus.emit(Event::CommandFinished {
        job,
        display: display.clone(),
        status: match &outcome {
            Ok(finished) => finished.describe(),
            Err(failure) => failure.to_string(),
        },
        duration: started.elapsed(),
    });
    let finished = match outcome {
        Ok(finished) => finished,
        Err(failure) => return Err(CommandFailed::new(display, failure).into()),
    };
    if !finished.success() && !allow_fail {
        return Err(RunError::Failed {
            argv: display,
            status: finished.describe(),
            code: finished.code,
        });
    }
    if capture {
        super::implied::run_output(&spec, &finished.stdout, finished.success());
    }
    Ok(RunResult {
        exit: finished_result(&finished),
        stdout: capture.then(|| String::from_utf8_lossy(&finished.stdout).into_owned()),
    })
}

/// `#{ status, success, duration }` of a finished command.
pub(crate) fn finished_result(finished: &crate::process::Finished) -> Exit {
    Exit {
        status: finished.code.map(i64::from),
        success: finished.success(),
        duration: Some(finished.duration.as_secs_f64()),
        skipped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_is_a_typed_error_with_its_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let _scope = context::enter_for_test(dir.path());
        let argv = ["sh", "-c", "exit 3"].map(String::from).to_vec();
        match run_with(argv, RunOptions::default(), false) {
            Err(RunError::Failed { code, argv, .. }) => {
                assert_eq!(code, Some(3));
                assert_eq!(argv, "sh -c 'exit 3'");
            }
            other => panic!("expected a failed command, got {other:?}"),
        }
        assert!(matches!(
            run_with(Vec::new(), RunOptions::default(), false),
            Err(RunError::Empty)
        ));
    }
}
