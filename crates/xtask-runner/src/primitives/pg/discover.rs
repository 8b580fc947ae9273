//! Finding PostgreSQL server installations by major version.
//!
//! Looked for, in this order (the first installation of a major wins): `XTASK_PG_PATH` (a
//! `:`-separated list of `bin` directories or their parents), `PATH`,
//! `/usr/lib/postgresql/*/bin`, and `pg_config --bindir`. A directory counts when it holds
//! `initdb` and `postgres`; the version is what `postgres --version` says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::NotFound;

#[derive(Clone, Debug)]
pub struct Install {
    pub major: u32,
    /// The full version, e.g. `16.14`.
    pub version: String,
    pub bin: PathBuf,
}

impl Install {
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// What a search found and where it looked (for the error when a version is missing).
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub installs: Vec<Install>,
    pub searched: Vec<String>,
}

impl Found {
    pub fn majors(&self) -> Vec<u32> {
        self.installs.iter().map(|i| i.major).collect()
    }

    pub fn get(&self, major: u32) -> Result<Install, NotFound> {
        if let Some(install) = self.installs.iter().find(|i| i.major == major) {
            return Ok(install.clone());
        }
        Err(NotFound {
            major,
            found: self.majors(),
            searched: self.searched.clone(),
        })
    }
}

/// Searches with the given `XTASK_PG_PATH` and `PATH` values. Results are cached per pair:
/// each candidate costs a `postgres --version`.
pub fn find(pg_path: Option<String>, path: Option<String>) -> Found {
    type Key = (Option<String>, Option<String>);
    static CACHE: Mutex<Option<HashMap<Key, Found>>> = Mutex::new(None);
    let key = (pg_path, path);
    if let Some(found) = CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return found.clone();
    }
    let found = search(key.0.as_deref(), key.1.as_deref());
    CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(key, found.clone());
    found
}

fn search(pg_path: Option<&str>, path: Option<&str>) -> Found {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut searched = Vec::new();
    match pg_path.filter(|p| !p.is_empty()) {
        Some(list) => {
            searched.push(format!("XTASK_PG_PATH={list}"));
            for dir in list.split(':').filter(|d| !d.is_empty()) {
                let dir = PathBuf::from(dir);
                candidates.push(dir.join("bin"));
                candidates.push(dir);
            }
        }
        None => searched.push("XTASK_PG_PATH (unset)".into()),
    }
    if let Some(path) = path {
        searched.push("PATH".into());
        candidates.extend(std::env::split_paths(path));
    }
    searched.push("/usr/lib/postgresql/*/bin".into());
    if let Ok(dirs) = glob::glob("/usr/lib/postgresql/*/bin") {
        candidates.extend(dirs.flatten());
    }
    searched.push("pg_config --bindir".into());
    if let Some(bindir) = pg_config_bindir(path) {
        candidates.push(bindir);
    }

    let mut installs: Vec<Install> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in candidates {
        if !is_server_dir(&dir) {
            continue;
        }
        let real = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some(version) = server_version(&dir.join("postgres")) {
            if let Some(major) = major_of(&version) {
                if !installs.iter().any(|i| i.major == major) {
                    installs.push(Install {
                        major,
                        version,
                        bin: dir,
                    });
                }
            }
        }
    }
    installs.sort_by_key(|i| i.major);
    Found { installs, searched }
}

fn is_server_dir(dir: &Path) -> bool {
    ["initdb", "postgres"]
        .iter()
        .all(|tool| is_executable(&dir.join(tool)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pg_config_bindir(path: Option<&str>) -> Option<PathBuf> {
    let program = std::env::split_paths(path?)
        .map(|d| d.join("pg_config"))
        .find(|p| is_executable(p))?;
    let out = probe(&program, "--bindir")?;
    let dir = out.stdout_text().trim().to_string();
    (out.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `postgres (PostgreSQL) 16.14` -> `16.14`.
fn server_version(postgres: &Path) -> Option<String> {
    let out = probe(postgres, "--version")?;
    if !out.success() {
        return None;
    }
    parse_version(&out.stdout_text())
}

/// `program flag`, asked outside any job (discovery is shared between them).
fn probe(program: &Path, flag: &str) -> Option<crate::process::Answer> {
    let spec = crate::process::Spec {
        argv: vec![program.to_string_lossy().into_owned(), flag.into()],
        ..crate::process::Spec::default()
    };
    spec.output(&crate::cancel::CancelToken::new()).ok()
}

pub fn parse_version(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let after = line.split(')').nth(1).unwrap_or(line);
    after
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

/// `16.14` -> 16; `9.6.24` -> 9 (pre-10 majors are not supported as separate versions).
pub fn major_of(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_versions() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 16.14\n").as_deref(),
            Some("16.14")
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 13.23 (Debian 13.23-1)").as_deref(),
            Some("13.23")
        );
        assert_eq!(major_of("16.14"), Some(16));
        assert_eq!(major_of("17beta1"), Some(17));
    }

    #[test]
    fn a_missing_version_names_where_it_looked() {
        let found = Found {
            installs: vec![],
            searched: vec!["XTASK_PG_PATH=/nowhere".into(), "PATH".into()],
        };
        let err = found.get(12).unwrap_err();
        assert_eq!((err.major, err.found.len()), (12, 0));
        let err = err.to_string();
        assert!(
            err.contains("PostgreSQL 12 not found (found: none)"),
            "{err}"
        );
        assert!(err.contains("XTASK_PG_PATH=/nowhere"), "{err}");
    }
}
