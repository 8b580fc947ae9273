//! The xtask runner as a library: CI pipelines written as Rhai scripts (`tasks/*.rhai`, modules
//! in `lib/*.rhai`), run as a parallel job graph, with Rust-native primitives (`cargo::`, `pg::`,
//! `docker::`, `http::`/`service::`, `perf::`, `release::`/`git::`, each behind a cargo feature
//! of the same name).
//!
//! A repository adopts it with an `xtask/` crate of its own whose `main.rs` is
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     xtask_runner::main()
//! }
//! ```
//!
//! and adds primitives of its own with [`Xtask::register`]:
//!
//! ```no_run
//! use xtask_runner::extend;
//!
//! fn main() -> std::process::ExitCode {
//!     xtask_runner::Xtask::new()
//!         .register(|engine| {
//!             engine.register_fn("shout", |text: &str| text.to_uppercase());
//!             engine.register_fn("git_head", || extend::run_output(&["git", "rev-parse", "HEAD"]));
//!         })
//!         .main()
//! }
//! ```
//!
//! The engine underneath (graph, scheduler, process layer, events, reporters) is the Rhai-free
//! `xtask-core` crate, re-exported here module by module.

pub use rhai;
pub use xtask_core::{
    cache, cancel, critical_path, duration, durations, events, exit, graph, process, redact,
    reporter, resources, scheduler, signals, suggest, utc,
};

pub mod builtins;
pub mod cli;
pub mod extend;
pub mod init;
pub mod listing;
pub mod primitives;
pub mod project;
pub mod rehearsal;
pub mod results_file;
pub mod script;
pub mod workflow;

use std::process::ExitCode;

pub use extend::Xtask;
pub use xtask_core::exit::Exit;

/// Runs the command line of this process with the built-in primitives: all a user's `xtask/`
/// crate needs in its `main`.
pub fn main() -> ExitCode {
    Xtask::new().main()
}
