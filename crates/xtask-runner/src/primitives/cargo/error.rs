//! What can go wrong in `cargo::`: a missing toolchain or tool, a command that did not run, or
//! one that failed, with the diagnostic or test that says why.

use std::path::PathBuf;
use std::time::Duration;

use crate::primitives::error::CommandFailed;
use crate::process::Failure;

#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    #[error("cannot ask rustup which toolchains it has: {0}")]
    ToolchainQuery(#[source] Failure),
    #[error("`rustup toolchain list` failed with {status}")]
    ToolchainListFailed { status: String },
    #[error("invalid toolchain `{name}`: give a rustup name like \"stable\" or \"1.88.0\"")]
    InvalidToolchain { name: String },
    #[error("Rust toolchain `{name}` is not installed (rustup has: {}); install it with `rustup toolchain install {name}`", none_or_list(installed))]
    MissingToolchain {
        name: String,
        installed: Vec<String>,
    },
    #[error("`{binary}` is not installed; install it with `cargo install --locked {binary}`")]
    MissingTool { binary: String },
    /// The build directory could not be claimed; the resource pool's own words.
    #[error("{0}")]
    Claim(String),
    #[error(transparent)]
    Command(#[from] CommandFailed),
    #[error("`{command}` timed out after {} (still fetching? this machine may be offline: pass `offline: true`)", crate::duration::format(*after))]
    FetchTimedOut { command: String, after: Duration },
    /// Tests failed; `summary` counts them and names the first few with their place.
    #[error("`{command}`: {summary}")]
    TestsFailed { command: String, summary: String },
    /// The compiler (or clippy, rustdoc) reported errors; `headline` is the first one's.
    #[error("`{command}` failed: {headline}{}", more_errors(*errors))]
    Diagnostics {
        command: String,
        headline: String,
        errors: usize,
    },
    #[error("command failed: `{command}`")]
    Failed { command: String },
    #[error("`{command}`: not formatted: {} (run `cargo fmt --all`)", files.join(", "))]
    NotFormatted { command: String, files: Vec<String> },
    #[error("{tool} could not fetch its database (is this machine offline?): {line}; pass `offline: true` to use a local copy")]
    Offline { tool: String, line: String },
    #[error("`{command}` failed with {status} in {}", dir.display())]
    MetadataFailed {
        command: String,
        status: String,
        dir: PathBuf,
    },
    #[error("cargo metadata printed bad JSON: {0}")]
    BadMetadata(#[source] serde_json::Error),
}

fn none_or_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn more_errors(errors: usize) -> String {
    if errors > 1 {
        format!(" (+{} more)", errors - 1)
    } else {
        String::new()
    }
}
