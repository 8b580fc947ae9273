//! What can go wrong in `perf::`: a measured command that did not run or failed, benches that
//! built nothing or wrote nothing, baselines and reports that cannot be read or written, and a
//! failing verdict with one line per regression.

use std::io;
use std::path::PathBuf;

use crate::primitives::error::CommandFailed;

#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error(transparent)]
    Command(#[from] CommandFailed),
    /// `tail`: the end of a quiet run's output, on its own lines (empty for a streamed run).
    #[error("command failed with {status}: `{command}`{}", on_new_line(tail))]
    Failed {
        command: String,
        status: String,
        tail: String,
    },
    /// The machine (or the build directory) was not free before the job was stopped.
    #[error("stopped while waiting: {0}")]
    Waiting(String),
    #[error("no bench targets to run in {} (is there a `[[bench]]` with `harness = false`?)", dir.display())]
    NoBenches { dir: PathBuf },
    #[error("cannot tell cargo's target directory")]
    NoTargetDir,
    #[error("the benches ran but wrote no results under {} (a filter that matched nothing?)", home.display())]
    NoResults { home: PathBuf },
    #[error("reading criterion results in {}: {source}", dir.display())]
    CriterionResults { dir: PathBuf, source: io::Error },
    #[error("perf::compare_refs: `{rev}` is not a commit in {}", repo.display())]
    NotACommit { rev: String, repo: PathBuf },
    #[error("creating a temp dir: {0}")]
    TempDir(#[source] io::Error),
    #[error("baseline name `{name}`: use a plain name like \"main\"")]
    BadBaselineName { name: String },
    #[error("{}: not a baseline: {source}", path.display())]
    NotABaseline {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("appending to {}: {source}", path.display())]
    Append { path: PathBuf, source: io::Error },
    #[error("creating {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    /// The chart could not be drawn; `message` is the plotting library's own.
    #[error("chart {}: {message}", path.display())]
    Chart { path: PathBuf, message: String },
    /// One line per failing benchmark and figure.
    #[error("performance check failed:\n{}", failures.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    CheckFailed { failures: Vec<String> },
}

fn on_new_line(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n{}", tail.trim_end())
    }
}
