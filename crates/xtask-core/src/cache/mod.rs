//! Up-to-date checking: a job whose fingerprint matches its last successful run is skipped.
//!
//! A job's body is opaque until it runs, so its inputs are learnt by running it: while a job
//! runs, the primitives it calls record [`Fact`]s (files and trees with their digests,
//! environment variables, the output of query commands such as `rustc -vV`, and what was
//! called with which arguments) through [`recording`]. A successful run stores them with the
//! job's identity (code, options, environment changes: supplied by the runner) and its needs'
//! fingerprints in one file per job ([`store`]). The next run re-checks exactly those facts
//! ([`check`]); the first one that differs is the reason the job runs again, as a path when it
//! is a file. Nothing here knows about Rhai.
//!
//! Never a false skip: a primitive with effects outside the tree (a push, a comparison with a
//! moving base, a request to another host) marks the run as not cacheable; a job that runs a
//! command whose inputs nobody declared cannot be skipped either (see `recording::opaque`).

pub mod check;
pub mod files;
pub mod hashing;
pub mod ignore;
pub mod recording;
pub mod session;
pub mod store;

pub use session::Session;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One thing a job's last successful run depended on, with the value it had then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    /// A primitive call and its arguments (`run: cargo build --locked`). Fixed by the job's
    /// code and its other facts, so never re-checked; part of the fingerprint and of `--explain`.
    Call { what: String },
    /// Files: one path, a glob or a directory tree; each file's digest by relative path.
    Files {
        set: files::FileSet,
        entries: BTreeMap<String, String>,
    },
    /// An environment variable as commands saw it (a digest: values may be secrets).
    Env {
        name: String,
        digest: Option<String>,
    },
    /// What a query command printed (`rustc -vV`, `postgres --version`), as a digest.
    Command {
        argv: Vec<String>,
        #[serde(default)]
        env: Vec<(String, Option<String>)>,
        dir: Option<String>,
        digest: String,
    },
}
