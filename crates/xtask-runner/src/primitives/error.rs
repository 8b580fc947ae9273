//! Where an area's typed error becomes a script error — the only place.
//!
//! Domain code (pg, docker, release, cargo, perf, http, process) returns its own error type,
//! a `thiserror` enum that implements [`std::error::Error`], so it can be used and tested
//! without Rhai. A registered function converts at its boundary with [`IntoScript::script`]
//! (global functions: Rhai attaches the call position) or [`IntoScript::script_at`] (qualified
//! calls such as `pg::query`, where Rhai does not, so the call site is attached here).
//!
//! [`CommandFailed`] is the failure every family that runs commands shares: the command did not
//! run to its end, or ended failing. Area enums wrap it (`#[error(transparent)] Command(#[from] …)`).

use rhai::NativeCallContext;

use super::Result;
use crate::process::Failure;

/// A command that did not run to its end, or ended failing; the message names the command (as
/// displayed argv).
#[derive(Debug, thiserror::Error)]
pub enum CommandFailed {
    /// Its job was cancelled (fail-fast, Ctrl-C, a deadline) while it ran.
    #[error("`{command}` was stopped: {reason}")]
    Stopped { command: String, reason: String },
    /// Not found, a bad directory, timed out; quick calls (git, scanners) that do not tell a
    /// cancellation apart put it here too.
    #[error("`{command}`: {failure}")]
    NotRun {
        command: String,
        #[source]
        failure: Failure,
    },
    /// It ran and ended failing; its output is in the job's log.
    #[error("command failed with {status}: `{command}`")]
    Exited { command: String, status: String },
}

impl CommandFailed {
    /// Sorts `failure`: a cancelled command was stopped, any other did not run.
    pub fn new(command: String, failure: Failure) -> Self {
        match failure {
            Failure::Cancelled { reason } => CommandFailed::Stopped { command, reason },
            failure => CommandFailed::NotRun { command, failure },
        }
    }
}

/// Converts an area's `Result<T, E>` into a script result.
pub trait IntoScript<T> {
    /// For global functions: Rhai fills in the call position.
    fn script(self) -> Result<T>;
    /// For namespaced functions: the call site of `ctx` is attached.
    fn script_at(self, ctx: &NativeCallContext) -> Result<T>;
}

impl<T, E: std::error::Error> IntoScript<T> for std::result::Result<T, E> {
    fn script(self) -> Result<T> {
        // The same runtime error a plain `primitives::error(msg)` makes: the typed error's
        // message, positioned by Rhai or by `script_at`.
        self.or_else(|e| super::error(e.to_string()))
    }

    fn script_at(self, ctx: &NativeCallContext) -> Result<T> {
        // The one way a call site is attached, for typed and script errors alike.
        super::at_call_site(ctx, self.script())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("cluster {version} did not start: {reason}")]
        NotStarted { version: u32, reason: String },
    }

    #[test]
    fn a_cancelled_command_was_stopped_and_any_other_failure_did_not_run() {
        let cancelled = Failure::Cancelled {
            reason: "interrupted".into(),
        };
        assert_eq!(
            CommandFailed::new("cargo test".into(), cancelled).to_string(),
            "`cargo test` was stopped: interrupted"
        );
        let missing = Failure::NotFound {
            program: "npm".into(),
        };
        assert_eq!(
            CommandFailed::new("npm ci".into(), missing).to_string(),
            "`npm ci`: program not found: `npm` (is it installed and on PATH?)"
        );
    }

    #[test]
    fn a_typed_error_keeps_its_message_as_a_script_error() {
        let failed: std::result::Result<(), Sample> = Err(Sample::NotStarted {
            version: 16,
            reason: "port in use".into(),
        });
        let err = failed.script().unwrap_err();
        match *err {
            rhai::EvalAltResult::ErrorRuntime(message, _) => assert_eq!(
                message.into_string().unwrap(),
                "cluster 16 did not start: port in use"
            ),
            other => panic!("not a runtime error: {other:?}"),
        }
    }
}
