//! `perf::`: benchmark baselines, regression thresholds, PR-versus-base comparison and
//! resource ceilings. One module per concern:
//!
//! | module | concern |
//! |---|---|
//! | `criterion` | build and run criterion benches, read `new/{estimates,sample,benchmark}.json` |
//! | `timing` | `perf::time`: a command run N times, wall / user / sys / peak RSS from rusage |
//! | `store` | named baselines and the JSON-lines history under `target/xtask/perf/` |
//! | `compare` | change in %, the noise rule, thresholds and absolute budgets -> verdicts |
//! | `report` | the terminal table and its markdown twin |
//! | `chart` | an SVG chart of the history |
//! | `refs` | `perf::compare_refs`: base and head in git worktrees, benchmarked alternately |
//! | `confirm` | a suspected regression is measured again and fails only if it reproduces |
//!
//! Figures travel through scripts as plain maps (`#{ "group/bench": #{ ns, lower, upper,
//! rss_mb } }`) so they can be inspected, merged, and passed between jobs with `result_of`.

mod chart;
mod compare;
mod confirm;
mod criterion;
mod error;
mod refs;
mod report;
mod stats;
mod store;
mod timing;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module};
use serde::{Deserialize, Serialize};

use super::error::{CommandFailed, IntoScript as _};
use super::Result;
use crate::events::{Event, Level};
use crate::process::{self, display_argv, Finished, Spec, Usage};
use crate::script::context::{self, JobScope};
use crate::script::Mode;
pub use error::PerfError;

/// One benchmark's figure: a point estimate with its confidence interval, in nanoseconds, and
/// the peak resident memory of the process that measured it when known.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Figure {
    pub ns: f64,
    #[serde(default = "nan")]
    pub lower: f64,
    #[serde(default = "nan")]
    pub upper: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mb: Option<f64>,
}

fn nan() -> f64 {
    f64::NAN
}

impl Figure {
    /// An interval given without bounds is the point itself.
    fn normalized(mut self) -> Self {
        if self.lower.is_nan() {
            self.lower = self.ns;
        }
        if self.upper.is_nan() {
            self.upper = self.ns;
        }
        self
    }
}

pub type Figures = BTreeMap<String, Figure>;

use super::options::Options as _;
use super::reference::{plain, Function};

pub(crate) const FUNCTIONS: &[Function] = &[
    Function {
        name: "perf::bench",
        params: &["options: map"],
        summary: "Builds the criterion benches, runs them (the machine to themselves) and returns their figures: `#{ \"group/bench\": #{ ns, lower, upper, rss_mb } }`.",
        options: &[criterion::BenchKeys::FIELDS],
        result: &[],
    },
    plain("perf::criterion_results", &["dir: string"], "The figures of every benchmark criterion left under `dir`."),
    Function {
        name: "perf::time",
        params: &["argv: array", "options: map"],
        summary: "Runs a command `warmup` + `runs` times, hyperfine-style: median wall (or CPU) time with its interval, user, sys and peak RSS.",
        options: &[timing::TimeKeys::FIELDS],
        result: <timing::TimeResult as super::options::Fields>::FIELDS,
    },
    plain("perf::dir", &[], "The directory of baselines and history: `XTASK_PERF_DIR`, else `target/xtask/perf/`."),
    plain("perf::save_baseline", &["name: string", "figures: map"], "Saves figures as the named baseline; returns the file's path."),
    plain("perf::load_baseline", &["name: string"], "The named baseline's figures, or `()` when there is none."),
    plain("perf::record", &["figures: map", "label: string"], "Appends figures to `history.jsonl`; returns the file's path."),
    plain("perf::history", &[], "Every recorded entry of `history.jsonl`."),
    Function {
        name: "perf::compare",
        params: &["baseline: map", "current: map", "options: map"],
        summary: "Baseline versus current: per benchmark the change in %, whether it clears the noise (intervals apart), and a verdict from the thresholds and budgets.",
        options: &[compare::CompareKeys::FIELDS],
        result: <compare::Comparison as super::options::Fields>::FIELDS,
    },
    Function {
        name: "perf::confirm",
        params: &["comparison: map", "baseline: map", "options: map"],
        summary: "When a comparison fails on a slowdown, measures again and keeps the better measurement: only a reproduced regression fails.",
        options: confirm::OPTIONS,
        result: &[],
    },
    Function {
        name: "perf::report",
        params: &["comparison: map", "options: map"],
        summary: "Prints the comparison's table, writes `report.md` next to the history, returns the markdown.",
        options: &[report::ReportKeys::FIELDS],
        result: &[],
    },
    plain("perf::enforce", &["comparison: map"], "Logs the comparison's warnings and fails the job when its verdict is a failure, naming each benchmark over its limit."),
    Function {
        name: "perf::chart",
        params: &["options: map"],
        summary: "Draws the history as an SVG chart; returns its path.",
        options: &[chart::ChartKeys::FIELDS],
        result: &[],
    },
    Function {
        name: "perf::compare_refs",
        params: &["base: string", "head: string", "options: map"],
        summary: "Base versus head in temporary git worktrees, measured alternately `rounds` times (criterion benches, or `command`), compared as `perf::compare` does.",
        options: refs::OPTIONS,
        result: &super::options::concat_fields::<
            {
                <compare::Comparison as super::options::Fields>::FIELDS.len()
                    + <refs::RefsResult as super::options::Fields>::FIELDS.len()
            },
        >(
            &[<compare::Comparison as super::options::Fields>::FIELDS],
            <refs::RefsResult as super::options::Fields>::FIELDS,
        ),
    },
];

pub fn register(engine: &mut Engine) {
    let mut m = Module::new();
    // Parameter names and types for the generated definitions and docs (return type last).
    let f = |name: &str, info: &[&str]| FuncRegistration::new(name).with_params_info(info);
    f("bench", &["Map"]).set_into_module(&mut m, || bench(Map::new()));
    f("bench", &["options: Map", "Map"]).set_into_module(&mut m, bench);
    f("criterion_results", &["dir: &str", "Map"]).set_into_module(&mut m, criterion_results);
    f("time", &["argv: Array", "Map"])
        .set_into_module(&mut m, |argv: Array| timing::time_fn(argv, Map::new()));
    f("time", &["argv: Array", "options: Map", "Map"]).set_into_module(&mut m, timing::time_fn);
    f("dir", &["String"]).set_into_module(&mut m, || -> Result<String> {
        Ok(store::dir(&context::current()).display().to_string())
    });
    f("save_baseline", &["name: &str", "figures: Map", "String"])
        .set_into_module(&mut m, store::save_baseline_fn);
    f("load_baseline", &["name: &str", "?"]).set_into_module(&mut m, store::load_baseline_fn);
    f("record", &["figures: Map", "String"])
        .set_into_module(&mut m, |figures: Dynamic| store::record_fn(figures, ""));
    f("record", &["figures: Map", "label: &str", "String"])
        .set_into_module(&mut m, |figures: Dynamic, label: &str| {
            store::record_fn(figures, label)
        });
    f("history", &["Array"]).set_into_module(&mut m, store::history_fn);
    f("compare", &["baseline: Map", "current: Map", "Map"])
        .set_into_module(&mut m, |base: Dynamic, current: Dynamic| {
            compare::compare_fn(base, current, Map::new())
        });
    f(
        "compare",
        &["baseline: Map", "current: Map", "options: Map", "Map"],
    )
    .set_into_module(&mut m, compare::compare_fn);
    f(
        "confirm",
        &["comparison: Map", "baseline: Map", "options: Map", "Map"],
    )
    .set_into_module(&mut m, confirm::confirm_fn);
    f("report", &["comparison: Map", "String"])
        .set_into_module(&mut m, |cmp: Dynamic| report::report_fn(cmp, Map::new()));
    f("report", &["comparison: Map", "options: Map", "String"])
        .set_into_module(&mut m, report::report_fn);
    f("enforce", &["comparison: Map", "()"]).set_into_module(&mut m, report::enforce_fn);
    f("chart", &["String"]).set_into_module(&mut m, || chart::chart_fn(Map::new()));
    f("chart", &["options: Map", "String"]).set_into_module(&mut m, chart::chart_fn);
    f("compare_refs", &["base: &str", "head: &str", "Map"])
        .set_into_module(&mut m, |base: &str, head: &str| {
            refs::compare_refs_fn(base, head, Map::new())
        });
    f(
        "compare_refs",
        &["base: &str", "head: &str", "options: Map", "Map"],
    )
    .set_into_module(&mut m, refs::compare_refs_fn);
    engine.register_static_module("perf", m.into());
}

/// `perf::criterion_results(dir)`: every benchmark criterion left under `dir`.
fn criterion_results(dir: &str) -> Result<Dynamic> {
    let scope = context::current();
    let benches = criterion::read_dir(&scope.path(dir), None)
        .map_err(|source| PerfError::CriterionResults {
            dir: dir.into(),
            source,
        })
        .script()?;
    Ok(figures_to_dynamic(
        &benches.into_iter().map(|b| (b.name, b.figure)).collect(),
    ))
}

/// `perf::bench([opts])`: builds the criterion benches, runs them, returns their figures.
fn bench(options: Map) -> Result<Dynamic> {
    use super::options::Options as _;
    super::options::check_known("perf::bench", &options, &[criterion::BenchKeys::FIELDS])?;
    let scope = context::current();
    if scope.host.mode == Mode::Plan {
        return Ok(Dynamic::from_map(Map::new()));
    }
    let opts = criterion::BenchOptions::from_map(&scope, "perf::bench", &options)?;
    let executables = criterion::build(&scope, &opts, &opts.dir).script()?;
    let target = criterion::target_dir_of(&executables).script()?;
    let home = target.join("criterion");
    let benches = criterion::run(&scope, &opts, &opts.dir, &executables, &home).script()?;
    Ok(figures_to_dynamic(
        &benches.into_iter().map(|b| (b.name, b.figure)).collect(),
    ))
}

// ---- conversions between script values and Rust types (through JSON, which both speak) ----

pub(crate) fn to_json(value: &Dynamic) -> Result<serde_json::Value> {
    serde_json::to_value(value).or_else(|e| super::error(format!("not a plain value: {e}")))
}

pub(crate) fn from_json(value: &serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

/// A figures map from a script (`()` is no figures).
pub(crate) fn figures_from(what: &str, value: &Dynamic) -> Result<Figures> {
    if value.is_unit() {
        return Ok(Figures::new());
    }
    let json = to_json(value)?;
    let figures: Figures = serde_json::from_value(json).or_else(|e| {
        super::error(format!(
            "{what} must be a map of figures like #{{ \"name\": #{{ ns: 1234.0, lower: 1200.0, upper: 1300.0 }} }}: {e}"
        ))
    })?;
    Ok(figures
        .into_iter()
        .map(|(k, f)| (k, f.normalized()))
        .collect())
}

/// Figures stay a map: the keys are the benchmarks' names.
pub(crate) fn figures_to_dynamic(figures: &Figures) -> Dynamic {
    from_json(&serde_json::to_value(figures).unwrap_or_default())
}

// ---- running commands inside the current scope ----

/// How a command's output is handled.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Output {
    /// Streamed into the job's log, like `run`.
    Log,
    /// Kept back (repeated timing runs would flood the log); shown only if the command fails.
    Quiet,
}

/// Runs `spec` in `scope` (its environment and cancel token), measuring rusage, failing on a
/// non-zero exit with the command and, for quiet runs, the tail of its output.
pub(crate) fn exec(
    scope: &JobScope,
    mut spec: Spec,
    output: Output,
) -> std::result::Result<(Finished, Option<Usage>), PerfError> {
    super::implied::volatile(
        "perf:: measures this machine and compares with stored or moving baselines",
    );
    let mut env = scope.env_changes();
    env.append(&mut spec.env);
    spec.env = env;
    let display = display_argv(&spec.argv);
    let bus = scope.host.bus.clone();
    let job = scope.job;
    let kept = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink: process::Sink = match output {
        Output::Log => bus.command_log(job, &display),
        Output::Quiet => {
            let kept = Arc::clone(&kept);
            Arc::new(move |bytes: Vec<u8>| {
                let mut kept = kept.lock().unwrap();
                kept.extend(bytes);
                let excess = kept.len().saturating_sub(16 * 1024);
                kept.drain(..excess);
            })
        }
    };
    let (finished, usage) = match process::execute_measured(&spec, &scope.token(), sink) {
        Ok(done) => done,
        Err(failure) => return Err(CommandFailed::new(display, failure).into()),
    };
    if !finished.success() {
        return Err(PerfError::Failed {
            command: display,
            status: finished.describe(),
            tail: String::from_utf8_lossy(&kept.lock().unwrap()).into_owned(),
        });
    }
    Ok((finished, usage))
}

/// Waits for `claim` (a measurement has the machine to itself; a build holds cargo's build
/// directory), giving the job's slot back meanwhile.
pub(crate) fn hold(
    scope: &JobScope,
    claim: crate::resources::Claim,
) -> std::result::Result<crate::resources::ClaimGuard, PerfError> {
    crate::resources::claim(claim, &scope.token()).map_err(PerfError::Waiting)
}

pub(crate) fn message(scope: &JobScope, level: Level, text: impl Into<String>) {
    scope.host.bus.message(scope.job, level, text);
}

/// A line in the job's log.
pub(crate) fn print(scope: &JobScope, text: &str) {
    let mut bytes = text.as_bytes().to_vec();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    scope.host.bus.emit(Event::Output {
        job: scope.job,
        bytes,
    });
}
