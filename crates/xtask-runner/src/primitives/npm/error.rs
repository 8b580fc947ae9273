//! What can go wrong in `npm::`: an unreadable package.json, a missing lockfile or script, a
//! command that did not run or failed, coverage under its minimum.

use std::io;
use std::path::PathBuf;

use crate::primitives::error::CommandFailed;

#[derive(Debug, thiserror::Error)]
pub enum NpmError {
    #[error("cannot read {}: {source}", path.display())]
    ReadPackageJson { path: PathBuf, source: io::Error },
    /// Not JSON; the message points at the line and column.
    #[error("{}:{}:{}: {source}", path.display(), source.line(), source.column())]
    BadPackageJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("npm::ci needs a lockfile: {} has no package-lock.json (run `npm install` once and commit the lockfile)", dir.display())]
    NoLockfile { dir: PathBuf },
    /// `npm::run` of a script package.json does not have, with the one probably meant.
    #[error("package.json in {} has no script `{script}`{} (scripts: {})", dir.display(),
            crate::suggest::did_you_mean(script, scripts.iter().map(String::as_str)),
            if scripts.is_empty() { "none".to_string() } else { scripts.join(", ") })]
    NoScript {
        dir: PathBuf,
        script: String,
        scripts: Vec<String>,
    },
    /// `npm::test`'s `script:` option names a script package.json does not have.
    #[error("package.json in {} has no script `{script}` (scripts: {})", dir.display(), scripts.join(", "))]
    NoTestScript {
        dir: PathBuf,
        script: String,
        scripts: Vec<String>,
    },
    #[error("cannot create a temporary file: {0}")]
    TempFile(#[source] io::Error),
    #[error(transparent)]
    Command(#[from] CommandFailed),
    #[error("`{command}`: `{program}` is not installed (npm:: needs Node.js and npm on PATH)")]
    NotInstalled { command: String, program: String },
    /// Tests failed; `summary` counts them and names the first few with their place.
    #[error("`{command}`: {summary}")]
    TestsFailed { command: String, summary: String },
    #[error("line coverage {got:.2}% is below the minimum {min:.2}%")]
    CoverageBelow { got: f64, min: f64 },
    #[error("min_coverage: the test run printed no coverage table")]
    NoCoverage,
}
