//! Criterion benches: build them with cargo, run their executables, read what criterion wrote
//! (`<dir>/**/new/estimates.json`, `sample.json`, `benchmark.json`).
//!
//! The executables are run directly rather than through `cargo bench`: their own process is
//! what rusage then measures (peak RSS of the benchmark, not of cargo), and
//! `perf::compare_refs` can alternate base and head without cargo in between.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rhai::Map;
use serde_json::Value;

use super::{exec, stats, Figure, Output, PerfError};
use crate::primitives::options::{self, options, Strings, Vars};
use crate::primitives::Result;
use crate::process::Spec;
use crate::script::context::JobScope;

options! {
    /// Options of `perf::bench` (and the criterion part of `compare_refs` and `confirm`).
    pub struct BenchKeys for "perf::bench" {
        /// One bench target (`--bench NAME`); all of them when unset.
        bench: Option<String>,
        /// The package whose benches run (`--package`). `package` is a Rhai keyword, so
        /// `"package"` (quoted) is the other spelling.
        #[alias = "package"]
        packages: Option<String>,
        /// Features to turn on (`--features`).
        features: Strings,
        /// Arguments for criterion (`--warm-up-time 1`, a filter, …).
        args: Strings,
        /// Where cargo runs (the package or workspace root), relative to the job's directory.
        dir: Option<String>,
        /// Variables for the build and the benches on top of the job's; `()` unsets one.
        env: Vars,
    }
}

/// What to build and how to run it.
#[derive(Clone, Debug, Default)]
pub struct BenchOptions {
    /// One bench target (`--bench NAME`); all of them when `None`.
    pub bench: Option<String>,
    pub package: Option<String>,
    pub features: Vec<String>,
    /// Arguments for criterion (`--warm-up-time 1`, a filter, …).
    pub args: Vec<String>,
    /// Where `cargo` runs (the package or workspace root).
    pub dir: PathBuf,
    pub env: Vec<(String, Option<String>)>,
}

impl BenchOptions {
    /// The options `BenchKeys` knows in `options`, for the function `what`.
    pub fn from_map(scope: &JobScope, what: &str, options: &Map) -> Result<Self> {
        let keys: BenchKeys = options::parse_part(what, options)?;
        Ok(BenchOptions {
            bench: keys.bench,
            package: keys.packages,
            features: keys.features.0,
            args: keys.args.0,
            dir: match keys.dir {
                Some(dir) => scope.path(&dir),
                None => scope.dir.borrow().clone(),
            },
            env: keys.env.0,
        })
    }
}

/// One benchmark as criterion reported it.
#[derive(Clone, Debug)]
pub struct Bench {
    pub name: String,
    pub figure: Figure,
    /// Per-iteration time of each sample, for pooling several runs.
    pub samples: Vec<f64>,
}

/// `cargo bench --no-run`: builds the benches (compiler output goes to the job's log) and
/// returns their executables.
pub fn build(
    scope: &JobScope,
    opts: &BenchOptions,
    dir: &Path,
) -> std::result::Result<Vec<PathBuf>, PerfError> {
    let mut argv: Vec<String> = [
        "cargo",
        "bench",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]
    .map(String::from)
    .to_vec();
    match &opts.bench {
        Some(bench) => argv.extend(["--bench".into(), bench.clone()]),
        None => argv.push("--benches".into()),
    }
    if let Some(package) = &opts.package {
        argv.extend(["--package".into(), package.clone()]);
    }
    if !opts.features.is_empty() {
        argv.extend(["--features".into(), opts.features.join(",")]);
    }
    let spec = Spec {
        argv,
        env: opts.env.clone(),
        dir: Some(dir.to_path_buf()),
        capture_stdout: true,
        ..Spec::default()
    };
    let _build_dir = match crate::primitives::build_dir::claim_for_argv(
        &spec.argv,
        dir,
        &scope
            .env_changes()
            .into_iter()
            .chain(spec.env.iter().cloned())
            .collect::<Vec<_>>(),
    ) {
        Some(claim) => Some(super::hold(scope, claim)?),
        None => None,
    };
    let (finished, _) = exec(scope, spec, Output::Log)?;
    let executables = executables(&String::from_utf8_lossy(&finished.stdout));
    if executables.is_empty() {
        return Err(PerfError::NoBenches {
            dir: dir.to_path_buf(),
        });
    }
    Ok(executables)
}

/// Bench executables from cargo's JSON messages.
fn executables(messages: &str) -> Vec<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"))
        })
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect()
}

/// The target directory the executables were built in (`<target>/<profile>/deps/<exe>`).
pub fn target_dir_of(executables: &[PathBuf]) -> std::result::Result<PathBuf, PerfError> {
    executables
        .first()
        .and_then(|exe| exe.ancestors().nth(3))
        .map(Path::to_path_buf)
        .ok_or(PerfError::NoTargetDir)
}

/// Runs every executable as `cargo bench` would (`--bench` + criterion's arguments), results
/// under `home`, and reads back what this run wrote. Each figure gets the peak RSS of the
/// executable that measured it.
pub fn run(
    scope: &JobScope,
    opts: &BenchOptions,
    dir: &Path,
    executables: &[PathBuf],
    home: &Path,
) -> std::result::Result<Vec<Bench>, PerfError> {
    let mut all = Vec::new();
    for exe in executables {
        let started = SystemTime::now();
        let mut argv = vec![exe.display().to_string(), "--bench".into()];
        argv.extend(opts.args.iter().cloned());
        let mut env = opts.env.clone();
        env.push(("CRITERION_HOME".into(), Some(home.display().to_string())));
        let spec = Spec {
            argv,
            env,
            dir: Some(dir.to_path_buf()),
            ..Spec::default()
        };
        let (_, usage) = {
            let _machine = super::hold(scope, crate::resources::Claim::measurement())?;
            exec(scope, spec, Output::Log)?
        };
        let rss_mb = usage.map(|u| u.max_rss_kib as f64 / 1024.0);
        let mut benches =
            read_dir(home, Some(started)).map_err(|source| PerfError::CriterionResults {
                dir: home.to_path_buf(),
                source,
            })?;
        for bench in &mut benches {
            bench.figure.rss_mb = rss_mb;
        }
        all.extend(benches);
    }
    if all.is_empty() {
        return Err(PerfError::NoResults {
            home: home.to_path_buf(),
        });
    }
    Ok(all)
}

/// Every benchmark under `root` (criterion's output directory) whose `new/` results were
/// written at or after `since` (all when `None`), sorted by name.
pub fn read_dir(root: &Path, since: Option<SystemTime>) -> std::io::Result<Vec<Bench>> {
    let mut benches = Vec::new();
    if !root.is_dir() {
        return Ok(benches);
    }
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        let path = entry.path();
        if path.file_name().is_none_or(|n| n != "estimates.json")
            || path
                .parent()
                .and_then(Path::file_name)
                .is_none_or(|n| n != "new")
        {
            continue;
        }
        if let Some(since) = since {
            if entry
                .metadata()
                .map_err(std::io::Error::other)?
                .modified()?
                < since
            {
                continue;
            }
        }
        let new_dir = path.parent().unwrap();
        let fallback = new_dir
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        benches.push(read_bench(new_dir, fallback)?);
    }
    benches.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(benches)
}

fn read_json(path: &Path) -> std::io::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
}

/// One `new/` directory. The median is the point estimate: it shrugs off the outliers a
/// shared machine produces, where the mean does not.
fn read_bench(new_dir: &Path, fallback_name: String) -> std::io::Result<Bench> {
    let estimates = read_json(&new_dir.join("estimates.json"))?;
    let median = &estimates["median"];
    let point = median["point_estimate"].as_f64().ok_or_else(|| {
        std::io::Error::other(format!(
            "{}: no median.point_estimate",
            new_dir.join("estimates.json").display()
        ))
    })?;
    let ci = &median["confidence_interval"];
    let name = read_json(&new_dir.join("benchmark.json"))
        .ok()
        .and_then(|b| b["full_id"].as_str().map(String::from))
        .unwrap_or(fallback_name);
    let samples = read_json(&new_dir.join("sample.json"))
        .ok()
        .map(|s| per_iteration(&s))
        .unwrap_or_default();
    Ok(Bench {
        name,
        figure: Figure {
            ns: point,
            lower: ci["lower_bound"].as_f64().unwrap_or(point),
            upper: ci["upper_bound"].as_f64().unwrap_or(point),
            rss_mb: None,
        },
        samples,
    })
}

/// `sample.json` holds total times for growing iteration counts: time per iteration each.
fn per_iteration(sample: &Value) -> Vec<f64> {
    let (Some(iters), Some(times)) = (sample["iters"].as_array(), sample["times"].as_array())
    else {
        return Vec::new();
    };
    iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64().filter(|i| *i > 0.0)?))
        .collect()
}

/// Several runs of the same benchmarks pooled into one figure each: the median of all their
/// samples with its order-statistics interval.
pub fn pool(runs: &[Vec<Bench>]) -> super::Figures {
    let mut by_name: std::collections::BTreeMap<String, (Vec<f64>, Option<f64>)> =
        Default::default();
    for bench in runs.iter().flatten() {
        let entry = by_name.entry(bench.name.clone()).or_default();
        if bench.samples.is_empty() {
            entry.0.push(bench.figure.ns);
        } else {
            entry.0.extend(&bench.samples);
        }
        entry.1 = match (entry.1, bench.figure.rss_mb) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    by_name
        .into_iter()
        .map(|(name, (mut samples, rss_mb))| {
            let (ns, lower, upper) = stats::median_ci(&mut samples);
            (
                name,
                Figure {
                    ns,
                    lower,
                    upper,
                    rss_mb,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bench(root: &Path, dir: &str, full_id: &str, median: f64) {
        let new = root.join(dir).join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":1.5,"standard_error":0.1}},
                   "median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{},"upper_bound":{}}},"point_estimate":{median},"standard_error":0.1}},
                   "slope":null}}"#,
                median - 1.0,
                median + 1.0
            ),
        )
        .unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            format!(r#"{{"group_id":"g","function_id":null,"value_str":null,"throughput":null,"full_id":"{full_id}","directory_name":"{dir}","title":"{full_id}"}}"#),
        )
        .unwrap();
        std::fs::write(
            new.join("sample.json"),
            r#"{"sampling_mode":"Linear","iters":[10.0,20.0,30.0],"times":[1000.0,2200.0,2700.0]}"#,
        )
        .unwrap();
        // criterion keeps the previous run in base/: never read as current.
        let base = root.join(dir).join("base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::copy(new.join("estimates.json"), base.join("estimates.json")).unwrap();
    }

    #[test]
    fn reads_point_interval_and_samples() {
        let dir = tempfile::tempdir().unwrap();
        write_bench(dir.path(), "parse/get", "parse/get", 435.0);
        write_bench(dir.path(), "parse/rpc 1", "parse/rpc 1", 978.0);
        let benches = read_dir(dir.path(), None).unwrap();
        assert_eq!(benches.len(), 2);
        assert_eq!(benches[0].name, "parse/get");
        assert_eq!(
            benches[0].figure,
            Figure {
                ns: 435.0,
                lower: 434.0,
                upper: 436.0,
                rss_mb: None
            }
        );
        assert_eq!(benches[0].samples, vec![100.0, 110.0, 90.0]);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(read_dir(dir.path(), Some(later)).unwrap().is_empty());
    }

    #[test]
    fn finds_bench_executables_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"x"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bench"],"name":"parser"},"executable":"/t/release/deps/parser-1"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executables(messages),
            vec![PathBuf::from("/t/release/deps/parser-1")]
        );
        assert_eq!(
            target_dir_of(&executables(messages)).unwrap(),
            PathBuf::from("/t")
        );
    }

    #[test]
    fn pooling_takes_the_median_of_all_samples() {
        let bench = |samples: Vec<f64>| Bench {
            name: "b".into(),
            figure: Figure {
                ns: 0.0,
                lower: 0.0,
                upper: 0.0,
                rss_mb: Some(3.0),
            },
            samples,
        };
        let pooled = pool(&[
            vec![bench(vec![1.0, 2.0, 3.0])],
            vec![bench(vec![4.0, 5.0])],
        ]);
        assert_eq!(pooled["b"].ns, 3.0);
        assert_eq!(pooled["b"].rss_mb, Some(3.0));
    }
}
