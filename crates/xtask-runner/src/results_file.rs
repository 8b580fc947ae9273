//! Job results that cross process (and runner) boundaries, so that `result_of("job")` works when
//! the job ran elsewhere: in another Actions job of a generated workflow, or in another process
//! of the distributed rehearsal.
//!
//! When `XTASK_RESULTS` names a directory, every job that passes writes its return value there,
//! one file per job, and a run first loads every file it finds there. The file format
//! (`xtask-result/1`) is one JSON object:
//!
//! ```json
//! {"format": "xtask-result/1", "task": "ci", "job": "package", "value": {"dir": "target/…"}}
//! ```
//!
//! `value` is the job's return value as JSON (`()` is `null`; maps, arrays, strings, numbers and
//! booleans keep their shape). The file is named after the job ([`file_name`]), but readers use
//! the `job` field, so files from several runners can be merged into one directory. In Actions
//! the directory also carries each run's step summary (`summary-<job>.md`, written by the Actions
//! reporter) for the gate job to merge; readers here take only `*.json`.

use std::path::{Path, PathBuf};

use rhai::Dynamic;

pub const ENV: &str = "XTASK_RESULTS";
pub const FORMAT: &str = "xtask-result/1";

/// The results directory of this run, when one is set.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A name that is safe as a file name and as an Actions artifact name: `pg (version=13)` becomes
/// `pg-version-13`.
pub fn slug(job: &str) -> String {
    let mut out = String::new();
    for c in job.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "job".into()
    } else {
        out
    }
}

pub fn file_name(job: &str) -> String {
    format!("{}.json", slug(job))
}

/// Writes one job's result into `dir`.
pub fn write(dir: &Path, task: &str, job: &str, value: &Dynamic) -> Result<PathBuf, String> {
    let value: serde_json::Value = rhai::serde::from_dynamic(value)
        .map_err(|e| format!("the result of job `{job}` cannot be stored as JSON: {e}"))?;
    let record = serde_json::json!({ "format": FORMAT, "task": task, "job": job, "value": value });
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(file_name(job));
    let text = serde_json::to_string_pretty(&record).expect("JSON values serialize");
    std::fs::write(&path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Every result in `dir` (searched recursively, since artifact downloads may nest), as
/// `(job, value)`. A missing directory has none; a file that is not a result is an error.
pub fn read_all(dir: &Path) -> Result<Vec<(String, Dynamic)>, String> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let record: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a results file: {e}", path.display()))?;
        if record["format"] != FORMAT {
            return Err(format!(
                "{}: not a results file (expected \"format\": \"{FORMAT}\")",
                path.display()
            ));
        }
        let Some(job) = record["job"].as_str() else {
            return Err(format!("{}: the result names no job", path.display()));
        };
        let value: Dynamic = rhai::serde::to_dynamic(&record["value"])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((job.to_string(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_artifact_safe() {
        assert_eq!(slug("pg (version=13)"), "pg-version-13");
        assert_eq!(
            slug("test (os=linux, toolchain=1.85)"),
            "test-os-linux-toolchain-1.85"
        );
        assert_eq!(slug("::"), "job");
    }

    #[test]
    fn a_result_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut map = rhai::Map::new();
        map.insert("dir".into(), Dynamic::from("target/pack".to_string()));
        map.insert("count".into(), Dynamic::from(3_i64));
        map.insert(
            "tags".into(),
            Dynamic::from(vec![Dynamic::from("a".to_string())]),
        );
        write(dir.path(), "ci", "package (v=1)", &Dynamic::from_map(map)).unwrap();
        write(dir.path(), "ci", "unit", &Dynamic::UNIT).unwrap();
        let all = read_all(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        let (job, value) = &all[0];
        assert_eq!(job, "package (v=1)");
        let map = value.clone().cast::<rhai::Map>();
        assert_eq!(map["dir"].clone().into_string().unwrap(), "target/pack");
        assert_eq!(map["count"].as_int().unwrap(), 3);
        assert!(all[1].1.is_unit());
        std::fs::write(dir.path().join("stray.json"), "{}").unwrap();
        assert!(read_all(dir.path())
            .unwrap_err()
            .contains("not a results file"));
    }
}
