//! What can go wrong in `release::`: each variant carries what the message names (the file, the
//! version, the crate), so callers and tests match on it instead of reading text.

use std::io;
use std::path::PathBuf;

use semver::Version;

use super::super::git::CommandError;
use super::super::process::RunError;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// git, `cargo metadata`, `rustc -vV` or `cargo update` gave no answer.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// `cargo build`, `strip` or `cargo package` failed (their output is in the job's log).
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot copy {}: {source}", path.display())]
    Copy { path: PathBuf, source: io::Error },
    /// A manifest or Cargo.lock that is not TOML.
    #[error("{}: {source}", path.display())]
    Toml {
        path: PathBuf,
        source: Box<toml_edit::TomlError>,
    },
    #[error("cannot read `cargo metadata` output: {0}")]
    Metadata(#[source] serde_json::Error),
    #[error("the current version {current:?} is not semver: {source}")]
    CurrentNotSemver {
        current: String,
        source: semver::Error,
    },
    #[error("bump takes \"major\", \"minor\", \"patch\" or a version like \"1.2.3\", not {how:?} ({source})")]
    BadBump { how: String, source: semver::Error },
    #[error("bump to {next} would not move forward from the current version {current}")]
    NotForward { current: Version, next: Version },
    #[error("bump: `tag: true` needs `commit: true` (the tag must point at the bump)")]
    TagWithoutCommit,
    #[error("{} already has a section for {version}", path.display())]
    SectionExists { path: PathBuf, version: String },
    /// Every mismatch `release::check` found, each naming its file and both values.
    #[error("release check failed for {version}:\n  - {}", problems.join("\n  - "))]
    CheckFailed {
        version: String,
        problems: Vec<String>,
    },
    #[error("{}: the workspace has no crates to release", manifest.display())]
    NoCrates { manifest: PathBuf },
    #[error("the crates disagree on the version: {first}, {other}")]
    VersionsDisagree {
        first: Box<Stated>,
        other: Box<Stated>,
    },
    #[error("`rustc -vV` did not say the host triple")]
    NoHostTriple,
    #[error("no binary target named `{bin}` in the workspace at {} (binaries: {})", root.display(), none_or_list(known))]
    NoSuchBin {
        bin: String,
        root: PathBuf,
        known: Vec<String>,
    },
    #[error("include: no file {}", path.display())]
    NoInclude { path: PathBuf },
    #[error("no crate named `{name}` in the workspace")]
    NoSuchCrate { name: String },
    #[error("nothing to package in {}: no binaries and no publishable libraries", root.display())]
    NothingToPackage { root: PathBuf },
}

pub type Result<T> = std::result::Result<T, ReleaseError>;

/// A crate's version and the manifest that states it (relative to the workspace root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stated {
    pub name: String,
    pub version: String,
    pub file: String,
}

impl std::fmt::Display for Stated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} has {} in {}", self.name, self.version, self.file)
    }
}

fn none_or_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
