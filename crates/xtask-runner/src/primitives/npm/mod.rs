//! `npm::` for Node/TypeScript projects: `npm::ci` (the lockfile, a configurable cache),
//! `npm::run` (a package.json script; a missing one lists those that exist), `npm::test` (node's
//! built-in test runner, or the project's own test script with JUnit files, read into the same
//! test report as `cargo::test`) and `npm::scripts`.

mod error;
mod junit;
mod tap;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::at_call_site;
use super::cargo::test_results::TestReport;
use super::error::{CommandFailed, IntoScript as _};
use super::options::{self, options, result, Duration as OptDuration, Number, Strings, Vars};
use super::options::{Fields as _, Options as _};
use super::reference::Function;
use super::Result;
use crate::events::{Event, Level};
use crate::process::{self, display_argv, Failure, Finished, Spec};
use crate::script::{context, Mode};
pub use error::NpmError;

options! {
    /// Options of `npm::ci`.
    pub struct CiOptions for "npm::ci" {
        /// The project's directory (where `package.json` is), relative to the job's.
        dir: Option<String>,
        /// npm's cache directory (default `XTASK_NPM_CACHE`, else npm's own `~/.npm`).
        cache: Option<String>,
        /// Stops npm after this long.
        timeout: Option<OptDuration>,
        /// Variables for npm on top of the job's; `()` unsets one.
        env: Vars,
        /// More arguments for `npm ci`.
        args: Strings,
    }
}

options! {
    /// Options of `npm::run`.
    pub struct NpmRunOptions for "npm::run" {
        /// The project's directory (where `package.json` is), relative to the job's.
        dir: Option<String>,
        /// Arguments for the script (after `--`).
        args: Strings,
        /// Variables for the script on top of the job's; `()` unsets one.
        env: Vars,
        /// Stops the script after this long.
        timeout: Option<OptDuration>,
        /// Returns the result of a failed script instead of failing the job.
        allow_fail: bool = false,
    }
}

options! {
    /// Options of `npm::test`.
    pub struct NpmTestOptions for "npm::test" {
        /// The project's directory (where `package.json` is), relative to the job's.
        dir: Option<String>,
        /// Test files for `node --test` (default: node's own discovery).
        files: Strings,
        /// `--experimental-test-coverage`: returns the line coverage of all files as
        /// `coverage`.
        coverage: bool = false,
        /// Fails below this line coverage in % (turns `coverage` on).
        min_coverage: Option<Number>,
        /// More arguments for `node --test` (or for the script, after `--`).
        args: Strings,
        /// Variables for the tests on top of the job's; `()` unsets one.
        env: Vars,
        /// Stops the tests after this long.
        timeout: Option<OptDuration>,
        /// Runs this `package.json` script (Jest, Vitest) instead of node's runner, and reads
        /// its JUnit files.
        script: Option<String>,
        /// Where the project's runner writes JUnit files (a glob under `dir`).
        junit: String = "**/junit*.xml".into() => "\"**/junit*.xml\"",
        /// Returns the result of a failed run instead of failing the job.
        allow_fail: bool = false,
    }
}

result! {
    /// What `npm::ci`, `npm::run` and `npm::test` return.
    pub struct NpmResult {
        ..exit: super::process::Exit,
        /// The command line, as the log shows it.
        command: String as "string",
        /// Test counts (`test`) as `cargo::test` gives them: `#{ passed, failed, ignored, failures }`.
        #[serde(skip_serializing_if = "Option::is_none")]
        tests: Option<crate::primitives::cargo::test_results::TestsResult> as "map",
        /// Line coverage of all files in % (`test`; `()` without `coverage`).
        #[serde(skip_serializing_if = "Option::is_none")]
        coverage: Option<Option<f64>> as "float",
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function {
        name: "npm::ci",
        params: &["options: map"],
        summary: "`npm ci --prefer-offline` (no audit, no fund): installs exactly what `package-lock.json` says; fails when there is none.",
        options: &[CiOptions::FIELDS],
        result: NpmResult::FIELDS,
    },
    Function {
        name: "npm::run",
        params: &["script: string", "options: map"],
        summary: "`npm run <script> [-- args]`; a script `package.json` does not have is an error listing those it has.",
        options: &[NpmRunOptions::FIELDS],
        result: NpmResult::FIELDS,
    },
    Function {
        name: "npm::test",
        params: &["options: map"],
        summary: "Node's test runner (`node --test`), results read from its TAP as `cargo::test`'s: a JUnit testcase and an annotation per failure.",
        options: &[NpmTestOptions::FIELDS],
        result: NpmResult::FIELDS,
    },
    Function {
        name: "npm::scripts",
        params: &["dir: string"],
        summary: "`package.json`'s scripts as a map (of the job's directory, or `dir`).",
        options: &[],
        result: &[],
    },
];

pub fn register(engine: &mut Engine) {
    let mut npm = Module::new();
    FuncRegistration::new("ci").set_into_module(&mut npm, |ctx: NativeCallContext| {
        at_call_site(&ctx, ci(Map::new()))
    });
    FuncRegistration::new("ci").set_into_module(&mut npm, |ctx: NativeCallContext, o: Map| {
        at_call_site(&ctx, ci(o))
    });
    FuncRegistration::new("run")
        .set_into_module(&mut npm, |ctx: NativeCallContext, script: &str| {
            at_call_site(&ctx, run_script(script, Map::new()))
        });
    FuncRegistration::new("run")
        .set_into_module(&mut npm, |ctx: NativeCallContext, script: &str, o: Map| {
            at_call_site(&ctx, run_script(script, o))
        });
    FuncRegistration::new("test").set_into_module(&mut npm, |ctx: NativeCallContext| {
        at_call_site(&ctx, test(Map::new()))
    });
    FuncRegistration::new("test").set_into_module(&mut npm, |ctx: NativeCallContext, o: Map| {
        at_call_site(&ctx, test(o))
    });
    FuncRegistration::new("scripts").set_into_module(&mut npm, |ctx: NativeCallContext| {
        scripts_of(&project_dir(None)).map(to_map).script_at(&ctx)
    });
    FuncRegistration::new("scripts").set_into_module(
        &mut npm,
        |ctx: NativeCallContext, dir: &str| {
            scripts_of(&context::current().path(dir))
                .map(to_map)
                .script_at(&ctx)
        },
    );
    engine.register_static_module("npm", npm.into());
}

/// The options every npm function shares.
struct Common {
    dir: PathBuf,
    env: Vec<(String, Option<String>)>,
    timeout: Option<Duration>,
    args: Vec<String>,
    allow_fail: bool,
}

impl Common {
    fn new(
        dir: Option<String>,
        env: Vars,
        timeout: Option<OptDuration>,
        args: Strings,
        allow_fail: bool,
    ) -> Common {
        let scope = context::current();
        let mut vars = scope.env_changes();
        vars.extend(env.0);
        Common {
            dir: project_dir(dir.as_deref()),
            env: vars,
            timeout: timeout.map(|t| t.0),
            args: args.0,
            allow_fail,
        }
    }
}

fn project_dir(dir: Option<&str>) -> PathBuf {
    let scope = context::current();
    match dir {
        Some(dir) => scope.path(dir),
        None => scope.dir.borrow().clone(),
    }
}

/// `package.json`'s scripts, in file order.
fn scripts_of(dir: &Path) -> std::result::Result<Vec<(String, String)>, NpmError> {
    let path = dir.join("package.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => return Err(NpmError::ReadPackageJson { path, source }),
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(source) => return Err(NpmError::BadPackageJson { path, source }),
    };
    Ok(json
        .get("scripts")
        .and_then(|s| s.as_object())
        .map(|s| {
            s.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default())
}

/// `package.json`'s scripts by name: the keys are the project's, so this stays a map.
fn to_map(scripts: Vec<(String, String)>) -> Map {
    scripts
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(v)))
        .collect()
}

/// The options every npm primitive has, moved out of one's options struct.
macro_rules! common {
    ($options:ident, $allow_fail:expr) => {
        Common::new(
            $options.dir,
            $options.env,
            $options.timeout,
            $options.args,
            $allow_fail,
        )
    };
}

fn ci(options: Map) -> Result<Map> {
    let options: CiOptions = options::parse(&options)?;
    let mut common = common!(options, false);
    let lock = ["package-lock.json", "npm-shrinkwrap.json"]
        .iter()
        .any(|f| common.dir.join(f).is_file());
    if !lock {
        return Err(NpmError::NoLockfile {
            dir: common.dir.clone(),
        })
        .script();
    }
    // `--prefer-offline`: a warm cache installs without asking the registry for metadata.
    let mut argv = vec![
        "npm".to_string(),
        "ci".into(),
        "--no-audit".into(),
        "--no-fund".into(),
        "--prefer-offline".into(),
    ];
    let cache = options
        .cache
        .or_else(|| context::current().env_var("XTASK_NPM_CACHE"));
    if let Some(cache) = cache {
        argv.extend([
            "--cache".to_string(),
            context::current().path(&cache).display().to_string(),
        ]);
    }
    argv.append(&mut common.args);
    let finished = execute(argv, &common, None).script()?;
    check(&finished.0, &finished.1, &common).script()
}

fn run_script(script: &str, options: Map) -> Result<Map> {
    let options: NpmRunOptions = options::parse(&options)?;
    let mut common = common!(options, options.allow_fail);
    let scripts = scripts_of(&common.dir).script()?;
    if !scripts.iter().any(|(name, _)| name == script) {
        return Err(NpmError::NoScript {
            dir: common.dir.clone(),
            script: script.into(),
            scripts: scripts.into_iter().map(|(n, _)| n).collect(),
        })
        .script();
    }
    let mut argv = vec!["npm".to_string(), "run".into(), script.into()];
    if !common.args.is_empty() {
        argv.push("--".into());
        argv.append(&mut common.args);
    }
    let (display, finished) = execute(argv, &common, None).script()?;
    check(&display, &finished, &common).script()
}

fn test(options: Map) -> Result<Map> {
    let options: NpmTestOptions = options::parse(&options)?;
    let mut common = common!(options, options.allow_fail);
    let root = context::current().host.root.clone();
    let coverage = options.coverage || options.min_coverage.is_some();
    let tap_file = tempfile::Builder::new()
        .prefix("xtask-node-test")
        .suffix(".tap")
        .tempfile()
        .map_err(NpmError::TempFile)
        .script()?;
    let script = options.script;
    let argv = match &script {
        // The project's own runner (Jest, Vitest): its JUnit files are read afterwards.
        Some(script) => {
            let mut argv = vec!["npm".to_string(), "run".into(), script.clone()];
            if !common.args.is_empty() {
                argv.push("--".into());
                argv.append(&mut common.args);
            }
            argv
        }
        // Node's runner: readable output in the log, TAP into a file for the results.
        None => {
            let mut argv = vec![
                "node".to_string(),
                "--test".into(),
                "--test-reporter=spec".into(),
                "--test-reporter-destination=stdout".into(),
                "--test-reporter=tap".into(),
                format!("--test-reporter-destination={}", tap_file.path().display()),
            ];
            if coverage {
                argv.push("--experimental-test-coverage".into());
            }
            argv.append(&mut common.args);
            argv.extend(options.files.0);
            argv
        }
    };
    if script.is_some() {
        let scripts = scripts_of(&common.dir).script()?;
        let name = script.as_deref().unwrap_or_default();
        if !scripts.iter().any(|(n, _)| n == name) {
            return Err(NpmError::NoTestScript {
                dir: common.dir.clone(),
                script: name.into(),
                scripts: scripts.into_iter().map(|(n, _)| n).collect(),
            })
            .script();
        }
    }
    // The coverage table is part of the spec output on stdout: keep its `all files` row.
    let all_files = Arc::new(Mutex::new(None::<f64>));
    let watcher: process::Sink = {
        let all_files = Arc::clone(&all_files);
        Arc::new(move |bytes: Vec<u8>| {
            for line in String::from_utf8_lossy(&bytes).lines() {
                if let Some(percent) = coverage_line(line) {
                    *all_files.lock().unwrap() = Some(percent);
                }
            }
        })
    };
    let (display, finished) = execute(argv, &common, Some(watcher)).script()?;
    let mut result = npm_result(&display, &finished);
    if context::current().host.mode == Mode::Plan {
        return Ok(options::to_map(&result));
    }
    let mut report = TestReport::default();
    let mut read_any = false;
    if script.is_none() {
        let tap = std::fs::read_to_string(tap_file.path()).unwrap_or_default();
        read_any = !tap.trim().is_empty();
        report = tap::parse(&tap, &root);
    } else {
        for path in junit_files(&common.dir, &options.junit) {
            if let Ok(xml) = std::fs::read_to_string(&path) {
                junit::parse_into(&mut report, &xml, &root);
                read_any = true;
            }
        }
    }
    let scope = context::current();
    if read_any {
        result.tests = Some(report.to_result());
        report.emit(&scope.host.bus, scope.job);
    }
    let line_coverage = *all_files.lock().unwrap();
    result.coverage = Some(line_coverage);
    if !finished.success() && !common.allow_fail {
        if !report.failures.is_empty() {
            return Err(NpmError::TestsFailed {
                command: display,
                summary: report.failure_line(),
            })
            .script();
        }
        return Err(NpmError::from(CommandFailed::Exited {
            command: display,
            status: finished.describe(),
        }))
        .script();
    }
    if let Some(Number(min)) = options.min_coverage {
        match line_coverage {
            Some(got) if got + f64::EPSILON < min => {
                return Err(NpmError::CoverageBelow { got, min }).script()
            }
            Some(got) => scope.host.bus.message(
                scope.job,
                Level::Info,
                format!("line coverage {got:.2}% (minimum {min:.2}%)"),
            ),
            None => return Err(NpmError::NoCoverage).script(),
        }
    }
    Ok(options::to_map(&result))
}

/// `# all files | 92.31 | 75.00 | 100.00 |` (TAP) or `ℹ all files | 92.31 | …` (spec): the
/// line coverage of the whole run.
fn coverage_line(line: &str) -> Option<f64> {
    let at = line.find("all files")?;
    let mut cells = line[at..].split('|').skip(1);
    cells.next()?.trim().parse().ok()
}

fn junit_files(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = dir.join(pattern).display().to_string();
    glob::glob(&full)
        .map(|paths| {
            paths
                .flatten()
                .filter(|p| !p.components().any(|c| c.as_os_str() == "node_modules"))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `argv` in the project directory with its output in the job's log (and, when given, also
/// fed to `watch`). In plan mode nothing runs.
fn execute(
    argv: Vec<String>,
    common: &Common,
    watch: Option<process::Sink>,
) -> std::result::Result<(String, Finished), NpmError> {
    let scope = context::current();
    let display = display_argv(&argv);
    if scope.host.mode == Mode::Plan {
        return Ok((
            display,
            Finished {
                code: Some(0),
                signal: None,
                stdout: Vec::new(),
                duration: Duration::ZERO,
            },
        ));
    }
    let spec = Spec {
        argv,
        env: common.env.clone(),
        dir: Some(common.dir.clone()),
        timeout: common.timeout,
        ..Spec::default()
    };
    // What npm and node read (package.json, the lock, sources, node_modules) is not recorded
    // here: like `run`, the job is skipped as up to date only when it declares its `inputs`.
    super::implied::run(&spec);
    let bus = scope.host.bus.clone();
    let log = bus.command_log(scope.job, &display);
    let sink: process::Sink = match watch {
        Some(watch) => Arc::new(move |bytes: Vec<u8>| {
            watch(bytes.clone());
            log(bytes);
        }),
        None => log,
    };
    let started = std::time::Instant::now();
    let outcome = process::execute(&spec, &scope.token(), sink);
    bus.emit(Event::CommandFinished {
        job: scope.job,
        display: display.clone(),
        status: match &outcome {
            Ok(finished) => finished.describe(),
            Err(failure) => failure.to_string(),
        },
        duration: started.elapsed(),
    });
    match outcome {
        Ok(finished) => Ok((display, finished)),
        Err(Failure::NotFound { program }) => Err(NpmError::NotInstalled {
            command: display,
            program,
        }),
        Err(failure) => Err(CommandFailed::new(display, failure).into()),
    }
}

fn npm_result(display: &str, finished: &Finished) -> NpmResult {
    NpmResult {
        exit: super::process::finished_result(finished),
        command: display.to_string(),
        ..NpmResult::default()
    }
}

fn check(
    display: &str,
    finished: &Finished,
    common: &Common,
) -> std::result::Result<Map, NpmError> {
    if !finished.success() && !common.allow_fail {
        return Err(CommandFailed::Exited {
            command: display.into(),
            status: finished.describe(),
        }
        .into());
    }
    Ok(options::to_map(&npm_result(display, finished)))
}

#[cfg(test)]
mod tests {
    use super::NpmError;

    #[test]
    fn an_unreadable_package_json_is_a_typed_error_naming_its_place() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            super::scripts_of(dir.path()),
            Err(NpmError::ReadPackageJson { path, .. }) if path == dir.path().join("package.json")
        ));
        std::fs::write(dir.path().join("package.json"), "{\n  \"scripts\": [,]\n}").unwrap();
        let err = super::scripts_of(dir.path()).unwrap_err();
        assert!(matches!(err, NpmError::BadPackageJson { .. }), "{err:?}");
        let place = format!("{}:2:", dir.path().join("package.json").display());
        assert!(err.to_string().starts_with(&place), "{err}");
    }

    #[test]
    fn coverage_rows_of_both_reporters() {
        assert_eq!(
            super::coverage_line("# all files          |  92.31 |    75.00 |  100.00 |"),
            Some(92.31)
        );
        assert_eq!(
            super::coverage_line("ℹ all files | 80.00 | 50.00 | 100.00 |"),
            Some(80.0)
        );
        assert_eq!(super::coverage_line("ok 1 - all files load"), None);
    }
}
