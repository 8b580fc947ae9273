//! The integration tests: one binary (one link, one `cargo nextest` binary id) with a module per
//! area, each running the built `xtask` against throwaway project trees made with `support`.
//! Test names are `<module>::<test>`: `cargo nextest run -p xtask-cli -E 'test(/^pg::/)'`.

mod support;

mod actions;
mod cache;
mod cargo;
mod docker;
mod init;
mod leaks;
mod perf;
mod pg;
mod pipelines;
mod release;
mod runner;
mod scheduling;
mod service;
mod workflow;
