//! How long each job took in earlier runs, for the critical-path order. Kept in
//! `${CARGO_TARGET_DIR:-<root>/target}/xtask-cache/durations.json` as
//! `{ "<task>": { "<job>": seconds } }`; a missing or unreadable file just means no history.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::events::{JobSummary, Outcome};

pub struct Durations {
    path: PathBuf,
    task: String,
    all: BTreeMap<String, BTreeMap<String, f64>>,
    /// As read: when nothing changed (every job was up to date) there is nothing to write.
    loaded: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Durations {
    pub fn load(root: &Path, task: &str) -> Durations {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(|v| root.join(v))
            .unwrap_or_else(|| root.join("target"));
        let path = target.join("xtask-cache").join("durations.json");
        let all: BTreeMap<String, BTreeMap<String, f64>> = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Durations {
            path,
            task: task.to_string(),
            loaded: all.clone(),
            all,
        }
    }

    /// This task's jobs and their remembered seconds.
    pub fn seconds(&self) -> HashMap<String, f64> {
        self.all
            .get(&self.task)
            .map(|jobs| jobs.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Remembers the jobs that ran to the end (a failure or cancellation says little about
    /// the usual length), smoothed so one slow run does not reorder the next.
    pub fn record(&mut self, summaries: &[JobSummary]) {
        let jobs = self.all.entry(self.task.clone()).or_default();
        for s in summaries {
            if !matches!(s.outcome, Outcome::Passed) {
                continue;
            }
            let now = s.duration.as_secs_f64();
            let value = match jobs.get(&s.name) {
                Some(before) => 0.5 * before + 0.5 * now,
                None => now,
            };
            jobs.insert(s.name.clone(), (value * 1000.0).round() / 1000.0);
        }
    }

    /// Writes the file (through a rename, so a concurrent run never reads half of it).
    /// Best effort: failing to remember is no reason to fail the run.
    pub fn save(&self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        if self.all == self.loaded && self.path.exists() {
            return;
        }
        crate::cache::store::create_cache_dir(dir);
        let Ok(json) = serde_json::to_vec_pretty(&self.all) else {
            return;
        };
        let tmp = dir.join(format!("durations.json.{}", std::process::id()));
        if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, &self.path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
