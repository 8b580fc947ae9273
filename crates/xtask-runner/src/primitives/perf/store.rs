//! Named baselines and the run history, under `target/xtask/perf/` (or `$CARGO_TARGET_DIR/
//! xtask/perf`, or `$XTASK_PERF_DIR`):
//!
//! - `baselines/<name>.json`: one entry, overwritten by `perf::save_baseline`;
//! - `history.jsonl`: every recorded run appended as one JSON line (git sha, date, machine,
//!   figures), so trends can be read (and charted) later.

use std::io::Write;
use std::path::{Path, PathBuf};

use rhai::{Array, Dynamic};
use serde::{Deserialize, Serialize};

use super::{figures_from, figures_to_dynamic, from_json, Figures, PerfError};
use crate::primitives::error::IntoScript as _;
use crate::primitives::Result;
use crate::process::{self, Spec};
use crate::script::context::{self, JobScope};

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Entry {
    pub sha: String,
    pub date: String,
    pub machine: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    pub benchmarks: Figures,
}

/// Where this scope's perf data lives.
pub fn dir(scope: &JobScope) -> PathBuf {
    crate::primitives::implied::volatile(
        "perf:: measures this machine and compares with stored or moving baselines",
    );
    if let Some(dir) = scope.env_var("XTASK_PERF_DIR").filter(|d| !d.is_empty()) {
        return scope.path(&dir);
    }
    match scope.env_var("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(target) => scope.path(&target).join("xtask/perf"),
        None => scope.path("target/xtask/perf"),
    }
}

/// A new entry for `benchmarks`, stamped with the checkout, the time and the machine.
pub fn entry(scope: &JobScope, benchmarks: Figures, label: &str) -> Entry {
    Entry {
        sha: git_sha(scope, &scope.dir.borrow()),
        date: now_utc(),
        machine: machine(),
        label: label.to_string(),
        benchmarks,
    }
}

type Stored<T> = std::result::Result<T, PerfError>;

fn baseline_path(dir: &Path, name: &str) -> Stored<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(PerfError::BadBaselineName { name: name.into() });
    }
    Ok(dir.join("baselines").join(format!("{name}.json")))
}

pub fn save_baseline(dir: &Path, name: &str, entry: &Entry) -> Stored<PathBuf> {
    let path = baseline_path(dir, name)?;
    let text = serde_json::to_string_pretty(entry).expect("figures serialize");
    std::fs::create_dir_all(path.parent().unwrap())
        .and_then(|_| std::fs::write(&path, text + "\n"))
        .map_err(|source| PerfError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

pub fn load_baseline(dir: &Path, name: &str) -> Stored<Option<Entry>> {
    let path = baseline_path(dir, name)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| PerfError::NotABaseline { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PerfError::Read { path, source }),
    }
}

pub fn history_path(dir: &Path) -> PathBuf {
    dir.join("history.jsonl")
}

pub fn append_history(dir: &Path, entry: &Entry) -> Stored<PathBuf> {
    let path = history_path(dir);
    let line = serde_json::to_string(entry).expect("figures serialize");
    std::fs::create_dir_all(dir)
        .and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
        })
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|source| PerfError::Append {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// Every readable entry, oldest first (a damaged line is skipped, not fatal: history is for
/// reading trends).
pub fn read_history(dir: &Path) -> Vec<Entry> {
    std::fs::read_to_string(history_path(dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

// ---- script functions ----

pub fn save_baseline_fn(name: &str, figures: Dynamic) -> Result<String> {
    let scope = context::current();
    let figures = figures_from("perf::save_baseline's figures", &figures)?;
    let entry = entry(&scope, figures, name);
    Ok(save_baseline(&dir(&scope), name, &entry)
        .script()?
        .display()
        .to_string())
}

/// The baseline's figures, or `()` when there is none yet.
pub fn load_baseline_fn(name: &str) -> Result<Dynamic> {
    let scope = context::current();
    Ok(load_baseline(&dir(&scope), name)
        .script()?
        .map(|e| figures_to_dynamic(&e.benchmarks))
        .unwrap_or(Dynamic::UNIT))
}

pub fn record_fn(figures: Dynamic, label: &str) -> Result<String> {
    let scope = context::current();
    let figures = figures_from("perf::record's figures", &figures)?;
    let entry = entry(&scope, figures, label);
    Ok(append_history(&dir(&scope), &entry)
        .script()?
        .display()
        .to_string())
}

pub fn history_fn() -> Result<Array> {
    let scope = context::current();
    Ok(read_history(&dir(&scope))
        .iter()
        .map(|e| from_json(&serde_json::to_value(e).unwrap_or_default()))
        .collect())
}

// ---- stamps ----

/// The checked-out commit, `-dirty` when the tree has changes, `unknown` outside git.
pub fn git_sha(scope: &JobScope, dir: &Path) -> String {
    let git = |args: &[&str]| -> Option<String> {
        let spec = Spec {
            env: scope.env_changes(),
            ..Spec::query("git", args, dir)
        };
        let done = process::execute(&spec, &scope.token(), std::sync::Arc::new(|_| {})).ok()?;
        done.success()
            .then(|| String::from_utf8_lossy(&done.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(sha) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{sha}-dirty"),
            _ => sha,
        },
        None => "unknown".into(),
    }
}

/// `2026-11-22T21:44:59Z`.
pub fn now_utc() -> String {
    crate::utc::rfc3339(crate::utc::now())
}

/// `host (CPU model, N cpus)`: enough to tell apart figures from different machines.
pub fn machine() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{host} ({cpu}, {cpus} cpus)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::perf::Figure;

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(crate::utc::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(crate::utc::rfc3339(1_795_902_299), "2026-11-28T21:44:59Z");
        assert_eq!(crate::utc::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn baselines_round_trip_and_history_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut figures = Figures::new();
        figures.insert(
            "a".into(),
            Figure {
                ns: 1.0,
                lower: 0.5,
                upper: 1.5,
                rss_mb: Some(2.0),
            },
        );
        let entry = Entry {
            sha: "abc".into(),
            date: now_utc(),
            machine: machine(),
            label: String::new(),
            benchmarks: figures.clone(),
        };
        assert!(load_baseline(dir.path(), "main").unwrap().is_none());
        save_baseline(dir.path(), "main", &entry).unwrap();
        let loaded = load_baseline(dir.path(), "main").unwrap().unwrap();
        assert_eq!(loaded.benchmarks, figures);
        assert!(matches!(
            save_baseline(dir.path(), "../x", &entry),
            Err(PerfError::BadBaselineName { name }) if name == "../x"
        ));
        std::fs::write(dir.path().join("baselines/broken.json"), "{").unwrap();
        assert!(matches!(
            load_baseline(dir.path(), "broken"),
            Err(PerfError::NotABaseline { path, .. }) if path.ends_with("baselines/broken.json")
        ));
        append_history(dir.path(), &entry).unwrap();
        append_history(dir.path(), &entry).unwrap();
        assert_eq!(read_history(dir.path()).len(), 2);
    }
}
