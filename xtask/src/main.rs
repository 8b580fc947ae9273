//! xtask: CI pipelines as Rhai scripts, run as a parallel job graph.
//!
//! The data path: `cli` parses the command line → `script` evaluates the task script, whose
//! top level declares jobs → `graph` expands and orders them → `scheduler` runs job bodies on
//! worker threads → `primitives` (`run`, `cargo::`, …) start processes through `process` →
//! everything is reported as `events` → `reporter`s print them.

mod builtins;
mod cache;
mod cancel;
mod cli;
mod duration;
mod events;
mod graph;
mod listing;
mod primitives;
mod process;
mod project;
mod redact;
mod reporter;
mod scheduler;
mod script;
mod signals;
mod suggest;
mod utc;

fn main() {
    std::process::exit(cli::main());
}
