//! `cargo::` primitives: fmt_check, clippy, test, doc, build, bench, metadata, the generic
//! `cargo::run`, the optional tools (`has_tool`, `require_tool`, audit, deny, outdated) and
//! toolchains (`toolchain:` option, `has_toolchain`).
//!
//! Every command runs with cargo's JSON messages where cargo has them; the log shows the
//! compiler's human rendering, scripts get a result map (status, duration, diagnostics, test
//! counts), reporters get `Event::Diagnostic`s, and a failure names the first file:line.

pub(crate) mod diagnostics;
mod error;
mod metadata;
mod output;
pub(crate) mod test_results;
mod toolchain;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::error::{CommandFailed, IntoScript as _};
use super::options::{self, options, result, Duration as OptDuration, Strings, Vars};
use super::Result;
use crate::events::{Event, Level, Severity};
use crate::process::{self, display_argv, Failure, Spec};
use crate::script::{context, Mode};
pub use error::CargoError;
use output::{OutputParser, Watch};

/// Declares a cargo primitive's options: those every cargo primitive takes, then (with
/// `select`) package and feature selection, then its own. Gives the struct `common()` and, with
/// `select`, `selection()`.
macro_rules! cargo_options {
    (@common $name:ident for $what:literal { $($fields:tt)* }) => {
        options! {
            pub struct $name for $what {
                /// Runs `cargo +<toolchain>` (checked with rustup first; the error names the
                /// install command).
                toolchain: Option<String>,
                /// Directory to run in, relative to the job's.
                dir: Option<String>,
                /// Variables for this command on top of the job's; `()` unsets one.
                env: Vars,
                /// Stops the command after this long.
                timeout: Option<OptDuration>,
                /// Returns the result of a failed command instead of failing the job.
                allow_fail: bool = false,
                /// Extra arguments, after the ones the primitive gives.
                args: Strings,
                $($fields)*
            }
        }
        impl $name {
            fn common(&self) -> Common {
                Common {
                    toolchain: self.toolchain.clone().filter(|t| !t.is_empty()),
                    dir: self.dir.clone(),
                    env: self.env.0.clone(),
                    timeout: self.timeout.as_ref().map(|t| t.0),
                    allow_fail: self.allow_fail,
                    args: self.args.0.clone(),
                }
            }
        }
    };
    ($name:ident for $what:literal { $($fields:tt)* }) => {
        cargo_options!(@common $name for $what { $($fields)* });
    };
    ($name:ident for $what:literal, select { $($fields:tt)* }) => {
        cargo_options!(@common $name for $what {
            /// Packages (`-p`); without any, the whole workspace. `package` is a Rhai
            /// keyword, so `"package"` (quoted) is the other spelling.
            #[alias = "package"]
            packages: Strings,
            /// `--workspace` (default: when no `packages` are given).
            workspace: Option<bool>,
            /// Packages left out (`--exclude`).
            exclude: Strings,
            /// Features to turn on (`--features`).
            features: Strings,
            /// `--all-features`.
            all_features: bool = false,
            /// `--no-default-features`.
            no_default_features: bool = false,
            $($fields)*
        });
        impl $name {
            fn selection(&self) -> Vec<String> {
                selection(&Selection {
                    packages: &self.packages.0,
                    workspace: self.workspace,
                    exclude: &self.exclude.0,
                    features: &self.features.0,
                    all_features: self.all_features,
                    no_default_features: self.no_default_features,
                })
            }
        }
    };
}

// After the macro: security.rs declares its options with it.
mod security;

cargo_options! {
    FmtOptions for "cargo::fmt_check" {
        /// Packages to check (`--package`); without any, all of them (`--all`). `"package"`
        /// (quoted) is the other spelling.
        #[alias = "package"]
        packages: Strings,
    }
}

cargo_options! {
    ClippyOptions for "cargo::clippy", select {
        /// `--all-targets` (tests, benches and examples too).
        all_targets: bool = true,
        /// Lints denied (`-D`).
        deny: Strings = Strings(vec!["warnings".into()]) => "[\"warnings\"]",
        /// More arguments for clippy itself, after `--`.
        lint_args: Strings,
    }
}

cargo_options! {
    TestOptions for "cargo::test", select {
        /// `all` (doc tests too), `tests` (all but doc tests), `lib`, `bins`, `unit`,
        /// `integration` or `doc`.
        kind: String = "all".into() => "\"all\"",
        /// Runs `cargo nextest run` when cargo-nextest is installed (it runs no doc tests).
        nextest: bool = false,
        /// `--no-fail-fast`: every test binary runs even when one fails.
        no_fail_fast: bool = true,
        /// Runs only the tests whose name contains this.
        filter: Option<String>,
        /// Arguments for the test binaries, after `--`.
        test_args: Strings,
        /// `--release`.
        release: bool = false,
    }
}

cargo_options! {
    DocOptions for "cargo::doc", select {
        /// `--document-private-items`.
        private: bool = false,
        /// Documents dependencies too (without it, `--no-deps`).
        deps: bool = false,
        /// `RUSTDOCFLAGS=-D warnings` (added to the variable's value).
        deny_warnings: bool = true,
    }
}

cargo_options! {
    BuildOptions for "cargo::build", select {
        /// `--profile <name>`.
        profile: Option<String>,
        /// `--release` (when no `profile` is given).
        release: bool = false,
        /// `--target <triple>`.
        target: Option<String>,
        /// Binaries to build (`--bin`).
        bins: Strings,
        /// `--all-targets`.
        all_targets: bool = false,
    }
}

cargo_options! {
    BenchOptions for "cargo::bench", select {
        /// `--bench <name>`.
        bench: Option<String>,
        /// `--no-run`: builds the benches only.
        no_run: bool = false,
        /// Runs only the benches whose name contains this.
        filter: Option<String>,
        /// Arguments for the bench binaries, after `--`.
        bench_args: Strings,
    }
}

cargo_options! {
    RunOptions for "cargo::run" {}
}

options! {
    /// Options of `cargo::metadata`.
    pub struct MetadataOptions for "cargo::metadata" {
        /// Runs `cargo +<toolchain> metadata`.
        toolchain: Option<String>,
        /// Directory of the workspace, relative to the job's.
        dir: Option<String>,
        /// Variables for the command on top of the job's.
        env: Vars,
        /// Stops the command after this long.
        timeout: Option<OptDuration> = None => "\"120s\"",
    }
}

use super::options::{Fields as _, Options as _};
use super::reference::Function;

/// A cargo primitive that takes options and returns a `CargoResult`.
const fn command(
    name: &'static str,
    summary: &'static str,
    options: &'static [&'static [options::Field]],
) -> Function {
    Function {
        name,
        params: &["options: map"],
        summary,
        options,
        result: CargoResult::FIELDS,
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    command("cargo::fmt_check", "`cargo fmt --all -- --check`; the failure lists the files not formatted.", &[FmtOptions::FIELDS]),
    command("cargo::clippy", "`cargo clippy --workspace --all-targets -- -D warnings`, with the lints as diagnostics.", &[ClippyOptions::FIELDS]),
    command("cargo::test", "`cargo test` (or `cargo nextest run`): test counts, a JUnit testcase and an annotation per failure.", &[TestOptions::FIELDS]),
    command("cargo::doc", "`cargo doc --workspace --no-deps` with `RUSTDOCFLAGS=-D warnings`.", &[DocOptions::FIELDS]),
    command("cargo::build", "`cargo build`; the result lists the `executables` built.", &[BuildOptions::FIELDS]),
    command("cargo::bench", "`cargo bench`; the result lists libtest's `benches`.", &[BenchOptions::FIELDS]),
    Function {
        name: "cargo::run",
        params: &["argv: array", "options: map"],
        summary: "Any cargo command (`[\"check\", \"--workspace\"]`), with JSON diagnostics where cargo has them.",
        options: &[RunOptions::FIELDS],
        result: CargoResult::FIELDS,
    },
    Function {
        name: "cargo::metadata",
        params: &["options: map"],
        summary: "`cargo metadata --no-deps` (also in `--list` and `--dry-run`): `packages`, `names`, `version`, `rust_version` (the MSRV), `has_lib`, `workspace_root`, `target_directory`.",
        options: &[MetadataOptions::FIELDS],
        result: <metadata::MetadataResult as options::Fields>::FIELDS,
    },
    command("cargo::audit", "`cargo audit` (cargo-audit must be installed; the error says how), 5-minute default timeout.", &[security::AuditOptions::FIELDS]),
    command("cargo::deny", "`cargo deny check [checks]` (cargo-deny must be installed), 5-minute default timeout.", &[security::DenyOptions::FIELDS]),
    command("cargo::outdated", "`cargo outdated --exit-code 1 --root-deps-only`: fails when a direct dependency is behind.", &[security::OutdatedOptions::FIELDS]),
    Function {
        name: "cargo::has_tool",
        params: &["name: string"],
        summary: "Whether `cargo-<name>` is installed.",
        options: &[],
        result: &[],
    },
    Function {
        name: "cargo::require_tool",
        params: &["name: string"],
        summary: "The path of `cargo-<name>`; the error names `cargo install --locked cargo-<name>`.",
        options: &[],
        result: &[],
    },
    Function {
        name: "cargo::has_toolchain",
        params: &["name: string"],
        summary: "Whether rustup has the toolchain.",
        options: &[],
        result: &[],
    },
    Function {
        name: "cargo::require_toolchain",
        params: &["name: string"],
        summary: "Fails unless rustup has the toolchain, naming `rustup toolchain install <name>`.",
        options: &[],
        result: &[],
    },
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
                Err(e) => Err(e).script_at(&ctx),
            }
        },
    );
    FuncRegistration::new("has_toolchain").set_into_module(
        &mut module,
        |ctx: NativeCallContext, name: &str| -> Result<bool> {
            toolchain::has_toolchain(name).script_at(&ctx)
        },
    );
    FuncRegistration::new("require_toolchain").set_into_module(
        &mut module,
        |ctx: NativeCallContext, name: &str| -> Result<()> {
            toolchain::require_toolchain(name).script_at(&ctx)
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

/// Package and feature selection, as every selecting primitive's options give it.
struct Selection<'a> {
    packages: &'a [String],
    workspace: Option<bool>,
    exclude: &'a [String],
    features: &'a [String],
    all_features: bool,
    no_default_features: bool,
}

/// `-p`/`--workspace`/`--features` arguments. Without `packages`, the whole workspace.
fn selection(select: &Selection) -> Vec<String> {
    let mut args = Vec::new();
    if select.workspace.unwrap_or(select.packages.is_empty()) {
        args.push("--workspace".to_string());
    }
    for package in select.packages {
        args.extend(["--package".to_string(), package.clone()]);
    }
    for excluded in select.exclude {
        args.extend(["--exclude".to_string(), excluded.clone()]);
    }
    if !select.features.is_empty() {
        args.extend(["--features".to_string(), select.features.join(",")]);
    }
    if select.all_features {
        args.push("--all-features".into());
    }
    if select.no_default_features {
        args.push("--no-default-features".into());
    }
    args
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

result! {
    /// What every cargo primitive returns.
    pub struct CargoResult {
        ..exit: super::process::Exit,
        /// The command line, as the log shows it.
        command: String as "string",
        /// Compiler errors seen.
        #[serde(skip_serializing_if = "Option::is_none")]
        errors: Option<i64> as "int",
        /// Compiler warnings seen.
        #[serde(skip_serializing_if = "Option::is_none")]
        warnings: Option<i64> as "int",
        /// Every diagnostic: `#{ file, line, column, level, code, message, rendered }`.
        #[serde(skip_serializing_if = "Option::is_none")]
        diagnostics: Option<Vec<diagnostics::DiagnosticResult>> as "array of maps",
        /// Test counts (`test`): `#{ passed, failed, ignored, failures }`, each failure with
        /// `name`, `output`, `location`.
        #[serde(skip_serializing_if = "Option::is_none")]
        tests: Option<test_results::TestsResult> as "map",
        /// Files built (`build`).
        #[serde(skip_serializing_if = "Option::is_none")]
        executables: Option<Vec<String>> as "array of strings",
        /// libtest benches measured (`bench`): `#{ name, ns_per_iter, deviation }`.
        #[serde(skip_serializing_if = "Option::is_none")]
        benches: Option<Vec<output::BenchResult>> as "array of maps",
        /// Whether the tool could not fetch its database (`audit`, `deny`, `outdated`).
        #[serde(skip_serializing_if = "Option::is_none")]
        offline: Option<bool> as "bool",
    }
}

/// What a finished command left: for scripts, and for the failure message.
struct Outcome {
    result: CargoResult,
    parser: OutputParser,
    success: bool,
    display: String,
    tests: Option<test_results::TestReport>,
}

fn execute(inv: Invocation, common: &Common) -> std::result::Result<Outcome, CargoError> {
    let scope = context::current();
    if let Some(toolchain) = &common.toolchain {
        toolchain::require_toolchain(toolchain)?;
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
        let result = CargoResult {
            exit: super::process::Exit::skipped(),
            command: display.clone(),
            ..CargoResult::default()
        };
        let parser = Arc::try_unwrap(parser).ok().unwrap().into_inner().unwrap();
        return Ok(Outcome {
            result,
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
        Some(crate::resources::claim(claim, &scope.token()).map_err(CargoError::Claim)?)
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
        Err(Failure::TimedOut { after }) if inv.fetches => {
            return Err(CargoError::FetchTimedOut {
                command: display,
                after,
            })
        }
        Err(failure) => return Err(CommandFailed::new(display, failure).into()),
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
    let count = |level: &str| {
        parser
            .diagnostics
            .iter()
            .filter(|d| d.level == level)
            .count() as i64
    };
    let result = CargoResult {
        exit: super::process::finished_result(&finished),
        command: display.clone(),
        errors: Some(count("error")),
        warnings: Some(count("warning")),
        diagnostics: Some(
            parser
                .diagnostics
                .iter()
                .map(diagnostics::Diagnostic::to_result)
                .collect(),
        ),
        tests: tests.as_ref().map(test_results::TestReport::to_result),
        ..CargoResult::default()
    };
    if let Some(report) = &tests {
        report.emit(&scope.host.bus, job);
    }
    Ok(Outcome {
        result,
        parser,
        success: finished.success(),
        display,
        tests,
    })
}

/// Runs and fails the job with the first diagnostic's place unless the command passed.
fn finish(inv: Invocation, common: &Common) -> Result<Map> {
    let outcome = execute(inv, common).script()?;
    if outcome.success || common.allow_fail {
        return Ok(options::to_map(&outcome.result));
    }
    Err(failure(&outcome)).script()
}

/// Why a command that ran failed: its failing tests, else its first error, else its status.
fn failure(outcome: &Outcome) -> CargoError {
    let command = outcome.display.clone();
    if let Some(report) = outcome.tests.as_ref().filter(|r| !r.failures.is_empty()) {
        return CargoError::TestsFailed {
            command,
            summary: report.failure_line(),
        };
    }
    let diagnostics = &outcome.parser.diagnostics;
    if let Some(first) = diagnostics.iter().find(|d| d.is_error()) {
        return CargoError::Diagnostics {
            command,
            headline: first.headline(),
            errors: diagnostics.iter().filter(|d| d.is_error()).count(),
        };
    }
    CargoError::Failed { command }
}

fn fmt_check(options: Map) -> Result<Map> {
    let options: FmtOptions = options::parse(&options)?;
    let common = options.common();
    let packages = options.packages.0;
    let mut inv = Invocation::new(&["fmt"], Watch::Fmt);
    if packages.is_empty() {
        inv.args.push("--all".into());
    }
    for package in packages {
        inv.args.extend(["--package".to_string(), package]);
    }
    let color = if wants_color() { "always" } else { "never" };
    inv.trailing = vec!["--check".into(), "--color".into(), color.into()];
    let outcome = execute(inv, &common).script()?;
    if outcome.success || common.allow_fail {
        return Ok(options::to_map(&outcome.result));
    }
    let diagnostics = &outcome.parser.diagnostics;
    let mut files: Vec<String> = Vec::new();
    for d in diagnostics {
        if !files.iter().any(|f| f.starts_with(&format!("{}:", d.file))) {
            files.push(d.location());
        }
    }
    if files.is_empty() {
        return Err(failure(&outcome)).script();
    }
    Err(CargoError::NotFormatted {
        command: outcome.display,
        files,
    })
    .script()
}

fn clippy(options: Map) -> Result<Map> {
    let options: ClippyOptions = options::parse(&options)?;
    let common = options.common();
    let mut inv = Invocation::new(&["clippy"], Watch::Build).json();
    inv.args.extend(options.selection());
    if options.all_targets {
        inv.args.push("--all-targets".into());
    }
    for lint in options.deny.0 {
        inv.trailing.extend(["-D".to_string(), lint]);
    }
    inv.trailing.extend(options.lint_args.0);
    finish(inv, &common)
}

/// `tests`: every target's tests but doc tests (`--tests`); `all` adds doc tests (cargo test
/// without a target flag; cargo-nextest never runs doc tests).
const TEST_KINDS: &[&str] = &["all", "tests", "lib", "bins", "unit", "integration", "doc"];

fn test(options: Map) -> Result<Map> {
    let options: TestOptions = options::parse(&options)?;
    let common = options.common();
    let kind = options.kind.clone();
    if !TEST_KINDS.contains(&kind.as_str()) {
        return super::error(format!(
            "unknown test kind `{kind}`{} (known: {})",
            crate::suggest::did_you_mean(&kind, TEST_KINDS.iter().copied()),
            TEST_KINDS.join(", ")
        ));
    }
    let asked_nextest = options.nextest;
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
    inv.args.extend(options.selection());
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
    if options.no_fail_fast {
        inv.args.push("--no-fail-fast".into());
    }
    if options.release {
        inv.args.push("--release".into());
    }
    if let Some(filter) = options.filter {
        inv.args.push(filter);
    }
    inv.trailing = options.test_args.0;
    finish(inv, &common)
}

fn doc(options: Map) -> Result<Map> {
    let options: DocOptions = options::parse(&options)?;
    let common = options.common();
    let mut inv = Invocation::new(&["doc"], Watch::Build).json();
    inv.args.extend(options.selection());
    if !options.deps {
        inv.args.push("--no-deps".into());
    }
    if options.private {
        inv.args.push("--document-private-items".into());
    }
    if options.deny_warnings {
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
    let options: BuildOptions = options::parse(&options)?;
    let common = options.common();
    let mut inv = Invocation::new(&["build"], Watch::Build).json();
    inv.args.extend(options.selection());
    if let Some(profile) = options.profile {
        inv.args.extend(["--profile".to_string(), profile]);
    } else if options.release {
        inv.args.push("--release".into());
    }
    if let Some(target) = options.target {
        inv.args.extend(["--target".to_string(), target]);
    }
    for bin in options.bins.0 {
        inv.args.extend(["--bin".to_string(), bin]);
    }
    if options.all_targets {
        inv.args.push("--all-targets".into());
    }
    let outcome = execute(inv, &common).script()?;
    if !outcome.success && !common.allow_fail {
        return Err(failure(&outcome)).script();
    }
    let result = CargoResult {
        executables: Some(outcome.parser.executables.clone()),
        ..outcome.result
    };
    Ok(options::to_map(&result))
}

fn bench(options: Map) -> Result<Map> {
    let options: BenchOptions = options::parse(&options)?;
    let common = options.common();
    let mut inv = Invocation::new(&["bench"], Watch::Libtest).json();
    inv.args.extend(options.selection());
    if let Some(name) = options.bench {
        inv.args.extend(["--bench".to_string(), name]);
    }
    if options.no_run {
        inv.args.push("--no-run".into());
    }
    if let Some(filter) = options.filter {
        inv.args.push(filter);
    }
    inv.trailing = options.bench_args.0;
    let outcome = execute(inv, &common).script()?;
    if !outcome.success && !common.allow_fail {
        return Err(failure(&outcome)).script();
    }
    let result = CargoResult {
        benches: Some(outcome.parser.bench_results()),
        ..outcome.result
    };
    Ok(options::to_map(&result))
}

/// Subcommands that take `--message-format`.
const JSON_SUBCOMMANDS: &[&str] = &[
    "build", "b", "check", "c", "clippy", "doc", "d", "test", "t", "bench", "rustc", "rustdoc",
];

/// `cargo::run(["check", "--workspace"])`: any cargo command, with diagnostics where cargo can
/// give them.
fn generic(argv: Array, options: Map) -> Result<Map> {
    let common = options::parse::<RunOptions>(&options)?.common();
    let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
    let Some(subcommand) = argv.first().cloned() else {
        return super::error("cargo::run needs a subcommand, e.g. cargo::run([\"check\"])");
    };
    if let Some(toolchain) = subcommand.strip_prefix('+') {
        return super::error(format!(
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
    let options: MetadataOptions = options::parse(&options)?;
    let common = Common {
        toolchain: options.toolchain.filter(|t| !t.is_empty()),
        dir: options.dir,
        env: options.env.0,
        timeout: options.timeout.map(|t| t.0),
        allow_fail: false,
        args: Vec::new(),
    };
    let scope = context::current();
    if let Some(toolchain) = &common.toolchain {
        toolchain::require_toolchain(toolchain).script()?;
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
        Err(failure) => {
            return Err(CargoError::from(CommandFailed::new(display, failure))).script()
        }
    };
    if !finished.success() {
        return Err(CargoError::MetadataFailed {
            command: display,
            status: finished.describe(),
            dir,
        })
        .script();
    }
    let dir = dir.canonicalize().unwrap_or(dir);
    metadata::to_map(&String::from_utf8_lossy(&finished.stdout), &dir).script()
}
