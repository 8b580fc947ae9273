//! `perf::time(argv, #{ runs, warmup })`: any command, hyperfine-style. Wall time from the
//! clock; user, sys and peak RSS of the process tree from the kernel's rusage for the child
//! (the process layer reads it when the child exits), never by polling.

use std::path::PathBuf;
use std::time::Duration;

use rhai::{Array, Map};

use super::{exec, stats, Figure, Output, PerfError};
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{
    self, options, result, Duration as OptDuration, Options as _, Vars,
};
use crate::primitives::{error, Result};
use crate::process::{display_argv, Spec};
use crate::script::context::{self, JobScope};
use crate::script::Mode;

options! {
    /// Options of `perf::time` (and the command part of `compare_refs` and `confirm`).
    pub struct TimeKeys for "perf::time" {
        /// Measured runs (at least 1).
        runs: i64 = 10,
        /// Runs before those, not measured.
        warmup: i64 = 1,
        /// The benchmark's name in the figures (default: the command line).
        name: Option<String>,
        /// Directory to run in, relative to the job's.
        dir: Option<String>,
        /// Variables for the command on top of the job's; `()` unsets one.
        env: Vars,
        /// Stops a run after this long.
        timeout: Option<OptDuration>,
        /// `"wall"` (the clock) or `"cpu"` (user + sys of the process tree: steadier on a
        /// shared machine for a command that computes).
        measure: Option<String> = None => "\"wall\"",
    }
}

/// What a run's figure is: the clock, or the CPU time the process tree used (user + sys).
/// CPU time leaves out time spent waiting for a CPU a neighbour holds, so it is the steadier
/// figure on a shared machine for a command that computes; one that waits (sleeps, I/O) needs
/// the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Measure {
    #[default]
    Wall,
    Cpu,
}

impl Measure {
    fn from_option(value: &str) -> Result<Self> {
        match value {
            "wall" => Ok(Measure::Wall),
            "cpu" => Ok(Measure::Cpu),
            other => error(format!(
                "option `measure` is \"wall\" or \"cpu\", not {other:?}"
            )),
        }
    }
}

/// One measured run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    pub rss_kib: u64,
}

impl Sample {
    /// The figure this run contributes, in nanoseconds.
    pub fn ns(&self, measure: Measure) -> f64 {
        match measure {
            Measure::Wall => self.wall.as_nanos() as f64,
            Measure::Cpu => (self.user + self.sys).as_nanos() as f64,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Timing {
    pub name: String,
    pub samples: Vec<Sample>,
    pub measure: Measure,
}

#[derive(Clone, Debug)]
pub struct TimeOptions {
    pub runs: usize,
    pub warmup: usize,
    pub dir: PathBuf,
    pub env: Vec<(String, Option<String>)>,
    pub timeout: Option<Duration>,
    pub measure: Measure,
}

impl TimeOptions {
    /// The options `TimeKeys` knows in `options`, for the function `what`.
    pub fn from_map(scope: &JobScope, what: &str, options: &Map) -> Result<Self> {
        let keys: TimeKeys = options::parse_part(what, options)?;
        let runs = options::count(what, "runs", keys.runs)?;
        if runs == 0 {
            return error("option `runs` must be at least 1");
        }
        Ok(TimeOptions {
            runs,
            warmup: options::count(what, "warmup", keys.warmup)?,
            dir: match keys.dir {
                Some(dir) => scope.path(&dir),
                None => scope.dir.borrow().clone(),
            },
            env: keys.env.0,
            timeout: keys.timeout.map(|t| t.0),
            measure: Measure::from_option(keys.measure.as_deref().unwrap_or("wall"))?,
        })
    }
}

/// Runs `argv` `warmup` times unmeasured, then `runs` times measured. Output is kept back
/// (shown only when a run fails).
pub fn time(
    scope: &JobScope,
    argv: &[String],
    opts: &TimeOptions,
) -> std::result::Result<Vec<Sample>, PerfError> {
    let spec = Spec {
        argv: argv.to_vec(),
        env: opts.env.clone(),
        dir: Some(opts.dir.clone()),
        timeout: opts.timeout,
        ..Spec::default()
    };
    let _machine = super::hold(scope, crate::resources::Claim::measurement())?;
    for _ in 0..opts.warmup {
        exec(scope, spec.clone(), Output::Quiet)?;
    }
    let mut samples = Vec::with_capacity(opts.runs);
    for _ in 0..opts.runs {
        let (finished, usage) = exec(scope, spec.clone(), Output::Quiet)?;
        let usage = usage.unwrap_or_default();
        samples.push(Sample {
            wall: finished.duration,
            user: usage.user,
            sys: usage.sys,
            rss_kib: usage.max_rss_kib,
        });
    }
    Ok(samples)
}

impl Timing {
    fn walls_ns(&self) -> Vec<f64> {
        self.samples.iter().map(|s| s.ns(self.measure)).collect()
    }

    /// Peak RSS over the runs, in MiB (`None` where the OS reported nothing).
    pub fn rss_mb(&self) -> Option<f64> {
        let kib = self.samples.iter().map(|s| s.rss_kib).max()?;
        (kib > 0).then(|| kib as f64 / 1024.0)
    }

    /// Median time (wall or CPU, as asked) with its order-statistics interval.
    pub fn figure(&self) -> Figure {
        let mut measured: Vec<f64> = self.samples.iter().map(|s| s.ns(self.measure)).collect();
        let (ns, lower, upper) = stats::median_ci(&mut measured);
        Figure {
            ns,
            lower,
            upper,
            rss_mb: self.rss_mb(),
        }
    }

    /// The figure's keys (so the map can go straight into a figures map) plus the detail.
    pub fn to_map(&self) -> Map {
        let figure = self.figure();
        let mut walls = self.walls_ns();
        walls.sort_by(f64::total_cmp);
        let median_of = |f: &dyn Fn(&Sample) -> Duration| {
            let mut v: Vec<f64> = self.samples.iter().map(|s| f(s).as_secs_f64()).collect();
            stats::median(&mut v)
        };
        let measure = if self.measure == Measure::Cpu {
            "cpu"
        } else {
            "wall"
        };
        options::to_map(&TimeResult {
            name: self.name.clone(),
            runs: self.samples.len() as i64,
            measure: measure.into(),
            ns: figure.ns,
            lower: figure.lower,
            upper: figure.upper,
            rss_mb: figure.rss_mb,
            min: walls[0] / 1e9,
            median: figure.ns / 1e9,
            max: walls[walls.len() - 1] / 1e9,
            user: median_of(&|s| s.user),
            sys: median_of(&|s| s.sys),
        })
    }
}

result! {
    /// What `perf::time` returns: a figure (`ns`, `lower`, `upper`, `rss_mb`, so it can go
    /// straight into a figures map) and the detail.
    pub struct TimeResult {
        /// The benchmark's name: the `name` option, else the command line.
        name: String as "string",
        /// Measured runs.
        runs: i64 as "int",
        /// `"wall"` or `"cpu"`: what `ns` measures.
        measure: String as "string",
        /// Median time in nanoseconds.
        ns: f64 as "float",
        /// Lower end of the median's interval, in nanoseconds.
        lower: f64 as "float",
        /// Upper end of the median's interval, in nanoseconds.
        upper: f64 as "float",
        /// Peak RSS of the process tree in MB; `()` where the OS reported none.
        rss_mb: Option<f64> as "float",
        /// Fastest run, in seconds.
        min: f64 as "float",
        /// Median run, in seconds.
        median: f64 as "float",
        /// Slowest run, in seconds.
        max: f64 as "float",
        /// Median user CPU time, in seconds.
        user: f64 as "float",
        /// Median system CPU time, in seconds.
        sys: f64 as "float",
    }
}

/// The script function.
pub fn time_fn(argv: Array, options: Map) -> Result<Map> {
    options::check_known("perf::time", &options, &[TimeKeys::FIELDS])?;
    let scope = context::current();
    let argv: Vec<String> = argv.iter().map(crate::primitives::display_value).collect();
    if argv.is_empty() || argv[0].is_empty() {
        return error(
            "perf::time needs a command, e.g. perf::time([\"./target/release/app\", \"--check\"])",
        );
    }
    let keys: TimeKeys = options::parse(&options)?;
    let name = keys.name.unwrap_or_else(|| display_argv(&argv));
    if scope.host.mode == Mode::Plan {
        return Ok(Map::new());
    }
    let opts = TimeOptions::from_map(&scope, "perf::time", &options)?;
    let timing = Timing {
        name,
        samples: time(&scope, &argv, &opts).script()?,
        measure: opts.measure,
    };
    let f = timing.figure();
    super::print(
        &scope,
        &format!(
            "{}: median {} (min {}, max {}) over {} runs, peak RSS {}",
            timing.name,
            stats::format_ns(f.ns),
            stats::format_ns(timing.walls_ns().into_iter().fold(f64::MAX, f64::min)),
            stats::format_ns(timing.walls_ns().into_iter().fold(0.0, f64::max)),
            timing.samples.len(),
            f.rss_mb
                .map(|mb| format!("{mb:.1} MB"))
                .unwrap_or_else(|| "unknown".into())
        ),
    );
    Ok(timing.to_map())
}
