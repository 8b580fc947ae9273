//! The cache on disk: one record file per job (`jobs/<task>/<job>-<hash>.json`) and the stat
//! cache, under `${CARGO_TARGET_DIR:-<root>/target}/xtask-cache/`. Every write goes to a temp
//! file in the same directory, is synced, then renamed over the old file: two runs at once
//! never see half a file, and a crash mid-write leaves the old record or none. A record that
//! does not parse (cut short, edited, from another version) is a miss, never an error.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hashing::digest_text;
use super::Fact;

/// Bumped when the record format or the meaning of a fact changes: old records then miss.
pub const FORMAT: u32 = 1;

/// What a job's last successful run left to compare against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub task: String,
    pub job: String,
    /// Digest of everything below: what the job's dependents compare.
    pub fingerprint: String,
    /// The job's code, options and environment changes, each as (what, digest).
    pub identity: Vec<(String, String)>,
    /// Each needed job's fingerprint at the time.
    pub needs: Vec<(String, String)>,
    pub facts: Vec<Fact>,
    /// The job's return value, restored for `result_of` when it is skipped.
    pub result: serde_json::Value,
}

impl Record {
    /// The fingerprint of a record's content (everything but the fingerprint itself).
    pub fn compute_fingerprint(&self) -> String {
        let body = serde_json::json!({
            "format": self.format,
            "task": self.task,
            "job": self.job,
            "identity": self.identity,
            "needs": self.needs,
            "facts": self.facts,
            "result": self.result,
        });
        digest_text(&body.to_string())
    }
}

pub enum Loaded {
    Missing,
    /// There is a file but it is not a usable record (cut short, another format).
    Unreadable,
    Found(Box<Record>),
}

/// `<cache>/jobs/<task>/<job>-<hash>.json`: readable names, no collisions, no separators. The
/// hash covers the project root too: projects sharing a `CARGO_TARGET_DIR` keep apart.
pub fn record_path(dir: &Path, root: &Path, task: &str, job: &str) -> PathBuf {
    let slug = |s: &str| -> String {
        let mut out: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(48)
            .collect();
        if out.is_empty() {
            out.push('_');
        }
        out
    };
    let hash = &digest_text(&format!("{}\n{task}\n{job}", root.display()))[..12];
    dir.join("jobs")
        .join(slug(task))
        .join(format!("{}-{hash}.json", slug(job)))
}

pub fn load(path: &Path, task: &str, job: &str) -> Loaded {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(_) => return Loaded::Unreadable,
    };
    match serde_json::from_slice::<Record>(&bytes) {
        Ok(record)
            if record.format == FORMAT
                && record.task == task
                && record.job == job
                && record.fingerprint == record.compute_fingerprint() =>
        {
            Loaded::Found(Box::new(record))
        }
        _ => Loaded::Unreadable,
    }
}

pub fn save(path: &Path, record: &Record) -> std::io::Result<()> {
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    write_atomically(path, &text)
}

pub fn forget(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Creates the cache directory with a `.gitignore` of `*` in it, so nothing xtask keeps there
/// ever shows in `git status` (a release check's clean tree), even in a repository that does not
/// ignore `target/`. Best effort.
pub fn create_cache_dir(dir: &Path) {
    if std::fs::create_dir_all(dir).is_ok() {
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::write(
                ignore,
                "# Written by xtask: its cache is never committed.\n*\n",
            );
        }
    }
}

/// Writes `bytes` to `path` through a synced temp file renamed into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let mut r = Record {
            format: FORMAT,
            task: "ci".into(),
            job: "test (toolchain=stable)".into(),
            fingerprint: String::new(),
            identity: vec![("code".into(), "abc".into())],
            needs: vec![],
            facts: vec![Fact::Call {
                what: "run: true".into(),
            }],
            result: serde_json::Value::Null,
        };
        r.fingerprint = r.compute_fingerprint();
        r
    }

    #[test]
    fn round_trip_and_a_record_cut_short_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let r = record();
        let path = record_path(dir.path(), dir.path(), &r.task, &r.job);
        assert!(path.to_string_lossy().contains("test__toolchain_stable_-"));
        assert!(matches!(load(&path, "ci", &r.job), Loaded::Missing));
        save(&path, &r).unwrap();
        let Loaded::Found(back) = load(&path, "ci", &r.job) else {
            panic!("saved record not found")
        };
        assert_eq!(back.fingerprint, r.fingerprint);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(load(&path, "ci", &r.job), Loaded::Unreadable));
        // Another job's record under this name (a hash collision, a copied file) is not used.
        save(&path, &r).unwrap();
        assert!(matches!(load(&path, "ci", "other"), Loaded::Unreadable));
    }

    #[test]
    fn a_result_with_any_float_reads_back_as_saved() {
        // Job results carry durations and figures as floats; a float read back one unit in the
        // last place off would change the fingerprint and turn every such record into a miss.
        let dir = tempfile::tempdir().unwrap();
        let mut r = record();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let floats: Vec<f64> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64 * 1000.0
            })
            .collect();
        r.result = serde_json::json!({ "elapsed": floats });
        r.fingerprint = r.compute_fingerprint();
        let path = record_path(dir.path(), dir.path(), &r.task, &r.job);
        save(&path, &r).unwrap();
        assert!(matches!(load(&path, "ci", &r.job), Loaded::Found(_)));
    }
}
