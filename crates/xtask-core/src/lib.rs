//! The engine of the xtask runner, with no scripting language in it: a job graph
//! ([`graph`]), a scheduler that runs it on worker threads ([`scheduler`]), the one process layer
//! every command goes through ([`process`], [`cancel`], [`signals`]), the event bus that masks
//! secrets ([`events`], [`redact`]), and the reporters that print and record a run
//! ([`reporter`]).
//!
//! A job's body is opaque here ([`graph::Body`]): the host that declared it (the Rhai script
//! host in `xtask-runner`, or any other) runs it through [`scheduler::JobRunner`].

pub mod cache;
pub mod cancel;
pub mod critical_path;
pub mod dir_lock;
pub mod duration;
pub mod durations;
pub mod events;
pub mod exit;
pub mod graph;
pub mod process;
pub mod redact;
pub mod reporter;
pub mod resources;
pub mod scheduler;
pub mod signals;
pub mod suggest;
pub mod utc;
mod workers;
