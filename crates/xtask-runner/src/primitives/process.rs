//! `run`, `run_output`, `sh`, `sh_output`: starting programs from scripts.
//! Commands are argv arrays; `sh` is the only way to get a shell, and it is explicit.

use rhai::{Array, Dynamic, Engine, Map};

use super::{check_keys, duration_value, error, opt_bool, opt_string, Result};
use crate::events::Event;
use crate::process::{self, display_argv, Failure, Spec};
use crate::script::{context, Mode};

const RUN_OPTIONS: &[&str] = &["env", "dir", "timeout", "allow_fail", "stdin"];

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

fn shell(script: &str) -> Array {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn output(argv: Array, options: Map) -> Result<String> {
    let result = run(argv, options, true)?;
    let mut stdout = result
        .get("stdout")
        .map(|s| s.to_string())
        .unwrap_or_default();
    while stdout.ends_with('\n') || stdout.ends_with('\r') {
        stdout.pop();
    }
    Ok(stdout)
}

/// Also the way other families run a command whose output belongs in the job's log.
pub(crate) fn run(argv: Array, options: Map, capture: bool) -> Result<Map> {
    check_keys("run", &options, RUN_OPTIONS)?;
    let scope = context::current();
    let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
    if argv.is_empty() || argv[0].is_empty() {
        return error("empty command: run() needs at least a program name");
    }
    let mut spec = Spec {
        argv,
        capture_stdout: capture,
        env: scope.env_changes(),
        ..Spec::default()
    };
    spec.dir = Some(scope.dir.borrow().clone());
    if let Some(dir) = opt_string(&options, "dir")? {
        spec.dir = Some(scope.path(&dir));
    }
    if let Some(env) = options.get("env") {
        let Some(env) = env.clone().try_cast::<Map>() else {
            return error("option `env` must be a map");
        };
        for (key, value) in env {
            let value = if value.is_unit() {
                None
            } else {
                Some(crate::primitives::display_value(&value))
            };
            spec.env.push((key.to_string(), value));
        }
    }
    if let Some(timeout) = options.get("timeout") {
        spec.timeout = Some(duration_value("option `timeout`", timeout)?);
    }
    if let Some(stdin) = opt_string(&options, "stdin")? {
        spec.stdin = Some(stdin.into_bytes());
    }
    let allow_fail = opt_bool(&options, "allow_fail")?.unwrap_or(false);
    let display = display_argv(&spec.argv);

    // Listing and dry runs evaluate the top level only to learn the jobs: do not act.
    if scope.host.mode == Mode::Plan && !capture {
        let mut result = Map::new();
        result.insert("status".into(), Dynamic::from_int(0));
        result.insert("success".into(), Dynamic::TRUE);
        result.insert("skipped".into(), Dynamic::TRUE);
        return Ok(result);
    }

    if !capture {
        super::implied::run(&spec);
    }
    let bus = scope.host.bus.clone();
    let job = scope.job;
    // `run(["cargo", "build"])` competes for the build directory like `cargo::build` does.
    let dir = spec.dir.clone().unwrap_or_default();
    let _build_dir = match super::build_dir::claim_for_argv(&spec.argv, &dir, &spec.env) {
        Some(claim) => Some(crate::resources::claim(claim, &scope.token()).or_else(error)?),
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
        Err(Failure::Cancelled { reason }) => {
            return error(format!("`{display}` was stopped: {reason}"))
        }
        Err(failure) => return error(format!("`{display}`: {failure}")),
    };
    if !finished.success() && !allow_fail {
        return error(format!(
            "command failed with {}: `{display}`",
            finished.describe()
        ));
    }
    if capture {
        super::implied::run_output(&spec, &finished.stdout, finished.success());
    }
    let mut result = finished_map(&finished);
    if capture {
        result.insert(
            "stdout".into(),
            Dynamic::from(String::from_utf8_lossy(&finished.stdout).into_owned()),
        );
    }
    Ok(result)
}

/// `#{ status, success, duration }` of a finished command: what `run` returns, and the start of
/// every family's result for a command it ran (`cargo::`, `npm::`).
pub(crate) fn finished_map(finished: &crate::process::Finished) -> Map {
    let mut map = Map::new();
    map.insert(
        "status".into(),
        finished
            .code
            .map(|c| Dynamic::from_int(c as i64))
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert("success".into(), Dynamic::from_bool(finished.success()));
    map.insert(
        "duration".into(),
        Dynamic::from_float(finished.duration.as_secs_f64()),
    );
    map
}
