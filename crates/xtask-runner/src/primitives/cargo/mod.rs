//! `cargo::` primitives: fmt_check, clippy, test, doc, build, bench, metadata, the generic
//! `cargo::run`, the optional tools (`has_tool`, `require_tool`, audit, deny, outdated) and
//! toolchains (`toolchain:` option, `has_toolchain`).
//!
//! Every command runs with cargo's JSON messages where cargo has them; the log shows the
//! compiler's human rendering, scripts get a result map (status, duration, diagnostics, test
//! counts), reporters get `Event::Diagnostic`s, and a failure names the first file:line.

pub(crate) mod diagnostics;
mod metadata;
mod output;
mod security;
pub(crate) mod test_results;
mod toolchain;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::{check_keys, duration_value, error, opt_bool, opt_string, string_list, Result};
use crate::events::{Event, Level, Severity};
use crate::process::{self, display_argv, Failure, Spec};
use crate::script::{context, Mode};
use output::{OutputParser, Watch};

/// Options every cargo primitive takes.
const COMMON: &[&str] = &["toolchain", "dir", "env", "timeout", "allow_fail", "args"];
/// Package and feature selection.
/// `package` is a Rhai keyword (a map key needs quotes: `"package": "x"`), so `packages` is the
/// name to use; both are accepted.
const SELECT: &[&str] = &[
    "packages",
    "package",
    "workspace",
    "exclude",
    "features",
    "all_features",
    "no_default_features",
];

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    macro_rules! with_options {
        ($name:literal, $f:expr) => {{
            FuncRegistration::new($name).set_into_module(&mut module, |ctx: NativeCallContext| {
                at(&ctx, $f(Map::new())).map(Dynamic::from_map)
            });
            FuncRegistration::new($name)
                .set_into_module(&mut module, |ctx: NativeCallContext, o: Map| {
                    at(&ctx, $f(o)).map(Dynamic::from_map)
                });
        }};
    }
    with_options!("fmt_check", fmt_check);
    with_options!("clippy", clippy);
    with_options!("test", test);
    with_options!("doc", doc);
    with_options!("build", build);
    with_options!("bench", bench);
    with_options!("metadata", cargo_metadata);
    with_options!("audit", security::audit);
    with_options!("deny", security::deny);
    with_options!("outdated", security::outdated);
    FuncRegistration::new("run").set_into_module(
        &mut module,
        |ctx: NativeCallContext, argv: Array| {
            at(&ctx, generic(argv, Map::new())).map(Dynamic::from_map)
        },
    );
    FuncRegistration::new("run").set_into_module(
        &mut module,
        |ctx: NativeCallContext, argv: Array, o: Map| {
            at(&ctx, generic(argv, o)).map(Dynamic::from_map)
        },
    );
    FuncRegistration::new("has_tool").set_into_module(&mut module, |name: &str| {
        toolchain::find_tool(name).is_some()
    });
    FuncRegistration::new("require_tool").set_into_module(
        &mut module,
        |ctx: NativeCallContext, name: &str| -> Result<String> {
            match toolchain::require_tool(name) {
                Ok(path) => Ok(path.display().to_string()),
                Err(e) => at(&ctx, error(e)),
            }
        },
    );
    FuncRegistration::new("has_toolchain").set_into_module(
        &mut module,
        |ctx: NativeCallContext, name: &str| -> Result<bool> {
            at(&ctx, toolchain::has_toolchain(name).or_else(error))
        },
    );
    FuncRegistration::new("require_toolchain").set_into_module(
        &mut module,
        |ctx: NativeCallContext, name: &str| -> Result<()> {
            at(&ctx, toolchain::require_toolchain(name).or_else(error))
        },
    );
    engine.register_static_module("cargo", module.into());
}

/// Rhai leaves the position of errors from namespaced functions empty: put the call site in, so
/// the failure points at the script line.
fn at<T>(ctx: &NativeCallContext, result: Result<T>) -> Result<T> {
    result.map_err(|mut err| {
        if err.position().is_none() {
            err.set_position(ctx.call_position());
        }
        err
    })
}

/// Options shared by every cargo primitive.
struct Common {
    toolchain: Option<String>,
    dir: Option<String>,
    env: Vec<(String, Option<String>)>,
    timeout: Option<Duration>,
    allow_fail: bool,
    args: Vec<String>,
}

fn common(options: &Map) -> Result<Common> {
    let mut env = Vec::new();
    if let Some(value) = options.get("env") {
        let Some(map) = value.clone().try_cast::<Map>() else {
            return error("option `env` must be a map");
        };
        for (key, value) in map {
            let value = (!value.is_unit()).then(|| crate::primitives::display_value(&value));
            env.push((key.to_string(), value));
        }
    }
    Ok(Common {
        toolchain: opt_string(options, "toolchain")?.filter(|t| !t.is_empty()),
        dir: opt_string(options, "dir")?,
        env,
        timeout: options
            .get("timeout")
            .map(|t| duration_value("option `timeout`", t))
            .transpose()?,
        allow_fail: opt_bool(options, "allow_fail")?.unwrap_or(false),
        args: list(options, "args")?,
    })
}

fn list(options: &Map, key: &str) -> Result<Vec<String>> {
    match options.get(key) {
        None => Ok(Vec::new()),
        Some(v) if v.is_unit() => Ok(Vec::new()),
        Some(v) => string_list(&format!("option `{key}`"), v),
    }
}

fn known(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

fn packages(options: &Map) -> Result<Vec<String>> {
    let mut packages = list(options, "packages")?;
    packages.extend(list(options, "package")?);
    Ok(packages)
}

/// `-p`/`--workspace`/`--features` arguments. Without `package`, the whole workspace.
fn selection(options: &Map) -> Result<Vec<String>> {
    let mut args = Vec::new();
    let packages = packages(options)?;
    let workspace = opt_bool(options, "workspace")?.unwrap_or(packages.is_empty());
    if workspace {
        args.push("--workspace".to_string());
    }
    for package in packages {
        args.extend(["--package".to_string(), package]);
    }
    for excluded in list(options, "exclude")? {
        args.extend(["--exclude".to_string(), excluded]);
    }
    let features = list(options, "features")?;
    if !features.is_empty() {
        args.extend(["--features".to_string(), features.join(",")]);
    }
    if opt_bool(options, "all_features")?.unwrap_or(false) {
        args.push("--all-features".into());
    }
    if opt_bool(options, "no_default_features")?.unwrap_or(false) {
        args.push("--no-default-features".into());
    }
    Ok(args)
}

/// Whether the log is shown in colour: the compiler's rendering then keeps its colours.
fn wants_color() -> bool {
    let scope = context::current();
    match scope.env_var("CARGO_TERM_COLOR").as_deref() {
        Some("always") => return true,
        Some("never") => return false,
        _ => {}
    }
    scope.env_var("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn message_format() -> String {
    if wants_color() {
        "json-diagnostic-rendered-ansi".into()
    } else {
        "json".into()
    }
}

/// One cargo command to run.
struct Invocation {
    /// Arguments after `cargo [+toolchain]`, before the caller's `args`.
    args: Vec<String>,
    /// Arguments after `--`.
    trailing: Vec<String>,
    env: Vec<(String, Option<String>)>,
    watch: Watch,
    default_timeout: Option<Duration>,
    /// Whether a failed download in the output is worth explaining (security tools).
    fetches: bool,
}

impl Invocation {
    fn new(args: &[&str], watch: Watch) -> Self {
        Invocation {
            args: args.iter().map(|s| s.to_string()).collect(),
            trailing: Vec::new(),
            env: Vec::new(),
            watch,
            default_timeout: None,
            fetches: false,
        }
    }

    fn json(mut self) -> Self {
        self.args
            .push(format!("--message-format={}", message_format()));
        self
    }
}

/// What a finished command left: for scripts, and for the failure message.
struct Outcome {
    map: Map,
    parser: OutputParser,
    success: bool,
    display: String,
    tests: Option<test_results::TestReport>,
}

fn execute(inv: Invocation, common: &Common) -> Result<Outcome> {
    let scope = context::current();
    if let Some(toolchain) = &common.toolchain {
        toolchain::require_toolchain(toolchain).or_else(error)?;
    }
    let mut argv = vec!["cargo".to_string()];
    argv.extend(common.toolchain.iter().map(|t| format!("+{t}")));
    argv.extend(inv.args);
    argv.extend(common.args.iter().cloned());
    if !inv.trailing.is_empty() {
        argv.push("--".into());
        argv.extend(inv.trailing);
    }
    let display = display_argv(&argv);
    let mut env = scope.env_changes();
    env.extend(inv.env);
    env.extend(common.env.iter().cloned());
    let spec = Spec {
        argv,
        env,
        dir: Some(match &common.dir {
            Some(dir) => scope.path(dir),
            None => scope.dir.borrow().clone(),
        }),
        timeout: common.timeout.or(inv.default_timeout),
        ..Spec::default()
    };
    let root = scope.host.root.clone();
    let parser = Arc::new(Mutex::new(OutputParser::new(root.clone(), inv.watch)));

    // Listing and dry runs only declare jobs: do not act.
    if scope.host.mode == Mode::Plan {
        let mut map = Map::new();
        map.insert("status".into(), Dynamic::from_int(0));
        map.insert("success".into(), Dynamic::TRUE);
        map.insert("skipped".into(), Dynamic::TRUE);
        map.insert("command".into(), display.clone().into());
        let parser = Arc::try_unwrap(parser).ok().unwrap().into_inner().unwrap();
        return Ok(Outcome {
            map,
            parser,
            success: true,
            display,
            tests: None,
        });
    }

    let sub = spec.argv[1..]
        .iter()
        .find(|a| !a.starts_with('+'))
        .cloned()
        .unwrap_or_default();
    super::implied::cargo(&sub, &spec, common.toolchain.as_deref());
    let bus = scope.host.bus.clone();
    let job = scope.job;
    bus.emit(Event::CommandStarted {
        job,
        display: display.clone(),
    });
    let sink: process::Sink = {
        let parser = Arc::clone(&parser);
        Arc::new(move |bytes: Vec<u8>| {
            let text = String::from_utf8_lossy(&bytes);
            let mut out = Vec::with_capacity(bytes.len());
            let mut found = Vec::new();
            {
                let mut parser = parser.lock().unwrap();
                for line in text.split_inclusive('\n') {
                    let parsed = parser.feed(line.trim_end_matches(['\n', '\r']));
                    if let Some(print) = parsed.print {
                        out.extend_from_slice(print.as_bytes());
                        if !print.ends_with('\n') {
                            out.push(b'\n');
                        }
                    }
                    found.extend(parsed.diagnostic);
                }
            }
            if !out.is_empty() {
                bus.emit(Event::Output { job, bytes: out });
            }
            for d in found {
                bus.emit(Event::Diagnostic {
                    job,
                    level: Severity::from_level(&d.level),
                    file: d.file,
                    line: d.line as usize,
                    column: d.column.unwrap_or(1) as usize,
                    message: d.message,
                });
            }
        })
    };
    // rustfmt does not touch the build directory; everything else competes for it.
    let _build_dir = if matches!(inv.watch, Watch::Fmt) {
        None
    } else {
        let dir = spec.dir.clone().unwrap_or_default();
        let build_dir = super::build_dir::of(&dir, &spec.env);
        let claim = crate::resources::Claim::cargo(&build_dir.display().to_string());
        Some(crate::resources::claim(claim, &scope.token()).or_else(error)?)
    };
    let started = std::time::Instant::now();
    let result = process::execute(&spec, &scope.token(), sink);
    scope.host.bus.emit(Event::CommandFinished {
        job,
        display: display.clone(),
        status: match &result {
            Ok(finished) => finished.describe(),
            Err(failure) => failure.to_string(),
        },
        duration: started.elapsed(),
    });
    // The sink (and its clone of the parser) is gone once execute returns.
    let mut parser = Arc::try_unwrap(parser)
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_else(|shared| {
            std::mem::replace(
                &mut *shared.lock().unwrap(),
                OutputParser::new(PathBuf::new(), Watch::Build),
            )
        });
    let finished = match result {
        Ok(finished) => finished,
        Err(Failure::Cancelled { reason }) => {
            return error(format!("`{display}` was stopped: {reason}"))
        }
        Err(Failure::TimedOut { after }) if inv.fetches => {
            return error(format!(
                "`{display}` timed out after {} (still fetching? this machine may be offline: pass `offline: true`)",
                crate::duration::format(after)
            ))
        }
        Err(failure) => return error(format!("`{display}`: {failure}")),
    };
    parser.close();
    // Test binaries name files as rustc saw them (`xtask/../tests/x.rs`): show them like the
    // compiler's diagnostics, from the project root.
    let manifest = spec.dir.clone().unwrap_or_default().join("Cargo.toml");
    let tests = parser.tests().map(|mut report| {
        for failure in &mut report.failures {
            if let Some(file) = &failure.file {
                failure.file = Some(diagnostics::resolve_file(file, Some(&manifest), &root));
            }
        }
        report
    });
    let mut map = super::process::finished_map(&finished);
    map.insert("command".into(), display.clone().into());
    let diagnostics: Array = parser
        .diagnostics
        .iter()
        .map(|d| Dynamic::from_map(d.to_map()))
        .collect();
    let count = |level: &str| {
        parser
            .diagnostics
            .iter()
            .filter(|d| d.level == level)
            .count()
    };
    map.insert("errors".into(), Dynamic::from_int(count("error") as i64));
    map.insert(
        "warnings".into(),
        Dynamic::from_int(count("warning") as i64),
    );
    map.insert("diagnostics".into(), diagnostics.into());
    if let Some(report) = &tests {
        map.insert("tests".into(), report.to_map().into());
        report.emit(&scope.host.bus, job);
    }
    Ok(Outcome {
        map,
        parser,
        success: finished.success(),
        display,
        tests,
    })
}

/// Runs and fails the job with the first diagnostic's place unless the command passed.
fn finish(inv: Invocation, common: &Common) -> Result<Map> {
    let outcome = execute(inv, common)?;
    if outcome.success || common.allow_fail {
        return Ok(outcome.map);
    }
    error(failure_message(&outcome))
}

fn failure_message(outcome: &Outcome) -> String {
    let display = &outcome.display;
    if let Some(report) = outcome.tests.as_ref().filter(|r| !r.failures.is_empty()) {
        return format!("`{display}`: {}", report.failure_line());
    }
    let diagnostics = &outcome.parser.diagnostics;
    if let Some(first) = diagnostics.iter().find(|d| d.is_error()) {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let more = if errors > 1 {
            format!(" (+{} more)", errors - 1)
        } else {
            String::new()
        };
        return format!("`{display}` failed: {}{more}", first.headline());
    }
    format!("command failed: `{display}`")
}

fn fmt_check(options: Map) -> Result<Map> {
    check_keys(
        "cargo::fmt_check",
        &options,
        &known(&["packages", "package"]),
    )?;
    let common = common(&options)?;
    let packages = packages(&options)?;
    let mut inv = Invocation::new(&["fmt"], Watch::Fmt);
    if packages.is_empty() {
        inv.args.push("--all".into());
    }
    for package in packages {
        inv.args.extend(["--package".to_string(), package]);
    }
    let color = if wants_color() { "always" } else { "never" };
    inv.trailing = vec!["--check".into(), "--color".into(), color.into()];
    let outcome = execute(inv, &common)?;
    if outcome.success || common.allow_fail {
        return Ok(outcome.map);
    }
    let diagnostics = &outcome.parser.diagnostics;
    let mut files: Vec<String> = Vec::new();
    for d in diagnostics {
        if !files.iter().any(|f| f.starts_with(&format!("{}:", d.file))) {
            files.push(d.location());
        }
    }
    if files.is_empty() {
        return error(failure_message(&outcome));
    }
    error(format!(
        "`{}`: not formatted: {} (run `cargo fmt --all`)",
        outcome.display,
        files.join(", ")
    ))
}

fn clippy(options: Map) -> Result<Map> {
    let keys = known(&[SELECT, &["all_targets", "deny", "lint_args"]].concat());
    check_keys("cargo::clippy", &options, &keys)?;
    let common = common(&options)?;
    let mut inv = Invocation::new(&["clippy"], Watch::Build).json();
    inv.args.extend(selection(&options)?);
    if opt_bool(&options, "all_targets")?.unwrap_or(true) {
        inv.args.push("--all-targets".into());
    }
    let deny = match options.get("deny") {
        Some(_) => list(&options, "deny")?,
        None => vec!["warnings".into()],
    };
    for lint in deny {
        inv.trailing.extend(["-D".to_string(), lint]);
    }
    inv.trailing.extend(list(&options, "lint_args")?);
    finish(inv, &common)
}

/// `tests`: every target's tests but doc tests (`--tests`); `all` adds doc tests (cargo test
/// without a target flag; cargo-nextest never runs doc tests).
const TEST_KINDS: &[&str] = &["all", "tests", "lib", "bins", "unit", "integration", "doc"];

fn test(options: Map) -> Result<Map> {
    let keys = known(
        &[
            SELECT,
            &[
                "kind",
                "nextest",
                "no_fail_fast",
                "filter",
                "test_args",
                "release",
            ],
        ]
        .concat(),
    );
    check_keys("cargo::test", &options, &keys)?;
    let common = common(&options)?;
    let kind = opt_string(&options, "kind")?.unwrap_or_else(|| "all".into());
    if !TEST_KINDS.contains(&kind.as_str()) {
        return error(format!(
            "unknown test kind `{kind}`{} (known: {})",
            crate::suggest::did_you_mean(&kind, TEST_KINDS.iter().copied()),
            TEST_KINDS.join(", ")
        ));
    }
    let asked_nextest = opt_bool(&options, "nextest")?.unwrap_or(false);
    let nextest = asked_nextest && kind != "doc" && toolchain::find_tool("nextest").is_some();
    if asked_nextest && !nextest && kind != "doc" {
        let scope = context::current();
        scope.host.bus.message(
            scope.job,
            Level::Info,
            "cargo-nextest is not installed, running cargo test (install it with `cargo install --locked cargo-nextest`)",
        );
    }
    let mut inv = if nextest {
        let mut inv = Invocation::new(&["nextest", "run"], Watch::Nextest);
        inv.args
            .push(format!("--cargo-message-format={}", message_format()));
        inv
    } else {
        Invocation::new(&["test"], Watch::Libtest).json()
    };
    inv.args.extend(selection(&options)?);
    inv.args.extend(
        match kind.as_str() {
            "tests" => vec!["--tests"],
            "lib" => vec!["--lib"],
            "bins" => vec!["--bins"],
            "unit" => vec!["--lib", "--bins"],
            "integration" => vec!["--test", "*"],
            "doc" => vec!["--doc"],
            _ => vec![],
        }
        .into_iter()
        .map(String::from),
    );
    if opt_bool(&options, "no_fail_fast")?.unwrap_or(true) {
        inv.args.push("--no-fail-fast".into());
    }
    if opt_bool(&options, "release")?.unwrap_or(false) {
        inv.args.push("--release".into());
    }
    if let Some(filter) = opt_string(&options, "filter")? {
        inv.args.push(filter);
    }
    inv.trailing = list(&options, "test_args")?;
    finish(inv, &common)
}

fn doc(options: Map) -> Result<Map> {
    let keys = known(&[SELECT, &["private", "deps", "deny_warnings"]].concat());
    check_keys("cargo::doc", &options, &keys)?;
    let common = common(&options)?;
    let mut inv = Invocation::new(&["doc"], Watch::Build).json();
    inv.args.extend(selection(&options)?);
    if !opt_bool(&options, "deps")?.unwrap_or(false) {
        inv.args.push("--no-deps".into());
    }
    if opt_bool(&options, "private")?.unwrap_or(false) {
        inv.args.push("--document-private-items".into());
    }
    if opt_bool(&options, "deny_warnings")?.unwrap_or(true) {
        let scope = context::current();
        let flags = match scope
            .env_var("RUSTDOCFLAGS")
            .filter(|f| !f.trim().is_empty())
        {
            Some(existing) => format!("{existing} -D warnings"),
            None => "-D warnings".into(),
        };
        inv.env.push(("RUSTDOCFLAGS".into(), Some(flags)));
    }
    finish(inv, &common)
}

fn build(options: Map) -> Result<Map> {
    let keys = known(
        &[
            SELECT,
            &["profile", "release", "target", "bins", "all_targets"],
        ]
        .concat(),
    );
    check_keys("cargo::build", &options, &keys)?;
    let common = common(&options)?;
    let mut inv = Invocation::new(&["build"], Watch::Build).json();
    inv.args.extend(selection(&options)?);
    if let Some(profile) = opt_string(&options, "profile")? {
        inv.args.extend(["--profile".to_string(), profile]);
    } else if opt_bool(&options, "release")?.unwrap_or(false) {
        inv.args.push("--release".into());
    }
    if let Some(target) = opt_string(&options, "target")? {
        inv.args.extend(["--target".to_string(), target]);
    }
    for bin in list(&options, "bins")? {
        inv.args.extend(["--bin".to_string(), bin]);
    }
    if opt_bool(&options, "all_targets")?.unwrap_or(false) {
        inv.args.push("--all-targets".into());
    }
    let outcome = execute(inv, &common)?;
    if !outcome.success && !common.allow_fail {
        return error(failure_message(&outcome));
    }
    let mut map = outcome.map;
    let executables: Array = outcome
        .parser
        .executables
        .iter()
        .map(|e| Dynamic::from(e.clone()))
        .collect();
    map.insert("executables".into(), executables.into());
    Ok(map)
}

fn bench(options: Map) -> Result<Map> {
    let keys = known(&[SELECT, &["bench", "no_run", "filter", "bench_args"]].concat());
    check_keys("cargo::bench", &options, &keys)?;
    let common = common(&options)?;
    let mut inv = Invocation::new(&["bench"], Watch::Libtest).json();
    inv.args.extend(selection(&options)?);
    if let Some(name) = opt_string(&options, "bench")? {
        inv.args.extend(["--bench".to_string(), name]);
    }
    if opt_bool(&options, "no_run")?.unwrap_or(false) {
        inv.args.push("--no-run".into());
    }
    if let Some(filter) = opt_string(&options, "filter")? {
        inv.args.push(filter);
    }
    inv.trailing = list(&options, "bench_args")?;
    let outcome = execute(inv, &common)?;
    if !outcome.success && !common.allow_fail {
        return error(failure_message(&outcome));
    }
    let mut map = outcome.map;
    map.insert("benches".into(), outcome.parser.benches_array().into());
    Ok(map)
}

/// Subcommands that take `--message-format`.
const JSON_SUBCOMMANDS: &[&str] = &[
    "build", "b", "check", "c", "clippy", "doc", "d", "test", "t", "bench", "rustc", "rustdoc",
];

/// `cargo::run(["check", "--workspace"])`: any cargo command, with diagnostics where cargo can
/// give them.
fn generic(argv: Array, options: Map) -> Result<Map> {
    check_keys("cargo::run", &options, COMMON)?;
    let common = common(&options)?;
    let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
    let Some(subcommand) = argv.first().cloned() else {
        return error("cargo::run needs a subcommand, e.g. cargo::run([\"check\"])");
    };
    if let Some(toolchain) = subcommand.strip_prefix('+') {
        return error(format!(
            "give the toolchain as an option: cargo::run([..], #{{ toolchain: \"{toolchain}\" }})"
        ));
    }
    let watch = match subcommand.as_str() {
        "test" | "t" | "bench" => Watch::Libtest,
        "nextest" => Watch::Nextest,
        "fmt" => Watch::Fmt,
        _ => Watch::Build,
    };
    let (before, after) = match argv.iter().position(|a| a == "--") {
        Some(at) => (argv[..at].to_vec(), argv[at + 1..].to_vec()),
        None => (argv.clone(), Vec::new()),
    };
    let mut inv = Invocation::new(&[], watch);
    inv.args = before;
    inv.trailing = after;
    let has_format = inv.args.iter().any(|a| a.starts_with("--message-format"));
    if JSON_SUBCOMMANDS.contains(&subcommand.as_str()) && !has_format {
        inv.args
            .insert(1, format!("--message-format={}", message_format()));
    }
    finish(inv, &common)
}

/// `cargo metadata --no-deps`. Runs in dry runs too: task scripts plan with it (the MSRV).
fn cargo_metadata(options: Map) -> Result<Map> {
    check_keys(
        "cargo::metadata",
        &options,
        &["toolchain", "dir", "env", "timeout"],
    )?;
    let common = common(&options)?;
    let scope = context::current();
    if let Some(toolchain) = &common.toolchain {
        toolchain::require_toolchain(toolchain).or_else(error)?;
    }
    let mut argv = vec!["cargo".to_string()];
    argv.extend(common.toolchain.iter().map(|t| format!("+{t}")));
    argv.extend(
        ["metadata", "--format-version", "1", "--no-deps"]
            .iter()
            .map(|s| s.to_string()),
    );
    let dir = match &common.dir {
        Some(dir) => scope.path(dir),
        None => scope.dir.borrow().clone(),
    };
    let mut env = scope.env_changes();
    env.extend(common.env.iter().cloned());
    let spec = Spec {
        argv: argv.clone(),
        env,
        dir: Some(dir.clone()),
        timeout: Some(common.timeout.unwrap_or(Duration::from_secs(120))),
        capture_stdout: true,
        ..Spec::default()
    };
    let sink = scope.host.bus.output_stream(scope.job);
    let display = display_argv(&argv);
    let finished = match process::execute(&spec, &scope.token(), sink) {
        Ok(finished) => finished,
        Err(failure) => return error(format!("`{display}`: {failure}")),
    };
    if !finished.success() {
        return error(format!(
            "`{display}` failed with {} in {}",
            finished.describe(),
            dir.display()
        ));
    }
    let dir = dir.canonicalize().unwrap_or(dir);
    metadata::to_map(&String::from_utf8_lossy(&finished.stdout), &dir).or_else(error)
}
