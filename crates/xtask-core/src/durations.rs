//! What each job did in earlier runs, for the scheduler: how long it took (the critical-path
//! order) and which locks it claimed (`resources::Hints`). Kept in
//! `${CARGO_TARGET_DIR:-<root>/target}/xtask-cache/durations.json` as
//! `{ "<task>": { "<job>": { "seconds": s, "locks": [...] } } }` (a bare number of seconds, as
//! earlier versions wrote it, still reads); a missing or unreadable file just means no history.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::events::{JobSummary, Outcome};

/// One job's history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Remembered {
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
}

/// What the file may hold for a job.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Seconds(f64),
    Job {
        seconds: f64,
        #[serde(default)]
        locks: Vec<String>,
    },
}

impl From<Stored> for Remembered {
    fn from(stored: Stored) -> Remembered {
        match stored {
            Stored::Seconds(seconds) => Remembered {
                seconds,
                locks: Vec::new(),
            },
            Stored::Job { seconds, locks } => Remembered { seconds, locks },
        }
    }
}

type Tasks = BTreeMap<String, BTreeMap<String, Remembered>>;

pub struct Durations {
    path: PathBuf,
    task: String,
    all: Tasks,
    /// As read: when nothing changed (every job was up to date) there is nothing to write.
    loaded: Tasks,
}

impl Durations {
    pub fn load(root: &Path, task: &str) -> Durations {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(|v| root.join(v))
            .unwrap_or_else(|| root.join("target"));
        let path = target.join("xtask-cache").join("durations.json");
        let all: Tasks = std::fs::read(&path)
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
        self.jobs().map(|(k, v)| (k.clone(), v.seconds)).collect()
    }

    /// This task's jobs and the locks each claimed when it last passed.
    pub fn locks(&self) -> HashMap<String, Vec<String>> {
        self.jobs()
            .filter(|(_, v)| !v.locks.is_empty())
            .map(|(k, v)| (k.clone(), v.locks.clone()))
            .collect()
    }

    fn jobs(&self) -> impl Iterator<Item = (&String, &Remembered)> {
        self.all.get(&self.task).into_iter().flatten()
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
                Some(before) => 0.5 * before.seconds + 0.5 * now,
                None => now,
            };
            jobs.insert(
                s.name.clone(),
                Remembered {
                    seconds: (value * 1000.0).round() / 1000.0,
                    locks: s.locks.clone(),
                },
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_former_bare_seconds_and_the_current_records() {
        let all: Tasks = serde_json::from_str(
            r#"{ "ci": { "old": 1.5, "new": { "seconds": 2.0, "locks": ["cargo build directory t"] } } }"#,
        )
        .unwrap();
        let ci = &all["ci"];
        assert_eq!(
            ci["old"],
            Remembered {
                seconds: 1.5,
                locks: vec![]
            }
        );
        assert_eq!(ci["new"].locks, vec!["cargo build directory t".to_string()]);
        let written = serde_json::to_string(&all).unwrap();
        assert!(written.contains(r#""old":{"seconds":1.5}"#), "{written}");
    }
}
