//! What each job did in earlier runs, for the scheduler: how long it worked (the critical-path
//! order), which locks it claimed and how long it went on after letting them go
//! (`resources::Hints`). Kept in `${CARGO_TARGET_DIR:-<root>/target}/xtask-cache/durations.json`
//! as `{ "<task>": { "<job>": { "seconds": s, "locks": [...], "after_lock": s } } }` (a bare
//! number of seconds, as earlier versions wrote it, still reads); a missing or unreadable file
//! just means no history.
//!
//! `seconds` leaves out the time a job spent parked, waiting for a claim: that wait is the
//! schedule's doing, and counting it would make a job that waited rank higher the next time,
//! as if it had more work.

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
    /// Seconds from its last lock release to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_lock: Option<f64>,
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
        #[serde(default)]
        after_lock: Option<f64>,
    },
}

impl From<Stored> for Remembered {
    fn from(stored: Stored) -> Remembered {
        match stored {
            Stored::Seconds(seconds) => Remembered {
                seconds,
                ..Remembered::default()
            },
            Stored::Job {
                seconds,
                locks,
                after_lock,
            } => Remembered {
                seconds,
                locks,
                after_lock,
            },
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
        Durations::read(target.join("xtask-cache").join("durations.json"), task)
    }

    fn read(path: PathBuf, task: &str) -> Durations {
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

    /// This task's jobs and how long each went on after it last let a claimed lock go.
    pub fn after_lock(&self) -> HashMap<String, f64> {
        self.jobs()
            .filter_map(|(k, v)| Some((k.clone(), v.after_lock?)))
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
            let worked = s.duration.saturating_sub(s.waited).as_secs_f64();
            let after_lock = s.after_lock.map(|d| d.as_secs_f64());
            let before = jobs.get(&s.name);
            let seconds = smooth(before.map(|b| b.seconds), worked);
            let after_lock = after_lock.map(|now| smooth(before.and_then(|b| b.after_lock), now));
            jobs.insert(
                s.name.clone(),
                Remembered {
                    seconds,
                    locks: s.locks.clone(),
                    after_lock,
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

/// Half the remembered value, half this run's, to the millisecond.
fn smooth(before: Option<f64>, now: f64) -> f64 {
    let value = match before {
        Some(before) => 0.5 * before + 0.5 * now,
        None => now,
    };
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
                ..Remembered::default()
            }
        );
        assert_eq!(ci["new"].locks, vec!["cargo build directory t".to_string()]);
        let written = serde_json::to_string(&all).unwrap();
        assert!(written.contains(r#""old":{"seconds":1.5}"#), "{written}");
    }

    #[test]
    fn remembers_the_work_without_the_wait_and_the_time_after_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("durations.json");
        let mut durations = Durations::read(path.clone(), "ci");
        let summary = |duration: f64, waited: f64, after_lock: Option<f64>| JobSummary {
            id: 0,
            name: "docs".into(),
            outcome: Outcome::Passed,
            duration: Duration::from_secs_f64(duration),
            attempts: 1,
            locks: vec!["cargo build directory t".into()],
            waited: Duration::from_secs_f64(waited),
            after_lock: after_lock.map(Duration::from_secs_f64),
        };
        durations.record(&[summary(3.0, 2.0, Some(0.5))]);
        assert_eq!(durations.seconds()["docs"], 1.0, "3 s, of which 2 s parked");
        assert_eq!(durations.after_lock()["docs"], 0.5);
        durations.record(&[summary(2.0, 0.0, Some(0.1))]);
        assert_eq!(durations.seconds()["docs"], 1.5);
        assert_eq!(durations.after_lock()["docs"], 0.3);
        durations.save();
        let again = Durations::read(path, "ci");
        assert_eq!(again.after_lock()["docs"], 0.3);
        assert_eq!(
            again.locks()["docs"],
            vec!["cargo build directory t".to_string()]
        );
    }
}
